//! Running `grants` as its own process from an async test, and reading what it printed.

use std::process::{Command, Output};

/// Runs `command` to its end off the runtime's workers (the services it calls may run on them).
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
