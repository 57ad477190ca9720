//! What a consumer calls to apply an event, and the ready-made handler whose effect is an append to the
//! consuming service's own event log.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use event_log::{AppendError, AppendRequest, EventLog, ExpectedVersion, Marker, NewEvent, RecordedEvent, StreamId};

use crate::checkpoint::Checkpoint;
use crate::error::{HandlerError, Rejection};

/// Applies events for a consumer. The consumer calls it from one task, one event at a time, in position
/// order per source.
///
/// The contract that makes effects exactly-once: [`Handler::handle`] commits the given checkpoint in the
/// same atomic write as its effect (or alone, when it ignores the event). A handler may hold its commits
/// back until [`Handler::sync`], which the consumer calls once per batch of deliveries and before it
/// acknowledges any of them. [`Handler::checkpoint`] reads back the last checkpoint handed over, held back
/// or not; after [`HandlerError::Uncommitted`] (from `sync` or `handle`), what was held back is partly
/// gone, and `checkpoint` then reads what is durable, which the consumer re-reads before it acknowledges
/// anything.
pub trait Handler: Send {
    /// The last checkpoint handed over for `source`; [`Checkpoint::start`] if there is none.
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
    /// [`HandlerError::Uncommitted`] when part of what was held back could not be committed (the consumer
    /// then acknowledges what [`Handler::checkpoint`] covers and retries the rest); any other failure
    /// stops the consumer, with nothing acknowledged.
    fn sync(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async { Ok(()) }
    }
}

/// What a service appends to its own log in reaction to another service's event. A reaction that read
/// `stream` and decided nothing has no `events`: the handler then only advances its checkpoint, but it
/// knows which stream the decision was made on (see [`LogHandler`]).
#[derive(Clone, Debug)]
pub struct LogReaction {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// How many reactions a [`LogHandler`] holds back at most before it commits them, unless told otherwise:
/// the consumer's default prefetch, so that one batch of deliveries is one commit.
pub const DEFAULT_MAX_PENDING: usize = 512;

/// A handler whose effect is an append to the consuming service's own log; the checkpoint is a log marker
/// written in the same atomic commit ([`AppendRequest::marker`]). The reaction is given the source service
/// the event came from with the event, so that it decodes it by that service's contract.
///
/// Commits are held back until [`Handler::sync`] (once per batch of deliveries): an ignored event (the
/// reaction is `None`, or has no events) only advances the checkpoint in memory, and each reaction is
/// queued as an [`AppendRequest`] with its own checkpoint marker. `sync` appends them all with one
/// [`EventLog::append_in_order`], the newest checkpoint of each source riding on that source's last
/// request (or written alone with [`EventLog::put_marker`] when the source has none). If request k fails,
/// those before it are durable with their checkpoints and nothing after it is.
///
/// A reaction is decided on the log as it is committed, so a reaction to a stream that already has one
/// held back, or a rejection while reactions are held back, is decided again after committing them. The
/// closure must therefore be deterministic, and a reaction that reads a stream must name it even when it
/// decides nothing (a [`LogReaction`] without events); `None` says the event needs nothing from the log.
pub struct LogHandler<F> {
    log: EventLog,
    react: F,
    max_pending: usize,
    pending: Vec<PendingReaction>,
    /// The streams of `pending`.
    pending_streams: HashSet<StreamId>,
    /// The newest checkpoint handed over per source since the last commit.
    latest: HashMap<String, Checkpoint>,
    /// Events whose reaction the log refused in a batch: decided and appended alone when they come back,
    /// so that a refusal is reported for the event that caused it (which then goes to the dead letters).
    isolated: HashSet<(String, u64)>,
}

/// A reaction held back until the next commit, with the consumed event it answers.
struct PendingReaction {
    source: String,
    position: u64,
    request: AppendRequest,
}

impl<F> std::fmt::Debug for LogHandler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandler")
            .field("log", &self.log.path())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
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
        LogHandler {
            log,
            react,
            max_pending: DEFAULT_MAX_PENDING,
            pending: Vec::new(),
            pending_streams: HashSet::new(),
            latest: HashMap::new(),
            isolated: HashSet::new(),
        }
    }

    /// Commits once `max_pending` reactions are held back (at least 1), to keep memory small.
    pub fn with_max_pending(mut self, max_pending: usize) -> LogHandler<F> {
        self.max_pending = max_pending.max(1);
        self
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Appends what is held back, in order, then the checkpoints of sources without a held-back reaction.
    /// Whatever happens, nothing is held back afterwards.
    async fn commit_pending(&mut self) -> Result<(), HandlerError> {
        let mut pending = std::mem::take(&mut self.pending);
        let latest = std::mem::take(&mut self.latest);
        self.pending_streams.clear();
        let mut alone = Vec::new();
        for (source, checkpoint) in latest {
            // The events after a source's last reaction were ignored or dead-lettered: nothing in this log
            // depends on them, so their checkpoint may ride on that reaction.
            match pending.iter_mut().rev().find(|p| p.source == source) {
                Some(last) => last.request.marker = Some(checkpoint_marker(&checkpoint)),
                None => alone.push(checkpoint),
            }
        }
        let origins: Vec<(String, u64)> = pending.iter().map(|p| (p.source.clone(), p.position)).collect();
        let mut failure = None;
        if !pending.is_empty() {
            let outcome = self.log.append_in_order(pending.into_iter().map(|p| p.request).collect()).await;
            if let Some(error) = outcome.failed {
                let origin = origins[outcome.appended.len()].clone();
                failure = Some(self.refused_in_batch(origin, error));
            }
        }
        // Independent of the reactions: a failed one does not hold these back.
        for checkpoint in alone {
            commit_log_checkpoint(&self.log, &checkpoint).await?;
        }
        failure.map_or(Ok(()), Err)
    }

    /// The failure of a batch whose request for `origin` the log refused.
    fn refused_in_batch(&mut self, origin: (String, u64), error: AppendError) -> HandlerError {
        match error {
            AppendError::Storage(_) => HandlerError::failed(error),
            // A concurrent command moved the stream: the redelivery reacts to the new state.
            AppendError::WrongExpectedVersion { .. } => HandlerError::Uncommitted(error.into()),
            refused => {
                let (source, position) = origin;
                let reason = format!("the reaction to {source} position {position} was refused: {refused}");
                self.isolated.insert((source, position));
                HandlerError::Uncommitted(reason.into())
            }
        }
    }

    /// Decides and appends the reaction to `event` at once, alone: its refusal is the event's.
    async fn react_alone(&mut self, event: &RecordedEvent, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
        let request = match (self.react)(&checkpoint.source, event)? {
            Some(reaction) if !reaction.events.is_empty() => reaction_request(reaction, checkpoint),
            _ => {
                self.latest.insert(checkpoint.source.clone(), checkpoint.clone());
                return Ok(());
            }
        };
        self.log.append_request(request).await.map(|_| ()).map_err(|e| match e {
            AppendError::WrongExpectedVersion { .. } => HandlerError::failed(e),
            e if e.is_rejection() => HandlerError::Rejected(e.to_string()),
            e => HandlerError::failed(e),
        })
    }
}

