//! The applications service process.
//!
//! ```text
//! GRANTS_JWT_SECRET=<32+ bytes> applications --listen 127.0.0.1:50051 --data-dir ./data/applications
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use service_runtime::config::{JwtArgs, ServerArgs, init_tracing};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    about = "The applications service of the grants platform: rounds, organisations, applications, review, decision"
)]
struct Args {
    /// Address to serve gRPC on.
    #[arg(long, env = "APPLICATIONS_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Directory of the service's data: its event log and the keys of sealed personal data.
    #[arg(long, env = "APPLICATIONS_DATA_DIR", default_value = "./data/applications")]
    data_dir: PathBuf,
    /// AMQP URI of the message bus the relay publishes the log to.
    #[arg(long, env = "GRANTS_AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Run without publishing to the bus (events wait in the log until a run with the bus).
    #[arg(long, env = "APPLICATIONS_WITHOUT_BUS")]
    without_bus: bool,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    jwt: JwtArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let args = Args::parse();
    let listener = service_runtime::server::bind(args.listen).await?;
    let shutdown = CancellationToken::new();
    service_runtime::server::cancel_on_signals(shutdown.clone());
    let config = applications::service::Config {
        data_dir: args.data_dir,
        server: args.server.to_config()?,
        jwt: args.jwt.to_config(),
        amqp_uri: (!args.without_bus).then_some(args.amqp_url),
    };
    applications::service::run(listener, config, shutdown).await.context("applications service failed")?;
    Ok(())
}
