//! When to tell an operator that the relay or a consumer cannot do its work. Failures come with every
//! reconnection attempt, up to twice a second, and would bury everything else: an outage is reported
//! when it starts, then about once a minute while it lasts, and once when it ends.

use std::time::{Duration, Instant};

/// How often an ongoing outage is reported again.
pub(crate) const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// The outage under way, if any.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    ongoing: Option<Ongoing>,
}

#[derive(Debug)]
struct Ongoing {
    since: Instant,
    last_reported: Instant,
    /// Failures since the last report, that one included.
    failures: u64,
}

/// A failure that is to be reported now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    /// How long the outage has lasted.
    pub(crate) lasting: Duration,
    /// Failures since the previous report (1 for the first report).
    pub(crate) failures: u64,
    /// Whether this is the outage's first report.
    pub(crate) first: bool,
}

impl Outage {
    /// Records a failure at `now`; returns what to report if it is the first of an outage or the last
    /// report is [`REPEAT_EVERY`] old.
    pub(crate) fn failed(&mut self, now: Instant) -> Option<Report> {
        match &mut self.ongoing {
            None => {
                self.ongoing = Some(Ongoing { since: now, last_reported: now, failures: 0 });
                Some(Report { lasting: Duration::ZERO, failures: 1, first: true })
            }
            Some(ongoing) => {
                ongoing.failures += 1;
                if now.saturating_duration_since(ongoing.last_reported) < REPEAT_EVERY {
                    return None;
                }
                let report = Report {
                    lasting: now.saturating_duration_since(ongoing.since),
                    failures: ongoing.failures,
                    first: false,
                };
                ongoing.last_reported = now;
                ongoing.failures = 0;
                Some(report)
            }
        }
    }

    pub(crate) fn is_ongoing(&self) -> bool {
        self.ongoing.is_some()
    }

    /// Ends the outage, if there is one; returns how long it lasted.
    pub(crate) fn recovered(&mut self, now: Instant) -> Option<Duration> {
        self.ongoing.take().map(|ongoing| now.saturating_duration_since(ongoing.since))
    }
}

/// A duration for a log line, to a tenth of a second.
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_at_once_then_once_a_minute_then_its_end() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut outage = Outage::default();
        assert_eq!(outage.recovered(at(0)), None, "nothing to recover from");

        assert_eq!(outage.failed(at(0)), Some(Report { lasting: Duration::ZERO, failures: 1, first: true }));
        // A failure every half second for the next minute: none of them is reported.
        let quiet = (1..120).filter_map(|half| outage.failed(start + Duration::from_millis(500 * half))).count();
        assert_eq!(quiet, 0);
        assert!(outage.is_ongoing());
        assert_eq!(
            outage.failed(at(60)),
            Some(Report { lasting: Duration::from_secs(60), failures: 120, first: false })
        );
        assert_eq!(outage.failed(at(90)), None);
        assert_eq!(outage.failed(at(120)), Some(Report { lasting: at(120) - at(0), failures: 2, first: false }));

        assert_eq!(outage.recovered(at(125)), Some(Duration::from_secs(125)));
        assert!(!outage.is_ongoing());
        assert_eq!(outage.recovered(at(126)), None, "an outage ends once");
        assert!(outage.failed(at(127)).is_some_and(|report| report.first), "the next outage is reported at once");
    }
}
