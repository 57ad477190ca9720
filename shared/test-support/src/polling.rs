//! Waiting, with a bound, for what happens asynchronously (a consumer applying an event, a service
//! starting to listen), instead of sleeping for a guessed time.

use std::future::Future;
use std::time::Duration;

/// How often a check is repeated.
const INTERVAL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Some`, for at most 20 s; panics naming `what` after that.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, Duration::from_secs(20), check).await
}

/// Polls `check` until it returns `Some`, sleeping between attempts for at most `limit` in all; panics
/// naming `what` after that.
pub async fn eventually_within<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    // Counted in attempts rather than against a deadline: slow checks extend the wait instead of
    // shortening the number of chances.
    let attempts = limit.as_millis().div_ceil(INTERVAL.as_millis()).max(1);
    for _ in 0..attempts {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(INTERVAL).await;
    }
    panic!("timed out waiting for {what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_value_is_returned_once_the_check_succeeds() {
        let mut calls = 0;
        let value = eventually("the third call", || {
            calls += 1;
            let now = calls;
            async move { (now == 3).then_some(now) }
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out waiting for nothing")]
    async fn a_check_that_never_succeeds_fails_naming_what_it_waited_for() {
        eventually_within("nothing", Duration::from_millis(100), || async { None::<()> }).await;
    }
}
