//! Errors of the log. Rejections (the caller asked for something the log refuses) and storage failures
//! (the log could not do its job) are different variants so that services can map them apart.

use std::sync::Arc;

use uuid::Uuid;

use crate::stream::{CurrentVersion, ExpectedVersion, StreamId};

/// Why an append wrote nothing. The log answers a version or id conflict only once the events it
/// conflicts with are durable, so that a read right after it sees them.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Optimistic concurrency: the stream is not where the writer expected it.
    #[error("stream {stream} was expected at {expected} but is at {}", CurrentVersion(*.actual))]
    WrongExpectedVersion { stream: StreamId, expected: ExpectedVersion, actual: Option<u64> },
    /// The event id is stored already, with other content or in another place.
    #[error(
        "event id {event_id} is already stored at position {position} with different content, in another stream or at another version"
    )]
    EventIdConflict { event_id: Uuid, position: u64 },
    /// The request itself breaks a rule; `field` names the field and `rule` the rule.
    #[error("`{field}` {rule}")]
    Invalid { field: &'static str, rule: String },
    /// Storage failed; the log refuses further appends until it is reopened.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl AppendError {
    /// Whether the caller was refused for a reason of its own making (as opposed to a storage failure).
    pub fn is_rejection(&self) -> bool {
        !matches!(self, AppendError::Storage(_))
    }
}

/// The log's storage failed or holds something it cannot read.
///
/// Cloned to answer every append of a failed commit, hence the shared IO errors.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("event log storage failed: {0}")]
    Sled(#[source] sled::Error),
    /// sled's data file could not be synced.
    #[error("event log file could not be synced: {0}")]
    Sync(#[source] Arc<std::io::Error>),
    /// A blob file sled wrote beside its data file could not be synced.
    #[error("event log file could not be synced: cannot sync sled's blob files: {0}")]
    BlobSync(#[source] Arc<std::io::Error>),
    #[error("event log is corrupt at {location}: {reason}")]
    Corrupt { location: String, reason: String },
    #[error("event log has stopped after an earlier storage failure; reopen it")]
    Failed,
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { at, .. } => {
                StorageError::Corrupt { location: format!("{at:?}"), reason: "sled reported corruption".into() }
            }
            other => StorageError::Sled(other),
        }
    }
}

/// Why a log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// sled failed while opening the log's database or reading its head.
    #[error("cannot open event log at {path}: {source}")]
    Storage {
        path: String,
        #[source]
        source: sled::Error,
    },
    /// The directory, its entries or the log's writer thread could not be made.
    #[error("cannot open event log at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// sled's data file, which every commit syncs, could not be opened.
    #[error("cannot open event log at {path}: cannot open sled data file: {source}")]
    DataFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the directory (sled lets one process at a time open it).
    #[error("{path} is in use by another process")]
    InUse { path: String },
    /// This process opened the directory before and has not let go of it.
    #[error("{path} is still in use after waiting {waited_seconds} s for this process to close it")]
    StillLocked { path: String, waited_seconds: u64 },
    #[error("event log at {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error(
        "event log at {path} was written by an incompatible version (format {found:?}, this build reads {expected:?})"
    )]
    Incompatible { path: String, found: String, expected: String },
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn storage_failures_keep_their_cause_under_the_same_message() {
        let sled_error = sled::Error::Unsupported("a feature".into());
        let failed = StorageError::from(sled_error.clone());
        assert_eq!(failed.to_string(), format!("event log storage failed: {sled_error}"));
        assert_eq!(failed.source().map(ToString::to_string), Some(sled_error.to_string()));

        let unsynced = StorageError::BlobSync(Arc::new(std::io::Error::other("disk gone")));
        assert_eq!(
            unsynced.to_string(),
            "event log file could not be synced: cannot sync sled's blob files: disk gone"
        );
        assert_eq!(unsynced.source().map(ToString::to_string).as_deref(), Some("disk gone"));
        // Every append of a failed commit gets its own copy of the failure.
        assert_eq!(unsynced.clone().to_string(), unsynced.to_string());
    }

    #[test]
    fn a_log_that_cannot_be_made_keeps_the_io_error() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"not a directory").expect("the file is written");
        let Err(refused) = crate::EventLog::open(file.join("log")) else { panic!("a log was made inside a file") };
        assert!(matches!(refused, OpenError::Io { .. }), "{refused:?}");
        let cause = refused.source().expect("the cause is kept");
        assert!(cause.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(refused.to_string(), format!("cannot open event log at {}: {cause}", file.join("log").display()));
    }
}
