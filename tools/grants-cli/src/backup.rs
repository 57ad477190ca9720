//! `grants backup`: a verified copy of a running service's log, read through its `EventLogService` into
//! a log directory of its own, byte for byte (each record and its hash, at its position), so that the
//! service can start from it when its data directory is lost.
//!
//! Every event is checked as it is written (`EventLog::append_copied`: next position, link to the copy's
//! head, its hash, canonical bytes). A backup into a directory holding an earlier copy goes on from its
//! head: the service's log must still hold that head, and the first event received must link to it; a
//! directory holding a copy of another log is refused. With `--follow` it subscribes and keeps the copy
//! current, reconnecting with backoff while the service is away, until ctrl-c or SIGTERM, which stop it
//! after a whole commit.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use event_log::{CopiedEvent, CopyError, EventLog, Head, Mismatch, RecordedEvent, Timestamp};
use event_log_grpc::{ClientError, LogClient, RemoteHead};
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::watch;

use crate::Outcome;
use crate::endpoints::Connection;
use crate::stdout::say;

#[derive(Debug, Clone, clap::Args)]
pub struct BackupArgs {
    /// The service whose log to copy (applications, awards, reporting).
    #[arg(long)]
    service: String,
    /// The copy's directory: a new one, or one an earlier backup of the same service wrote, which is
    /// continued from its head. To restore, the service's `<data dir>/log` is replaced by a copy of it.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Keep copying new events as the service records them, reconnecting whenever it goes away, until
    /// ctrl-c or SIGTERM (exit code 0).
    #[arg(long)]
    follow: bool,
    /// Seconds between progress lines on standard error.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    progress_seconds: u64,
}

/// Most events, and bytes of records, written in one commit of the copy.
const COMMIT_EVENTS: usize = 1_000;
const COMMIT_BYTES: usize = 4 * 1024 * 1024;
/// Reconnection delays double from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

pub async fn run(connection: &Connection, args: &BackupArgs) -> anyhow::Result<Outcome> {
    let name = args.service.as_str();
    let url = connection.url_of(name)?;
    tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|_| anyhow!("--endpoint {name}={url}: not a valid address (for example http://127.0.0.1:50051)"))?;
    // Credentials are checked once, before anything is opened: without them no attempt could succeed.
    connection.token()?;
    refuse_a_directory_of_something_else(&args.to)?;
    let copy = EventLog::open(&args.to).with_context(|| format!("--to {}", args.to.display()))?;
    let mut interrupted = crate::export::interrupt_signal()?;
    let mut backup = Backup::new(name, &args.to, copy, Duration::from_secs(args.progress_seconds));
    let mut retry = FIRST_RETRY;
    let mut outage: Option<Instant> = None;
    loop {
        let ended = backup.session(connection, args.follow, &mut interrupted, &mut outage).await;
        let failure = match ended {
            Ok(End::UpToDate) => {
                backup.summary();
                return Ok(Outcome::Verified);
            }
            Ok(End::Interrupted) => {
                backup.summary();
                if args.follow {
                    return Ok(Outcome::Verified);
                }
                eprintln!("{name}: backup interrupted; run it again to go on from position {}", backup.next());
                return Ok(Outcome::Interrupted);
            }
            Err(failure) => failure,
        };
        match failure {
            Failure::Lost(error) if args.follow => {
                // Said once per outage; the delay starts short again for each.
                if outage.is_none() {
                    eprintln!("{name}: lost {url}: {error:#}; reconnecting");
                    outage = Some(Instant::now());
                    retry = FIRST_RETRY;
                } else {
                    retry = (retry * 2).min(LAST_RETRY);
                }
                if *interrupted.borrow() {
                    backup.summary();
                    return Ok(Outcome::Verified);
                }
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    _ = interrupted.changed() => {
                        backup.summary();
                        return Ok(Outcome::Verified);
                    }
                }
            }
            Failure::Lost(error) => {
                backup.summary();
                let next = backup.next();
                return Err(error.context(format!("{name}: backup stopped at position {next}; run it again to go on")));
            }
            Failure::Tampered(mismatch) => {
                say!("{name}: TAMPERED at position {}: {}", mismatch.position, mismatch.reason);
                backup.summary();
                return Ok(Outcome::Tampered);
            }
            Failure::Refused(error) => return Err(error),
        }
    }
}

/// Refuses a directory that holds files but no event log (the log's database file `db` is what every log
/// directory holds), rather than writing a log among them.
fn refuse_a_directory_of_something_else(dir: &Path) -> anyhow::Result<()> {
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("--to {}: cannot read it", dir.display())),
    };
    if entries.next().is_some() && !dir.join("db").is_file() {
        bail!(
            "--to {}: the directory holds files but no event log; back up into a new directory or an earlier \
             backup's",
            dir.display()
        );
    }
    Ok(())
}

/// How a session with the service ended, when it did not fail.
enum End {
    /// The copy reached the head the service had when the session started (without `--follow`).
    UpToDate,
    Interrupted,
}

