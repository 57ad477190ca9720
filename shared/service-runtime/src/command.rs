//! Commands on event-sourced aggregates, exactly once per request id.
//!
//! [`EventStore::execute`] loads an aggregate by replaying its stream, runs the pure decision, and appends
//! the resulting events with `ExpectedVersion::Exact(loaded version)` (or `NoStream`), the actor, and
//! correlation and causation ids. The encoded response is written under the marker
//! `request/<request_id>` **in the same atomic append**, so a retry with the same request id returns the
//! first response without running the command again. Event ids are derived from the request id (UUID v5)
//! as a second line of defence: two racing copies of one request cannot both append.
//!
//! [`EventStore::react`] is its twin for a consumed event: load, the domain's reaction, and the events to
//! append with the consumer's checkpoint. Both build their events in one place (`EventStore::record`),
//! from what caused them (`Cause`): ids, metadata and sealing of free text cannot drift apart.

use prost::Message;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use std::collections::HashSet;

use contracts::common::v1::SealedPersonalData;
use contracts::events::{EventMessage, UndecodableEvent};
use contracts::values::WireError;
use domain_kernel::{Actor, Rejection, Timestamp, parse_uuid};
use event_bus::LogReaction;
use event_log::{
    AppendError, AppendRequest, EventLog, EventMetadata, ExpectedVersion, Marker, NewEvent, RecordedEvent, StreamId,
    TraceContext,
};

use crate::errors::{ErrorChain, ServiceError};
use crate::identity;
use crate::sealing::TextSealer;

/// A domain event that can be stored as a log payload (a protobuf message named by `event_type`).
pub trait DomainEvent: Sized {
    /// The protobuf message name, e.g. `ApplicationSubmitted`.
    fn event_type(&self) -> &'static str;
    /// Version of the payload's schema, starting at 1.
    fn schema_version(&self) -> u32 {
        1
    }
    fn encode_payload(&self) -> Vec<u8>;
    /// Decodes a stored payload; the error names what was wrong.
    fn decode_payload(event_type: &str, payload: &[u8]) -> Result<Self, EventDecodeError>;
}

/// A stored event that is not one of the domain's events.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventDecodeError {
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("{event_type}: {source}")]
    Undecodable {
        event_type: &'static str,
        #[source]
        source: prost::DecodeError,
    },
}

impl From<UndecodableEvent> for EventDecodeError {
    fn from(undecodable: UndecodableEvent) -> EventDecodeError {
        EventDecodeError::Undecodable { event_type: undecodable.event_type, source: undecodable.source }
    }
}

/// For [`domain_event_codec!`]: the event type of the message a variant wraps.
#[doc(hidden)]
pub fn event_type_of<M: EventMessage>(_: &M) -> &'static str {
    M::EVENT_TYPE
}

/// For [`domain_event_codec!`]: the payload decoded into `variant` when `event_type` names its message.
#[doc(hidden)]
pub fn decode_variant<M: EventMessage, E>(
    event_type: &str,
    payload: &[u8],
    variant: fn(M) -> E,
) -> Result<Option<E>, EventDecodeError> {
    if event_type != M::EVENT_TYPE {
        return Ok(None);
    }
    Ok(Some(variant(contracts::events::decode_message(payload)?)))
}

/// An aggregate whose state is the fold of its stream's events.
pub trait Aggregate: Default + Clone {
    type Event: DomainEvent;
    /// The stream type, e.g. `application`.
    const STREAM_TYPE: &'static str;
    /// Folds one event. An event whose values cannot be read into the state is an error naming the value,
    /// never skipped: a state folded past it would be a state the log does not hold.
    fn apply(self, event: &Self::Event) -> Result<Self, WireError>;
}

/// An aggregate as loaded from its stream.
#[derive(Clone, Debug)]
pub struct Loaded<A> {
    pub state: A,
    /// The log's version of the stream's last event; `None` when the stream does not exist.
    pub stream_version: Option<u64>,
}

impl<A> Loaded<A> {
    pub fn exists(&self) -> bool {
        self.stream_version.is_some()
    }

    /// The number of events of the stream: the version clients see.
    pub fn version(&self) -> u64 {
        self.stream_version.map_or(0, |v| v + 1)
    }
}

/// What a command knows about its request.
#[derive(Clone, Debug)]
pub struct CommandContext {
    /// Full RPC path, e.g. `grants.applications.v1.ApplicationsService/OpenRound`.
    pub rpc: &'static str,
    pub request_id: Uuid,
    pub actor: Actor,
    /// Groups everything caused by the original request; the request id unless the caller sent one.
    pub correlation_id: Uuid,
    /// The time the domain decides by.
    pub now: Timestamp,
    /// The command's span of the request's trace (see [`crate::request_log`]); its events record it.
    pub trace: TraceContext,
    /// SHA-256 over the RPC, the actor's subject and the encoded request: tells a retry from a reuse.
    fingerprint: [u8; 32],
}

