//! The services as the dashboard reads them: gRPC only, every call carrying the signed-in person's bearer
//! token, so that each service applies its own roles and organisation scoping.

use std::collections::BTreeMap;
use std::time::Duration;

use contracts::names::service::{APPLICATIONS, AWARDS, PROJECTOR, REPORTING};
use contracts::projector::v1::ProjectorServiceClient;
use contracts::reporting::v1::ReportingServiceClient;
use event_log_grpc::LogClient;
use tonic::transport::Channel;

use crate::{Config, DashboardError};

/// How long the dashboard waits for a service to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one call may take: an as-of answer replays logs, a chain check reads a whole log.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The services the dashboard reads: the source services whose logs it checks, in this order.
pub const SOURCES: [&str; 3] = [APPLICATIONS, AWARDS, REPORTING];

/// A connection (made when first used, remade when lost) to every service.
#[derive(Clone, Debug)]
pub struct Backend {
    urls: BTreeMap<String, String>,
    channels: BTreeMap<String, Channel>,
    tls: Option<tls::ClientTls>,
}

impl Backend {
    /// Channels to the projector and the sources of `config`; a malformed address is refused here.
    pub fn new(config: &Config) -> Result<Backend, DashboardError> {
        let mut urls = config.sources.clone();
        urls.insert(PROJECTOR.to_owned(), config.projector.clone());
        let mut channels = BTreeMap::new();
        for (name, url) in &urls {
            let endpoint = tls::endpoint(url, config.tls.as_ref())
                .map_err(|e| DashboardError::Config(format!("the address of {name}: {e}")))?
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(CALL_TIMEOUT);
            channels.insert(name.clone(), endpoint.connect_lazy());
        }
        for name in SOURCES {
            if !urls.contains_key(name) {
                return Err(DashboardError::Config(format!("the address of {name} is missing (--source {name}=URL)")));
            }
        }
        Ok(Backend { urls, channels, tls: config.tls.clone() })
    }

    pub fn projector(&self) -> ProjectorServiceClient<Channel> {
        ProjectorServiceClient::new(self.channel(PROJECTOR)).max_decoding_message_size(64 * 1024 * 1024)
    }

    pub fn reporting(&self) -> ReportingServiceClient<Channel> {
        ReportingServiceClient::new(self.channel(REPORTING))
    }

    /// The channel to `service` (one of [`SOURCES`] or the projector).
    pub fn channel(&self, service: &str) -> Channel {
        self.channels.get(service).cloned().unwrap_or_else(|| unreachable!("{service} is not a known service"))
    }

    /// Every service, sources first, then the projector.
    pub fn services(&self) -> impl Iterator<Item = &'static str> {
        SOURCES.into_iter().chain([PROJECTOR])
    }

    /// A client of `service`'s log, calling as `token` (its connection made now, within the connect
    /// timeout; its calls are bounded by whoever makes them).
    pub async fn log(&self, service: &str, token: &str) -> Result<LogClient, LogUnreachable> {
        let connect = LogClient::connect_with(&self.urls[service], Some(token), self.tls.as_ref());
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(client) => Ok(client?),
            Err(_) => Err(LogUnreachable::Timeout { service: service.to_owned(), after: CONNECT_TIMEOUT }),
        }
    }
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogUnreachable {
    #[error(transparent)]
    Client(#[from] event_log_grpc::ClientError),
    #[error("{service} did not accept a connection within {} s", .after.as_secs())]
    Timeout { service: String, after: Duration },
}

/// `message` as a request made as the holder of `token`.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    // A token that is not ASCII cannot be sent; it was checked at sign-in, so this does not happen.
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}
