//! `grants backup` as its own process against logs served read-only over gRPC on loopback ports: the copy
//! holds the records byte for byte, a second backup goes on from the copy's head, a directory holding a
//! copy of another log (or files that are no log) is refused in one line, and a log changed under its
//! hashes is reported as tampered with the copy ending before it.

use std::path::Path;
use std::process::Command;

use contracts::names::service::APPLICATIONS;
use event_log::{EventLog, RecordedEvent};
use test_support::services::serve_log;
use tokio_util::sync::CancellationToken;

#[path = "../../../shared/event-log/tests/tampering/mod.rs"]
mod tampering;

mod command_output;
mod withdrawals;
use command_output::{run, stderr, stdout};

const SECRET: &str = "backup-test-secret-backup-test-secret-01";

async fn log_of(dir: &Path, count: usize) -> EventLog {
    let log = EventLog::open(dir).unwrap();
    withdrawals::append(&log, count, 0).await;
    log
}

async fn serve(log: EventLog) -> String {
    serve_log(log, APPLICATIONS, CancellationToken::new()).await
}

/// `grants backup --service applications --to <to>` against `url`.
fn backup(url: &str, to: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
    command
        .arg("--endpoint")
        .arg(format!("{APPLICATIONS}={url}"))
        .args(["backup", "--service", APPLICATIONS, "--to"])
        .arg(to)
        .env("GRANTS_JWT_SECRET", SECRET)
        .env_remove("GRANTS_TOKEN")
        .env_remove("GRANTS_ENDPOINTS");
    command
}

fn all(log: &EventLog) -> Vec<RecordedEvent> {
    log.read_all(0).map(Result::unwrap).collect()
}

/// The copy's events, with the copy closed again afterwards (a backup process may open it next).
fn copy_events(dir: &Path) -> Vec<RecordedEvent> {
    all(&EventLog::open(dir).unwrap())
}

/// A failed backup: exit code 2 and one line naming what is wrong.
fn one_line_refusal(output: &std::process::Output, expected: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.starts_with("grants: backup: ") && text.contains(expected), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_copies_the_log_byte_for_byte_and_a_second_one_goes_on_from_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(&dir.path().join("service"), 700).await;
    let url = serve(log.clone()).await;
    let copy = dir.path().join("copy");

    let first = run(backup(&url, &copy)).await;
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let head = log.head().unwrap().unwrap();
    assert_eq!(
        stdout(&first).lines().next().unwrap(),
        format!("applications: {} holds positions 0..700 (head {}); 700 copied in this run", copy.display(), head.hash)
    );
    // Byte for byte: every record (position, times, chain) and its hash.
    assert_eq!(copy_events(&copy), all(&log));

    withdrawals::append(&log, 130, 0).await;
    let second = run(backup(&url, &copy)).await;
    assert_eq!(second.status.code(), Some(0), "{second:?}");
    assert!(stdout(&second).contains("holds positions 0..830") && stdout(&second).contains("130 copied"), "{second:?}");
    let copied = copy_events(&copy);
    assert_eq!(copied, all(&log));
    assert!(EventLog::open(&copy).unwrap().verify(..).unwrap().is_intact());

    // Up to date: nothing to copy, nothing written.
    let again = run(backup(&url, &copy)).await;
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(stdout(&again).contains("0 copied in this run"), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_holding_another_log_or_other_files_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    let ours = serve(log_of(&dir.path().join("ours"), 40).await).await;
    assert_eq!(run(backup(&ours, &copy)).await.status.code(), Some(0));
    let before = copy_events(&copy);

    // Longer than the copy: its event after the copy's head does not link to that head.
    let longer = serve(log_of(&dir.path().join("longer"), 60).await).await;
    let refused = run(backup(&longer, &copy)).await;
    one_line_refusal(&refused, "holds a copy of another log: applications's event at position 40 links to");
    // As long as the copy: its head is not the copy's.
    let as_long = serve(log_of(&dir.path().join("as-long"), 40).await).await;
    one_line_refusal(&run(backup(&as_long, &copy)).await, "holds a copy of another log");
    // Shorter: the service no longer holds the copy's head.
    let shorter = serve(log_of(&dir.path().join("shorter"), 10).await).await;
    one_line_refusal(&run(backup(&shorter, &copy)).await, "holds 40 events but applications's log only 10");
    assert_eq!(copy_events(&copy), before, "nothing was written into the copy");

    // A directory of something else is left alone.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"not a log").unwrap();
    one_line_refusal(&run(backup(&ours, &other)).await, "holds files but no event log");
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_changed_under_its_hashes_is_reported_as_tampered_and_the_copy_ends_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("service");
    drop(log_of(&served, 30).await);
    tampering::change_record(&served, 17, |record| {
        let at = record.windows(7).position(|w| w == b"reason ").unwrap();
        record[at] = b'R';
    });
    let url = serve(EventLog::open(&served).unwrap()).await;
    let copy = dir.path().join("copy");
    let output = run(backup(&url, &copy)).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stdout(&output).starts_with("applications: TAMPERED at position 17: "), "{}", stdout(&output));
    let copied = copy_events(&copy);
    assert!(copied.len() <= 17, "nothing from the changed event on is copied: {}", copied.len());
    assert!(EventLog::open(&copy).unwrap().verify(..).unwrap().is_intact());
}