/// Name of the marker that holds the response to a request.
pub fn request_marker(request_id: Uuid) -> String {
    format!("request/{request_id}")
}

impl CommandContext {
    /// A context for `request`, whose `request_id` field holds `request_id`.
    pub fn new<M: Message>(
        rpc: &'static str,
        request_id: &str,
        actor: Actor,
        request: &M,
    ) -> Result<CommandContext, ServiceError> {
        let request_id = parse_uuid("request_id", request_id)?;
        let mut hash = Sha256::new();
        hash.update(rpc.as_bytes());
        hash.update([0]);
        hash.update(actor.subject.as_bytes());
        hash.update([0]);
        hash.update(request.encode_to_vec());
        let correlation_id = request_id;
        crate::request_log::note_command(request_id, correlation_id, request_id);
        Ok(CommandContext {
            rpc,
            request_id,
            actor,
            correlation_id,
            now: Timestamp::now(),
            // Outside a served request (a test, a tool), a trace of its own.
            trace: crate::request_log::current_trace().unwrap_or_else(TraceContext::start),
            fingerprint: hash.finalize().into(),
        })
    }

    /// An id derived from the request id: the same on every retry (UUID v5 in the request id's namespace).
    pub fn derive_id(&self, purpose: &str) -> Uuid {
        Uuid::new_v5(&self.request_id, purpose.as_bytes())
    }
}

/// Commands and reads on a service's event log.
#[derive(Clone, Debug)]
pub struct EventStore {
    log: EventLog,
    /// Seals the free text of the events it appends and opens it when it loads them; without one, events
    /// are recorded as decided (services whose events hold no free text, and tests of pure mechanics).
    sealer: Option<TextSealer>,
    /// Counts commands refused by the identity guard, by rule.
    refusals: Option<crate::metrics::Metrics>,
}

/// The first byte of a stored response that is sealed, after its 32-byte fingerprint: never the first
/// byte of a protobuf encoding (field number 0 does not exist), so responses stored in clear by earlier
/// versions still read.
const SEALED_RESPONSE: u8 = 0;

impl EventStore {
    pub fn new(log: EventLog) -> EventStore {
        EventStore { log, sealer: None, refusals: None }
    }

    /// A store whose events' free text is guarded and sealed by `sealer` before it is appended, and opened
    /// for the service's own readers when it is loaded.
    pub fn with_sealer(log: EventLog, sealer: TextSealer) -> EventStore {
        EventStore { log, sealer: Some(sealer), refusals: None }
    }

    /// Counts every command it refuses for the identity guard's sake in `metrics`, by rule only.
    pub fn counting_refusals(mut self, metrics: crate::metrics::Metrics) -> EventStore {
        self.refusals = Some(metrics);
        self
    }

