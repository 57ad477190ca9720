//! The dashboard's browser tests, for a Rust integration test that includes this file with `#[path]`: a
//! Python interpreter with Selenium (tests/browser/requirements.txt, installed from PyPI into a virtual
//! environment under the target directory on first use) and a way to run a script of tests/browser/, which
//! drives the distribution's headless Chromium through browser.py.

#![allow(dead_code)] // Each including test uses its own subset.

#[path = "../python-verifier/python_env.rs"]
mod python_env;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use python_env::repository_root;

/// The browser and its driver that browser.py runs (both installed by deploy/local/browser).
pub const BROWSER: &str = "/usr/bin/chromium";
pub const DRIVER: &str = "/usr/bin/chromedriver";

/// A Python interpreter with Selenium, installing it into a virtual environment if needed. Panics when the
/// browser or its driver is missing.
pub fn python() -> PathBuf {
    require_browser();
    python_env::python_with("browser", "tests/browser/requirements.txt", "import selenium")
}

/// The script `name` of tests/browser/ (for example `dashboard.py`).
pub fn script(name: &str) -> PathBuf {
    repository_root().join("tests/browser").join(name)
}

/// Runs the script `name` of tests/browser/ with `args` and returns what it printed on standard output.
/// Panics, with its exit status and both outputs, when it fails.
pub fn run<I, S>(name: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let script = script(name);
    assert!(script.is_file(), "{} does not exist", script.display());
    let output = Command::new(python())
        .arg(&script)
        .args(args)
        // No __pycache__ beside the scripts in the repository.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|error| panic!("running {} failed: {error}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Panics with the way to install them when the browser or its driver is missing.
pub fn require_browser() {
    for binary in [BROWSER, DRIVER] {
        assert!(
            Path::new(binary).is_file(),
            "{binary} is missing: the browser tests need Chromium and its driver; install them with \
             deploy/local/browser"
        );
    }
}
