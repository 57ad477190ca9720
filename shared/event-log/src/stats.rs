//! Counters of what the writer made durable, kept in atomics by the sync thread and read by anyone
//! ([`crate::EventLog::stats`]): cheap enough to update on every commit, with no metrics library here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the `fdatasync` latency buckets, in seconds (the last bucket is unbounded).
pub const SYNC_SECONDS_BOUNDS: [f64; 12] =
    [0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Upper bounds of the group size buckets: appends made durable by one journal write and sync.
pub const GROUP_SIZE_BOUNDS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];

/// A histogram's state as read at one moment: per-bucket (not cumulative) counts, the last one for
/// everything above the last bound.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// Each bucket's upper bound; the bucket after the last is unbounded.
    pub bounds: Vec<f64>,
    /// Observations per bucket, `bounds.len() + 1` of them.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

/// What a log's writer made durable since the log was opened.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogStats {
    /// Append requests acknowledged as durable (each `append`, and each request of `append_in_order`
    /// that was applied); refused appends are not counted.
    pub appends: u64,
    /// Events made durable.
    pub events: u64,
    /// Group commits: journal writes each followed by one `fdatasync` (or a checkpoint when full),
    /// commits of markers alone included.
    pub commits: u64,
    /// Appends per group commit that made any.
    pub group_size: HistogramSnapshot,
    /// Time of each commit's `fdatasync` of the journal, in seconds.
    pub sync_seconds: HistogramSnapshot,
}

/// A histogram with fixed bounds in atomics; the sum in micro-units (microseconds, or thousandths of
/// an append) so that it stays an integer.
#[derive(Debug)]
struct AtomicHistogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: &'static [f64]) -> AtomicHistogram {
        AtomicHistogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: f64) {
        let bucket = self.bounds.iter().position(|bound| value <= *bound).unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value * 1e6).round() as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        HistogramSnapshot {
            bounds: self.bounds.to_vec(),
            count: counts.iter().sum(),
            counts,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// The writer's counters, shared between the sync thread and the log's handles.
#[derive(Debug)]
pub(crate) struct StatsCounters {
    appends: AtomicU64,
    events: AtomicU64,
    commits: AtomicU64,
    group_size: AtomicHistogram,
    sync_seconds: AtomicHistogram,
}

impl Default for StatsCounters {
    fn default() -> StatsCounters {
        StatsCounters {
            appends: AtomicU64::new(0),
            events: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            group_size: AtomicHistogram::new(&GROUP_SIZE_BOUNDS),
            sync_seconds: AtomicHistogram::new(&SYNC_SECONDS_BOUNDS),
        }
    }
}

impl StatsCounters {
    /// One group commit made `appends` appends holding `events` events durable (none for a commit of
    /// markers alone: a relay's cursor, a consumer's checkpoint).
    pub(crate) fn committed(&self, appends: u64, events: u64) {
        self.appends.fetch_add(appends, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        if appends > 0 {
            self.group_size.observe(appends as f64);
        }
    }

    pub(crate) fn synced(&self, took: Duration) {
        self.sync_seconds.observe(took.as_secs_f64());
    }

    pub(crate) fn snapshot(&self) -> LogStats {
        LogStats {
            appends: self.appends.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            group_size: self.group_size.snapshot(),
            sync_seconds: self.sync_seconds.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_into_the_first_bucket_whose_bound_holds_them() {
        let counters = StatsCounters::default();
        counters.committed(1, 3);
        counters.committed(3, 3);
        counters.committed(5000, 5000);
        counters.committed(0, 0);
        counters.synced(Duration::from_micros(300));
        let stats = counters.snapshot();
        assert_eq!((stats.appends, stats.events, stats.commits), (5004, 5006, 4));
        assert_eq!(stats.group_size.counts[0], 1, "1 append: bucket le=1");
        assert_eq!(stats.group_size.counts[2], 1, "3 appends: bucket le=4");
        assert_eq!(stats.group_size.counts[GROUP_SIZE_BOUNDS.len()], 1, "above every bound");
        assert_eq!((stats.group_size.count, stats.group_size.sum), (3, 5004.0));
        assert_eq!(stats.sync_seconds.counts[2], 1, "300 µs: bucket le=0.0005");
        assert!((stats.sync_seconds.sum - 0.0003).abs() < 1e-9);
    }
}