    /// Counts `error` if it is the identity guard's refusal (by the sealer or by the domain).
    fn count_refusal(&self, error: &ServiceError) {
        if let (Some(metrics), ServiceError::Rejected(Rejection::Invalid { rule, .. })) = (&self.refusals, error)
            && let Some(rule) = identity_guard::Refusal::rule_of_reason(rule)
        {
            metrics.guard_refused(rule);
        }
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Replays the stream `A::STREAM_TYPE/key`.
    pub fn load<A: Aggregate>(&self, key: &str) -> Result<Loaded<A>, ServiceError> {
        self.load_erasing::<A>(key, &HashSet::new())
    }

    /// Replays the stream as [`Self::load`] does, as if the free text of `erased` scopes had been erased too.
    fn load_erasing<A: Aggregate>(&self, key: &str, erased: &HashSet<Uuid>) -> Result<Loaded<A>, ServiceError> {
        let stream = stream_id(A::STREAM_TYPE, key)?;
        let mut loaded = Loaded { state: A::default(), stream_version: None };
        for recorded in self.read_opened_erasing(&stream, erased)? {
            let event = A::Event::decode_payload(&recorded.event_type, &recorded.payload).map_err(|e| {
                ServiceError::internal_from(format!("cannot decode event at position {}", recorded.position), e)
            })?;
            loaded.state = loaded.state.apply(&event).map_err(|e| {
                ServiceError::internal_from(
                    format!("cannot fold {} at position {}", recorded.event_type, recorded.position),
                    e,
                )
            })?;
            loaded.stream_version = Some(recorded.stream_version);
        }
        Ok(loaded)
    }

    /// The events of `stream` as the service's own readers see them: free text opened, or `[erased]`.
    pub fn read_opened(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, ServiceError> {
        self.read_opened_erasing(stream, &HashSet::new())
    }

    fn read_opened_erasing(
        &self,
        stream: &StreamId,
        also_erased: &HashSet<Uuid>,
    ) -> Result<Vec<RecordedEvent>, ServiceError> {
        let mut events = self.log.read_stream(stream, 0).collect::<Result<Vec<_>, _>>()?;
        let Some(sealer) = &self.sealer else { return Ok(events) };
        // An erasure covers the scope's text recorded before it, wherever in the stream that is.
        let mut erased = also_erased.clone();
        for event in &events {
            erased.extend(sealer.erased_scope(&event.event_type, &event.payload)?);
        }
        for event in &mut events {
            event.payload = sealer.open(&event.event_type, &event.payload, &erased)?;
        }
        Ok(events)
    }

    /// The stored response to the context's request, if it was executed already.
    pub fn stored_response<R: Message + Default>(&self, ctx: &CommandContext) -> Result<Option<R>, ServiceError> {
        let Some(value) = self.log.marker(&request_marker(ctx.request_id))? else { return Ok(None) };
        if value.len() < 32 {
            return Err(ServiceError::internal("stored response is too short"));
        }
        let (fingerprint, response) = value.split_at(32);
        if fingerprint != ctx.fingerprint {
            return Err(Rejection::invalid("request_id", "was already used for a different request").into());
        }
        let opened;
        let response = match (response.split_first(), &self.sealer) {
            (Some((&SEALED_RESPONSE, sealed)), Some(sealer)) => {
                let sealed = SealedPersonalData::decode(sealed)
                    .map_err(|e| ServiceError::internal_from("sealed stored response does not decode", e))?;
                opened = sealer.open_bytes(&sealed)?.ok_or_else(|| {
                    Rejection::precondition(
                        "request_id",
                        "this request was carried out, but its answer held free text that has been erased since: \
                         read the object to see it as it is now",
                    )
                })?;
                opened.as_slice()
            }
            (Some((&SEALED_RESPONSE, _)), None) => {
                return Err(ServiceError::internal("a sealed stored response, but no key vault to open it"));
            }
            _ => response,
        };
        R::decode(response).map(Some).map_err(|e| ServiceError::internal_from("stored response does not decode", e))
    }

    /// Runs a command on the aggregate `A` at `key`, once per request id.
    ///
    /// - `expected_version`: the version the client last saw, if it sent one (`ABORTED` when different).
    /// - `decide`: the pure decision; a rejection writes nothing.
    /// - `respond`: builds the response from the state after the new events and its version.
    ///
    /// When the stream changes between loading and appending (another command or a consumer won the
    /// race) and the client did not pin a version, the command is decided again on the new state: the
    /// decision is pure, so this is what the client would do by hand. After a few lost races it gives up
    /// with `ABORTED`.
    pub async fn execute<A, R>(
        &self,
        ctx: &CommandContext,
        key: &str,
        expected_version: Option<u64>,
        decide: impl Fn(&Loaded<A>) -> Result<Vec<A::Event>, Rejection>,
        respond: impl Fn(&A, u64) -> R,
    ) -> Result<R, ServiceError>
    where
        A: Aggregate,
        R: Message + Default,
    {
        let stream = stream_id(A::STREAM_TYPE, key)?;
        let mut attempt = 1;
        loop {
            let attempt_result = self.attempt(ctx, &stream, key, expected_version, &decide, &respond).await;
            if let Err(error) = &attempt_result {
                self.count_refusal(error);
            }
            match attempt_result? {
                Attempt::Done(response) => return Ok(response),
                Attempt::LostRace if expected_version.is_none() && attempt < Self::ATTEMPTS => attempt += 1,
                Attempt::LostRace => {
                    return Err(ServiceError::Conflict(format!(
                        "{stream} was changed concurrently; reload it and retry"
                    )));
                }
            }
        }
    }

    /// How often a command without an expected version is decided before it gives up on a busy stream.
    const ATTEMPTS: u32 = 5;

    /// One load-decide-append round of [`Self::execute`].
    async fn attempt<A, R>(
        &self,
        ctx: &CommandContext,
        stream: &StreamId,
        key: &str,
        expected_version: Option<u64>,
        decide: &impl Fn(&Loaded<A>) -> Result<Vec<A::Event>, Rejection>,
        respond: &impl Fn(&A, u64) -> R,
    ) -> Result<Attempt<R>, ServiceError>
    where
        A: Aggregate,
        R: Message + Default,
    {
        if let Some(response) = self.stored_response(ctx)? {
            return Ok(Attempt::Done(response));
        }
        let loaded = self.load::<A>(key)?;
        if let Some(expected) = expected_version
            && expected != loaded.version()
        {
            return Err(ServiceError::Conflict(format!(
                "`expected_version` is {expected} but {stream} is at version {}; reload it and retry",
                loaded.version()
            )));
        }
        let events = decide(&loaded)?;
        if events.is_empty() {
            return Err(ServiceError::internal(format!("{} decided on no events", ctx.rpc)));
        }
        let version = loaded.version() + events.len() as u64;

        let Recorded { events: new_events, sealed_scope, erased: erased_now } =
            self.record(&Cause::Command(ctx), stream, &events)?;
        // The answer shows the state after the command: with what it erased shown as erased.
        let base =
            if erased_now.is_empty() { loaded.state.clone() } else { self.load_erasing::<A>(key, &erased_now)?.state };
        let state = events.iter().try_fold(base, |state, event| state.apply(event)).map_err(|e| {
            ServiceError::internal_from(format!("{} decided an event its aggregate cannot fold", ctx.rpc), e)
        })?;
        let response = respond(&state, version);
        // Stored for retries, the answer is sealed like the text the command recorded; text it shows that the
        // command did not write (a report shown with an acceptance) is left out of the stored copy.
        let mut marker_value = ctx.fingerprint.to_vec();
        match (sealed_scope, &self.sealer) {
            (Some(scope), Some(sealer)) => {
                marker_value.push(SEALED_RESPONSE);
                sealer.seal_bytes(scope, &response.encode_to_vec())?.encode(&mut marker_value)
            }
            (None, Some(sealer)) => {
                marker_value.extend(sealer.without_free_text(ctx.rpc, response.encode_to_vec())?);
                Ok(())
            }
            (_, None) => response.encode(&mut marker_value),
        }
        .map_err(|e| ServiceError::internal_from("cannot encode the response to store", e))?;
        let request = AppendRequest {
            stream: stream.clone(),
            expected: loaded.stream_version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact),
            events: new_events,
            marker: Some(Marker { name: request_marker(ctx.request_id), value: marker_value }),
        };
        match self.log.append_request(request).await {
            Ok(_) => Ok(Attempt::Done(response)),
            // The log answers these once what the append lost to is durable, so it is read below.
            Err(AppendError::WrongExpectedVersion { .. } | AppendError::EventIdConflict { .. }) => {
                // Either a copy of this same request won the race (return its response) or another
                // command changed the stream since it was loaded.
                match self.stored_response(ctx)? {
                    Some(response) => Ok(Attempt::Done(response)),
                    None => Ok(Attempt::LostRace),
                }
            }
            Err(AppendError::Invalid { field, rule }) => {
                Err(ServiceError::internal(format!("event log refused the append: `{field}` {rule}")))
            }
            Err(AppendError::Storage(e)) => Err(e.into()),
        }
    }
}

impl EventStore {
    /// Runs the reaction of the aggregate `A` at `key` to `consumed` (an event of another service, decoded
    /// by the caller), as [`Self::execute`] runs a command: load, the pure decision, and the events to
    /// append, built like a command's. The consumer appends them with its checkpoint (`LogHandler`).
    ///
    /// A reaction without events when the domain decided nothing (an event it already reacted to): it
    /// still names the stream it was decided on, so that the consumer, which holds reactions back until
    /// it commits a batch, decides it again if that stream has one held back. A rejection, or a log it
    /// cannot read, refuses the event with the reason: it goes to the dead-letter queue.
    pub fn react<A: Aggregate>(
        &self,
        consumed: &RecordedEvent,
        service: &str,
        key: &str,
        decide: impl FnOnce(&A) -> Result<Vec<A::Event>, Rejection>,
    ) -> Result<Option<LogReaction>, event_bus::Rejection> {
        let refuse = |reason: &dyn std::fmt::Display| crate::bus::refusal(consumed, reason);
        let stream = stream_id(A::STREAM_TYPE, key).map_err(|e| refuse(&ErrorChain(&e)))?;
        let loaded =
            self.load::<A>(key).map_err(|e| refuse(&format_args!("cannot read {stream}: {}", ErrorChain(&e))))?;
        let events = decide(&loaded.state).map_err(|e| refuse(&e))?;
        let reaction = self.reaction(consumed, service, stream, loaded.stream_version, &events);
        reaction.map(Some).map_err(|e| refuse(&ErrorChain(&e)))
    }

