//! The projector process, and its operator commands.
//!
//! ```text
//! GRANTS_JWT_SECRET=<32+ bytes> projector --listen 127.0.0.1:50054 --data-dir ./data/projector \
//!     --source applications=http://127.0.0.1:50051 --source awards=http://127.0.0.1:50052 \
//!     --source reporting=http://127.0.0.1:50053 --perturbation-secret <32+ bytes>
//! GRANTS_JWT_SECRET=... projector rebuild --address http://127.0.0.1:50054   # prints progress
//! GRANTS_JWT_SECRET=... projector digest --address http://127.0.0.1:50054
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use contracts::projector::v1::{self as pb, ProjectorServiceClient};
use domain_kernel::Role;
use projector::service::PerturbationConfig;
use service_runtime::TokenIssuer;
use service_runtime::config::{JwtArgs, ServerArgs, init_tracing};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    about = "The projector of the grants platform: read models from every service's events, rebuildable, as of any date"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to serve gRPC on.
    #[arg(long, env = "PROJECTOR_LISTEN", default_value = "127.0.0.1:50054")]
    listen: SocketAddr,
    /// Directory of the read models.
    #[arg(long, env = "PROJECTOR_DATA_DIR", default_value = "./data/projector")]
    data_dir: PathBuf,
    /// AMQP URI of the message bus.
    #[arg(long, env = "GRANTS_AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Serve the current read models without consuming events.
    #[arg(long, env = "PROJECTOR_WITHOUT_BUS")]
    without_bus: bool,
    /// A source service's log address, NAME=ADDRESS; repeat per source. Default: the three services on
    /// their default local ports.
    #[arg(long = "source", env = "PROJECTOR_SOURCES", value_delimiter = ',', value_parser = projector::sources::parse_source)]
    sources: Vec<(String, String)>,
    /// Small-cell suppression threshold k: indicator counts 1..k-1 are withheld.
    #[arg(long, env = "PROJECTOR_SUPPRESSION_K", default_value_t = 5)]
    suppression_k: u32,
    /// Perturbation bound D: every shown indicator count is within D of the exact count (2 or 3).
    #[arg(long, env = "PROJECTOR_PERTURBATION_BOUND", default_value_t = projector::disclosure::DEFAULT_BOUND)]
    perturbation_bound: u32,
    /// Secret of the record keys that pick each count's perturbation, at least 32 bytes; the same for
    /// every replica and kept across rebuilds. Required unless listening on a loopback address, where a
    /// development secret is used (with a warning).
    #[arg(long, env = "PROJECTOR_PERTURBATION_SECRET", hide_env_values = true)]
    perturbation_secret: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    jwt: JwtArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rebuilds the read models of a running projector from every source log, printing progress.
    Rebuild {
        /// The projector's gRPC address.
        #[arg(long, default_value = "http://127.0.0.1:50054")]
        address: String,
    },
    /// Prints the digest of a running projector's active read models.
    Digest {
        #[arg(long, default_value = "http://127.0.0.1:50054")]
        address: String,
    },
}

fn authed<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

async fn operate(command: Command, args: &Args) -> anyhow::Result<()> {
    let token = TokenIssuer::new(&args.jwt.to_config())?.issue(
        Role::Administrator,
        "operator:projector-cli",
        None,
        Duration::from_secs(3600),
    )?;
    match command {
        Command::Digest { address } => {
            let mut client = ProjectorServiceClient::connect(address).await?;
            let digest = client.get_digest(authed(pb::GetDigestRequest {}, &token)?).await?.into_inner();
            println!("generation {} entries {} sha256 {}", digest.generation, digest.entries, digest.sha256);
        }
        Command::Rebuild { address } => {
            let mut client = ProjectorServiceClient::connect(address).await?;
            client.rebuild(authed(pb::RebuildRequest {}, &token)?).await?;
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let status =
                    client.get_rebuild_status(authed(pb::GetRebuildStatusRequest {}, &token)?).await?.into_inner();
                let sources: Vec<String> =
                    status.sources.iter().map(|s| format!("{} {}/{}", s.source, s.applied, s.head)).collect();
                println!(
                    "generation {}: {} events, {:.0} events/s [{}]",
                    status.generation,
                    status.events_applied,
                    status.events_per_second,
                    sources.join(", ")
                );
                match pb::RebuildState::try_from(status.state) {
                    Ok(pb::RebuildState::Completed) => {
                        println!("rebuild completed: generation {} is active", status.generation);
                        return Ok(());
                    }
                    Ok(pb::RebuildState::Failed) => anyhow::bail!("rebuild failed: {}", status.error),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// The perturbation settings; without a secret, the development one, but only on a loopback address:
/// a projector reachable from elsewhere would publish counts whose noise anyone can compute.
fn perturbation_config(args: &Args) -> anyhow::Result<PerturbationConfig> {
    let bound = args.perturbation_bound;
    match &args.perturbation_secret {
        Some(secret) => Ok(PerturbationConfig { bound, secret: secret.as_bytes().to_vec() }),
        None if args.listen.ip().is_loopback() => {
            tracing::warn!(
                "no --perturbation-secret (PROJECTOR_PERTURBATION_SECRET): using the development secret, \
                 acceptable on a loopback address only"
            );
            Ok(PerturbationConfig { bound, ..PerturbationConfig::development() })
        }
        None => anyhow::bail!(
            "--perturbation-secret (PROJECTOR_PERTURBATION_SECRET) is required when listening on {}, which is not \
             a loopback address: published counts need a secret of their own, the same for every replica",
            args.listen
        ),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let mut args = Args::parse();
    if let Some(command) = args.command.take() {
        return operate(command, &args).await;
    }
    let mut source_logs: BTreeMap<String, String> = args.sources.iter().cloned().collect();
    if source_logs.is_empty() {
        for (name, port) in [("applications", 50051), ("awards", 50052), ("reporting", 50053)] {
            source_logs.insert(name.to_owned(), format!("http://127.0.0.1:{port}"));
        }
    }
    let perturbation = perturbation_config(&args)?;
    let listener = service_runtime::server::bind(args.listen).await?;
    let shutdown = CancellationToken::new();
    service_runtime::server::cancel_on_signals(shutdown.clone());
    let config = projector::service::Config {
        data_dir: args.data_dir,
        server: args.server.to_config()?,
        jwt: args.jwt.to_config(),
        amqp_uri: (!args.without_bus).then_some(args.amqp_url),
        source_logs,
        suppression_k: args.suppression_k,
    };
    projector::service::run_with(listener, config, perturbation, shutdown).await.context("projector failed")?;
    Ok(())
}
