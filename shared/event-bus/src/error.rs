//! Errors of the bus. Handler rejections (the event is refused for good) and infrastructure failures (the
//! broker, the network or storage let us down; trying again may work) are separate types so that the
//! consumer can dead-letter the first and retry the second.

/// The error underneath a failure, kept whole so that a log line can show the chain of causes.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The bus could not do its job: broker, network, configuration or local storage.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker operation `{operation}` failed: {source}")]
    Broker {
        operation: &'static str,
        #[source]
        source: lapin::Error,
    },
    #[error("broker operation `{operation}` timed out after {millis} ms")]
    Timeout { operation: &'static str, millis: u128 },
    #[error("broker refused the message: {0}")]
    Refused(String),
    #[error(transparent)]
    Storage(#[from] event_log::StorageError),
    /// The task that saves the relay's cursor ended without saying how (it panicked or was cancelled).
    #[error("local database failed: cursor writer failed: {0}")]
    CursorWriter(#[source] tokio::task::JoinError),
    /// Applying events failed and the consumer stops, or a retried failure outlasted a session.
    #[error("handler failed: {0}")]
    Handler(#[source] Cause),
    #[error("source log could not be read: {0}")]
    Source(#[from] SourceError),
    #[error("invalid configuration: `{field}` {rule}")]
    Config { field: &'static str, rule: String },
    #[error("stored value `{key}` is malformed: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("no dead letter with message id {0}")]
    DeadLetterNotFound(String),
}

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is refused for good (a rule of the consuming service): it goes to the dead-letter queue
    /// and the consumer carries on.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Infrastructure failed (storage, a remote call): the message is handed back to the broker and tried
    /// again; after the queue's delivery limit the broker dead-letters it.
    #[error("failed: {0}")]
    Failed(#[source] Cause),
    /// Part of what a handler held back since its last [`Handler::sync`](crate::Handler::sync) was not
    /// committed (a reaction conflicted with a concurrent change, or was refused), and nothing after it:
    /// [`Handler::checkpoint`](crate::Handler::checkpoint) now reads what was. The consumer acknowledges
    /// what that covers and hands the rest back to the broker, to be applied again.
    #[error("not committed: {0}")]
    Uncommitted(#[source] Cause),
}

impl HandlerError {
    /// An infrastructure failure caused by `cause` (an error, or a message when nothing failed beneath).
    pub fn failed(cause: impl Into<Cause>) -> HandlerError {
        HandlerError::Failed(cause.into())
    }

    pub fn is_rejection(&self) -> bool {
        matches!(self, HandlerError::Rejected(_))
    }
}

/// A refusal returned by the ready-made handlers' closures; becomes [`HandlerError::Rejected`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

impl Rejection {
    pub fn new(reason: impl Into<String>) -> Rejection {
        Rejection(reason.into())
    }
}

impl From<Rejection> for HandlerError {
    fn from(r: Rejection) -> Self {
        HandlerError::Rejected(r.0)
    }
}

/// Reading missing events from a source log failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no reader for source `{0}`")]
    UnknownSource(String),
    #[error("source `{source_name}` failed: {cause}")]
    Failed {
        source_name: String,
        #[source]
        cause: Cause,
    },
}

impl SourceError {
    /// Reading `source_name` failed because of `cause`, for `map_err`.
    pub fn failed<E: Into<Cause>>(source_name: &str) -> impl FnOnce(E) -> SourceError + '_ {
        move |cause| SourceError::Failed { source_name: source_name.to_owned(), cause: cause.into() }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn disk_gone() -> std::io::Error {
        std::io::Error::other("disk gone")
    }

    #[test]
    fn a_failed_handler_keeps_the_error_underneath_under_the_same_message() {
        let failed = HandlerError::failed(disk_gone());
        assert_eq!(failed.to_string(), "failed: disk gone");
        assert!(failed.source().is_some_and(|cause| cause.is::<std::io::Error>()), "{failed:?}");
        assert!(!failed.is_rejection());
        assert_eq!(HandlerError::failed("the stream moved").to_string(), "failed: the stream moved");
    }

    #[test]
    fn a_failed_source_names_itself_and_keeps_the_error_underneath() {
        let failed = SourceError::failed("applications")(disk_gone());
        assert_eq!(failed.to_string(), "source `applications` failed: disk gone");
        assert!(failed.source().is_some_and(|cause| cause.is::<std::io::Error>()), "{failed:?}");
    }

    #[test]
    fn a_handler_failure_of_the_bus_keeps_the_handler_error() {
        let failed = BusError::Handler(HandlerError::failed(disk_gone()).into());
        assert_eq!(failed.to_string(), "handler failed: failed: disk gone");
        let handler_error = failed.source().and_then(|cause| cause.downcast_ref::<HandlerError>());
        assert!(handler_error.and_then(std::error::Error::source).is_some_and(|cause| cause.is::<std::io::Error>()));
    }
}
