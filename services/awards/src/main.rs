//! The awards service process.
//!
//! ```text
//! GRANTS_JWT_SECRET=<32+ bytes> awards --listen 127.0.0.1:50052 --data-dir ./data/awards \
//!     --applications-log http://127.0.0.1:50051 --reporting-log http://127.0.0.1:50053
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use service_runtime::config::{JwtArgs, ServerArgs, init_tracing};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    about = "The awards service of the grants platform: agreements, tranches gated by accepted reports, variations, close-out"
)]
struct Args {
    /// Address to serve gRPC on.
    #[arg(long, env = "AWARDS_LISTEN", default_value = "127.0.0.1:50052")]
    listen: SocketAddr,
    /// Directory of the service's data (the event log is in its `log/` folder).
    #[arg(long, env = "AWARDS_DATA_DIR", default_value = "./data/awards")]
    data_dir: PathBuf,
    /// AMQP URI of the message bus (relay of this log, consumer of the applications and reporting events).
    #[arg(long, env = "GRANTS_AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Run without the bus (events wait in the log, consumed events in the broker's queue).
    #[arg(long, env = "AWARDS_WITHOUT_BUS")]
    without_bus: bool,
    /// Address of the applications service's log gRPC service, read to fill gaps in its events.
    #[arg(long, env = "APPLICATIONS_LOG_URL", default_value = "http://127.0.0.1:50051")]
    applications_log: String,
    /// Address of the reporting service's log gRPC service, read to fill gaps in its events.
    #[arg(long, env = "REPORTING_LOG_URL", default_value = "http://127.0.0.1:50053")]
    reporting_log: String,
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
    let config = awards::service::Config {
        data_dir: args.data_dir,
        server: args.server.to_config()?,
        jwt: args.jwt.to_config(),
        amqp_uri: (!args.without_bus).then_some(args.amqp_url),
        source_logs: HashMap::from([
            ("applications".to_owned(), args.applications_log),
            ("reporting".to_owned(), args.reporting_log),
        ]),
    };
    awards::service::run(listener, config, shutdown).await.context("awards service failed")?;
    Ok(())
}
