//! Everything that names broker objects or tunes timing lives here, so that no queue or exchange name is
//! written anywhere else.

use std::time::Duration;

use lapin::uri::AMQPUri;

use crate::error::BusError;

/// The broker connection and the exchanges every service shares.
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// AMQP URI, for example `amqp://guest:guest@127.0.0.1:5672/%2f`; or the URIs of several nodes of one
    /// cluster separated by commas (at most [`BusConfig::MAX_NODES`], one scheme and one vhost), which
    /// connections take in turn from a shuffled order, moving to the next node on every new attempt.
    pub amqp_uri: String,
    /// Durable topic exchange for domain events; routing key `<service>.<EventType>`.
    pub events_exchange: String,
    /// Durable direct exchange for dead letters; routing key is the consumer queue's name.
    pub dead_letter_exchange: String,
    /// Longest wait for one connection attempt: the TCP connection and the AMQP handshake.
    pub connect_timeout: Duration,
    /// Longest wait for one broker operation (declare, publish, close, ack).
    pub operation_timeout: Duration,
    /// Longest wait for a publisher confirm.
    pub confirm_timeout: Duration,
    /// Cap of the reconnection backoff. While the broker cannot be reached a new connection attempt
    /// starts at least this often, also while earlier attempts still hang, so publishing and consuming
    /// resume within about this long after the broker accepts connections again.
    pub max_backoff: Duration,
    /// Cap of the pause before a message the broker refused is published again, or an event whose
    /// handler failed is applied again. Longer than `max_backoff`: each retry republishes up to a window
    /// of messages, or hands a batch back to the queue, which counts against each message's delivery
    /// limit.
    pub retry_backoff: Duration,
    /// AMQP heartbeat in seconds, asked for unless the URI names one (`?heartbeat=N`). A connection that
    /// hears nothing from the broker for two to two and a half heartbeats is given up, so a broker that
    /// silently drops packets is noticed within that time even by an idle relay or consumer.
    pub heartbeat: u16,
    /// TLS to the broker, required by an `amqps://` URI and refused with an `amqp://` one.
    pub tls: Option<BrokerTls>,
}

/// How a bus connects to the broker over TLS (`amqps://`): the CA certificates (PEM) the broker's
/// certificate is checked against, and nothing else, and the client certificate and key (PEM) shown when
/// the broker asks for one. rustls with the ring provider.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerTls {
    pub ca_pem: String,
    /// Certificate chain and private key, PEM.
    pub identity: Option<(String, String)>,
}

impl std::fmt::Debug for BrokerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerTls").field("client_certificate", &self.identity.is_some()).finish_non_exhaustive()
    }
}

impl BrokerTls {
    /// From PEM bytes as certificate files hold them: the CA certificates, and the client certificate
    /// chain with its key when one is shown.
    pub fn from_pem(ca_pem: &[u8], identity: Option<(&[u8], &[u8])>) -> BrokerTls {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        BrokerTls { ca_pem: text(ca_pem), identity: identity.map(|(cert, key)| (text(cert), text(key))) }
    }

    /// lapin's TLS configuration.
    pub(crate) fn lapin_config(&self) -> lapin::tcp::TLSConfig<'_, '_, '_> {
        lapin::tcp::TLSConfig {
            identity: self
                .identity
                .as_ref()
                .map(|(cert, key)| lapin::tcp::Identity::PKCS8 { pem: cert.as_bytes(), key: key.as_bytes() }),
            cert_chain: Some(&self.ca_pem),
        }
    }
}

/// Where a bus connects, without credentials: for messages and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerAddress {
    /// `host:port`.
    pub host: String,
    pub vhost: String,
}

impl std::fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} vhost {}", self.host, self.vhost)
    }
}

impl BusConfig {
    pub fn new(amqp_uri: impl Into<String>) -> BusConfig {
        BusConfig {
            amqp_uri: amqp_uri.into(),
            events_exchange: "grants.events".into(),
            dead_letter_exchange: "grants.dead-letters".into(),
            connect_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(5),
            confirm_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_millis(250),
            retry_backoff: Duration::from_secs(1),
            heartbeat: 3,
            tls: None,
        }
    }

    /// The same, connecting over TLS with `tls` (for an `amqps://` URI).
    pub fn with_tls(self, tls: Option<BrokerTls>) -> BusConfig {
        BusConfig { tls, ..self }
    }

    /// Most broker nodes one configuration may name.
    pub const MAX_NODES: usize = 16;

