//! Errors of the log. Rejections (the caller asked for something the log refuses) and storage failures
//! (the log could not do its job) are different variants so that services can map them apart.

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
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("event log storage failed: {0}")]
    Sled(String),
    #[error("event log file could not be synced: {0}")]
    Sync(String),
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
            other => StorageError::Sled(other.to_string()),
        }
    }
}

/// Why a log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open event log at {path}: {reason}")]
    Storage { path: String, reason: String },
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
