//! `grants export`: a log as JSON lines (envelope, metadata, hash and decoded payload), resumable.
//!
//! The output only ever ends with a whole line: each line is written with one write, what was received is
//! flushed whenever the export waits for the service, and an interrupt (ctrl-c, SIGTERM) stops after a
//! whole line. A file that still ends in a torn line (the export was killed, the machine stopped) is cut
//! back to its last whole line before an export appends to it. Each exported event's hash is recomputed
//! and chained to the one before, also across a resume (to the hash of the file's last line); a log that
//! does not match is reported as tampered at its position.
//! Every stop names the `--from` to resume with.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, bail};
use event_log::{ChainVerifier, Hash, Mismatch, RecordedEvent};
use event_log_grpc::{ClientError, RemoteHead};
use futures::{FutureExt, Stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

use crate::Outcome;
use crate::decode::PayloadDecoder;
use crate::endpoints::Connection;
use crate::stdout::Stdout;

/// What a failed write of the exported lines says.
const WRITE_FAILED: &str = "cannot write the exported lines";

/// How one service's export ended, with the next position it would have exported.
enum Stop {
    End,
    Tampered(Mismatch),
    Interrupted,
    Failed(anyhow::Error),
}

pub async fn run(
    connection: &Connection,
    service: Option<&str>,
    all: bool,
    from: u64,
    output: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let names: Vec<String> = match (service, all) {
        (_, true) => connection.services()?.into_iter().map(|(name, _)| name).collect(),
        (Some(name), false) => vec![name.to_owned()],
        (None, false) => bail!("name a service with --service, or pass --all"),
    };
    let endpoints = names.iter().map(|name| connection.url_of(name)).collect::<anyhow::Result<Vec<_>>>()?;
    let decoder = PayloadDecoder::new()?;
    let interrupted = interrupt_signal()?;
    // Resuming into a file that ends with the event just before `from`: the first service's chain goes on
    // from that event's exported hash.
    let (mut out, mut exported_link): (Box<dyn Write>, Option<Hash>) = match output {
        Some(path) => {
            let (file, link) = open_to_append(path, &names[0], from)?;
            (Box::new(std::io::BufWriter::new(file)), link)
        }
        None => (Box::new(std::io::BufWriter::new(Stdout)), None),
    };
    let resume_hint = |name: &str, position: u64| {
        let output = output.map(|path| format!(" --output {}", path.display())).unwrap_or_default();
        format!("resume with `grants export --service {name} --from {position}{output}`")
    };
    let mut outcome = Outcome::Verified;
    for (index, (name, endpoint)) in names.iter().zip(&endpoints).enumerate() {
        let link = exported_link.take();
        let (next, stop) = export_one(connection, name, from, link, &decoder, &mut out, interrupted.clone()).await;
        // Whatever happened, the lines written so far reach the output before anything is said about them.
        let flushed = out.flush().with_context(|| format!("{name}: cannot write the exported lines"));
        let later: Vec<&str> = names[index + 1..].iter().map(String::as_str).collect();
        let then = if later.is_empty() { String::new() } else { format!(", then export {}", later.join(", ")) };
        match stop {
            Stop::End => {
                flushed?;
                eprintln!("{name}: exported positions {from}..{next} from {endpoint}");
            }
            Stop::Tampered(mismatch) => {
                flushed?;
                eprintln!(
                    "{name}: TAMPERED at position {}: {}; exported positions {from}..{} from {endpoint}",
                    mismatch.position, mismatch.reason, mismatch.position
                );
                outcome = Outcome::Tampered;
            }
            Stop::Interrupted => {
                flushed?;
                eprintln!("{name}: export interrupted at position {next}; {}{then}", resume_hint(name, next));
                return Ok(Outcome::Interrupted);
            }
            Stop::Failed(error) => {
                flushed?;
                return Err(error
                    .context(format!("{name}: export stopped at position {next}; {}{then}", resume_hint(name, next))));
            }
        }
    }
    Ok(outcome)
}

/// Exports `name`'s log from `from` on into `out`, chaining the first event to `link` (the hash of the
/// event before it, as exported before) when given; returns the first position not exported and why it
/// stopped.
async fn export_one(
    connection: &Connection,
    name: &str,
    from: u64,
    mut link: Option<Hash>,
    decoder: &PayloadDecoder,
    out: &mut dyn Write,
    mut interrupted: watch::Receiver<bool>,
) -> (u64, Stop) {
    let (head, events) = match read_log(connection, name, from).await {
        Ok(opened) => opened,
        Err(error) => return (from, Stop::Failed(error)),
    };
    let mut events = std::pin::pin!(events);
    let bar = progress_bar(name, head.next_position.saturating_sub(from));
    // From the start of the log the chain is checked from genesis; from a later position, from the first
    // event's own link on, which must be the hash of the line exported before it when the output holds it
    // (the positions before it were exported, and checked, before).
    let mut chain = (from == 0).then(ChainVerifier::from_genesis);
    let mut next = from;
    let stop = loop {
        let event = match next_event(&mut events, name, next, out, &mut interrupted).await {
            Ok(Some(event)) => event,
            Ok(None) => break Stop::End,
            Err(stop) => break stop,
        };
        if let Err(stop) = check_chain(&event, link.take(), &mut chain) {
            break stop;
        }
        if let Err(stop) = write_line(decoder, name, &event, out) {
            break stop;
        }
        next = event.position + 1;
        bar.inc(1);
    };
    bar.finish_and_clear();
    (next, stop)
}

/// The head of `name`'s log and its events from `from` on.
async fn read_log(
    connection: &Connection,
    name: &str,
    from: u64,
) -> anyhow::Result<(RemoteHead, impl Stream<Item = Result<RecordedEvent, ClientError>> + use<>)> {
    let mut client = connection.log_client(name).await?;
    let head = client.head().await.with_context(|| name.to_owned())?;
    let events = client.read_all(from).await.with_context(|| name.to_owned())?;
    Ok((head, events))
}

fn progress_bar(name: &str, events: u64) -> ProgressBar {
    let bar = ProgressBar::new(events).with_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_owned());
    bar
}

