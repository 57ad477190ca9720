//! Gap filling for bus consumers: reads the missing positions of a source service's log through that
//! service's read-only `EventLogService`, with a short-lived auditor token issued from the platform's shared
//! JWT configuration.

use std::collections::HashMap;
use std::time::Duration;

use domain_kernel::Role;
use event_bus::{SourceError, SourceReader};
use event_log::RecordedEvent;
use event_log_grpc::LogClient;

use crate::identity::{JwtConfig, TokenIssuer};

/// Reads source logs over gRPC; `endpoints` maps a source service to its address (`http://host:port`).
#[derive(Clone, Debug)]
pub struct LogSources {
    endpoints: HashMap<String, String>,
    jwt: JwtConfig,
    reader_subject: String,
}

impl LogSources {
    /// `reader_subject` names the reading service in the tokens it presents, e.g. `service:awards`.
    pub fn new(endpoints: HashMap<String, String>, jwt: JwtConfig, reader_subject: impl Into<String>) -> LogSources {
        LogSources { endpoints, jwt, reader_subject: reader_subject.into() }
    }
}

impl LogSources {
    /// A client of `source`'s log with a fresh short-lived token. Gaps and catch-ups are rare: a connection
    /// and token per use keeps no token alive longer than needed.
    async fn client(&self, source: &str) -> Result<LogClient, SourceError> {
        let failed = |reason: String| SourceError::Failed { source_name: source.to_owned(), reason };
        let address = self.endpoints.get(source).ok_or_else(|| SourceError::UnknownSource(source.to_owned()))?;
        let token = TokenIssuer::new(&self.jwt)
            .and_then(|issuer| issuer.issue(Role::Auditor, &self.reader_subject, None, Duration::from_secs(300)))
            .map_err(|e| failed(e.to_string()))?;
        LogClient::connect(address, Some(&token)).await.map_err(|e| failed(e.to_string()))
    }
}

impl SourceReader for LogSources {
    async fn head(&mut self, source: &str) -> Result<u64, SourceError> {
        let head = self.client(source).await?.head().await;
        head.map(|h| h.next_position)
            .map_err(|e| SourceError::Failed { source_name: source.to_owned(), reason: e.to_string() })
    }

    async fn read_range(&mut self, source: &str, from: u64, to: u64) -> Result<Vec<RecordedEvent>, SourceError> {
        let failed = |reason: String| SourceError::Failed { source_name: source.to_owned(), reason };
        let mut client = self.client(source).await?;
        client.read_range(from, to).await.map_err(|e| failed(e.to_string()))
    }
}
