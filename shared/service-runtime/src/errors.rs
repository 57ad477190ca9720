//! One mapping from what can go wrong in a service to gRPC status codes.
//!
//! Domain code returns [`Rejection`]s (pure values of `domain_kernel`, no gRPC in them); services add
//! infrastructure failures and identity errors as [`ServiceError`]; `From<ServiceError> for tonic::Status`
//! is the only place that chooses a status code.

use contracts::values::WireError;
use domain_kernel::{InvalidValue, Rejection};

/// Everything a service call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    #[error("{0}")]
    Unavailable(String),
    /// A bug or corrupt data: `INTERNAL`. The detail is logged, not sent.
    #[error("{0}")]
    Internal(String),
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
            event_log::StorageError::Corrupt { .. } => ServiceError::Internal(e.to_string()),
            other => ServiceError::Unavailable(other.to_string()),
        }
    }
}

impl From<ServiceError> for tonic::Status {
    fn from(e: ServiceError) -> Self {
        use tonic::Code;
        let (code, message) = match e {
            ServiceError::Rejected(r) => {
                let code = match &r {
                    Rejection::Invalid { .. } => Code::InvalidArgument,
                    Rejection::Precondition { .. } => Code::FailedPrecondition,
                    Rejection::NotFound { .. } => Code::NotFound,
                    Rejection::Duplicate { .. } => Code::AlreadyExists,
                    Rejection::NotAllowed(_) => Code::PermissionDenied,
                };
                (code, r.to_string())
            }
            ServiceError::Conflict(m) => (Code::Aborted, m),
            ServiceError::Unauthenticated(m) => (Code::Unauthenticated, m),
            ServiceError::PermissionDenied(m) => (Code::PermissionDenied, m),
            ServiceError::Unavailable(m) => {
                tracing::warn!(error = %m, "request failed: unavailable");
                (Code::Unavailable, "the service is temporarily unavailable; retry with the same request id".into())
            }
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "request failed: internal error");
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
            (ServiceError::Unavailable("disk".into()), Code::Unavailable),
            (ServiceError::Internal("bug".into()), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(tonic::Status::from(error).code(), code);
        }
        let status = tonic::Status::from(ServiceError::from(Rejection::invalid("title", "is required")));
        assert_eq!(status.message(), "`title` is required");
    }
}