/// The next event of the log (`None` at its end), or why the export stops before it; `next` is the
/// position it should have.
async fn next_event<S>(
    events: &mut S,
    name: &str,
    next: u64,
    out: &mut dyn Write,
    interrupted: &mut watch::Receiver<bool>,
) -> Result<Option<RecordedEvent>, Stop>
where
    S: Stream<Item = Result<RecordedEvent, ClientError>> + Unpin,
{
    if *interrupted.borrow() {
        return Err(Stop::Interrupted);
    }
    let event = match events.next().now_or_never() {
        Some(event) => event,
        None => {
            // About to wait for the service: what was received goes out now, in whole lines.
            out.flush().map_err(|error| Stop::Failed(anyhow::Error::new(error).context(WRITE_FAILED)))?;
            tokio::select! {
                event = events.next() => event,
                Ok(()) = interrupted.changed() => return Err(Stop::Interrupted),
            }
        }
    };
    match event {
        None => Ok(None),
        Some(Ok(event)) => Ok(Some(event)),
        // The service sent an event whose bytes do not match its own hash, or skipped positions.
        Some(Err(error @ (ClientError::Decode(_) | ClientError::OutOfOrder { .. }))) => {
            Err(Stop::Tampered(Mismatch { position: next, reason: error.to_string() }))
        }
        Some(Err(error)) => Err(Stop::Failed(anyhow::Error::new(error).context(name.to_owned()))),
    }
}

/// Checks that `event` links to `link` (the line exported before it, when the output holds it) and
/// extends the chain checked so far, which starts at `event` when there is none yet.
fn check_chain(event: &RecordedEvent, link: Option<Hash>, chain: &mut Option<ChainVerifier>) -> Result<(), Stop> {
    // The history before `from` is not the one exported before.
    if let Some(link) = link
        && event.prev_hash != link
    {
        let reason = format!("links to {}, not to the hash of the line exported before it ({link})", event.prev_hash);
        return Err(Stop::Tampered(Mismatch { position: event.position, reason }));
    }
    let verifier = chain.get_or_insert_with(|| ChainVerifier::resume(event.position, event.prev_hash));
    verifier.check(event.record_bytes(), &event.hash).map(|_| ()).map_err(Stop::Tampered)
}

