//! What a consumer calls to apply an event, and the ready-made handler whose effect is an append to the
//! consuming service's own event log.

use std::future::Future;

use event_log::{AppendError, AppendRequest, EventLog, ExpectedVersion, Marker, NewEvent, RecordedEvent, StreamId};

use crate::checkpoint::Checkpoint;
use crate::error::{HandlerError, Rejection};

/// Applies events for a consumer. The consumer calls it from one task, one event at a time, in position
/// order per source.
///
/// The contract that makes effects exactly-once: [`Handler::handle`] commits the given checkpoint in the
/// same atomic write as its effect (or alone, when it ignores the event), and [`Handler::checkpoint`]
/// reads back the last one committed. The consumer acknowledges messages only after [`Handler::sync`].
pub trait Handler: Send {
    /// The last committed checkpoint for `source`; [`Checkpoint::start`] if there is none.
    fn checkpoint(&mut self, source: &str) -> Result<Checkpoint, HandlerError>;

    /// Applies `event` and commits `checkpoint` atomically with the effect.
    fn handle(
        &mut self,
        event: &RecordedEvent,
        checkpoint: &Checkpoint,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Commits `checkpoint` alone: the event at its position was dead-lettered.
    fn commit_checkpoint(&mut self, checkpoint: &Checkpoint) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Makes every commit so far durable. Handlers whose commits are durable on return do nothing.
    fn sync(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async { Ok(()) }
    }
}

/// What a service appends to its own log in reaction to another service's event.
#[derive(Clone, Debug)]
pub struct LogReaction {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// A handler whose effect is an append to the consuming service's own log; the checkpoint is a log marker
/// written in the same atomic commit ([`AppendRequest::marker`]), or alone with [`EventLog::put_marker`]
/// when the reaction is `None` (an event the service does not care about). The reaction is given the
/// source service the event came from with the event, so that it decodes it by that service's contract.
pub struct LogHandler<F> {
    log: EventLog,
    react: F,
}

impl<F> std::fmt::Debug for LogHandler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandler").field("log", &self.log.path()).finish_non_exhaustive()
    }
}

/// What a reaction makes of one consumed event.
pub type ReactionResult = Result<Option<LogReaction>, Rejection>;

impl<F> LogHandler<F>
where
    F: FnMut(&str, &RecordedEvent) -> ReactionResult + Send,
{
    /// A handler whose `react` is given the source service and the event.
    pub fn by_source(log: EventLog, react: F) -> LogHandler<F> {
        LogHandler { log, react }
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }
}

/// The checkpoint as a log marker, to put in an [`AppendRequest`].
fn checkpoint_marker(checkpoint: &Checkpoint) -> Marker {
    Marker { name: checkpoint.key(), value: checkpoint.encode() }
}

/// The checkpoint for `source` stored as a marker in `log`.
fn log_checkpoint(log: &EventLog, source: &str) -> Result<Checkpoint, HandlerError> {
    match log.marker(&Checkpoint::key_for(source)).map_err(HandlerError::failed)? {
        Some(bytes) => Checkpoint::decode(source, &bytes).map_err(HandlerError::failed),
        None => Ok(Checkpoint::start(source)),
    }
}

/// Commits the checkpoint alone as a marker in `log`.
async fn commit_log_checkpoint(log: &EventLog, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
    log.put_marker(&checkpoint.key(), checkpoint.encode()).await.map_err(HandlerError::failed)
}

impl<F> Handler for LogHandler<F>
where
    F: FnMut(&str, &RecordedEvent) -> ReactionResult + Send,
{
    fn checkpoint(&mut self, source: &str) -> Result<Checkpoint, HandlerError> {
        log_checkpoint(&self.log, source)
    }

    async fn handle(&mut self, event: &RecordedEvent, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
        match (self.react)(&checkpoint.source, event)? {
            None => commit_log_checkpoint(&self.log, checkpoint).await,
            Some(reaction) => {
                let request = AppendRequest {
                    stream: reaction.stream,
                    expected: reaction.expected,
                    events: reaction.events,
                    marker: Some(checkpoint_marker(checkpoint)),
                };
                self.log.append_request(request).await.map(|_| ()).map_err(|e| match e {
                    // A concurrent command moved the stream: the redelivery reacts to the new state.
                    AppendError::WrongExpectedVersion { .. } => HandlerError::failed(e),
                    e if e.is_rejection() => HandlerError::Rejected(e.to_string()),
                    e => HandlerError::failed(e),
                })
            }
        }
    }

    async fn commit_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
        commit_log_checkpoint(&self.log, checkpoint).await
    }
}
