//! Rebuild of the read models from about 1 million events across the three source logs, next to the raw
//! speed of reading the same logs through the same log gRPC service in the same run.
//!
//! `cargo bench -p projector --bench rebuild` (set `PROJECTOR_BENCH_EVENTS` for another size). The logs
//! are built first (mixed events of whole grant cycles, many streams appended concurrently so that group
//! commit batches them); only the reads and the rebuild are timed.

#[path = "../tests/support/events.rs"]
mod events;
#[path = "../tests/support/logs.rs"]
mod logs;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use contracts::reporting::v1::{AgeBand, Disability, Sex};
use event_log::{Durability, EventLog, EventMetadata, ExpectedVersion, NewEvent, Options, StreamId};
use events::Ev;
use futures::StreamExt;
use projector::models::{Models, digest_tree};
use projector::projection::{self, SOURCES};
use projector::store::MemStore;
use service_runtime::LogSources;
use tokio_util::sync::CancellationToken;

/// The events of one whole grant: 6 applications, 5 awards and 7 reporting events.
fn grant_cycle(round: &str, index: usize) -> Vec<Ev> {
    let g = events::Grant::new(round);
    let country = ["KH", "TH", "VN", "ID", "PH", "LA", "MM"][index % 7];
    let mut out = events::application_approved(&g, country, 400_000, 350_000);
    out.extend(events::award_signed(&g, country, 350_000));
    for (i, tranche) in ["t1", "t2", "t3"].iter().enumerate() {
        let released = 100_000 * (i as i64 + 1);
        out.push(events::tranche_released(&g, tranche, 100_000, released));
    }
    out.push(events::obligations_scheduled(&g));
    let n = (index % 9) as u64;
    for _ in 0..3 {
        out.push(events::report_submitted(
            &g,
            &[
                (Sex::Female, AgeBand::Years18To24, Disability::WithoutDisability, 10 + n),
                (Sex::Male, AgeBand::Years12To17, Disability::WithDisability, n),
            ],
        ));
        out.push(events::report_accepted(&g));
    }
    out
}

fn new_event(ev: &Ev) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::new_v4(),
        event_type: ev.event_type.into(),
        schema_version: 1,
        payload: ev.payload.clone(),
        metadata: EventMetadata {
            actor: event_log::Actor { subject: ev.subject.clone(), role: "staff".into(), organisation: String::new() },
            correlation_id: uuid::Uuid::new_v4(),
            causation_id: uuid::Uuid::new_v4(),
            occurred_at: event_log::Timestamp::now(),
            trace: None,
        },
    }
}

