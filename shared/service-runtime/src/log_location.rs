//! Where a service keeps its event log: in `log/` inside its data directory, beside its other stores
//! (`personal-data-keys/`). Logs written by earlier versions at the root of the data directory are moved
//! there once, at start ([`move_root_log_into_log_dir`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The folder of the event log inside `data_dir`.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("log")
}

/// Where the files move to before the folder takes its final name: a crash halfway leaves them here, and
/// the next start finishes the move.
const MOVING_DIR: &str = "log.moving";

/// A log at the root of a data directory that could not be moved into `log/`.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("cannot move the event log at the root of {data_dir} into log/")]
    Io {
        data_dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{data_dir} holds an event log both at its root and in log/: refusing to choose one")]
    TwoLogs { data_dir: PathBuf },
}

/// The storage engine's own files and folders, which make up a log written at the root.
fn is_log_file(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs") || name.starts_with("snap.")
}

/// The names of the log's files at the root of `data_dir`.
fn root_log_files(data_dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(data_dir)? {
        let name = entry?.file_name();
        if name.to_str().is_some_and(is_log_file) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Moves a log written at the root of `data_dir` (the earlier layout) into `log/`; returns whether it
/// moved one. Each file is renamed into a staging folder, which is then renamed to `log/`: both are atomic
/// on one file system, so a crash at any point leaves either the old layout, a staging folder that the
/// next start completes, or the new layout. Nothing to move, or a data directory that does not exist,
/// is left as it is.
pub fn move_root_log_into_log_dir(data_dir: &Path) -> Result<bool, MoveError> {
    let failed = |source: io::Error| MoveError::Io { data_dir: data_dir.to_path_buf(), source };
    if !data_dir.is_dir() {
        return Ok(false);
    }
    let at_root = root_log_files(data_dir).map_err(failed)?;
    let moving = data_dir.join(MOVING_DIR);
    let target = log_dir(data_dir);
    if at_root.is_empty() && !moving.exists() {
        return Ok(false);
    }
    if target.exists() {
        return Err(MoveError::TwoLogs { data_dir: data_dir.to_path_buf() });
    }
    fs::create_dir_all(&moving).map_err(failed)?;
    for name in &at_root {
        fs::rename(data_dir.join(name), moving.join(name)).map_err(failed)?;
    }
    sync_dir(&moving).map_err(failed)?;
    fs::rename(&moving, &target).map_err(failed)?;
    sync_dir(data_dir).map_err(failed)?;
    tracing::info!(
        data_dir = %data_dir.display(),
        "moved the event log from the root of the data directory into log/ (the layout of earlier versions)"
    );
    Ok(true)
}

/// Makes the renames inside `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use event_log::{EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId};

    use super::*;

    fn event() -> NewEvent {
        NewEvent {
            event_id: uuid::Uuid::new_v4(),
            event_type: "Happened".into(),
            schema_version: 1,
            payload: b"payload".to_vec(),
            metadata: EventMetadata {
                actor: event_log::Actor { subject: "s".into(), role: "r".into(), organisation: String::new() },
                correlation_id: uuid::Uuid::new_v4(),
                causation_id: uuid::Uuid::new_v4(),
                occurred_at: event_log::Timestamp::now(),
                trace: None,
            },
        }
    }

    /// A data directory in the earlier layout: a log of `events` events at its root, beside the keys.
    async fn old_layout(events: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let stream = StreamId::new("thing", "1").unwrap();
        log.append(stream, ExpectedVersion::Any, (0..events).map(|_| event()).collect()).await.unwrap();
        drop(log);
        fs::create_dir(dir.path().join("personal-data-keys")).unwrap();
        fs::write(dir.path().join("personal-data-keys").join("key"), b"k").unwrap();
        dir
    }

    fn assert_moved(dir: &Path, events: u64) {
        let log = EventLog::open(log_dir(dir)).unwrap();
        assert_eq!(log.next_position(), events);
        let report = log.verify(..).unwrap();
        assert_eq!((report.verified, report.first_mismatch.is_none()), (events, true), "{report:?}");
        assert!(root_log_files(dir).unwrap().is_empty());
        assert!(!dir.join(MOVING_DIR).exists());
        assert!(dir.join("personal-data-keys").join("key").exists(), "the keys stay where they are");
    }

    #[tokio::test]
    async fn a_log_at_the_root_moves_into_log_with_every_event() {
        let dir = old_layout(5).await;
        assert!(move_root_log_into_log_dir(dir.path()).unwrap());
        assert_moved(dir.path(), 5);
        assert!(!move_root_log_into_log_dir(dir.path()).unwrap(), "once moved, there is nothing to move");
        assert_moved(dir.path(), 5);
    }

    #[tokio::test]
    async fn a_move_cut_short_is_finished_by_the_next_start() {
        let dir = old_layout(4).await;
        // As a crash would leave it: some files already in the staging folder, the others at the root.
        let moving = dir.path().join(MOVING_DIR);
        fs::create_dir(&moving).unwrap();
        let first = root_log_files(dir.path()).unwrap().into_iter().find(|n| n == "db").unwrap();
        fs::rename(dir.path().join(&first), moving.join(&first)).unwrap();
        assert!(move_root_log_into_log_dir(dir.path()).unwrap());
        assert_moved(dir.path(), 4);

        // Cut short after every file was staged, before the folder was renamed.
        let dir = old_layout(2).await;
        let moving = dir.path().join(MOVING_DIR);
        fs::create_dir(&moving).unwrap();
        for name in root_log_files(dir.path()).unwrap() {
            fs::rename(dir.path().join(&name), moving.join(&name)).unwrap();
        }
        assert!(move_root_log_into_log_dir(dir.path()).unwrap());
        assert_moved(dir.path(), 2);
    }

    #[tokio::test]
    async fn a_log_both_at_the_root_and_in_log_is_refused() {
        let dir = old_layout(1).await;
        fs::create_dir(log_dir(dir.path())).unwrap();
        assert!(matches!(move_root_log_into_log_dir(dir.path()), Err(MoveError::TwoLogs { .. })));
    }
}
