//! When an answered command's effect reaches the projector, and what the projector still has to apply.
//!
//! For a sampled command, the source service's log head is asked right after the answer
//! (`EventLogService.GetHead`): the command's events stand before it. One watcher then polls the projector's
//! `GetLag` and counts a sample projected once the projector's applied position for that source has reached
//! that head. The head may also cover other clients' later events, so a figure can only be too high, by at
//! most one poll ([`POLL_INTERVAL`]) plus what was appended between the answer and the head. Each `GetLag`
//! costs the projector a head request to every source, so the polls are counted and reported.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use contracts::projector::v1::{self as pj, ProjectorServiceClient};
use event_log_grpc::LogClient;
use hdrhistogram::Histogram;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::stats::{Stats, histogram, micros};
use crate::endpoints::{authed, refused};

/// How often the watcher asks the projector while samples wait.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A sampled command whose effect the projector has not applied yet.
#[derive(Debug)]
struct Pending {
    source: &'static str,
    /// The source's next position after the answer.
    head: u64,
    answered: Instant,
}

/// The samples still waiting, and what reading their heads found.
#[derive(Debug)]
struct Samples {
    pending: Vec<Pending>,
    /// Samples whose head could not be read.
    unreadable: u64,
    /// How long reading a head took: a read with no write, the reference for commands' latency.
    head_reads: Histogram<u64>,
}

/// The projector's lag per source, as `GetLag` answers it.
#[derive(Debug, Clone)]
pub(super) struct SourceLag {
    pub(super) source: String,
    pub(super) applied: u64,
    pub(super) behind: u64,
    /// Why the projector could not read the source's head, if it could not.
    pub(super) error: Option<String>,
}

/// The projector's side of a load run: samples' projection and the backlog.
#[derive(Debug)]
pub(super) struct Projection {
    projector: ProjectorServiceClient<Channel>,
    token: String,
    logs: BTreeMap<&'static str, LogClient>,
    samples: Mutex<Samples>,
    sampled: Notify,
    /// `GetLag` calls made.
    polls: AtomicU64,
}

impl Projection {
    /// `logs`: a client of each source log whose commands are sampled.
    pub(super) fn new(
        projector: ProjectorServiceClient<Channel>,
        token: String,
        logs: BTreeMap<&'static str, LogClient>,
    ) -> Projection {
        Projection {
            projector,
            token,
            logs,
            samples: Mutex::new(Samples { pending: Vec::new(), unreadable: 0, head_reads: histogram() }),
            sampled: Notify::new(),
            polls: AtomicU64::new(0),
        }
    }

    /// Follows a command of `source` answered at `answered` to the projector, without holding its client up.
    pub(super) fn sample(self: &Arc<Self>, source: &'static str, answered: Instant) {
        let Some(log) = self.logs.get(source).cloned() else { return };
        let projection = Arc::clone(self);
        tokio::spawn(async move {
            let mut log = log;
            let asked = Instant::now();
            let head = log.head().await;
            let mut samples = projection.samples();
            samples.head_reads.saturating_record(micros(asked.elapsed()));
            match head {
                Ok(head) => {
                    samples.pending.push(Pending { source, head: head.next_position, answered });
                    projection.sampled.notify_one();
                }
                Err(_) => samples.unreadable += 1,
            }
        });
    }

    fn samples(&self) -> MutexGuard<'_, Samples> {
        self.samples.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Samples not projected (yet), and samples whose head could not be read.
    pub(super) fn unresolved(&self) -> (u64, u64) {
        let samples = self.samples();
        (samples.pending.len() as u64, samples.unreadable)
    }

    /// How long reading a source's head took (`EventLogService.GetHead`, no write), each time.
    pub(super) fn head_reads(&self) -> Histogram<u64> {
        self.samples().head_reads.clone()
    }

    /// How many times the projector was asked for its lag.
    pub(super) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// The projector's lag for every source.
    pub(super) async fn lag(&self) -> anyhow::Result<Vec<SourceLag>> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        let request = authed(pj::GetLagRequest {}, &self.token)?;
        let lag = self.projector.clone().get_lag(request).await.map_err(refused("the projector's lag"))?;
        Ok(lag
            .into_inner()
            .sources
            .into_iter()
            .map(|s| SourceLag {
                source: s.source,
                applied: s.applied_next_position,
                behind: s.behind,
                error: (!s.error.is_empty()).then_some(s.error),
            })
            .collect())
    }

    /// Resolves samples until `stop`, recording each one's time from answer to projection in `stats`.
    pub(super) async fn watch(&self, stats: &Stats, stop: CancellationToken) -> anyhow::Result<()> {
        while !stop.is_cancelled() {
            if self.samples().pending.is_empty() {
                tokio::select! {
                    () = self.sampled.notified() => {}
                    () = stop.cancelled() => break,
                }
            }
            let lag = self.lag().await?;
            let now = Instant::now();
            let applied = |source: &str| lag.iter().find(|l| l.source == source).map(|l| l.applied);
            self.samples().pending.retain(|sample| {
                let projected = applied(sample.source).is_some_and(|applied| applied >= sample.head);
                if projected {
                    stats.projected(now.saturating_duration_since(sample.answered));
                }
                !projected
            });
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Ok(())
    }
}

/// How long the projector took to apply everything its sources held when the load stopped, polling its
/// lag; `progress` is told each second's lag. `None` when it did not drain within `limit`.
pub(super) async fn drain(
    projection: &Projection,
    limit: Duration,
    mut progress: impl FnMut(&[SourceLag]),
) -> anyhow::Result<Option<Duration>> {
    let started = Instant::now();
    let mut told = started;
    loop {
        let lag = projection.lag().await.context("waiting for the projector to drain")?;
        if lag.iter().all(|l| l.behind == 0 && l.error.is_none()) {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() > limit {
            return Ok(None);
        }
        if told.elapsed() >= Duration::from_secs(1) {
            progress(&lag);
            told = Instant::now();
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
