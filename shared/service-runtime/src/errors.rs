//! One mapping from what can go wrong in a service to gRPC status codes.
//!
//! Domain code returns [`Rejection`]s (pure values of `domain_kernel`, no gRPC in them); services add
//! infrastructure failures and identity errors as [`ServiceError`]; `From<ServiceError> for tonic::Status`
//! is the only place that chooses a status code.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

use contracts::values::WireError;
use domain_kernel::{InvalidValue, Rejection};

/// The error an infrastructure failure was caused by, kept whole so that its log line shows every cause
/// (the bus's own type: one definition for the runtime and the bus).
pub use event_bus::Cause;

/// Everything a service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Optimistic concurrency: the object changed since the caller (or this call) read it: `ABORTED`.
    #[error("{0}")]
    Conflict(String),
    /// No credentials, or credentials that do not verify: `UNAUTHENTICATED`.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's role may not call this RPC: `PERMISSION_DENIED`.
    #[error("{0}")]
    PermissionDenied(String),
    /// Storage or a dependency is unavailable; retrying with the same request id is safe: `UNAVAILABLE`.
    /// The detail is logged, not sent.
    #[error("{context}")]
    Unavailable {
        context: Cow<'static, str>,
        #[source]
        source: Option<Cause>,
    },
    /// A bug or corrupt data: `INTERNAL`. The detail is logged, not sent.
    #[error("{context}")]
    Internal {
        context: Cow<'static, str>,
        #[source]
        source: Option<Cause>,
    },
}

impl ServiceError {
    /// A bug found without another error to blame: a broken invariant.
    pub fn internal(context: impl Into<Cow<'static, str>>) -> ServiceError {
        ServiceError::Internal { context: context.into(), source: None }
    }

    /// A bug or corrupt data that `source` revealed; `context` says what was being done.
    pub fn internal_from(context: impl Into<Cow<'static, str>>, source: impl Into<Cause>) -> ServiceError {
        ServiceError::Internal { context: context.into(), source: Some(source.into()) }
    }

    /// Storage or a dependency failed with `source` while doing `context`.
    pub fn unavailable_from(context: impl Into<Cow<'static, str>>, source: impl Into<Cause>) -> ServiceError {
        ServiceError::Unavailable { context: context.into(), source: Some(source.into()) }
    }
}

/// An error and every cause below it, `: `-separated, for a log line or a dead-letter reason.
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl From<WireError> for ServiceError {
    fn from(e: WireError) -> Self {
        ServiceError::Rejected(e.into())
    }
}

impl From<InvalidValue> for ServiceError {
    fn from(e: InvalidValue) -> Self {
        ServiceError::Rejected(e.into())
    }
}

impl From<event_log::StorageError> for ServiceError {
    fn from(e: event_log::StorageError) -> Self {
        match e {
            event_log::StorageError::Corrupt { .. } => ServiceError::internal_from("the event log is corrupt", e),
            other => ServiceError::unavailable_from("the event log failed", other),
        }
    }
}

impl From<ServiceError> for tonic::Status {
    fn from(e: ServiceError) -> Self {
        use tonic::Code;
        let (code, message) = match &e {
            ServiceError::Rejected(r) => {
                let code = match r {
                    Rejection::Invalid { .. } => Code::InvalidArgument,
                    Rejection::Precondition { .. } => Code::FailedPrecondition,
                    Rejection::NotFound { .. } => Code::NotFound,
                    Rejection::Duplicate { .. } => Code::AlreadyExists,
                    Rejection::NotAllowed(_) => Code::PermissionDenied,
                };
                (code, r.to_string())
            }
            ServiceError::Conflict(m) => (Code::Aborted, m.clone()),
            ServiceError::Unauthenticated(m) => (Code::Unauthenticated, m.clone()),
            ServiceError::PermissionDenied(m) => (Code::PermissionDenied, m.clone()),
            ServiceError::Unavailable { .. } => {
                tracing::warn!(error = %ErrorChain(&e), "request failed: unavailable");
                (Code::Unavailable, "the service is temporarily unavailable; retry with the same request id".into())
            }
            ServiceError::Internal { .. } => {
                tracing::error!(error = %ErrorChain(&e), "request failed: internal error");
                (Code::Internal, "internal error; retry with the same request id or report it".into())
            }
        };
        tonic::Status::new(code, message)
    }
}

/// What a generated service method returns.
pub type Reply<T> = Result<tonic::Response<T>, tonic::Status>;

/// A handler's result as a gRPC reply, the error mapped by the one mapping above.
pub fn reply<T>(result: Result<T, ServiceError>) -> Reply<T> {
    result.map(tonic::Response::new).map_err(tonic::Status::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_kind_maps_to_its_code_and_keeps_field_and_rule() {
        let cases = [
            (ServiceError::from(Rejection::invalid("title", "is required")), Code::InvalidArgument),
            (Rejection::precondition("round", "is closed").into(), Code::FailedPrecondition),
            (Rejection::not_found("round", "x").into(), Code::NotFound),
            (Rejection::duplicate("organisation", "x").into(), Code::AlreadyExists),
            (Rejection::NotAllowed("no".into()).into(), Code::PermissionDenied),
            (ServiceError::Conflict("changed".into()), Code::Aborted),
            (ServiceError::Unauthenticated("no token".into()), Code::Unauthenticated),
            (ServiceError::PermissionDenied("role".into()), Code::PermissionDenied),
            (ServiceError::unavailable_from("reading", std::io::Error::other("disk")), Code::Unavailable),
            (ServiceError::internal("bug"), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(tonic::Status::from(error).code(), code);
        }
        let status = tonic::Status::from(ServiceError::from(Rejection::invalid("title", "is required")));
        assert_eq!(status.message(), "`title` is required");
    }

    #[test]
    fn an_internal_error_logs_every_cause_and_sends_none() {
        let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(move || crate::config::CaptureWriter(sink.clone()))
            .finish();
        let corrupt = std::io::Error::other("checksum mismatch");
        let error = ServiceError::internal_from("cannot decode event at position 7", corrupt);
        assert!(error.source().is_some(), "the cause is kept as the source");
        let status = tracing::subscriber::with_default(subscriber, || tonic::Status::from(error));
        assert_eq!(status.message(), "internal error; retry with the same request id or report it");
        let shown = String::from_utf8_lossy(&written.lock().unwrap()).into_owned();
        assert!(shown.contains("cannot decode event at position 7: checksum mismatch"), "{shown}");
        assert!(!status.message().contains("checksum"));
    }
}
