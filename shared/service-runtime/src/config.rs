//! Configuration shared by every service: flags with environment variables and defaults. Each service
//! flattens these into its own command line (`#[command(flatten)]`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::identity::JwtConfig;
use anyhow::Context;

use crate::server::{CheckpointConfig, ServerConfig};

/// Server limits and timeouts.
#[derive(Clone, Debug, clap::Args)]
pub struct ServerArgs {
    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "GRANTS_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Most requests in flight across all connections.
    #[arg(long, env = "GRANTS_CONCURRENCY_LIMIT", default_value_t = 256)]
    pub concurrency_limit: usize,
    /// Most requests in flight on one connection.
    #[arg(long, env = "GRANTS_CONCURRENCY_LIMIT_PER_CONNECTION", default_value_t = 64)]
    pub concurrency_limit_per_connection: usize,
    /// Requests taking longer are cancelled, in milliseconds.
    #[arg(long, env = "GRANTS_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// How long shutdown waits for requests in flight, in milliseconds.
    #[arg(long, env = "GRANTS_DRAIN_TIMEOUT_MS", default_value_t = 10_000)]
    pub drain_timeout_ms: u64,
    /// File holding the Ed25519 private key seed (64 hexadecimal digits) with which the service signs
    /// checkpoints of its log; without it, no checkpoints are signed. `grants keygen` makes one.
    #[arg(long, env = "GRANTS_CHECKPOINT_KEY_FILE")]
    pub checkpoint_key_file: Option<std::path::PathBuf>,
    /// Public keys (64 hexadecimal digits each, comma-separated) the service signed its checkpoints with
    /// before its current key: at start, the last checkpoint in its log may be signed by one of them.
    #[arg(long, env = "GRANTS_CHECKPOINT_PREVIOUS_PUBLIC_KEYS", value_delimiter = ',')]
    pub checkpoint_previous_public_keys: Vec<String>,
    /// How often to sign a checkpoint when new events arrived, in seconds.
    #[arg(long, env = "GRANTS_CHECKPOINT_INTERVAL_SECONDS", default_value_t = 300)]
    pub checkpoint_interval_seconds: u64,
    /// Address to serve Prometheus metrics on over HTTP (`/metrics`); none serves none.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl ServerArgs {
    /// The server configuration; reads the checkpoint key file if one is named. Previous public keys
    /// without a key file are refused: they only serve the start check of a service that signs.
    pub fn to_config(&self) -> anyhow::Result<ServerConfig> {
        let checkpoint = match &self.checkpoint_key_file {
            None if !self.checkpoint_previous_public_keys.is_empty() => anyhow::bail!(
                "--checkpoint-previous-public-keys needs --checkpoint-key-file: previous keys only check the last \
                 checkpoint of a service that signs with its current key"
            ),
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --checkpoint-key-file {}", path.display()))?;
                let seed = event_log_grpc::checkpoint::key_from_hex("checkpoint key", &text)
                    .with_context(|| format!("--checkpoint-key-file {}", path.display()))?;
                let previous_public_keys = self
                    .checkpoint_previous_public_keys
                    .iter()
                    .map(|key| event_log_grpc::checkpoint::key_from_hex("--checkpoint-previous-public-keys", key))
                    .collect::<Result<_, _>>()?;
                let interval = Duration::from_secs(self.checkpoint_interval_seconds.max(1));
                Some(CheckpointConfig { seed, previous_public_keys, interval })
            }
        };
        Ok(ServerConfig {
            max_message_bytes: self.max_message_bytes,
            concurrency_limit: self.concurrency_limit.max(1),
            concurrency_limit_per_connection: self.concurrency_limit_per_connection.max(1),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            drain_timeout: Duration::from_millis(self.drain_timeout_ms),
            checkpoint,
            tls: tls::ServiceTls::default(),
            metrics: self.metrics_listen.map(crate::metrics::MetricsEndpoint::new),
        })
    }
}

