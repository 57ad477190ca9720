//! The source services' logs as the projector reads them for rebuilds, as-of answers and lag: the
//! runtime's [`LogSources`] (which its bus consumer also fills gaps with), reading as an administrator
//! with tokens long enough for a whole-log read, its failures told as rebuild errors.

use std::collections::BTreeMap;
use std::time::Duration;

use domain_kernel::Role;
use event_bus::SourceError;
use event_log_grpc::LogClient;
use service_runtime::{JwtConfig, LogSources};

use crate::models::RebuildError;

/// The subject the projector reads logs as.
pub const READER_SUBJECT: &str = "service:projector";

/// The source logs by source service name (`http://host:port`).
#[derive(Clone, Debug)]
pub struct SourceLogs {
    logs: LogSources,
}

impl SourceLogs {
    pub fn new(endpoints: BTreeMap<String, String>, jwt: JwtConfig) -> SourceLogs {
        // Reading whole logs is for auditors, administrators and program officers; the projector operates
        // the platform, and a rebuild's reads may outlast an auditor's short token.
        let logs =
            LogSources::new(endpoints, jwt, READER_SUBJECT).reading_as(Role::Administrator, Duration::from_secs(3600));
        SourceLogs { logs }
    }

    pub fn has(&self, source: &str) -> bool {
        self.logs.has(source)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.logs.names()
    }

    /// The same logs, for the bus consumer's gap filling.
    pub fn log_sources(&self) -> LogSources {
        self.logs.clone()
    }

    /// A client of `source`'s log with a fresh token.
    pub async fn client(&self, source: &str) -> Result<LogClient, RebuildError> {
        self.logs.connect(source).await.map_err(|error| {
            let reason = match error {
                SourceError::UnknownSource(_) => "no address is configured for it (--source)".to_owned(),
                SourceError::Failed { reason, .. } => reason,
            };
            RebuildError::Source(source.to_owned(), reason)
        })
    }
}
