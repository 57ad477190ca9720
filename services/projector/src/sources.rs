//! The source services' logs, read through their read-only `EventLogService` with an administrator token
//! issued from the platform's JWT configuration: for rebuilds, as-of answers and lag. (The bus consumer
//! fills gaps with the runtime's `LogSources`.)

use std::collections::BTreeMap;
use std::time::Duration;

use domain_kernel::Role;
use event_log_grpc::LogClient;
use service_runtime::{JwtConfig, TokenIssuer};

use crate::models::RebuildError;

/// The subject the projector reads logs as.
pub const READER_SUBJECT: &str = "service:projector";

/// Addresses of the source logs by source service name (`http://host:port`).
#[derive(Clone, Debug)]
pub struct SourceLogs {
    endpoints: BTreeMap<String, String>,
    jwt: JwtConfig,
}

impl SourceLogs {
    pub fn new(endpoints: BTreeMap<String, String>, jwt: JwtConfig) -> SourceLogs {
        SourceLogs { endpoints, jwt }
    }

    pub fn has(&self, source: &str) -> bool {
        self.endpoints.contains_key(source)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.endpoints.keys().map(String::as_str)
    }

    /// A client of `source`'s log with a fresh administrator token (reading whole logs is for auditors,
    /// administrators and program officers; the projector operates the platform).
    pub async fn client(&self, source: &str) -> Result<LogClient, RebuildError> {
        let failed = |reason: String| RebuildError::Source(source.to_owned(), reason);
        let address =
            self.endpoints.get(source).ok_or_else(|| failed("no address is configured for it (--source)".into()))?;
        let token = TokenIssuer::new(&self.jwt)
            .and_then(|issuer| issuer.issue(Role::Administrator, READER_SUBJECT, None, Duration::from_secs(3600)))
            .map_err(|e| failed(e.to_string()))?;
        LogClient::connect(address, Some(&token)).await.map_err(|e| failed(e.to_string()))
    }
}

/// Parses `name=address` as given to `--source`.
pub fn parse_source(value: &str) -> Result<(String, String), String> {
    let (name, address) =
        value.split_once('=').ok_or_else(|| format!("`--source` must be NAME=ADDRESS, got `{value}`"))?;
    if name.is_empty() || address.is_empty() {
        return Err(format!("`--source` must be NAME=ADDRESS with both parts non-empty, got `{value}`"));
    }
    Ok((name.to_owned(), address.to_owned()))
}
