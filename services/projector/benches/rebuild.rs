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
use std::time::Instant;

use contracts::reporting::v1::{AgeBand, Disability, Sex};
use event_log::{Durability, EventLog, EventMetadata, ExpectedVersion, NewEvent, Options, StreamId};
use events::Ev;
use futures::StreamExt;
use projector::models::Models;
use projector::projection::SOURCES;
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

    // Raw ceiling: read and decode every event of every log through the same service and client.
    let started = Instant::now();
    let mut read = 0u64;
    for source in SOURCES {
        let mut client = sources.connect(source).await.unwrap();
        let mut stream = std::pin::pin!(client.read_all(0).await.unwrap());
        while let Some(event) = stream.next().await {
            event.unwrap();
            read += 1;
        }
    }
    let raw = started.elapsed();

    let models_dir = tempfile::tempdir().unwrap();
    let models = Models::open(sled::open(models_dir.path().join("models")).unwrap()).unwrap();
    let started = Instant::now();
    let report = models.rebuild(&sources, |_| {}).await.unwrap();
    let rebuild = started.elapsed();
    let (_, digest, entries) = models.digest().unwrap();
    shutdown.cancel();

    let rate = |events: u64, d: std::time::Duration| events as f64 / d.as_secs_f64();
    println!(
        "raw read of the logs : {read} events in {:.2} s = {:.0} events/s (1.00)",
        raw.as_secs_f64(),
        rate(read, raw)
    );
    println!(
        "rebuild of the models: {} events in {:.2} s = {:.0} events/s ({:.2} of the raw read)",
        report.events_applied,
        rebuild.as_secs_f64(),
        rate(report.events_applied, rebuild),
        rate(report.events_applied, rebuild) / rate(read, raw)
    );
    println!("read models: {entries} entries, digest {digest}");
    assert_eq!(report.events_applied, read, "the rebuild applied every event");
}
