//! `dashboard`: the program dashboard's HTTP server. Reads the services over gRPC only; keeps no data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use service_runtime::config::{Consumes, JwtArgs, LogFormat, SourceArg, init_tracing};
use tokio_util::sync::CancellationToken;

/// The program dashboard: read-only web pages (overview, pipeline, portfolios, results, a grant's timeline,
/// integrity) over the platform's gRPC services. People sign in with their bearer token.
#[derive(Debug, Parser)]
#[command(name = "dashboard", version)]
struct Args {
    /// Address to serve HTTP on.
    #[arg(long, env = "DASHBOARD_LISTEN", default_value = "127.0.0.1:50080")]
    listen: SocketAddr,
    /// The projector's gRPC address.
    #[arg(long, env = "DASHBOARD_PROJECTOR", default_value = "http://127.0.0.1:50054")]
    projector: String,
    /// NAME=URL of each source service (applications, awards, reporting): all three, or none for the
    /// default local addresses.
    #[arg(long = "source", value_name = "NAME=URL")]
    sources: Vec<SourceArg>,
    #[command(flatten)]
    jwt: JwtArgs,
    /// PEM CA certificates that sign the services' certificates, for https:// addresses.
    #[arg(long, value_name = "FILE", env = "DASHBOARD_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) for services that ask for one (mutual TLS), with --tls-key.
    #[arg(long, value_name = "FILE", env = "DASHBOARD_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", env = "DASHBOARD_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// NAME=HEX: a source service's checkpoint public key (as `deploy/local/start` prints it, or
    /// `grants keygen`); the integrity page then accepts only checkpoints it signed. Repeat per service.
    #[arg(
        long = "checkpoint-public-key",
        value_name = "NAME=HEX",
        env = "DASHBOARD_CHECKPOINT_PUBLIC_KEYS",
        value_delimiter = ','
    )]
    checkpoint_public_keys: Vec<SourceArg>,
    /// Mark the session cookie `Secure`: set it when people reach the dashboard over HTTPS (a proxy in front).
    #[arg(long, env = "DASHBOARD_SECURE_COOKIE")]
    secure_cookie: bool,
    /// Longest a session lasts, in hours (a token the services stop accepting ends it sooner).
    #[arg(long, env = "DASHBOARD_SESSION_HOURS", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=72))]
    session_hours: u64,
    #[arg(long, env = "GRANTS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The `--checkpoint-public-key`s by service, each named service a source and each key 64 hex digits.
fn checkpoint_keys(given: &[SourceArg]) -> anyhow::Result<BTreeMap<String, [u8; 32]>> {
    let mut keys = BTreeMap::new();
    for SourceArg { name, url: hex } in given {
        anyhow::ensure!(
            SOURCES.names().contains(&name.as_str()),
            "`--checkpoint-public-key {name}=…`: {name} is not a source service (applications, awards, reporting)"
        );
        let key = event_log_grpc::checkpoint::key_from_hex("--checkpoint-public-key", hex)?;
        anyhow::ensure!(keys.insert(name.clone(), key).is_none(), "`--checkpoint-public-key {name}=…` is given twice");
    }
    Ok(keys)
}

const SOURCES: Consumes = Consumes::Every(&["applications", "awards", "reporting"]);

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("dashboard: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    init_tracing(args.log_format);
    let tls = tls::ClientTls::from_flags(args.tls_ca.as_deref(), args.tls_cert.as_deref(), args.tls_key.as_deref())?;
    let config = dashboard::Config {
        projector: args.projector.clone(),
        sources: SOURCES.resolve("dashboard", &args.sources)?,
        jwt: args.jwt.to_config(),
        tls,
        secure_cookie: args.secure_cookie,
        session_lifetime: Duration::from_secs(args.session_hours * 3600),
        checkpoint_keys: checkpoint_keys(&args.checkpoint_public_keys)?,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let shutdown = CancellationToken::new();
    service_runtime::server::cancel_on_signals(shutdown.clone());
    tracing::info!(address = %listener.local_addr()?, "dashboard serving");
    dashboard::run(listener, config, shutdown).await?;
    tracing::info!("dashboard stopped");
    Ok(())
}
