//! What a load run measured, shared by every client: command latency per RPC, failures, waits on the bus,
//! the time from an answer to its projection, how late paced commands started, and how far grants got.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies are kept in microseconds, from 1 µs to an hour, to three significant figures.
pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| unreachable!("the bounds are valid"))
}

pub(super) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// One RPC of a service, as the report names it: `applications.OpenRound`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Rpc {
    pub(super) service: &'static str,
    pub(super) method: &'static str,
}

impl std::fmt::Display for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.service, self.method)
    }
}

/// How far the grants the clients walked got.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct GrantCounts {
    pub(super) started: u64,
    pub(super) rejected: u64,
    /// Agreement signed and initial tranche released.
    pub(super) funded: u64,
    /// First progress report accepted.
    pub(super) reported: u64,
    /// Interim tranche released once its report was accepted: the end of a walk.
    pub(super) completed: u64,
}

/// A step of a grant's walk that [`GrantCounts`] counts.
#[derive(Clone, Copy, Debug)]
pub(super) enum Milestone {
    Started,
    Rejected,
    Funded,
    Reported,
    Completed,
}

/// Failures of one kind: how many, and the first one's message.
#[derive(Clone, Debug)]
pub(super) struct Failures {
    pub(super) count: u64,
    pub(super) first: String,
}

#[derive(Debug)]
struct Measured {
    commands: BTreeMap<Rpc, Histogram<u64>>,
    failures: BTreeMap<String, Failures>,
    waits: BTreeMap<&'static str, Histogram<u64>>,
    projected: Histogram<u64>,
    lateness: Histogram<u64>,
    grants: GrantCounts,
    /// Since the last progress line.
    window: Histogram<u64>,
    window_failed: u64,
}

/// Every client's measurements, behind one lock (a few thousand records a second do not contend).
#[derive(Debug)]
pub(super) struct Stats(Mutex<Measured>);

/// The measurements since the previous progress line.
#[derive(Debug)]
pub(super) struct Window {
    pub(super) succeeded: u64,
    pub(super) failed: u64,
    pub(super) p99: Duration,
}

/// Everything measured, for the report.
#[derive(Debug)]
pub(super) struct Snapshot {
    pub(super) commands: BTreeMap<Rpc, Histogram<u64>>,
    pub(super) failures: BTreeMap<String, Failures>,
    pub(super) waits: BTreeMap<&'static str, Histogram<u64>>,
    pub(super) projected: Histogram<u64>,
    pub(super) lateness: Histogram<u64>,
    pub(super) grants: GrantCounts,
}

impl Snapshot {
    /// Every command's latency in one histogram.
    pub(super) fn all_commands(&self) -> Histogram<u64> {
        let mut all = histogram();
        for latencies in self.commands.values() {
            all.add(latencies).unwrap_or_else(|_| unreachable!("histograms of the same bounds add"));
        }
        all
    }

    pub(super) fn failed(&self) -> u64 {
        self.failures.values().map(|f| f.count).sum()
    }
}

impl Stats {
    pub(super) fn new() -> Stats {
        Stats(Mutex::new(Measured {
            commands: BTreeMap::new(),
            failures: BTreeMap::new(),
            waits: BTreeMap::new(),
            projected: histogram(),
            lateness: histogram(),
            grants: GrantCounts::default(),
            window: histogram(),
            window_failed: 0,
        }))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Measured) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(super) fn succeeded(&self, rpc: Rpc, latency: Duration) {
        self.with(|m| {
            m.commands.entry(rpc).or_insert_with(histogram).saturating_record(micros(latency));
            m.window.saturating_record(micros(latency));
        });
    }

    /// A command the service refused or could not answer: `what` names the RPC and the status code.
    pub(super) fn failed(&self, what: String, message: String) {
        self.with(|m| {
            m.failures.entry(what).or_insert(Failures { count: 0, first: message }).count += 1;
            m.window_failed += 1;
        });
    }

    pub(super) fn waited(&self, kind: &'static str, waited: Duration) {
        self.with(|m| m.waits.entry(kind).or_insert_with(histogram).saturating_record(micros(waited)));
    }

    pub(super) fn projected(&self, after_answer: Duration) {
        self.with(|m| m.projected.saturating_record(micros(after_answer)));
    }

    pub(super) fn started_late(&self, lateness: Duration) {
        self.with(|m| m.lateness.saturating_record(micros(lateness)));
    }

    pub(super) fn reached(&self, milestone: Milestone) {
        self.with(|m| {
            let count = match milestone {
                Milestone::Started => &mut m.grants.started,
                Milestone::Rejected => &mut m.grants.rejected,
                Milestone::Funded => &mut m.grants.funded,
                Milestone::Reported => &mut m.grants.reported,
                Milestone::Completed => &mut m.grants.completed,
            };
            *count += 1;
        });
    }

    /// The commands since the last call, and how far grants got so far.
    pub(super) fn take_window(&self) -> (Window, GrantCounts, Histogram<u64>) {
        self.with(|m| {
            let window = Window {
                succeeded: m.window.len(),
                failed: m.window_failed,
                p99: Duration::from_micros(m.window.value_at_quantile(0.99)),
            };
            m.window.reset();
            m.window_failed = 0;
            (window, m.grants, m.projected.clone())
        })
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        self.with(|m| Snapshot {
            commands: m.commands.clone(),
            failures: m.failures.clone(),
            waits: m.waits.clone(),
            projected: m.projected.clone(),
            lateness: m.lateness.clone(),
            grants: m.grants,
        })
    }
}

/// A histogram's value at `quantile`, in milliseconds.
pub(super) fn millis_at(latencies: &Histogram<u64>, quantile: f64) -> f64 {
    latencies.value_at_quantile(quantile) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_counted_per_rpc_and_together() {
        let stats = Stats::new();
        let open = Rpc { service: "applications", method: "OpenRound" };
        let sign = Rpc { service: "awards", method: "SignAgreement" };
        stats.succeeded(open, Duration::from_millis(2));
        stats.succeeded(sign, Duration::from_millis(4));
        stats.succeeded(sign, Duration::from_millis(6));
        stats.failed("awards.SignAgreement FailedPrecondition".into(), "first".into());
        stats.failed("awards.SignAgreement FailedPrecondition".into(), "second".into());
        let (window, _, _) = stats.take_window();
        assert_eq!((window.succeeded, window.failed), (3, 2));
        assert_eq!(stats.take_window().0.succeeded, 0, "a window starts empty");
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.commands[&sign].len(), 2);
        assert_eq!(snapshot.all_commands().len(), 3);
        assert!((millis_at(&snapshot.all_commands(), 1.0) - 6.0).abs() < 0.01);
        let failures = &snapshot.failures["awards.SignAgreement FailedPrecondition"];
        assert_eq!((failures.count, failures.first.as_str()), (2, "first"));
        assert_eq!(snapshot.failed(), 2);
    }
}
