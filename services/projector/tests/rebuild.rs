//! The live handler, full rebuilds and as-of replays agree, with the source logs served in-process
//! through their read-only log gRPC service (no broker needed: the handler is driven as the bus consumer
//! drives it).

mod support;

use std::collections::{BTreeSet, HashMap};

use contracts::names::service;
use event_bus::{Checkpoint, Handler};
use event_log::EventLog;
use projector::as_of::{Point, replay};
use projector::disclosure::Disclosure;
use projector::models::Models;
use projector::projection::SOURCES;
use projector::queries::{self, SummaryFilter};
use support::events::*;
use tokio_util::sync::CancellationToken;

/// The checkpoint of `source` once `event` is applied: the next event must link to it.
fn checkpoint_after(source: &str, event: &event_log::RecordedEvent) -> Checkpoint {
    Checkpoint {
        source: source.to_owned(),
        next_position: event.position + 1,
        skipped: BTreeSet::new(),
        last_hash: Some(event.hash),
    }
}

#[tokio::test]
async fn live_models_with_duplicates_equal_a_full_rebuild_and_as_of_excludes_later_releases() {
    let dir = tempfile::tempdir().unwrap();
    let logs: HashMap<&'static str, EventLog> =
        SOURCES.iter().map(|s| (*s, EventLog::open(dir.path().join(s)).unwrap())).collect();
    let round = uuid::Uuid::new_v4().to_string();
    let g = Grant::new(&round);
    let mut events = vec![round_opened(&round)];
    events.extend(application_approved(&g, "KH", 400_000, 350_000));
    events.extend(award_signed(&g, "KH", 350_000));
    events.push(obligations_scheduled(&g));
    append_all(&logs, &events).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let before_release = event_log::Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let awards_before_release = logs[service::AWARDS].next_position();
    append_all(&logs, &[tranche_released(&g, "t1", 140_000, 140_000)]).await;

    let shutdown = CancellationToken::new();
    let sources =
        projector::service::source_logs(support::logs::serve_logs(&logs, &shutdown).await, test_support::jwt());
    let models = Models::open(sled::open(dir.path().join("models")).unwrap()).unwrap();
    let mut handler = models.handler();
    // Sources interleaved differently from a rebuild, and every event delivered twice.
    let mut all: Vec<(&str, event_log::RecordedEvent)> = Vec::new();
    for source in SOURCES.iter().rev() {
        all.extend(logs[source].read_all(0).map(|e| (*source, e.unwrap())));
    }
    for (source, event) in &all {
        let checkpoint = checkpoint_after(source, event);
        handler.handle(event, &checkpoint).await.unwrap();
        handler.handle(event, &checkpoint).await.unwrap();
        assert_eq!(handler.checkpoint(source).unwrap(), checkpoint);
    }
    handler.sync().await.unwrap();
    let (live_generation, live_digest, live_entries) = models.digest().unwrap();
    assert!(live_entries > 10);
    let live_summary =
        queries::program_summary(&models.active().tree, &SummaryFilter::default(), &Disclosure::development(5))
            .unwrap();
    assert_eq!(live_summary.totals[0].released_minor_units, 140_000);

    let report = models.rebuild(&sources, |_| {}).await.unwrap();
    assert!(report.finished);
    assert_eq!(report.events_applied, all.len() as u64);
    let (generation, digest, entries) = models.digest().unwrap();
    assert_eq!(generation, live_generation + 1);
    assert_eq!((digest, entries), (live_digest.clone(), live_entries), "a rebuild gives the same models");
    // The consumer's cached checkpoint may be behind the new generation: replays change nothing.
    for (source, event) in &all {
        handler.handle(event, &checkpoint_after(source, event)).await.unwrap();
    }
    assert_eq!(models.digest().unwrap().1, live_digest);

    // As of a time before the release, and as of the awards position before it: not released yet.
    for point in [
        Point::RecordedAt(before_release),
        Point::Positions(
            [
                (service::APPLICATIONS.to_owned(), u64::MAX),
                (service::AWARDS.to_owned(), awards_before_release),
                (service::REPORTING.to_owned(), u64::MAX),
            ]
            .into_iter()
            .collect(),
        ),
    ] {
        let past = replay(&sources, &point).await.unwrap();
        let summary = queries::program_summary(&past, &SummaryFilter::default(), &Disclosure::development(5)).unwrap();
        assert_eq!(summary.totals[0].committed_minor_units, 350_000, "{point:?}");
        assert_eq!(summary.totals[0].released_minor_units, 0, "{point:?}");
    }
    // The live models were not touched by the replays.
    assert_eq!(models.digest().unwrap().1, live_digest);
    let live_again =
        queries::program_summary(&models.active().tree, &SummaryFilter::default(), &Disclosure::development(5))
            .unwrap();
    assert_eq!(live_again, live_summary);
    shutdown.cancel();
}

#[tokio::test]
async fn a_restarted_projector_keeps_its_generation_and_drops_a_half_built_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models");
    {
        let db = event_log::open_sled_when_unlocked(&path).unwrap();
        let models = Models::open(db.clone()).unwrap();
        models.active().tree.insert("round/x", b"{}".to_vec()).unwrap();
        // What a rebuild killed half way leaves behind.
        db.open_tree("projector.gen.1").unwrap().insert("round/y", b"{}".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let db = event_log::open_sled_when_unlocked(&path).unwrap();
    let models = Models::open(db.clone()).unwrap();
    assert_eq!(models.active().number, 0);
    assert_eq!(models.digest().unwrap().2, 1);
    assert!(!db.tree_names().iter().any(|n| n.as_ref() == b"projector.gen.1"));
}

#[tokio::test]
async fn models_written_by_an_earlier_version_are_known_as_such_until_a_rebuild_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models");
    {
        let db = event_log::open_sled_when_unlocked(&path).unwrap();
        let models = Models::open(db.clone()).unwrap();
        assert_eq!(models.outdated_format(), None, "new models are of this version's format");
        // What an earlier version left: entries, and no format recorded.
        models.active().tree.insert("round/x", b"{}".to_vec()).unwrap();
        db.open_tree("projector.meta").unwrap().remove("format").unwrap();
        db.flush().unwrap();
    }
    let db = event_log::open_sled_when_unlocked(&path).unwrap();
    let models = Models::open(db.clone()).unwrap();
    assert_eq!(models.outdated_format(), Some(1));
    // A rebuild from (here, no) source logs writes the current format with the new generation.
    let sources = projector::service::source_logs(Default::default(), test_support::jwt());
    models.rebuild(&sources, |_| {}).await.unwrap();
    drop(models);
    let models = Models::open(db).unwrap();
    assert_eq!((models.outdated_format(), models.active().number), (None, 1));
}