/// How bearer tokens are verified (and, for development, issued).
#[derive(Clone, clap::Args)]
pub struct JwtArgs {
    /// HS256 secret shared with the token issuer, at least 32 bytes.
    #[arg(long, env = "GRANTS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
    /// Required `iss` claim.
    #[arg(long, env = "GRANTS_JWT_ISSUER", default_value = "grants-dev")]
    pub jwt_issuer: String,
    /// Required `aud` claim.
    #[arg(long, env = "GRANTS_JWT_AUDIENCE", default_value = "grants")]
    pub jwt_audience: String,
}

impl std::fmt::Debug for JwtArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_config().fmt(f)
    }
}

impl JwtArgs {
    pub fn to_config(&self) -> JwtConfig {
        JwtConfig {
            secret: self.jwt_secret.as_bytes().to_vec(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
        }
    }
}

/// Each service's port on a developer machine; a source given no `--source` is read there.
pub const DEFAULT_PORTS: [(&str, u16); 4] =
    [("applications", 50051), ("awards", 50052), ("reporting", 50053), ("projector", 50054)];

/// `service`'s port on a developer machine, if it is one of the platform's.
pub fn default_port(service: &str) -> Option<u16> {
    DEFAULT_PORTS.iter().find(|(name, _)| *name == service).map(|(_, port)| *port)
}

/// One `--source NAME=URL`: the address of the log service of a service whose events this one consumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceArg {
    pub name: String,
    pub url: String,
}

impl std::str::FromStr for SourceArg {
    type Err = String;

    fn from_str(value: &str) -> Result<SourceArg, String> {
        match value.split_once('=') {
            Some((name, url)) if !name.is_empty() && !url.is_empty() => {
                Ok(SourceArg { name: name.to_owned(), url: url.to_owned() })
            }
            _ => Err(format!("`--source` must be NAME=URL with both parts, got `{value}`")),
        }
    }
}

/// Which other services' events a service consumes, and so which `--source` names it takes.
#[derive(Clone, Copy, Debug)]
pub enum Consumes {
    /// None: it takes no `--source`.
    Nothing,
    /// Every one of these: each needs its log's address, all of them or none (then the default local ones).
    Every(&'static [&'static str]),
    /// Those of these it is given (all of them at their default local addresses when none is given).
    Given(&'static [&'static str]),
}

/// A `--source` set that does not fit what a service consumes.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourcesError {
    #[error("`--source {name}=…`: {service} consumes no events of `{name}` (it consumes {consumed})")]
    Unknown { service: &'static str, name: String, consumed: String },
    #[error("`--source {name}=…` is given twice")]
    Twice { name: String },
    #[error(
        "missing `--source {name}=URL`: {service} consumes {consumed}; give each of them, or none to read each at \
         its default local address"
    )]
    Missing { service: &'static str, name: &'static str, consumed: String },
}

impl Consumes {
    /// The services it may consume.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Consumes::Nothing => &[],
            Consumes::Every(names) | Consumes::Given(names) => names,
        }
    }

    /// The log address of each source `service` reads, by name, from the `--source`s given.
    pub fn resolve(self, service: &'static str, given: &[SourceArg]) -> Result<BTreeMap<String, String>, SourcesError> {
        let names = self.names();
        let consumed = if names.is_empty() { "no other service's events".to_owned() } else { names.join(", ") };
        let mut sources = BTreeMap::new();
        for SourceArg { name, url } in given {
            if !names.contains(&name.as_str()) {
                return Err(SourcesError::Unknown { service, name: name.clone(), consumed });
            }
            if sources.insert(name.clone(), url.clone()).is_some() {
                return Err(SourcesError::Twice { name: name.clone() });
            }
        }
        if sources.is_empty() {
            for name in names {
                let port = default_port(name).unwrap_or_default();
                sources.insert((*name).to_owned(), format!("http://127.0.0.1:{port}"));
            }
        }
        if let (Consumes::Every(_), Some(name)) = (self, names.iter().find(|name| !sources.contains_key(**name))) {
            return Err(SourcesError::Missing { service, name, consumed });
        }
        Ok(sources)
    }
}

