//! One log event per gRPC request, and the request's W3C trace context.
//!
//! [`RequestLogLayer`], the outermost layer of every server, reads the request's `traceparent` metadata
//! (<https://www.w3.org/TR/trace-context/>): the request continues that trace in a span of its own (same
//! trace id, a new span id); a request without one, or with one that does not read, starts a new trace (as
//! the standard asks, a malformed value is ignored, never refused). The request runs inside a `request`
//! span (`service`, `rpc`, `trace_id`, `span_id`), so that whatever it logs can be found by its trace id,
//! and [`current_trace`] gives its trace context to the command it runs (`CommandContext::trace`), whose
//! events record it.
//!
//! When the response is complete (its gRPC status sent, in the headers or the trailers), or abandoned
//! (a timeout, a client gone), one event `request` is logged at `info` (health checks at `debug`) with:
//! `service`, `rpc` (`package.Service/Method`), `trace_id`, `span_id`, `actor` (the token's subject, once
//! authenticated; never the token), `request_id`, `correlation_id` and `causation_id` (for a command),
//! `duration_ms`, `grpc_code` and `outcome` (the status code's name, `OK`, `INVALID_ARGUMENT`, ...;
//! `CANCELLED` when no status was sent). No request or response message is logged: they may hold
//! personal data.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use event_log::TraceContext;
use futures::Future;
use http_body_util::BodyExt;
use tonic::body::Body;
use tracing::Instrument;
use uuid::Uuid;

/// The gRPC metadata key of the trace context (`proto/grants/common/v1/common.proto`).
pub const TRACEPARENT: &str = "traceparent";

tokio::task_local! {
    /// The request being served on this task.
    static REQUEST: Arc<RequestFacts>;
}

/// What the log line of a request says besides its status: its trace, and what its handler learned.
#[derive(Debug)]
struct RequestFacts {
    trace: TraceContext,
    noted: Mutex<Noted>,
}

#[derive(Debug, Default)]
struct Noted {
    actor: Option<String>,
    command: Option<CommandIds>,
}

#[derive(Clone, Copy, Debug)]
struct CommandIds {
    request_id: Uuid,
    correlation_id: Uuid,
    causation_id: Uuid,
}

/// The trace context of the request being served, if this runs inside one.
pub fn current_trace() -> Option<TraceContext> {
    REQUEST.try_with(|request| request.trace).ok()
}

fn note(change: impl FnOnce(&mut Noted)) {
    let _ = REQUEST.try_with(|request| change(&mut request.noted.lock().unwrap_or_else(PoisonError::into_inner)));
}

/// The authenticated actor's subject, for the request's log line.
pub(crate) fn note_actor(subject: &str) {
    note(|noted| noted.actor = Some(subject.to_owned()));
}

/// The ids of the command the request runs, for the request's log line.
pub(crate) fn note_command(request_id: Uuid, correlation_id: Uuid, causation_id: Uuid) {
    note(|noted| noted.command = Some(CommandIds { request_id, correlation_id, causation_id }));
}

/// The trace context of a request with these headers: a span of its own in the trace its `traceparent`
/// names, or a new trace when it has none that reads.
pub fn trace_of(headers: &http::HeaderMap) -> TraceContext {
    let given = headers.get(TRACEPARENT).and_then(|value| value.to_str().ok()).and_then(TraceContext::parse);
    given.map_or_else(TraceContext::start, |parent| parent.child())
}

/// See the module documentation. `service` names the process in every line (`applications`, ...).
#[derive(Clone, Copy, Debug)]
pub struct RequestLogLayer {
    service: &'static str,
}

impl RequestLogLayer {
    pub fn new(service: &'static str) -> RequestLogLayer {
        RequestLogLayer { service }
    }
}

impl<S> tower::Layer<S> for RequestLogLayer {
    type Service = RequestLogService<S>;

    fn layer(&self, inner: S) -> RequestLogService<S> {
        RequestLogService { service: self.service, inner }
    }
}

/// See [`RequestLogLayer`].
#[derive(Clone, Debug)]
pub struct RequestLogService<S> {
    service: &'static str,
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> tower::Service<http::Request<Body>> for RequestLogService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let rpc = request.uri().path().trim_start_matches('/').to_owned();
        let trace = trace_of(request.headers());
        let facts = Arc::new(RequestFacts { trace, noted: Mutex::default() });
        let span = tracing::info_span!(
            "request",
            service = self.service,
            rpc = %rpc,
            trace_id = %trace.trace_id(),
            span_id = %trace.span_id()
        );
        // Logs once, when the response's body is done with or, if the request is abandoned first, then.
        let mut line =
            Completion { service: self.service, rpc, facts: facts.clone(), start: Instant::now(), code: None };
        let response = REQUEST.sync_scope(facts.clone(), || span.in_scope(|| self.inner.call(request)));
        Box::pin(
            REQUEST.scope(
                facts,
                async move {
                    let response = response.await?;
                    line.saw(status_in(response.headers()));
                    Ok(response.map(move |body| {
                        Body::new(body.map_frame(move |frame| {
                            // The whole line is moved in (not just its field): it logs when the body is dropped.
                            line.saw(frame.trailers_ref().and_then(status_in));
                            frame
                        }))
                    }))
                }
                .instrument(span),
            ),
        )
    }
}

/// The gRPC status in response headers or trailers.
pub(crate) fn status_in(headers: &http::HeaderMap) -> Option<tonic::Code> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(tonic::Code::from_i32(code))
}

/// The log line of one request, written when it is dropped.
struct Completion {
    service: &'static str,
    rpc: String,
    facts: Arc<RequestFacts>,
    start: Instant,
    /// The status sent, once seen.
    code: Option<tonic::Code>,
}

impl Completion {
    fn saw(&mut self, code: Option<tonic::Code>) {
        self.code = code.or(self.code);
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        let noted = self.facts.noted.lock().unwrap_or_else(PoisonError::into_inner);
        let code = self.code.unwrap_or(tonic::Code::Cancelled);
        let trace = self.facts.trace;
        let command = noted.command;
        macro_rules! log {
            ($level:ident) => {
                tracing::$level!(
                    service = self.service,
                    rpc = %self.rpc,
                    trace_id = %trace.trace_id(),
                    span_id = %trace.span_id(),
                    actor = noted.actor.as_deref(),
                    request_id = command.map(|c| tracing::field::display(c.request_id)),
                    correlation_id = command.map(|c| tracing::field::display(c.correlation_id)),
                    causation_id = command.map(|c| tracing::field::display(c.causation_id)),
                    // Milliseconds to the microsecond.
                    duration_ms = self.start.elapsed().as_micros() as f64 / 1000.0,
                    grpc_code = code as i32,
                    outcome = code_name(code),
                    "request"
                )
            };
        }
        if self.rpc.starts_with("grpc.health.") {
            log!(debug);
        } else {
            log!(info);
        }
    }
}

/// A status code's name as the gRPC specification spells it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
