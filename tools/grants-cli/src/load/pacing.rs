//! `--rate`: command starts on one fixed schedule for every client (open loop: the schedule does not wait
//! for answers). A client takes the next start time when it is ready to send; if that time has passed
//! because every client was busy, the command starts at once and its lateness is reported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct Pacer {
    start: Instant,
    interval: Duration,
    next: AtomicU64,
}

impl Pacer {
    /// A schedule of `rate` starts per second from now.
    pub(super) fn new(rate: f64) -> Pacer {
        Pacer { start: Instant::now(), interval: Duration::from_secs_f64(1.0 / rate), next: AtomicU64::new(0) }
    }

    /// When the `slot`th command of the run is due.
    fn due(&self, slot: u64) -> Instant {
        self.start + self.interval.mul_f64(slot as f64)
    }

    /// The next start time: waits for it, or says how late it already is.
    pub(super) async fn turn(&self) -> Duration {
        let due = self.due(self.next.fetch_add(1, Ordering::Relaxed));
        let now = Instant::now();
        if due > now {
            tokio::time::sleep_until(due.into()).await;
            Duration::ZERO
        } else {
            now - due
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_spread_evenly_at_the_rate() {
        let pacer = Pacer::new(200.0);
        assert_eq!(pacer.due(0), pacer.start);
        assert_eq!(pacer.due(3) - pacer.due(1), Duration::from_millis(10));
        assert_eq!(pacer.due(200) - pacer.due(0), Duration::from_secs(1));
    }
}
