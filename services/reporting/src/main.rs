//! The reporting service process.
//!
//! ```text
//! GRANTS_JWT_SECRET=<32+ bytes> reporting --listen 127.0.0.1:50053 --data-dir ./data/reporting \
//!     --awards-log http://127.0.0.1:50052
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
    about = "The reporting service of the grants platform: reporting obligations, victim-safe indicator reports, acquittals, review"
)]
struct Args {
    /// Address to serve gRPC on.
    #[arg(long, env = "REPORTING_LISTEN", default_value = "127.0.0.1:50053")]
    listen: SocketAddr,
    /// Directory of the service's event log.
    #[arg(long, env = "REPORTING_DATA_DIR", default_value = "./data/reporting")]
    data_dir: PathBuf,
    /// AMQP URI of the message bus (relay of this log, consumer of the awards events).
    #[arg(long, env = "GRANTS_AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Run without the bus (events wait in the log, consumed events in the broker's queue).
    #[arg(long, env = "REPORTING_WITHOUT_BUS")]
    without_bus: bool,
    /// Address of the awards service's log gRPC service, read to fill gaps in its events.
    #[arg(long, env = "AWARDS_LOG_URL", default_value = "http://127.0.0.1:50052")]
    awards_log: String,
    /// An indicator catalogue (JSON, the format of the embedded `indicators.json`) to use instead of the
    /// embedded one; validated at start-up.
    #[arg(long, env = "REPORTING_INDICATORS")]
    indicators: Option<PathBuf>,
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
    let config = reporting::service::Config {
        data_dir: args.data_dir,
        server: args.server.to_config()?,
        jwt: args.jwt.to_config(),
        amqp_uri: (!args.without_bus).then_some(args.amqp_url),
        source_logs: HashMap::from([("awards".to_owned(), args.awards_log)]),
        indicators: args.indicators,
    };
    reporting::service::run(listener, config, shutdown).await.context("reporting service failed")?;
    Ok(())
}
