//! Running `grants` as its own process from an async test, and reading what it printed.

#![allow(dead_code)] // Each including test uses its own subset.

use std::process::{Command, Output};
use std::str::FromStr;

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

/// The number just before `word` in `text`: `12 succeeded`.
pub fn count_before<T: FromStr>(text: &str, word: &str) -> T {
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words.iter().position(|w| w.trim_end_matches(',') == word).unwrap_or_else(|| panic!("no {word}: {text}"));
    words[at - 1].parse().unwrap_or_else(|_| panic!("no count before {word}: {text}"))
}