    /// The broker address (each node's) without credentials, for messages.
    pub fn display_uri(&self) -> String {
        let hide = |uri: &str| match (uri.find("://"), uri.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}{}", &uri[..scheme + 3], &uri[at + 1..]),
            _ => uri.to_owned(),
        };
        self.node_uris().map(hide).collect::<Vec<_>>().join(",")
    }

    /// Host and port of every node (comma-separated) and the vhost; never the credentials.
    pub fn broker(&self) -> BrokerAddress {
        match self.uris() {
            Ok(uris) => BrokerAddress {
                host: uris
                    .iter()
                    .map(|uri| format!("{}:{}", uri.authority.host, uri.authority.port))
                    .collect::<Vec<_>>()
                    .join(","),
                vhost: uris[0].vhost.clone(),
            },
            Err(_) => BrokerAddress { host: self.display_uri(), vhost: String::new() },
        }
    }

    fn node_uris(&self) -> impl Iterator<Item = &str> {
        self.amqp_uri.split(',').map(str::trim)
    }

    /// Every node's parsed URI, in the order given, each with this configuration's heartbeat unless it
    /// names one. Never empty.
    pub(crate) fn uris(&self) -> Result<Vec<AMQPUri>, BusError> {
        let uris = self.node_uris().map(|uri| self.parse_uri(uri)).collect::<Result<Vec<_>, _>>()?;
        if uris.len() > Self::MAX_NODES {
            return Err(BusError::Config {
                field: "amqp_uri",
                rule: format!("must name at most {} broker nodes (comma-separated)", Self::MAX_NODES),
            });
        }
        // Nodes of one cluster: the same objects under the same vhost, reached the same way.
        if uris.iter().any(|uri| uri.vhost != uris[0].vhost || uri.scheme != uris[0].scheme) {
            return Err(BusError::Config {
                field: "amqp_uri",
                rule: "the broker nodes' URIs must all have the same scheme and vhost".into(),
            });
        }
        Ok(uris)
    }

    fn parse_uri(&self, text: &str) -> Result<AMQPUri, BusError> {
        let mut uri: AMQPUri = text.parse().map_err(|reason: String| BusError::Config {
            field: "amqp_uri",
            // The parser may quote the URI, password and all.
            rule: format!(
                "must be an AMQP URI like amqp://user:password@host:5672/vhost, or several separated by \
                 commas ({})",
                reason.replace(text, "<uri>")
            ),
        })?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(self.heartbeat);
        }
        Ok(uri)
    }

    pub(crate) fn validate(&self) -> Result<(), BusError> {
        if self.amqp_uri.len() > 200 * Self::MAX_NODES {
            return Err(BusError::Config { field: "amqp_uri", rule: "must be at most 3200 bytes".into() });
        }
        for uri in self.node_uris() {
            non_empty("amqp_uri", uri)?;
        }
        match (&self.uris()?[0].scheme, &self.tls) {
            (lapin::uri::AMQPScheme::AMQPS, None) => {
                return Err(BusError::Config {
                    field: "amqp_uri",
                    rule: "an amqps:// URI needs the CA that signs the broker's certificate (--amqp-tls-ca)".into(),
                });
            }
            (lapin::uri::AMQPScheme::AMQP, Some(_)) => {
                return Err(BusError::Config {
                    field: "amqp_uri",
                    rule: "TLS to the broker is configured (--amqp-tls-ca): the URI must be amqps://".into(),
                });
            }
            _ => {}
        }
        non_empty("events_exchange", &self.events_exchange)?;
        non_empty("dead_letter_exchange", &self.dead_letter_exchange)?;
        if self.max_backoff.is_zero() {
            return Err(BusError::Config { field: "max_backoff", rule: "must be more than zero".into() });
        }
        if self.retry_backoff.is_zero() {
            return Err(BusError::Config { field: "retry_backoff", rule: "must be more than zero".into() });
        }
        Ok(())
    }
}

/// A relay: which service's log it publishes and how.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    pub bus: BusConfig,
    /// The publishing service; first part of every routing key.
    pub service: String,
    /// Most messages published and not yet confirmed.
    pub window: usize,
    /// Name of the log marker that holds the durable cursor (the first position not yet confirmed).
    pub cursor_marker: String,
    /// Least time between two saves of the cursor. Each save is a durable commit of the log, so saving on
    /// every confirm would cost as much disk work as the events themselves; after a crash, at most this
    /// much of the confirmed stream is published again, and consumers recognise it as duplicates.
    pub cursor_save_interval: Duration,
}

impl RelayConfig {
    /// The log marker that holds the cursor unless configured otherwise.
    pub const DEFAULT_CURSOR_MARKER: &str = "event-bus.relay.cursor";

    pub fn new(bus: BusConfig, service: impl Into<String>) -> RelayConfig {
        RelayConfig {
            bus,
            service: service.into(),
            window: 512,
            cursor_marker: RelayConfig::DEFAULT_CURSOR_MARKER.into(),
            cursor_save_interval: Duration::from_millis(100),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), BusError> {
        self.bus.validate()?;
        routing_word("service", &self.service)?;
        non_empty("cursor_marker", &self.cursor_marker)?;
        if self.window == 0 {
            return Err(BusError::Config { field: "window", rule: "must be at least 1".into() });
        }
        Ok(())
    }
}

/// A consumer: its queues, what it binds, and how it reads.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    pub bus: BusConfig,
    /// The consuming service, for connection names and the default queue names.
    pub name: String,
    /// Durable quorum queue the consumer reads.
    pub queue: String,
    /// Durable quorum queue that holds this consumer's dead letters.
    pub dead_letter_queue: String,
    /// Source services whose events this consumer receives: each is bound whole (`<service>.#`) so that
    /// the global positions seen per source are contiguous.
    pub sources: Vec<String>,
    /// Unacknowledged messages the broker may push at once.
    pub prefetch: u16,
    /// Deliveries of one message before the broker dead-letters it (crashes, transient failures).
    pub delivery_limit: u32,
}