    /// What a consumer appends for `events` it decided in reaction to `consumed`: `events` for `stream`,
    /// which stood at `stream_version` when they were decided, their free text sealed like a command's.
    pub fn reaction<E: DomainEvent>(
        &self,
        consumed: &RecordedEvent,
        service: &str,
        stream: StreamId,
        stream_version: Option<u64>,
        events: &[E],
    ) -> Result<LogReaction, ServiceError> {
        let recorded = self.record(&Cause::Reaction { consumed, service }, &stream, events)?;
        let expected = stream_version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        Ok(LogReaction { stream, expected, events: recorded.events })
    }

    /// The decided `events` for `stream` as they are appended, whatever caused them: ids and metadata from
    /// the cause, free text sealed (and, from a command, guarded first), an erasure's keys destroyed first
    /// (so the key is gone even if recording then fails, and a retry finds nothing left to erase).
    fn record<E: DomainEvent>(
        &self,
        cause: &Cause<'_>,
        stream: &StreamId,
        events: &[E],
    ) -> Result<Recorded, ServiceError> {
        let metadata = cause.metadata();
        let mut recorded =
            Recorded { events: Vec::with_capacity(events.len()), sealed_scope: None, erased: HashSet::new() };
        for (index, event) in events.iter().enumerate() {
            let mut payload = event.encode_payload();
            if let Some(sealer) = &self.sealer {
                let erased_scope = sealer.erased_scope(event.event_type(), &payload)?;
                if let Some(scope) = erased_scope {
                    sealer.erase(scope)?;
                    recorded.erased.insert(scope);
                }
                let sealed = match cause {
                    Cause::Command(_) => sealer.seal(event.event_type(), payload)?,
                    // Its text was guarded by the service that recorded the consumed event; refusing it
                    // here would only dead-letter a fact that is already recorded.
                    Cause::Reaction { .. } => sealer.seal_reaction(event.event_type(), payload)?,
                };
                payload = sealed.payload;
                recorded.sealed_scope = recorded.sealed_scope.or(sealed.scope);
            }
            recorded.events.push(NewEvent {
                event_id: cause.event_id(stream, index),
                event_type: event.event_type().to_owned(),
                schema_version: event.schema_version(),
                payload,
                metadata: metadata.clone(),
            });
        }
        Ok(recorded)
    }
}

/// What caused the events being recorded: it decides their metadata and their ids.
enum Cause<'a> {
    /// A client's request.
    Command(&'a CommandContext),
    /// An event of another service, consumed by `service` (the reacting service).
    Reaction { consumed: &'a RecordedEvent, service: &'a str },
}

impl Cause<'_> {
    /// A command's actor, time and trace; a consumed event's actor, correlation, time and trace id carry over.
    fn metadata(&self) -> EventMetadata {
        match self {
            Cause::Command(ctx) => EventMetadata {
                actor: identity::log_actor(&ctx.actor),
                correlation_id: ctx.correlation_id,
                causation_id: ctx.request_id,
                occurred_at: event_log::Timestamp::from_micros(ctx.now.as_micros()),
                trace: Some(ctx.trace),
            },
            Cause::Reaction { consumed, service } => EventMetadata {
                actor: consumed.metadata.actor.clone(),
                correlation_id: consumed.metadata.correlation_id,
                causation_id: consumed.event_id,
                occurred_at: consumed.metadata.occurred_at,
                // The consumed event's trace, in a span of the reaction's own: derived from the consumed
                // event and the reacting service, so that a reaction decided again records the same.
                trace: consumed.metadata.trace.map(|trace| {
                    trace.child_from(&Uuid::new_v5(&consumed.event_id, format!("{service}/trace").as_bytes()))
                }),
            },
        }
    }

