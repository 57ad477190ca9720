//! What a load run prints: a progress line a second on standard error while it runs, and the report on
//! standard output at the end.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::memory::Resident;
use super::projection::{POLL_INTERVAL, SourceLag};
use super::stats::{GrantCounts, Snapshot, Window, millis_at};
use super::walk::{AWARD_OFFERED, OBLIGATIONS_SCHEDULED, TRANCHE_UNLOCKED};
use crate::stdout::say;

/// How the run was set up, for the report's first line.
#[derive(Debug)]
pub(super) struct Setup {
    pub(super) clients: usize,
    pub(super) rate: Option<f64>,
    pub(super) sample_every: u64,
}

/// What the end of the run found besides the clients' measurements.
#[derive(Debug)]
pub(super) struct Ending {
    pub(super) elapsed: Duration,
    pub(super) backlog: Vec<SourceLag>,
    /// How long the backlog took to drain, or `None` when it did not within the limit.
    pub(super) drained: Option<Duration>,
    pub(super) drain_limit: Duration,
    /// Samples never projected, and samples whose source head could not be read.
    pub(super) unresolved: (u64, u64),
    /// How many times the projector was asked for its lag (each asks every source for its head).
    pub(super) lag_polls: u64,
    /// Every read of a source's head after a sampled command: a read with no write, the reference for the
    /// commands' latency under the same conditions.
    pub(super) head_reads: Histogram<u64>,
    /// Each service's memory when the load started and when it had drained.
    pub(super) memory: Vec<(String, Resident, Resident)>,
}

/// One progress line: commands so far and in the last second, failures, grants and projection.
pub(super) fn progress_line(
    elapsed: Duration,
    total: u64,
    window: &Window,
    grants: &GrantCounts,
    projected: &Histogram<u64>,
) -> String {
    format!(
        "load {:>5.1} s: {total} commands ({} in the last second, p99 {:.2} ms), {} failed; grants {} started, {} completed; \
         projected p99 {:.1} ms ({} samples)",
        elapsed.as_secs_f64(),
        window.succeeded,
        window.p99.as_secs_f64() * 1000.0,
        window.failed,
        grants.started,
        grants.completed,
        millis_at(projected, 0.99),
        projected.len(),
    )
}

/// The backlog, one source after another: `applications 12, awards 0`.
pub(super) fn backlog_line(lag: &[SourceLag]) -> String {
    let sources: Vec<String> = lag
        .iter()
        .map(|l| match &l.error {
            Some(error) => format!("{} unknown ({error})", l.source),
            None => format!("{} {}", l.source, l.behind),
        })
        .collect();
    sources.join(", ")
}

/// The platform's aims: p99 command latency at half the saturating rate, and p99 from a command's answer
/// to its projection.
const COMMAND_P99_AIM_MS: f64 = 5.0;
const PROJECTED_P99_AIM_MS: f64 = 50.0;

/// A measured figure against its aim, with their ratio.
fn aim(name: &str, measured_ms: f64, aim_ms: f64) -> String {
    let verdict = if measured_ms <= aim_ms { "met" } else { "not met" };
    format!("  {name:<40} {measured_ms:>9.2} ms / {aim_ms} ms = {:.2}, {verdict}", measured_ms / aim_ms)
}

fn row(name: &str, latencies: &Histogram<u64>) -> String {
    format!(
        "  {name:<40} {:>8} {:>9.2} {:>9.2} {:>9.2}",
        latencies.len(),
        millis_at(latencies, 0.5),
        millis_at(latencies, 0.99),
        latencies.max() as f64 / 1000.0
    )
}

fn heading(title: &str) -> String {
    format!("{title:<42} {:>8} {:>9} {:>9} {:>9}", "count", "p50", "p99", "max")
}

pub(super) fn print(setup: &Setup, snapshot: &Snapshot, ending: &Ending) {
    let mode = match setup.rate {
        Some(rate) => format!("open loop at {rate} commands/s"),
        None => "closed loop (each client sends its next command when answered)".to_owned(),
    };
    let all = snapshot.all_commands();
    let seconds = ending.elapsed.as_secs_f64();
    say!("load: {seconds:.1} s, {} clients, {mode}", setup.clients);
    say!(
        "commands: {} succeeded, {} failed, {:.1} commands/s",
        all.len(),
        snapshot.failed(),
        all.len() as f64 / seconds.max(f64::EPSILON)
    );
    let g = &snapshot.grants;
    say!(
        "grants: {} started, {} rejected, {} funded, {} reported on, {} completed",
        g.started,
        g.rejected,
        g.funded,
        g.reported,
        g.completed
    );
    say!("{}", heading("command latency (ms)"));
    for (rpc, latencies) in &snapshot.commands {
        say!("{}", row(&rpc.to_string(), latencies));
    }
    say!("{}", row("all commands", &all));
    say!("{}", row("reference: GetHead, a read", &ending.head_reads));
    say!("{}", heading("waits on the bus (ms)"));
    for kind in [AWARD_OFFERED, OBLIGATIONS_SCHEDULED, TRANCHE_UNLOCKED] {
        if let Some(waited) = snapshot.waits.get(kind) {
            say!("{}", row(kind, waited));
        }
    }
    say!("{}", heading("command -> projected (ms)"));
    say!("{}", row(&format!("1 command in {}", setup.sample_every), &snapshot.projected));
    let (never, unreadable) = ending.unresolved;
    say!("not projected: {never} (source head unreadable: {unreadable})");
    say!(
        "projector GetLag polls: {} ({:.0}/s, every {} ms while samples wait)",
        ending.lag_polls,
        ending.lag_polls as f64 / seconds.max(f64::EPSILON),
        POLL_INTERVAL.as_millis()
    );
    if setup.rate.is_some() {
        say!("{}", heading("start lateness against --rate (ms)"));
        say!("{}", row("paced commands", &snapshot.lateness));
    }
    say!("aims (measured / aim):");
    say!("{}", aim("p99 command latency (at half load)", millis_at(&all, 0.99), COMMAND_P99_AIM_MS));
    say!("{}", aim("p99 command -> projected", millis_at(&snapshot.projected, 0.99), PROJECTED_P99_AIM_MS));
    say!("backlog at end: {}", backlog_line(&ending.backlog));
    match ending.drained {
        Some(drained) => say!("drained in: {:.3} s", drained.as_secs_f64()),
        None => say!("drained in: not within {} s", ending.drain_limit.as_secs()),
    }
    say!("resident memory (start -> end):");
    for (service, start, end) in &ending.memory {
        say!("  {service:<14} {start} -> {end}");
    }
    if !snapshot.failures.is_empty() {
        say!("failures:");
        for (what, failures) in &snapshot.failures {
            say!("  {what}: {} (first: {})", failures.count, failures.first);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aim_shows_the_ratio_and_whether_it_is_met() {
        assert!(aim("p99", 2.5, 5.0).ends_with("2.50 ms / 5 ms = 0.50, met"), "{}", aim("p99", 2.5, 5.0));
        assert!(aim("p99", 60.0, 50.0).ends_with("60.00 ms / 50 ms = 1.20, not met"));
    }

    #[test]
    fn the_backlog_names_each_source_or_why_it_is_unknown() {
        let lag = |source: &str, behind, error: Option<&str>| SourceLag {
            source: source.into(),
            applied: 10,
            behind,
            error: error.map(String::from),
        };
        let line = backlog_line(&[lag("applications", 3, None), lag("awards", 0, Some("unreachable"))]);
        assert_eq!(line, "applications 3, awards unknown (unreachable)");
    }
}
