//! The program dashboard: read-only web pages over the services' gRPC APIs, for people who would rather
//! look than read.
//!
//! - [`session`]: sign-in exchanges a bearer token for an HttpOnly, SameSite=Strict session cookie; the
//!   token stays on the server and goes with every gRPC call, so the services decide, exactly as for any
//!   other client, what the person may see.
//! - [`backend`]: the gRPC clients (projector, the three source services' logs, reporting's catalogue,
//!   every service's bus status); the only way the dashboard reads anything. It has no data directory.
//! - [`pages`]: one module per page; each turns answers into HTML with [`layout`], [`chart`] (server-drawn
//!   SVG, always beside a table of the same figures) and [`money`].
//! - [`point`]: the `as_of` date every page takes, as the projector's `AsOf`.
//!
//! The pages use no JavaScript, no web fonts and nothing from another origin (the Content-Security-Policy
//! says so), so they work on a slow phone connection.

pub mod backend;
pub mod chart;
pub mod layout;
pub mod money;
pub mod pages;
pub mod point;
pub mod session;
mod web;

use std::collections::BTreeMap;
use std::time::Duration;

use service_runtime::JwtConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use web::router;

/// What the dashboard needs to serve.
#[derive(Clone, Debug)]
pub struct Config {
    /// The projector's gRPC address.
    pub projector: String,
    /// The source services' gRPC addresses by name ("applications", "awards", "reporting").
    pub sources: BTreeMap<String, String>,
    /// How tokens are checked at sign-in (the services check them again on every call).
    pub jwt: JwtConfig,
    /// TLS towards the services, for `https://` addresses.
    pub tls: Option<tls::ClientTls>,
    /// Marks the session cookie `Secure`: set when the dashboard is reached over HTTPS (behind a proxy).
    pub secure_cookie: bool,
    /// How long a session lasts at most (a token the services stop accepting ends it at the next page).
    pub session_lifetime: Duration,
    /// Each source service's checkpoint public key, by name: the integrity page then accepts only
    /// checkpoints signed by it (without one, a checkpoint is checked against the key it names).
    pub checkpoint_keys: BTreeMap<String, [u8; 32]>,
}

/// Why the dashboard could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("{0}")]
    Config(String),
    #[error("serving HTTP failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// How long requests in flight may still run once the dashboard is asked to stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the dashboard on `listener` until `shutdown`, then lets the requests in flight finish for at
/// most [`DRAIN_TIMEOUT`] (a page waiting on a slow service is then cut off).
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), DashboardError> {
    let app = router(config)?;
    let stopping = shutdown.clone();
    let serving = axum::serve(listener, app).with_graceful_shutdown(async move { stopping.cancelled().await });
    tokio::select! {
        served = serving => Ok(served?),
        () = async { shutdown.cancelled().await; tokio::time::sleep(DRAIN_TIMEOUT).await } => {
            tracing::warn!("requests still running {} s after the stop was asked were cut off", DRAIN_TIMEOUT.as_secs());
            Ok(())
        }
    }
}