    /// The id of the `index`th event for `stream`: derived from the request id, or from the consumed event's
    /// id and the reacting service, so that a retry is the very same append.
    fn event_id(&self, stream: &StreamId, index: usize) -> Uuid {
        match self {
            Cause::Command(ctx) => ctx.derive_id(&format!("event/{stream}/{index}")),
            Cause::Reaction { consumed, service } => {
                Uuid::new_v5(&consumed.event_id, format!("{service}/{stream}/{index}").as_bytes())
            }
        }
    }
}

/// Decided events as they are appended, the scope their free text was sealed under, and the scopes erased.
struct Recorded {
    events: Vec<NewEvent>,
    sealed_scope: Option<Uuid>,
    erased: HashSet<Uuid>,
}

/// How one round of a command ended.
enum Attempt<R> {
    Done(R),
    /// The stream changed between loading and appending.
    LostRace,
}

/// Implements [`DomainEvent`] for an enum whose every variant wraps one event message of the contracts: the
/// event type is the message's [`EventMessage::EVENT_TYPE`] and the payload the message's encoding, so no
/// event name is spelled here. `domain_event_codec!(RoundEvent { Opened, Closed });`
#[macro_export]
macro_rules! domain_event_codec {
    ($enum:ident { $($variant:ident),* $(,)? }) => {
        impl $crate::DomainEvent for $enum {
            fn event_type(&self) -> &'static str {
                match self { $($enum::$variant(e) => $crate::command::event_type_of(e)),* }
            }

            fn encode_payload(&self) -> Vec<u8> {
                match self { $($enum::$variant(e) => $crate::__prost::Message::encode_to_vec(e)),* }
            }

            fn decode_payload(
                event_type: &str,
                payload: &[u8],
            ) -> Result<Self, $crate::command::EventDecodeError> {
                $(
                    if let Some(event) = $crate::command::decode_variant(event_type, payload, $enum::$variant)? {
                        return Ok(event);
                    }
                )*
                Err($crate::command::EventDecodeError::UnknownType(event_type.to_owned()))
            }
        }
    };
}

