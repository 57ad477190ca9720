//! Waiting for what the services learn from each other over the bus, with a deadline that names the
//! likely cause when it passes.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;

/// How long to wait for what the services learn from each other over the bus.
const BUS_TIMEOUT: Duration = Duration::from_secs(60);

/// How often the demo asks again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Polls `check` until it returns `Some`, for at most [`BUS_TIMEOUT`].
pub(super) async fn eventually<T, F, Fut>(what: &str, check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    eventually_every(POLL_INTERVAL, what, check).await
}

/// Polls `check` every `interval` until it returns `Some`, for at most [`BUS_TIMEOUT`].
pub(crate) async fn eventually_every<T, F, Fut>(interval: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + BUS_TIMEOUT;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {} s waiting for {what}: are the services connected to the same RabbitMQ?",
                BUS_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(interval).await;
    }
}