enum Failure {
    /// The service is unreachable or went away: worth trying again.
    Lost(anyhow::Error),
    /// An event does not continue the chain (changed, re-encoded, out of order).
    Tampered(Mismatch),
    /// Trying again would not help: a copy of another log, refused credentials, a failed disk.
    Refused(anyhow::Error),
}

/// A call to the service that failed: refused credentials end the backup, anything else is an outage.
fn failed_call(name: &str, error: ClientError) -> Failure {
    match &error {
        ClientError::Status(status)
            if matches!(status.code(), tonic::Code::Unauthenticated | tonic::Code::PermissionDenied) =>
        {
            Failure::Refused(anyhow::Error::new(error).context(name.to_owned()))
        }
        ClientError::Decode(_) | ClientError::OutOfOrder { .. } => {
            Failure::Tampered(Mismatch { position: 0, reason: error.to_string() })
        }
        _ => Failure::Lost(anyhow::Error::new(error)),
    }
}

struct Backup<'a> {
    name: &'a str,
    dir: &'a Path,
    copy: EventLog,
    progress_every: Duration,
    started_at: u64,
    lag: Lag,
}

impl<'a> Backup<'a> {
    fn new(name: &'a str, dir: &'a Path, copy: EventLog, progress_every: Duration) -> Backup<'a> {
        let started_at = copy.next_position();
        Backup { name, dir, copy, progress_every, started_at, lag: Lag::default() }
    }

    fn next(&self) -> u64 {
        self.copy.next_position()
    }

    /// Connects, checks that the service's log extends the copy, and copies until the service's head as
    /// it stood (or, following, until interrupted or the service goes away).
    async fn session(
        &mut self,
        connection: &Connection,
        follow: bool,
        interrupted: &mut watch::Receiver<bool>,
        outage: &mut Option<Instant>,
    ) -> Result<End, Failure> {
        let name = self.name;
        let mut client = connection.log_client(name).await.map_err(Failure::Lost)?;
        let remote = client.head().await.map_err(|e| failed_call(name, e))?;
        self.check_same_log(&remote)?;
        if let Some(since) = outage.take() {
            let away = since.elapsed().as_secs_f64();
            eprintln!("{name}: reconnected after {away:.1} s; going on from position {}", self.next());
        }
        let from = self.next();
        if !follow && from >= remote.next_position {
            return Ok(End::UpToDate);
        }
        let events = match follow {
            true => client.subscribe(from).await.map(StreamExt::boxed),
            false => client.read_all(from).await.map(StreamExt::boxed),
        };
        let mut events = events.map_err(|e| failed_call(name, e))?;
        let mut tick = tokio::time::interval(self.progress_every);
        tick.tick().await;
        // Lag is measured once the copy has reached the head the session started at.
        let live_from = remote.next_position;
        let mut first_of_session = true;
        loop {
            if *interrupted.borrow() {
                return Ok(End::Interrupted);
            }
            let first = tokio::select! {
                biased;
                _ = interrupted.changed() => return Ok(End::Interrupted),
                _ = tick.tick() => {
                    self.progress(&mut client).await;
                    continue;
                }
                event = events.next() => event,
            };
            let (batch, stop) = take_ready(first, &mut events);
            if !batch.is_empty() {
                self.write(batch, live_from, first_of_session).await?;
                first_of_session = false;
            }
            match stop {
                None => {}
                Some(Err(error)) => {
                    return Err(match failed_call(name, error) {
                        Failure::Tampered(mismatch) => {
                            Failure::Tampered(Mismatch { position: self.next(), ..mismatch })
                        }
                        other => other,
                    });
                }
                Some(Ok(())) if follow => return Err(Failure::Lost(anyhow!("the service ended the subscription"))),
                Some(Ok(())) => return Ok(End::UpToDate),
            }
        }
    }

    /// The service's log must hold the copy's head where the copy has it.
    fn check_same_log(&self, remote: &RemoteHead) -> Result<(), Failure> {
        let (name, dir) = (self.name, self.dir.display());
        let local = self.copy.head().map_err(|e| Failure::Refused(anyhow::Error::new(e).context(dir.to_string())))?;
        let Some(local) = local else { return Ok(()) };
        if remote.next_position <= local.position {
            return Err(Failure::Refused(anyhow!(
                "{dir} holds {} events but {name}'s log only {}: the copy is of another log, or of this one \
                 before it was lost (then restore from it); back up into a new directory",
                local.position + 1,
                remote.next_position
            )));
        }
        if remote.next_position == local.position + 1 && remote.head_hash != Some(local.hash) {
            let theirs = remote.head_hash.map_or_else(|| "unknown".to_owned(), |hash| hash.to_hex());
            return Err(another_log(dir, format!("{name}'s head at position {} is {theirs}", local.position), local));
        }
        Ok(())
    }

    /// Writes `batch` to the copy in one commit; every event is checked as the copy writes it. The first
    /// batch of a session must link to the copy's head, or the service's log is another log.
    async fn write(
        &mut self,
        batch: Vec<RecordedEvent>,
        live_from: u64,
        first_of_session: bool,
    ) -> Result<(), Failure> {
        let dir = self.dir.display();
        let storage =
            |error: event_log::StorageError| Failure::Refused(anyhow::Error::new(error).context(dir.to_string()));
        let first = &batch[0];
        if first_of_session
            && let Some(head) = self.copy.head().map_err(storage)?
            && first.position == head.position + 1
            && first.prev_hash != head.hash
        {
            let theirs = format!("{}'s event at position {} links to {}", self.name, first.position, first.prev_hash);
            return Err(another_log(dir, theirs, head));
        }
        let last = batch.last().map(|event| (event.position, event.recorded_at));
        match self.copy.append_copied(batch.iter().map(CopiedEvent::from).collect()).await {
            Ok(_) => {}
            Err(CopyError::Refused(mismatch)) => return Err(Failure::Tampered(mismatch)),
            Err(CopyError::Storage(error)) => return Err(storage(error)),
        }
        if let Some((position, recorded_at)) = last
            && position >= live_from
        {
            self.lag.record(recorded_at);
        }
        Ok(())
    }

    /// One line on standard error: where the copy is, how far behind the service's head, and the lag of
    /// the last commit.
    async fn progress(&mut self, client: &mut LogClient) {
        let next = self.next();
        let behind = match client.head().await {
            Ok(head) => {
                let behind = head.next_position.saturating_sub(next);
                self.lag.behind(behind);
                format!("{behind} behind {}'s head", self.name)
            }
            Err(error) => format!("{}'s head unknown ({error})", self.name),
        };
        let lag = self.lag.last.map(|ms| format!("; last commit copied {ms:.1} ms after it was recorded"));
        eprintln!(
            "{}: copied up to position {next} ({} this run), {behind}{}",
            self.name,
            next - self.started_at,
            lag.unwrap_or_default()
        );
    }

    /// What the copy holds and, when it followed, the lag it measured; on standard output.
    fn summary(&self) {
        let (name, next, dir) = (self.name, self.next(), self.dir.display());
        let head = match self.copy.head() {
            Ok(Some(head)) => format!("head {}", head.hash),
            Ok(None) => "empty".into(),
            Err(error) => format!("head unreadable: {error}"),
        };
        say!("{name}: {dir} holds positions 0..{next} ({head}); {} copied in this run", next - self.started_at);
        if let Some(line) = self.lag.summary() {
            say!("{name}: follow lag: {line}");
        }
    }
}