/// The body of a command RPC: takes the caller's [`Actor`](domain_kernel::Actor) from the request, builds the
/// [`CommandContext`](crate::CommandContext) for the RPC at `$path`, decodes the request with `$decode` into
/// `(object id, expected version, command)`, hands them to `$self.command` and answers with [`reply`].
/// `service_runtime::command_rpc!(self, request, "pkg.Service/Method", |ctx, req| (id, req.expected_version, cmd))`
#[macro_export]
macro_rules! command_rpc {
    ($self:ident, $request:ident, $path:expr, |$ctx:ident, $req:ident| $decode:expr) => {{
        let actor = $crate::actor_of(&$request)?;
        let $req = $request.into_inner();
        $crate::reply(
            async {
                let $ctx = $crate::CommandContext::new($path, &$req.request_id, actor, &$req)?;
                let (id, expected_version, command) = $decode;
                $self.command(&$ctx, id, expected_version, command).await
            }
            .await,
        )
    }};
}

/// The stream of an aggregate.
pub fn stream_id(stream_type: &str, key: &str) -> Result<StreamId, ServiceError> {
    StreamId::new(stream_type, key).map_err(|e| ServiceError::internal_from("not a stream id", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain_kernel::Role;

    /// A counter that may not pass a limit: enough to exercise the helper.
    #[derive(Clone, Debug, Default)]
    struct Counter(u64);

    #[derive(Clone, Debug, PartialEq)]
    struct Added(u64);

    impl DomainEvent for Added {
        fn event_type(&self) -> &'static str {
            "Added"
        }
        fn encode_payload(&self) -> Vec<u8> {
            self.0.to_be_bytes().to_vec()
        }
        fn decode_payload(event_type: &str, payload: &[u8]) -> Result<Self, EventDecodeError> {
            match (event_type, <[u8; 8]>::try_from(payload)) {
                ("Added", Ok(bytes)) => Ok(Added(u64::from_be_bytes(bytes))),
                _ => Err(EventDecodeError::UnknownType(event_type.to_owned())),
            }
        }
    }

    impl Aggregate for Counter {
        type Event = Added;
        const STREAM_TYPE: &'static str = "counter";
        fn apply(self, event: &Added) -> Result<Counter, WireError> {
            Ok(Counter(self.0 + event.0))
        }
    }

    fn decide(amount: u64) -> impl Fn(&Loaded<Counter>) -> Result<Vec<Added>, Rejection> {
        move |loaded| {
            if loaded.state.0 + amount > 10 {
                return Err(Rejection::precondition("amount", "would pass the limit of 10"));
            }
            Ok(vec![Added(amount)])
        }
    }

    /// The response: the counter's value and version, as a protobuf message of two fields.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Reply {
        #[prost(uint64, tag = "1")]
        value: u64,
        #[prost(uint64, tag = "2")]
        version: u64,
    }

    fn reply(state: &Counter, version: u64) -> Reply {
        Reply { value: state.0, version }
    }

    fn ctx(request_id: Uuid, amount: u64) -> CommandContext {
        let actor = Actor { subject: "s".into(), role: Role::ProgramOfficer, organisation: None };
        CommandContext::new("test/Add", &request_id.to_string(), actor, &Reply { value: amount, version: 0 }).unwrap()
    }

    fn store() -> (tempfile::TempDir, EventStore) {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path().join("log")).unwrap();
        (dir, EventStore::new(log))
    }

    #[tokio::test]
    async fn a_retry_returns_the_first_response_and_writes_nothing() {
        let (_dir, store) = store();
        let id = Uuid::new_v4();
        let first = store.execute::<Counter, _>(&ctx(id, 3), "c", None, decide(3), reply).await.unwrap();
        assert_eq!(first, Reply { value: 3, version: 1 });
        // The retry must not run the decision again.
        let again =
            store.execute::<Counter, _>(&ctx(id, 3), "c", None, |_| panic!("decided twice"), reply).await.unwrap();
        assert_eq!(again, first);
        assert_eq!(store.log().next_position(), 1);
        let event = store.log().event(0).unwrap().unwrap();
        assert_eq!((event.metadata.causation_id, event.metadata.actor.role.as_str()), (id, "program_officer"));
        // The same id for a different request is refused.
        let reused = store.execute::<Counter, _>(&ctx(id, 4), "c", None, decide(4), reply).await;
        assert!(
            matches!(reused, Err(ServiceError::Rejected(Rejection::Invalid { field, .. })) if field == "request_id")
        );
    }

    #[tokio::test]
    async fn rejections_and_stale_versions_write_nothing() {
        let (_dir, store) = store();
        store.execute::<Counter, _>(&ctx(Uuid::new_v4(), 8), "c", None, decide(8), reply).await.unwrap();
        let over = store.execute::<Counter, _>(&ctx(Uuid::new_v4(), 5), "c", None, decide(5), reply).await;
        assert!(matches!(over, Err(ServiceError::Rejected(Rejection::Precondition { .. }))));
        let stale = store.execute::<Counter, _>(&ctx(Uuid::new_v4(), 1), "c", Some(0), decide(1), reply).await;
        assert!(matches!(stale, Err(ServiceError::Conflict(_))));
        assert_eq!(store.log().next_position(), 1);
        // A rejected request id may be used again once the request is valid (nothing was stored for it).
        let id = Uuid::new_v4();
        assert!(store.execute::<Counter, _>(&ctx(id, 1), "c", Some(0), decide(1), reply).await.is_err());
        let ok = store.execute::<Counter, _>(&ctx(id, 1), "c", Some(1), decide(1), reply).await.unwrap();
        assert_eq!(ok, Reply { value: 9, version: 2 });
    }

    #[tokio::test]
    async fn concurrent_commands_are_decided_again_unless_the_client_pinned_a_version() {
        let (_dir, store) = store();
        let decisions = std::sync::atomic::AtomicU64::new(0);
        let add = |_: &Loaded<Counter>| {
            decisions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(vec![Added(0)])
        };
        for round in 1..=20 {
            // Without an expected version both commands land, the loser decided again on the new state.
            let (a, b) = (ctx(Uuid::new_v4(), 0), ctx(Uuid::new_v4(), 0));
            let (ra, rb) = tokio::join!(
                store.execute::<Counter, _>(&a, "unpinned", None, add, reply),
                store.execute::<Counter, _>(&b, "unpinned", None, add, reply),
            );
            let mut versions = [ra.unwrap().version, rb.unwrap().version];
            versions.sort_unstable();
            assert_eq!(versions, [2 * round - 1, 2 * round]);

            // With the version pinned, exactly one wins and the other is aborted.
            let version = store.load::<Counter>("pinned").unwrap().version();
            let (a, b) = (ctx(Uuid::new_v4(), 0), ctx(Uuid::new_v4(), 0));
            let (ra, rb) = tokio::join!(
                store.execute::<Counter, _>(&a, "pinned", Some(version), add, reply),
                store.execute::<Counter, _>(&b, "pinned", Some(version), add, reply),
            );
            assert_eq!(store.load::<Counter>("pinned").unwrap().version(), version + 1);
            let conflicts = [ra, rb].into_iter().filter(|r| matches!(r, Err(ServiceError::Conflict(_)))).count();
            assert_eq!(conflicts, 1);
        }
        // 80 commands were decided at least once each; the overlapping ones more than once.
        assert!(decisions.into_inner() > 80);
    }

    /// An event of another service, recorded in `store`'s log for the test, as a consumer receives it.
    async fn consumed(store: &EventStore) -> RecordedEvent {
        let cause = NewEvent {
            event_id: Uuid::new_v4(),
            event_type: "Happened".into(),
            schema_version: 1,
            payload: Vec::new(),
            metadata: EventMetadata {
                actor: identity::log_actor(&Actor {
                    subject: "officer-1".into(),
                    role: Role::ProgramOfficer,
                    organisation: None,
                }),
                correlation_id: Uuid::new_v4(),
                causation_id: Uuid::new_v4(),
                occurred_at: event_log::Timestamp::from_micros(1_000_000),
                trace: Some(TraceContext::start()),
            },
        };
        let source = StreamId::new("source", "1").unwrap();
        let position = store.log().next_position();
        store.log().append(source, ExpectedVersion::Any, vec![cause]).await.unwrap();
        store.log().event(position).unwrap().unwrap()
    }

    #[tokio::test]
    async fn a_reaction_is_decided_on_the_loaded_aggregate_like_a_command() {
        let (_dir, store) = store();
        store.execute::<Counter, _>(&ctx(Uuid::new_v4(), 8), "c", None, decide(8), reply).await.unwrap();
        let consumed = consumed(&store).await;
        let react = || {
            store.react::<Counter>(&consumed, "counting", "c", |counter| {
                assert_eq!(counter.0, 8, "decided on the stream as it stands");
                Ok(vec![Added(1), Added(1)])
            })
        };
        let reaction = react().unwrap().expect("events decided");
        assert_eq!(reaction.stream, StreamId::new("counter", "c").unwrap());
        assert_eq!(reaction.expected, ExpectedVersion::Exact(0));
        assert_eq!(reaction.events.len(), 2);
        let again = react().unwrap().unwrap();
        let ids = |r: &LogReaction| r.events.iter().map(|e| e.event_id).collect::<Vec<_>>();
        assert_eq!(ids(&reaction), ids(&again), "derived from the consumed event");
        assert_eq!(reaction.events[0].metadata.causation_id, consumed.event_id);
        assert_eq!(reaction.events[0].metadata.actor, consumed.metadata.actor);
        assert_eq!(reaction.events[0].event_type, "Added");
        // The consumed event's trace, continued in a span of the reaction's own, the same when decided again.
        let (theirs, ours) = (consumed.metadata.trace.unwrap(), reaction.events[0].metadata.trace.unwrap());
        assert_eq!(ours.trace_id(), theirs.trace_id());
        assert_ne!(ours.span_id(), theirs.span_id());
        assert_eq!(again.events[1].metadata.trace, Some(ours));
    }

    #[tokio::test]
    async fn a_command_records_the_trace_of_its_request_or_one_of_its_own() {
        let (_dir, store) = store();
        // Outside a served request: a new trace.
        let alone = ctx(Uuid::new_v4(), 1);
        store.execute::<Counter, _>(&alone, "c", None, decide(1), reply).await.unwrap();
        assert_eq!(store.log().event(0).unwrap().unwrap().metadata.trace, Some(alone.trace));
        assert_ne!(ctx(Uuid::new_v4(), 1).trace.trace_id(), alone.trace.trace_id());
    }

    #[tokio::test]
    async fn a_reaction_that_decides_nothing_has_no_events_and_a_rejection_refuses_the_event_with_its_reason() {
        let (_dir, store) = store();
        let consumed = consumed(&store).await;
        let nothing = store.react::<Counter>(&consumed, "counting", "c", |_| Ok(Vec::new())).unwrap().expect("named");
        assert!(nothing.events.is_empty());
        assert_eq!(nothing.stream, StreamId::new("counter", "c").unwrap(), "names the stream it was decided on");
        let refused = store
            .react::<Counter>(&consumed, "counting", "c", |_| {
                Err(Rejection::precondition("amount", "would pass the limit of 10"))
            })
            .unwrap_err();
        assert!(refused.0.starts_with("Happened at position 0: "), "{}", refused.0);
        assert!(refused.0.contains("would pass the limit of 10"), "{}", refused.0);
        assert_eq!(store.log().next_position(), 1, "nothing appended");
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Opened {
        #[prost(string, tag = "1")]
        title: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Closed {
        #[prost(uint64, tag = "1")]
        applications: u64,
    }

    #[derive(Clone, Debug, PartialEq)]
    enum RoundEvent {
        Opened(Opened),
        Closed(Closed),
    }

    impl EventMessage for Opened {
        const EVENT_TYPE: &'static str = "RoundOpened";
    }

    impl EventMessage for Closed {
        const EVENT_TYPE: &'static str = "RoundClosed";
    }

    crate::domain_event_codec!(RoundEvent { Opened, Closed });

    #[test]
    fn the_codec_names_encodes_and_decodes_each_variant_and_refuses_the_rest() {
        for event in
            [RoundEvent::Opened(Opened { title: "Round 1".into() }), RoundEvent::Closed(Closed { applications: 7 })]
        {
            let decoded = RoundEvent::decode_payload(event.event_type(), &event.encode_payload()).unwrap();
            assert_eq!(decoded, event);
        }
        assert_eq!(RoundEvent::Closed(Closed { applications: 1 }).event_type(), "RoundClosed");
        assert_eq!(
            RoundEvent::decode_payload("RoundRenamed", &[]).unwrap_err().to_string(),
            "unknown event type `RoundRenamed`"
        );
        let broken = RoundEvent::decode_payload("RoundOpened", &[0x0a, 0x05, b'a']).unwrap_err().to_string();
        assert!(broken.starts_with("RoundOpened: "), "{broken}");
    }
}
