//! Gap filling for the bus consumer: reads the missing positions of a source service's log through that
//! service's read-only log gRPC service, with a short-lived auditor token issued from the platform's
//! shared JWT configuration.

use std::collections::HashMap;
use std::time::Duration;

use event_bus::{SourceError, SourceReader};
use event_log::RecordedEvent;
use event_log_grpc::LogClient;
use service_runtime::{JwtConfig, Role, TokenIssuer};

/// The subject the awards service reads other logs as.
pub const READER_SUBJECT: &str = "service:awards";

/// Reads source logs over gRPC; `endpoints` maps a source service to its address (`http://host:port`).
#[derive(Clone, Debug)]
pub struct GrpcSources {
    endpoints: HashMap<String, String>,
    jwt: JwtConfig,
}

impl GrpcSources {
    pub fn new(endpoints: HashMap<String, String>, jwt: JwtConfig) -> GrpcSources {
        GrpcSources { endpoints, jwt }
    }
}

impl SourceReader for GrpcSources {
    async fn read_range(&mut self, source: &str, from: u64, to: u64) -> Result<Vec<RecordedEvent>, SourceError> {
        let failed = |reason: String| SourceError::Failed { source_name: source.to_owned(), reason };
        let address = self.endpoints.get(source).ok_or_else(|| SourceError::UnknownSource(source.to_owned()))?;
        // Gaps are rare: a fresh connection and token per gap keeps no token alive longer than needed.
        let token = TokenIssuer::new(&self.jwt)
            .and_then(|issuer| issuer.issue(Role::Auditor, READER_SUBJECT, None, Duration::from_secs(300)))
            .map_err(|e| failed(e.to_string()))?;
        let mut client = LogClient::connect(address, Some(&token)).await.map_err(|e| failed(e.to_string()))?;
        let events = client.read_range(from, to).await.map_err(|e| failed(e.to_string()))?;
        let expected = usize::try_from(to.saturating_sub(from)).unwrap_or(usize::MAX);
        if events.len() != expected {
            return Err(SourceError::Incomplete { source_name: source.to_owned(), from, to, got: events.len() });
        }
        Ok(events)
    }
}