/// What is logged unless `RUST_LOG` says otherwise. lapin, the AMQP library, logs every broker failure
/// at error level from its own targets (`lapin::channel`, `lapin::channels`, `lapin::io_loop`,
/// `lapin::heartbeat`): several lines per broker restart, three a second while the credentials are
/// wrong, "backoff attempts exhausted" while the bus in fact keeps trying. The bus reports each outage
/// itself, as one warning naming the broker and the reason, so lapin is silent by default.
pub const DEFAULT_LOG_DIRECTIVES: &str = "info,lapin=off";

/// How log events are written to stderr (`--log-format`, `GRANTS_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event for people to read.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (the event's message and fields)
    /// and, inside a request or another span, `span` and `spans` with theirs.
    Json,
}

/// Logs to stderr in `format`, filtered by [`log_filter`] of `RUST_LOG`.
pub fn init_tracing(format: LogFormat) {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        // Colours only on a terminal: log files stay plain text.
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// [`DEFAULT_LOG_DIRECTIVES`] followed by `rust_log`: a directive in `rust_log` replaces the default
/// one for the same target, so `RUST_LOG=debug` raises the level everywhere but in lapin, and
/// `RUST_LOG=lapin=warn` lets lapin speak again. Directives that do not parse are skipped.
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let directives = match rust_log.map(str::trim) {
        Some(extra) if !extra.is_empty() => format!("{DEFAULT_LOG_DIRECTIVES},{extra}"),
        _ => DEFAULT_LOG_DIRECTIVES.to_owned(),
    };
    tracing_subscriber::EnvFilter::builder().parse_lossy(directives)
}