impl ConsumerConfig {
    /// Defaults: queue `<name>.inbox`, dead letters in `<name>.dead-letters`, prefetch 512, delivery limit 20
    /// (a connection loss returns every unacknowledged message and counts as a delivery, so the limit
    /// must leave room for several of those).
    pub fn new(bus: BusConfig, name: impl Into<String>, sources: &[&str]) -> ConsumerConfig {
        let name = name.into();
        ConsumerConfig {
            bus,
            queue: ConsumerConfig::default_queue(&name),
            dead_letter_queue: format!("{name}.dead-letters"),
            name,
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            prefetch: 512,
            delivery_limit: 20,
        }
    }

    /// The queue of the consumer named `name` unless configured otherwise: where its events wait.
    pub fn default_queue(name: &str) -> String {
        format!("{name}.inbox")
    }

    pub(crate) fn validate(&self) -> Result<(), BusError> {
        self.bus.validate()?;
        non_empty("name", &self.name)?;
        non_empty("queue", &self.queue)?;
        non_empty("dead_letter_queue", &self.dead_letter_queue)?;
        if self.sources.is_empty() {
            return Err(BusError::Config { field: "sources", rule: "must name at least one service".into() });
        }
        for source in &self.sources {
            routing_word("sources", source)?;
        }
        if self.prefetch == 0 {
            return Err(BusError::Config { field: "prefetch", rule: "must be at least 1".into() });
        }
        if self.delivery_limit == 0 {
            return Err(BusError::Config { field: "delivery_limit", rule: "must be at least 1".into() });
        }
        Ok(())
    }
}

fn non_empty(field: &'static str, value: &str) -> Result<(), BusError> {
    if value.is_empty() {
        return Err(BusError::Config { field, rule: "must not be empty".into() });
    }
    if value.len() > 200 {
        return Err(BusError::Config { field, rule: "must be at most 200 bytes".into() });
    }
    Ok(())
}

/// A service name is one word of a topic routing key.
fn routing_word(field: &'static str, value: &str) -> Result<(), BusError> {
    non_empty(field, value)?;
    if value.contains(['.', '#', '*']) || value.chars().any(char::is_whitespace) {
        return Err(BusError::Config { field, rule: "must not contain '.', '#', '*' or whitespace".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls() -> Option<BrokerTls> {
        Some(BrokerTls { ca_pem: "-----BEGIN CERTIFICATE-----".into(), identity: None })
    }

    #[test]
    fn an_amqps_uri_and_tls_go_together() {
        let refused = |config: BusConfig| match config.validate() {
            Err(BusError::Config { field, rule }) => format!("{field}: {rule}"),
            other => panic!("not refused: {other:?}"),
        };
        let without_ca = refused(BusConfig::new("amqps://guest:guest@127.0.0.1:5671/%2f"));
        assert!(without_ca.starts_with("amqp_uri: an amqps:// URI needs the CA"), "{without_ca}");
        let plain_with_ca = refused(BusConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f").with_tls(tls()));
        assert!(plain_with_ca.starts_with("amqp_uri: TLS to the broker is configured"), "{plain_with_ca}");
        assert!(BusConfig::new("amqps://guest:guest@127.0.0.1:5671/%2f").with_tls(tls()).validate().is_ok());
        assert!(BusConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f").validate().is_ok());
        // The TLS settings never show the key.
        let shown = format!("{:?}", BrokerTls { ca_pem: String::new(), identity: Some(("c".into(), "secret".into())) });
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn several_nodes_of_one_cluster_are_taken_and_shown_without_credentials() {
        let config = BusConfig::new("amqp://guest:pw@127.0.0.1:5691/v, amqp://guest:pw@127.0.0.1:5692/v");
        assert!(config.validate().is_ok());
        assert_eq!(config.uris().unwrap().len(), 2);
        assert_eq!(config.display_uri(), "amqp://127.0.0.1:5691/v,amqp://127.0.0.1:5692/v");
        assert_eq!(config.broker(), BrokerAddress { host: "127.0.0.1:5691,127.0.0.1:5692".into(), vhost: "v".into() });

        let refused = |uri: &str| match BusConfig::new(uri).validate() {
            Err(BusError::Config { field: "amqp_uri", rule }) => rule,
            other => panic!("{uri} not refused: {other:?}"),
        };
        assert!(refused("amqp://h:1/a,amqp://h:2/b").contains("same scheme and vhost"));
        assert!(refused("amqp://h:1/a,").contains("must not be empty"));
        let many = vec!["amqp://h:1/a"; BusConfig::MAX_NODES + 1].join(",");
        assert!(refused(&many).contains("at most 16 broker nodes"));
        // A bad URI is named by its rule, never quoted with its password.
        let bad = refused("amqp://guest:secret@h:1/a,amqp://guest:secret@h:notaport/a");
        assert!(bad.contains("must be an AMQP URI") && !bad.contains("secret"), "{bad}");
    }
}