/// The refusal of a copy of another log: `theirs` says what the service's log holds instead of the copy's
/// head.
fn another_log(dir: impl std::fmt::Display, theirs: String, head: Head) -> Failure {
    Failure::Refused(anyhow!(
        "{dir} holds a copy of another log: {theirs}, not the copy's head at position {} ({}); back up into a \
         new directory",
        head.position,
        head.hash
    ))
}

/// The events ready now, from `first` on, up to one commit's worth; and, when the stream ended or failed,
/// how (`Some(Ok(()))` for its end).
fn take_ready<S>(
    first: Option<Result<RecordedEvent, ClientError>>,
    events: &mut S,
) -> (Vec<RecordedEvent>, Option<Result<(), ClientError>>)
where
    S: Stream<Item = Result<RecordedEvent, ClientError>> + Unpin,
{
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut item = first;
    loop {
        match item {
            None => return (batch, Some(Ok(()))),
            Some(Err(error)) => return (batch, Some(Err(error))),
            Some(Ok(event)) => {
                bytes += event.record_bytes().len();
                batch.push(event);
            }
        }
        if batch.len() >= COMMIT_EVENTS || bytes >= COMMIT_BYTES {
            return (batch, None);
        }
        match events.next().now_or_never() {
            Some(next) => item = next,
            None => return (batch, None),
        }
    }
}

/// The follow lag: from an event's `recorded_at` (the service's commit) to the end of the copy's commit
/// holding it, for the last event of each commit once the copy has caught up; and how many events the
/// copy was behind the service's head at each progress line.
#[derive(Default)]
struct Lag {
    millis: Vec<f64>,
    last: Option<f64>,
    most_behind: Option<u64>,
}

impl Lag {
    fn record(&mut self, recorded_at: Timestamp) {
        let ms = Timestamp::now().as_micros().saturating_sub(recorded_at.as_micros()) as f64 / 1000.0;
        self.millis.push(ms);
        self.last = Some(ms);
    }

    fn behind(&mut self, events: u64) {
        self.most_behind = Some(self.most_behind.unwrap_or(0).max(events));
    }

    fn summary(&self) -> Option<String> {
        if self.millis.is_empty() {
            return None;
        }
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        let behind =
            self.most_behind.map(|n| format!("; at most {n} events behind at a progress line")).unwrap_or_default();
        Some(format!(
            "{} commits, recorded to copied p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms{behind}",
            sorted.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        ))
    }
}
