//! Configuration shared by every service: flags with environment variables and defaults. Each service
//! flattens these into its own command line (`#[command(flatten)]`).

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
}

impl ServerArgs {
    /// The server configuration; reads the checkpoint key file if one is named.
    pub fn to_config(&self) -> anyhow::Result<ServerConfig> {
        let checkpoint = match &self.checkpoint_key_file {
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

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: log files stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}