/// Writes `event` as one JSON line.
fn write_line(decoder: &PayloadDecoder, name: &str, event: &RecordedEvent, out: &mut dyn Write) -> Result<(), Stop> {
    let mut line = serde_json::to_vec(&decoder.event(name, event))
        .map_err(|error| Stop::Failed(anyhow::Error::new(error).context("cannot encode an event as JSON")))?;
    line.push(b'\n');
    // One write of the whole line: the buffer then holds, and flushes, only whole lines.
    out.write_all(&line).map_err(|error| Stop::Failed(anyhow::Error::new(error).context(WRITE_FAILED)))
}

/// Becomes true on ctrl-c or SIGTERM. The handlers are in place when this returns, so no signal between
/// here and the end of the export can end it in the middle of a line.
pub(crate) fn interrupt_signal() -> anyhow::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle ctrl-c")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            let _ = tx.send(true);
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(true);
        }
    });
    Ok(rx)
}

/// Opens `path` to append to, first cutting a torn last line. When resuming (`from` > 0) into a file whose
/// last line is of the same service, that line must be the position just before `from`; its hash is
/// returned, for the resumed export to chain on from.
fn open_to_append(path: &Path, service: &str, from: u64) -> anyhow::Result<(File, Option<Hash>)> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let (whole, last_line) = last_whole_line(&mut file).with_context(|| format!("cannot read {}", path.display()))?;
    let length = file.metadata().with_context(|| format!("cannot read {}", path.display()))?.len();
    if whole < length {
        file.set_len(whole).with_context(|| format!("cannot cut the torn last line of {}", path.display()))?;
        eprintln!(
            "grants: {} ended with a torn line ({} bytes, from an export that was stopped mid-line); cut it",
            path.display(),
            length - whole
        );
    }
    let (Some(line), true) = (last_line, from > 0) else { return Ok((file, None)) };
    let not_an_export = || format!("{} does not end with an exported line; export to another file", path.display());
    let last: serde_json::Value = serde_json::from_slice(&line).with_context(not_an_export)?;
    if last["service"] != service {
        return Ok((file, None));
    }
    let position = last["position"].as_u64().with_context(not_an_export)?;
    if position + 1 != from {
        bail!(
            "{} ends with {service} position {position}: resume with --from {}, or export to another file",
            path.display(),
            position + 1
        );
    }
    let hash = last["hash"].as_str().and_then(Hash::from_hex).with_context(not_an_export)?;
    Ok((file, Some(hash)))
}

/// The length of `file` up to and including its last newline, and the last whole line (without its
/// newline), read backwards from the end so that a large export is not read whole.
fn last_whole_line(file: &mut File) -> std::io::Result<(u64, Option<Vec<u8>>)> {
    const CHUNK: u64 = 64 * 1024;
    let length = file.metadata()?.len();
    // Offsets of the last two newlines, the last one first.
    let mut newlines: Vec<u64> = Vec::with_capacity(2);
    let mut end = length;
    let mut buffer = Vec::new();
    while end > 0 && newlines.len() < 2 {
        let start = end.saturating_sub(CHUNK);
        buffer.resize(usize::try_from(end - start).unwrap_or(0), 0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buffer)?;
        let found = buffer.iter().enumerate().rev().filter(|(_, byte)| **byte == b'\n').map(|(i, _)| start + i as u64);
        newlines.extend(found.take(2 - newlines.len()));
        end = start;
    }
    let Some(&last) = newlines.first() else {
        return Ok((0, None));
    };
    let line_start = newlines.get(1).map_or(0, |previous| previous + 1);
    let mut line = vec![0; usize::try_from(last - line_start).unwrap_or(0)];
    file.seek(SeekFrom::Start(line_start))?;
    file.read_exact(&mut line)?;
    Ok((last + 1, Some(line)))
}