#[tokio::main]
async fn main() {
    let target: usize = std::env::var("PROJECTOR_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let options = Options { durability: Durability::WriteOnly, ..Options::default() };
    let logs: HashMap<&'static str, EventLog> =
        SOURCES.iter().map(|s| (*s, EventLog::open_with(dir.path().join(s), options.clone()).unwrap())).collect();

    let started = Instant::now();
    let round = uuid::Uuid::new_v4().to_string();
    let mut batches: Vec<(&'static str, StreamId, Vec<NewEvent>)> = Vec::new();
    let opened = events::round_opened(&round);
    batches.push((opened.source, opened.stream.clone(), vec![new_event(&opened)]));
    let mut total = 1;
    let mut index = 0;
    while total < target {
        // Consecutive events of one stream go in one append.
        for ev in grant_cycle(&round, index) {
            match batches.last_mut() {
                Some((source, stream, events)) if *source == ev.source && *stream == ev.stream => {
                    events.push(new_event(&ev))
                }
                _ => batches.push((ev.source, ev.stream.clone(), vec![new_event(&ev)])),
            }
            total += 1;
        }
        index += 1;
    }
    let logs_ref = &logs;
    futures::stream::iter(batches)
        .map(|(source, stream, events)| async move {
            logs_ref[source].append(stream, ExpectedVersion::Any, events).await.expect("appends");
        })
        .buffer_unordered(256)
        .collect::<Vec<()>>()
        .await;
    let counts: Vec<String> = SOURCES.iter().map(|s| format!("{s} {}", logs[s].next_position())).collect();
    println!(
        "built logs of {total} events from {index} grant cycles in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        counts.join(", ")
    );

    let shutdown = CancellationToken::new();
    let addresses = logs::serve_logs(&logs, &shutdown).await;
    let sources = projector::service::source_logs(addresses, test_support::jwt());

    // Raw ceilings: read every event of every log through the same service and client, one log after
    // the other, and all at the same time (as the rebuild reads them).
    let started = Instant::now();
    let mut read = 0u64;
    for source in SOURCES {
        read += read_log(&sources, source).await;
    }
    let raw = started.elapsed();
    let started = Instant::now();
    let read_together: u64 =
        futures::future::join_all(SOURCES.iter().map(|source| read_log(&sources, source))).await.into_iter().sum();
    let raw_together = started.elapsed();
    assert_eq!(read_together, read);
    let (ceiling_name, ceiling) =
        if raw_together < raw { ("all logs at once", raw_together) } else { ("one log after the other", raw) };

    // Where the time goes when each step runs alone, one after the other.
    let steps = profile_steps(&sources).await;

    let models_dir = tempfile::tempdir().unwrap();
    let models = Models::open(sled::open(models_dir.path().join("models")).unwrap()).unwrap();
    let started = Instant::now();
    let report = models.rebuild(&sources, |_| {}).await.unwrap();
    let rebuild = started.elapsed();
    let (_, digest, entries) = models.digest().unwrap();
    shutdown.cancel();

    let rate = |events: u64, d: Duration| events as f64 / d.as_secs_f64();
    println!();
    println!(
        "raw read, one log after the other: {read} events in {:.2} s = {:.0} events/s",
        raw.as_secs_f64(),
        rate(read, raw)
    );
    println!(
        "raw read, all logs at once       : {read} events in {:.2} s = {:.0} events/s",
        raw_together.as_secs_f64(),
        rate(read, raw_together)
    );
    println!("ceiling: the faster, {ceiling_name}");
    println!();
    println!("each step alone ({} events):", steps.events);
    let total = steps.total();
    for (name, time) in steps.named() {
        println!(
            "  {name:<36} {:>6.2} s {:>5.1} %  {:>9.0} events/s",
            time.as_secs_f64(),
            100.0 * time.as_secs_f64() / total.as_secs_f64(),
            rate(steps.events, time)
        );
    }
    println!("  ({} entries written)", steps.entries);
    println!();
    let stages = &report.stages;
    println!("pipelined rebuild, seen from the projecting task:");
    for (name, time) in [
        ("projecting", stages.projecting),
        ("waiting for the readers", stages.waiting_for_reads),
        ("waiting for the writer", stages.waiting_for_writer),
        ("catch-up under the writer lock", stages.catching_up),
        ("the one flush", stages.flushing),
    ] {
        println!("  {name:<36} {:>6.2} s", time.as_secs_f64());
    }
    println!();
    println!(
        "rebuild of the models: {} events in {:.2} s = {:.0} events/s = {:.2} of the ceiling ({:.0} events/s)",
        report.events_applied,
        rebuild.as_secs_f64(),
        rate(report.events_applied, rebuild),
        rate(report.events_applied, rebuild) / rate(read, ceiling),
        rate(read, ceiling)
    );
    println!("read models: {entries} entries, digest {digest}");
    assert_eq!(report.events_applied, read, "the rebuild applied every event");
    assert_eq!((entries, digest), (steps.entries, steps.digest), "the rebuild wrote what the steps alone wrote");
}

/// Reads and decodes every event of `source`'s log; returns how many there are.
async fn read_log(sources: &LogSources, source: &str) -> u64 {
    let mut client = sources.connect(source).await.unwrap();
    let mut stream = std::pin::pin!(client.read_all(0).await.unwrap());
    let mut read = 0;
    while let Some(event) = stream.next().await {
        event.unwrap();
        read += 1;
    }
    read
}

/// The time of each step of a rebuild, run alone.
#[derive(Default)]
struct Steps {
    events: u64,
    entries: u64,
    /// Of the entries written, to compare with the rebuild's.
    digest: String,
    reading: Duration,
    decoding: Duration,
    projecting: Duration,
    writing: Duration,
    flushing: Duration,
}

impl Steps {
    fn named(&self) -> [(&'static str, Duration); 5] {
        [
            ("read (gRPC, envelope decoded)", self.reading),
            ("decode payloads (protobuf)", self.decoding),
            ("project into memory (JSON entries)", self.projecting),
            ("write entries to sled (50k batches)", self.writing),
            ("flush", self.flushing),
        ]
    }
    fn total(&self) -> Duration {
        self.named().iter().map(|(_, time)| *time).sum()
    }
}

/// Each step of a rebuild alone and one after the other: every log read, each event decoded and
/// projected into memory, then every entry written to a fresh sled tree and flushed.
async fn profile_steps(sources: &LogSources) -> Steps {
    let mut steps = Steps::default();
    let mut memory = MemStore::default();
    for source in SOURCES {
        let mut client = sources.connect(source).await.unwrap();
        let mut stream = std::pin::pin!(client.read_all(0).await.unwrap());
        loop {
            let started = Instant::now();
            let Some(event) = stream.next().await else { break };
            let event = event.unwrap();
            let read = Instant::now();
            let decoded = projection::decode(source, &event).unwrap();
            let decoded_at = Instant::now();
            if let Some(decoded) = decoded {
                projection::apply(&mut memory, &event, decoded).unwrap();
            }
            let projected = Instant::now();
            steps.reading += read - started;
            steps.decoding += decoded_at - read;
            steps.projecting += projected - decoded_at;
            steps.events += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("steps")).unwrap();
    let tree = db.open_tree("entries").unwrap();
    let started = Instant::now();
    let entries: Vec<(String, Vec<u8>)> = std::mem::take(&mut memory.entries).into_iter().collect();
    steps.entries = entries.len() as u64;
    for chunk in entries.chunks(50_000) {
        let mut batch = sled::Batch::default();
        for (key, value) in chunk {
            batch.insert(key.as_bytes(), value.as_slice());
        }
        tree.apply_batch(batch).unwrap();
    }
    steps.writing = started.elapsed();
    let started = Instant::now();
    tree.flush_async().await.unwrap();
    steps.flushing = started.elapsed();
    steps.digest = digest_tree(&tree).unwrap().0;
    steps
}