/// Collects log output in memory, for tests of what is logged.
#[cfg(test)]
pub(crate) struct CaptureWriter(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl std::io::Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use super::*;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        server: ServerArgs,
    }

    fn server_config(flags: &[&str]) -> anyhow::Result<ServerConfig> {
        let parsed = <Flags as clap::Parser>::try_parse_from(std::iter::once("service").chain(flags.iter().copied()));
        parsed.expect("the flags parse").server.to_config()
    }

    #[test]
    fn previous_public_keys_without_a_key_file_are_refused_in_one_line() {
        let previous = hex::encode([3u8; 32]);
        let error = server_config(&["--checkpoint-previous-public-keys", &previous]).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.starts_with("--checkpoint-previous-public-keys needs --checkpoint-key-file"), "{message}");
        assert_eq!(message.lines().count(), 1, "{message}");

        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("checkpoint.key");
        std::fs::write(&key_file, hex::encode([4u8; 32])).unwrap();
        let with_key = server_config(&[
            "--checkpoint-key-file",
            key_file.to_str().unwrap(),
            "--checkpoint-previous-public-keys",
            &previous,
        ])
        .unwrap();
        assert_eq!(with_key.checkpoint.unwrap().previous_public_keys, vec![[3u8; 32]]);
        assert!(server_config(&[]).unwrap().checkpoint.is_none());
    }

    #[test]
    fn metrics_are_served_only_on_an_address_given_and_a_bad_one_names_the_flag() {
        assert!(server_config(&[]).unwrap().metrics.is_none());
        let given = server_config(&["--metrics-listen", "127.0.0.1:9464"]).unwrap();
        assert_eq!(given.metrics.map(|m| m.address()), Some("127.0.0.1:9464".parse().unwrap()));
        let parsed = <Flags as clap::Parser>::try_parse_from(["service", "--metrics-listen", "localhost"]);
        let error = parsed.err().expect("an address without a port is refused").to_string();
        assert!(error.contains("--metrics-listen <ADDR>") && error.contains("localhost"), "{error}");
    }

    fn sources(given: &[&str]) -> Vec<SourceArg> {
        given.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn a_source_is_name_equals_url() {
        assert_eq!(
            "awards=http://a:1".parse::<SourceArg>(),
            Ok(SourceArg { name: "awards".into(), url: "http://a:1".into() })
        );
        for malformed in ["http://a:1", "=http://a:1", "awards=", ""] {
            let error = malformed.parse::<SourceArg>().unwrap_err();
            assert!(error.contains("NAME=URL") && error.contains(malformed), "{error}");
        }
    }

    #[test]
    fn sources_are_checked_against_what_the_service_consumes() {
        let every = Consumes::Every(&["applications", "reporting"]);
        let resolved = every.resolve("awards", &sources(&["reporting=http://r", "applications=http://a"])).unwrap();
        assert_eq!(resolved["applications"], "http://a");
        assert_eq!(resolved["reporting"], "http://r");
        let defaults = every.resolve("awards", &[]).unwrap();
        assert_eq!(defaults["applications"], "http://127.0.0.1:50051");
        assert_eq!(defaults["reporting"], "http://127.0.0.1:50053");

        let unknown = every.resolve("awards", &sources(&["awards=http://x"])).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "`--source awards=…`: awards consumes no events of `awards` (it consumes applications, reporting)"
        );
        let missing = every.resolve("awards", &sources(&["applications=http://a"])).unwrap_err();
        assert!(missing.to_string().starts_with("missing `--source reporting=URL`: awards consumes"), "{missing}");
        let twice = every.resolve("awards", &sources(&["applications=http://a", "applications=http://b"]));
        assert_eq!(twice, Err(SourcesError::Twice { name: "applications".into() }));
        let nothing = Consumes::Nothing.resolve("applications", &sources(&["awards=http://x"])).unwrap_err();
        assert!(nothing.to_string().ends_with("(it consumes no other service's events)"), "{nothing}");
        assert!(Consumes::Nothing.resolve("applications", &[]).unwrap().is_empty());
    }

    #[test]
    fn a_service_that_consumes_what_it_is_given_takes_a_part_of_its_sources() {
        let given = Consumes::Given(&["applications", "awards", "reporting"]);
        let one = given.resolve("projector", &sources(&["applications=http://a"])).unwrap();
        assert_eq!(one.into_iter().collect::<Vec<_>>(), vec![("applications".to_owned(), "http://a".to_owned())]);
        assert_eq!(given.resolve("projector", &[]).unwrap().len(), 3);
    }

    /// What passes `filter` of one event at each level from lapin's and the bus's targets.
    fn passing(filter: tracing_subscriber::EnvFilter) -> Vec<String> {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .without_time()
            .with_writer(move || CaptureWriter(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "lapin::io_loop", "Exponential backoff attempts exhausted, aborting recovery");
            tracing::error!(target: "lapin::channels", "Connection error");
            tracing::info!(target: "lapin::channel", "Connection closed");
            tracing::warn!(target: "event_bus::relay", "relay cannot publish to the message bus");
            tracing::info!(target: "event_bus::relay", "relay recovered");
            tracing::debug!(target: "event_bus::relay", "relay lost its connection");
        });
        let bytes = written.lock().unwrap_or_else(PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).lines().map(|l| l.trim().to_owned()).collect()
    }

    #[test]
    fn lapin_is_silent_by_default_and_the_bus_speaks_at_info() {
        assert_eq!(
            passing(log_filter(None)),
            vec![
                "WARN event_bus::relay: relay cannot publish to the message bus",
                "INFO event_bus::relay: relay recovered"
            ]
        );
        assert_eq!(passing(log_filter(Some(" "))), passing(log_filter(None)));
    }

    #[test]
    fn rust_log_overrides_the_defaults_target_by_target() {
        let lines = passing(log_filter(Some("lapin=error")));
        assert!(lines.iter().any(|l| l.contains("backoff attempts exhausted")), "{lines:?}");
        assert!(!lines.iter().any(|l| l.contains("Connection closed")), "{lines:?}");
        assert_eq!(
            passing(log_filter(Some("warn"))),
            vec!["WARN event_bus::relay: relay cannot publish to the message bus"]
        );
        let lines = passing(log_filter(Some("debug")));
        assert!(lines.iter().any(|l| l.contains("relay lost its connection")), "{lines:?}");
        assert!(!lines.iter().any(|l| l.contains("lapin")), "lapin stays silent unless named: {lines:?}");
        assert_eq!(passing(log_filter(Some("lapin=nonsense-level"))), passing(log_filter(None)));
    }
}
