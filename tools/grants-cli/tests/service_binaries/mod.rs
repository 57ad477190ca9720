//! The services' binaries for tests that run them as processes (or read their `--help`): built for the
//! test's profile if they are not current, beside the `grants` binary the test runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use contracts::names::service::{APPLICATIONS, AWARDS, PROJECTOR, REPORTING};

/// Every service's binary name.
pub const SERVICES: [&str; 4] = [APPLICATIONS, AWARDS, REPORTING, PROJECTOR];

/// The directory holding the services' binaries, built for this test's profile if they are not current.
pub fn service_binaries() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_grants")).parent().expect("the binaries' directory").to_owned();
    let profile = match dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--locked", "--bins", "--profile", &profile]);
    for service in SERVICES {
        build.args(["-p", service]);
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "the services' binaries build");
    dir
}