/// The append of `reaction`, with the checkpoint of the event it answers committed atomically with it.
fn reaction_request(reaction: LogReaction, checkpoint: &Checkpoint) -> AppendRequest {
    AppendRequest {
        stream: reaction.stream,
        expected: reaction.expected,
        events: reaction.events,
        marker: Some(checkpoint_marker(checkpoint)),
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
        match self.latest.get(source) {
            Some(checkpoint) => Ok(checkpoint.clone()),
            None => log_checkpoint(&self.log, source),
        }
    }

    async fn handle(&mut self, event: &RecordedEvent, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
        let source = checkpoint.source.clone();
        let origin = (source.clone(), event.position);
        if self.isolated.contains(&origin) {
            self.commit_pending().await?;
            self.isolated.remove(&origin);
            return self.react_alone(event, checkpoint).await;
        }
        let mut reaction = (self.react)(&source, event);
        // Decided on a state that a held-back reaction changes: decide again on the committed state.
        let stale = match &reaction {
            Ok(Some(reaction)) => self.pending_streams.contains(&reaction.stream),
            Err(_) => !self.pending.is_empty(),
            Ok(None) => false,
        };
        if stale {
            self.commit_pending().await?;
            reaction = (self.react)(&source, event);
        }
        if let Some(reaction) = reaction?.filter(|reaction| !reaction.events.is_empty()) {
            if self.pending.len() >= self.max_pending {
                self.commit_pending().await?;
            }
            self.pending_streams.insert(reaction.stream.clone());
            self.pending.push(PendingReaction {
                source: source.clone(),
                position: event.position,
                request: reaction_request(reaction, checkpoint),
            });
        }
        self.latest.insert(source, checkpoint.clone());
        Ok(())
    }

    async fn commit_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
        self.latest.insert(checkpoint.source.clone(), checkpoint.clone());
        Ok(())
    }

    async fn sync(&mut self) -> Result<(), HandlerError> {
        self.commit_pending().await
    }
}
