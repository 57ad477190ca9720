//! Other services' logs, read through each one's read-only `EventLogService` with short-lived tokens
//! issued from the platform's shared JWT configuration: bus consumers fill gaps with it (as a
//! [`SourceReader`]), and the projector rebuilds and answers as-of queries from it.

use std::collections::BTreeMap;
use std::time::Duration;

use domain_kernel::Role;
use event_bus::{SourceError, SourceReader};
use event_log::RecordedEvent;
use event_log_grpc::LogClient;

use crate::identity::{JwtConfig, TokenIssuer};

/// The source services' log addresses by service name (`http://host:port`), and how to read them.
#[derive(Clone, Debug)]
pub struct LogSources {
    endpoints: BTreeMap<String, String>,
    jwt: JwtConfig,
    reader_subject: String,
    role: Role,
    token_lifetime: Duration,
    tls: Option<tls::ClientTls>,
}

impl LogSources {
    /// `reader_subject` names the reading service in the tokens it presents, e.g. `service:awards`. It reads
    /// as an auditor with tokens of five minutes: gaps and catch-ups are short reads.
    pub fn new(
        endpoints: impl IntoIterator<Item = (String, String)>,
        jwt: JwtConfig,
        reader_subject: impl Into<String>,
    ) -> LogSources {
        LogSources {
            endpoints: endpoints.into_iter().collect(),
            jwt,
            reader_subject: reader_subject.into(),
            role: Role::Auditor,
            token_lifetime: Duration::from_secs(300),
            tls: None,
        }
    }

    /// Reads over TLS with `tls` (the sources' addresses are then `https://`); `None` reads plaintext.
    pub fn with_tls(self, tls: Option<tls::ClientTls>) -> LogSources {
        LogSources { tls, ..self }
    }

    /// Reads as `role` with tokens valid for `lifetime` instead (whole-log reads such as rebuilds).
    pub fn reading_as(self, role: Role, lifetime: Duration) -> LogSources {
        LogSources { role, token_lifetime: lifetime, ..self }
    }

    /// Whether an address is known for `source`.
    pub fn has(&self, source: &str) -> bool {
        self.endpoints.contains_key(source)
    }

    /// The sources with an address, in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.endpoints.keys().map(String::as_str)
    }

    /// A client of `source`'s log with a fresh token. A connection and token per use keeps no token alive
    /// longer than needed.
    pub async fn connect(&self, source: &str) -> Result<LogClient, SourceError> {
        let address = self.endpoints.get(source).ok_or_else(|| SourceError::UnknownSource(source.to_owned()))?;
        let token = TokenIssuer::new(&self.jwt)
            .and_then(|issuer| issuer.issue(self.role, &self.reader_subject, None, self.token_lifetime))
            .map_err(SourceError::failed(source))?;
        LogClient::connect_with(address, Some(&token), self.tls.as_ref()).await.map_err(SourceError::failed(source))
    }
}

impl SourceReader for LogSources {
    async fn head(&mut self, source: &str) -> Result<u64, SourceError> {
        let head = self.connect(source).await?.head().await;
        head.map(|h| h.next_position).map_err(SourceError::failed(source))
    }

    async fn read_range(&mut self, source: &str, from: u64, to: u64) -> Result<Vec<RecordedEvent>, SourceError> {
        let mut client = self.connect(source).await?;
        client.read_range(from, to).await.map_err(SourceError::failed(source))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use event_log_grpc::ClientError;

    use super::*;
    use crate::identity::IdentityError;

    fn sources(secret: Vec<u8>, address: &str) -> LogSources {
        let jwt = JwtConfig { secret, issuer: "grants".into(), audience: "grants".into() };
        LogSources::new([("applications".to_owned(), address.to_owned())], jwt, "service:awards")
    }

    #[tokio::test]
    async fn a_token_that_cannot_be_issued_is_the_cause() {
        let error = sources(vec![1; 4], "http://127.0.0.1:1").connect("applications").await.expect_err("no token");
        assert_eq!(error.to_string(), format!("source `applications` failed: {}", IdentityError::SecretTooShort));
        let cause = error.source().expect("a cause");
        assert!(matches!(cause.downcast_ref::<IdentityError>(), Some(IdentityError::SecretTooShort)), "{cause:?}");
    }

    #[tokio::test]
    async fn a_log_that_cannot_be_reached_gives_the_client_error_as_the_cause() {
        let error =
            sources(vec![1; 32], "http://127.0.0.1:1").connect("applications").await.expect_err("nothing there");
        let cause = error.source().expect("a cause");
        assert!(matches!(cause.downcast_ref::<ClientError>(), Some(ClientError::Connect { .. })), "{cause:?}");
        assert_eq!(error.to_string(), format!("source `applications` failed: {cause}"));
    }
}
