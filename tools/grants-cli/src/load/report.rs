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
