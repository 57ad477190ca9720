//! The log on real files: tampering, concurrency, subscriptions, opening damaged or foreign databases.

mod sample_events;
mod tampering;

use std::collections::HashSet;
use std::sync::Arc;

use event_log::{AppendError, EventLog, ExpectedVersion, Head, OpenError, StreamId};
use sample_events::{new_event, stream};
use uuid::Uuid;

#[tokio::test]
async fn verify_names_the_position_of_a_byte_changed_through_sled() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        for i in 0..100u32 {
            let payload = if i == 42 { b"TAMPER-ME-42".to_vec() } else { format!("event {i}").into_bytes() };
            log.append(stream(i % 5), ExpectedVersion::Any, vec![new_event(&payload)]).await.unwrap();
        }
        assert!(log.verify(..).unwrap().is_intact());
    }
    {
        // An attacker with the files: find the stored event by its content and change one byte of it.
        let db = event_log::open_sled_when_unlocked(dir.path()).unwrap();
        let mut changed = 0;
        for name in db.tree_names() {
            let tree = db.open_tree(name).unwrap();
            for entry in tree.iter() {
                let (key, value) = entry.unwrap();
                if let Some(at) = value.windows(12).position(|w| w == b"TAMPER-ME-42") {
                    let mut altered = value.to_vec();
                    altered[at + 10] = b'3';
                    tree.insert(key, altered).unwrap();
                    changed += 1;
                }
            }
        }
        assert_eq!(changed, 1);
        db.flush().unwrap();
    }
    let log = EventLog::open(dir.path()).unwrap();
    let report = log.verify(..).unwrap();
    let mismatch = report.first_mismatch.expect("tampering detected");
    assert_eq!(mismatch.position, 42, "{}", mismatch.reason);
    assert_eq!(report.verified, 42);
    // Verifying only the range after the altered event still passes: the damage is local and named.
    assert!(log.verify(43..).unwrap().is_intact());
}

#[tokio::test]
async fn exactly_one_writer_wins_each_version_of_a_contended_stream() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let target = stream(1);
    const WRITERS: usize = 32;
    const VERSIONS: u64 = 40;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (log, target) = (log.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let (mut wins, mut conflicts) = (Vec::new(), 0u64);
            loop {
                let current = log.stream_version(&target).unwrap();
                if current.is_some_and(|v| v + 1 >= VERSIONS) {
                    return (wins, conflicts);
                }
                let expected = current.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                let event = new_event(format!("writer {writer}").as_bytes());
                let id = event.event_id;
                match log.append(target.clone(), expected, vec![event]).await {
                    Ok(result) => wins.push((result.stream_version, id)),
                    Err(AppendError::WrongExpectedVersion { .. }) => conflicts += 1,
                    Err(other) => panic!("{other}"),
                }
            }
        }));
    }
    let mut won_versions = Vec::new();
    let mut won_ids = HashSet::new();
    let mut conflicts = 0;
    for task in tasks {
        let (wins, c) = task.await.unwrap();
        conflicts += c;
        for (version, id) in wins {
            won_versions.push(version);
            won_ids.insert(id);
        }
    }
    won_versions.sort_unstable();
    assert_eq!(won_versions, (0..VERSIONS).collect::<Vec<_>>(), "each version won exactly once");
    let stored: Vec<_> = log.read_stream(&target, 0).map(|e| e.unwrap()).collect();
    assert_eq!(stored.len() as u64, VERSIONS);
    assert!(stored.iter().all(|e| won_ids.contains(&e.event_id)), "only winners were written");
    assert!(conflicts > 0, "the writers did contend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_answered_only_once_what_it_lost_to_can_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    // An append, and whether what it conflicts with can be read the moment its answer arrives (while the
    // winner may still be syncing).
    let append_and_look = |target: StreamId, expected: ExpectedVersion, event: event_log::NewEvent| {
        let log = log.clone();
        async move {
            let answer = log.append(target.clone(), expected, vec![event]).await;
            let readable = match &answer {
                Err(AppendError::EventIdConflict { position, .. }) => log.event(*position).unwrap().is_some(),
                _ => log.stream_version(&target).unwrap() == Some(0),
            };
            (answer, readable)
        }
    };
    for round in 0..100u32 {
        // Two appends creating one stream: whichever loses reads the winner's event at once.
        let target = stream(round);
        let (first, second) = tokio::join!(
            append_and_look(target.clone(), ExpectedVersion::NoStream, new_event(b"first")),
            append_and_look(target.clone(), ExpectedVersion::NoStream, new_event(b"second")),
        );
        let (lost, seen) = match (first, second) {
            ((Ok(_), _), (Err(lost), seen)) | ((Err(lost), seen), (Ok(_), _)) => (lost, seen),
            other => panic!("exactly one append must win: {other:?}"),
        };
        assert!(matches!(lost, AppendError::WrongExpectedVersion { actual: Some(0), .. }), "{lost}");
        assert!(seen, "round {round}: the winner was readable when the conflict was answered");

        // One event id for two different events: the one refused reads the other where it is named.
        let id = Uuid::new_v4();
        let (first, second) = tokio::join!(
            append_and_look(stream(1000 + round), ExpectedVersion::Any, sample_events::event(id, b"one")),
            append_and_look(stream(2000 + round), ExpectedVersion::Any, sample_events::event(id, b"two")),
        );
        let (lost, seen) = match (first, second) {
            ((Ok(_), _), (Err(lost), seen)) | ((Err(lost), seen), (Ok(_), _)) => (lost, seen),
            other => panic!("exactly one append must win: {other:?}"),
        };
        assert!(matches!(lost, AppendError::EventIdConflict { .. }), "{lost}");
        assert!(seen, "round {round}: the stored event was readable when the conflict was answered");
    }
}

#[tokio::test]
async fn a_retried_append_returns_the_first_result_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    log.append(stream(7), ExpectedVersion::NoStream, vec![new_event(b"first")]).await.unwrap();
    let events = vec![new_event(b"a"), new_event(b"b")];
    let first = log.append(stream(1), ExpectedVersion::NoStream, events.clone()).await.unwrap();
    let again = log.append(stream(1), ExpectedVersion::NoStream, events.clone()).await.unwrap();
    assert_eq!(first, again);
    assert_eq!((first.first_position, first.last_position, first.stream_version), (1, 2, 1));
    assert_eq!(log.next_position(), 3);

    let mut altered = events.clone();
    altered[1].payload = b"changed".to_vec();
    let error = log.append(stream(1), ExpectedVersion::NoStream, altered).await.unwrap_err();
    assert!(matches!(error, AppendError::EventIdConflict { position: 2, .. }), "{error}");
    let error = log.append(stream(2), ExpectedVersion::Any, events).await.unwrap_err();
    assert!(matches!(error, AppendError::EventIdConflict { position: 1, .. }), "{error}");
    assert_eq!(log.next_position(), 3);
}

#[tokio::test]
async fn invalid_appends_name_the_field_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let e = new_event(b"x");
    let cases = [
        (vec![], "events"),
        (vec![e.clone(), e.clone()], "event_id"),
        (vec![event_log::NewEvent { event_type: String::new(), ..new_event(b"x") }], "event_type"),
        (vec![event_log::NewEvent { schema_version: 0, ..new_event(b"x") }], "schema_version"),
    ];
    for (events, field) in cases {
        match log.append(stream(1), ExpectedVersion::Any, events).await {
            Err(AppendError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected an invalid `{field}`, got {other:?}"),
        }
    }
    assert_eq!(log.next_position(), 0);
    assert_eq!(StreamId::new("", "k").unwrap_err().field, "stream_type");
}

#[tokio::test]
async fn expectations_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let s = stream(3);
    let refused = |r: Result<_, AppendError>| matches!(r, Err(AppendError::WrongExpectedVersion { .. }));
    assert!(refused(log.append(s.clone(), ExpectedVersion::StreamExists, vec![new_event(b"x")]).await));
    assert!(refused(log.append(s.clone(), ExpectedVersion::Exact(0), vec![new_event(b"x")]).await));
    log.append(s.clone(), ExpectedVersion::NoStream, vec![new_event(b"0")]).await.unwrap();
    assert!(refused(log.append(s.clone(), ExpectedVersion::NoStream, vec![new_event(b"x")]).await));
    log.append(s.clone(), ExpectedVersion::Exact(0), vec![new_event(b"1")]).await.unwrap();
    log.append(s.clone(), ExpectedVersion::StreamExists, vec![new_event(b"2")]).await.unwrap();
    log.append(s.clone(), ExpectedVersion::Any, vec![new_event(b"3")]).await.unwrap();
    let payloads: Vec<_> = log.read_stream(&s, 2).map(|e| e.unwrap().payload).collect();
    assert_eq!(payloads, vec![b"2".to_vec(), b"3".to_vec()]);
    assert_eq!(log.stream_version(&s).unwrap(), Some(3));
}

#[tokio::test]
async fn a_subscription_replays_then_follows_and_ends_with_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    for i in 0..5u32 {
        log.append(stream(i), ExpectedVersion::Any, vec![new_event(b"before")]).await.unwrap();
    }
    let mut subscription = log.subscribe(2);
    for expected in 2..5 {
        assert_eq!(subscription.next().await.unwrap().unwrap().position, expected);
    }
    let writer = log.clone();
    let live = tokio::spawn(async move {
        for _ in 0..3 {
            writer.append(stream(9), ExpectedVersion::Any, vec![new_event(b"live")]).await.unwrap();
        }
    });
    for expected in 5..8 {
        let event = subscription.next().await.unwrap().unwrap();
        assert_eq!((event.position, event.payload.as_slice()), (expected, b"live".as_slice()));
    }
    live.await.unwrap();
    drop(log);
    assert!(subscription.next().await.is_none(), "the subscription ends when the log closes");
}

#[tokio::test]
async fn markers_commit_with_appends_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        let request = event_log::AppendRequest {
            stream: stream(1),
            expected: ExpectedVersion::NoStream,
            events: vec![new_event(b"x")],
            marker: Some(event_log::Marker { name: "consumer/source".into(), value: b"41".to_vec() }),
        };
        log.append_request(request.clone()).await.unwrap();
        log.put_marker("relay/cursor", b"1".to_vec()).await.unwrap();
        // A retried append with a stale marker value writes nothing, the marker included.
        let stale = event_log::AppendRequest {
            marker: Some(event_log::Marker { name: "relay/cursor".into(), value: b"0".to_vec() }),
            ..request
        };
        log.append_request(stale).await.unwrap();
    }
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.marker("consumer/source").unwrap(), Some(b"41".to_vec()));
    assert_eq!(log.marker("relay/cursor").unwrap(), Some(b"1".to_vec()));
    assert_eq!(log.marker("absent").unwrap(), None);
    assert_eq!(log.next_position(), 1);
}

#[tokio::test]
async fn envelopes_round_trip_and_reject_a_wrong_hash() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    log.append(stream(1), ExpectedVersion::Any, vec![new_event(b"one"), new_event(b"two")]).await.unwrap();
    let events: Vec<_> = log.read_all(0).map(|e| e.unwrap()).collect();
    let bytes = event_log::encode_envelope(&events[1]);
    assert_eq!(event_log::decode_envelope(&bytes).unwrap(), events[1]);
    assert_eq!(events[1].prev_hash, events[0].hash);
    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert!(event_log::decode_envelope(&damaged).is_err());
    let head = log.head().unwrap().unwrap();
    assert_eq!((head.position, head.hash), (1, events[1].hash));
}

#[tokio::test]
async fn opening_a_foreign_or_damaged_database_is_an_error_not_a_panic() {
    // A sled database written by something else.
    let foreign = tempfile::tempdir().unwrap();
    {
        let db = event_log::open_sled_when_unlocked(foreign.path()).unwrap();
        db.open_tree("event-log").unwrap().insert(b"F", b"grants-event-log/999".as_slice()).unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(EventLog::open(foreign.path()), Err(OpenError::Incompatible { .. })));

    // The newest stored event no longer decodes.
    let damaged = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(damaged.path()).unwrap();
        log.append(stream(1), ExpectedVersion::Any, vec![new_event(b"x")]).await.unwrap();
    }
    {
        let db = event_log::open_sled_when_unlocked(damaged.path()).unwrap();
        let tree = db.open_tree("event-log").unwrap();
        let (key, _) = tree.scan_prefix(b"C").next_back().unwrap().unwrap();
        tree.insert(key, vec![0xff; 40]).unwrap();
        db.flush().unwrap();
    }
    let error = EventLog::open(damaged.path()).unwrap_err();
    assert!(matches!(error, OpenError::Corrupt { .. }), "{error}");

    // Files that are not a sled database at all.
    let garbage = tempfile::tempdir().unwrap();
    std::fs::write(garbage.path().join("conf"), vec![0x5a; 512]).unwrap();
    std::fs::write(garbage.path().join("db"), vec![0xa5; 4096]).unwrap();
    let error = EventLog::open(garbage.path()).unwrap_err();
    assert!(!error.to_string().is_empty());
}

#[tokio::test]
async fn concurrent_appends_get_gap_free_positions_in_commit_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EventLog::open(dir.path()).unwrap());
    let tasks: Vec<_> = (0..64u32)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    log.append(stream(t), ExpectedVersion::Any, vec![new_event(b"a"), new_event(b"b")]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let events: Vec<_> = log.read_all(0).map(|e| e.unwrap()).collect();
    assert_eq!(events.len(), 64 * 20 * 2);
    let ids: HashSet<Uuid> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), events.len());
    // Both events of one append are adjacent: an append is atomic in the global order.
    for pair in events.chunks(2) {
        assert_eq!(pair[0].stream, pair[1].stream);
        assert_eq!(pair[0].stream_version + 1, pair[1].stream_version);
        assert!(pair[0].recorded_at <= pair[1].recorded_at);
    }
    let report = log.verify(..).unwrap();
    assert!(report.is_intact());
    assert_eq!(report.verified, events.len() as u64);
}

#[tokio::test]
async fn events_too_large_for_sleds_log_are_stored_as_blobs_and_read_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    // sled keeps pages over 128 KiB in blob files of their own, which the log syncs itself.
    let large: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
    {
        let log = EventLog::open(dir.path()).unwrap();
        log.append(stream(1), ExpectedVersion::NoStream, vec![new_event(b"small")]).await.unwrap();
        log.append(stream(1), ExpectedVersion::Exact(0), vec![new_event(&large)]).await.unwrap();
        let blobs = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert!(blobs > 0, "the large event went to a blob file");
    }
    let log = EventLog::open(dir.path()).unwrap();
    let events: Vec<_> = log.read_stream(&stream(1), 0).map(Result::unwrap).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].payload, large);
    assert!(log.verify(..).unwrap().is_intact());
}

#[tokio::test]
async fn reads_with_read_ahead_see_every_event_once_and_an_abandoned_one_lets_the_log_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = event_log::Options { read_ahead_min_events: 10, ..event_log::Options::default() };
    let total = 600u64;
    {
        let log = EventLog::open_with(dir.path(), options.clone()).unwrap();
        for batch in 0..(total / 50) {
            let events = (0..50).map(|i| new_event(format!("event {}", batch * 50 + i).as_bytes())).collect();
            log.append(stream(batch as u32 % 4), ExpectedVersion::Any, events).await.unwrap();
        }
    }
    let log = EventLog::open_with(dir.path(), options.clone()).unwrap();
    // Cold reads of the whole log and of a part: every position once, in order, whole.
    let positions: Vec<u64> = log.read_all(0).map(|e| e.unwrap().position).collect();
    assert_eq!(positions, (0..total).collect::<Vec<_>>());
    let part: Vec<u64> = log.read_range(100..400).map(|e| e.unwrap().position).collect();
    assert_eq!(part, (100..400).collect::<Vec<_>>());
    let stored = log.read_range(250..).stored().map(|e| e.unwrap().position).collect::<Vec<_>>();
    assert_eq!(stored, (250..total).collect::<Vec<_>>());
    let report = log.verify(..).unwrap();
    assert!(report.is_intact() && report.verified == total);

    // A read abandoned after one event stops its read-ahead, which lets go of the files: the log opens
    // again and is whole.
    let mut abandoned = log.read_all(0);
    assert_eq!(abandoned.next().unwrap().unwrap().position, 0);
    drop(abandoned);
    drop(log);
    let log = EventLog::open_with(dir.path(), options).unwrap();
    assert_eq!(log.next_position(), total);
    assert!(log.verify(..).unwrap().is_intact());
}

#[tokio::test]
async fn an_event_removed_at_the_end_of_a_range_is_reported_by_reads_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        for i in 0..100u32 {
            log.append(stream(i % 3), ExpectedVersion::Any, vec![new_event(format!("event {i}").as_bytes())])
                .await
                .unwrap();
        }
    }
    {
        // Remove the record at position 50 through sled; the log's head (99) is unchanged.
        let db = event_log::open_sled_when_unlocked(dir.path()).unwrap();
        let mut removed = 0;
        for name in db.tree_names() {
            let tree = db.open_tree(name).unwrap();
            let keys: Vec<_> = tree
                .iter()
                .map(Result::unwrap)
                .filter(|(_, value)| value.windows(8).any(|w| w == b"event 50") && value.len() > 64)
                .map(|(key, _)| key)
                .collect();
            for key in keys {
                tree.remove(key).unwrap();
                removed += 1;
            }
        }
        assert_eq!(removed, 1);
        db.flush().unwrap();
    }
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.next_position(), 100);
    let report = log.verify(40..51).unwrap();
    assert_eq!(report.first_mismatch.map(|m| m.position), Some(50));
    let read: Vec<_> = log.read_range(40..51).collect();
    assert_eq!(read.len(), 11);
    assert!(read[..10].iter().all(Result::is_ok));
    assert!(read[10].is_err(), "the missing last event is an error, not the end of the read");
}

#[tokio::test]
async fn a_record_reencoded_in_another_field_order_fails_verification_even_with_the_chain_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        for i in 0..20u32 {
            log.append(stream(i % 3), ExpectedVersion::Any, vec![new_event(format!("event {i}").as_bytes())])
                .await
                .unwrap();
        }
    }
    let original = tampering::record_at(dir.path(), 7);
    tampering::rewrite_and_rechain(dir.path(), 7, tampering::first_field_moved_to_end);
    let log = EventLog::open(dir.path()).unwrap();
    let reordered = log.event(7).unwrap().unwrap();
    assert_ne!(reordered.record_bytes(), original.as_slice());
    assert_eq!(reordered.payload, b"event 7", "the rewritten record decodes to the same event");
    let report = log.verify(..).unwrap();
    let mismatch = report.first_mismatch.expect("a record that is not canonical is tampering");
    assert_eq!(mismatch.position, 7);
    assert!(mismatch.reason.contains("not in canonical encoding"), "{}", mismatch.reason);
    assert_eq!(report.verified, 7);
}

#[tokio::test]
async fn append_after_head_builds_its_events_from_the_head_they_follow() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    // An event naming the head it follows, and a marker naming where it lands.
    let about_head = |head: Option<Head>| {
        let (payload, position) = match head {
            None => (b"genesis".to_vec(), 0u64),
            Some(head) => (head.hash.as_bytes().to_vec(), head.position + 1),
        };
        event_log::AppendRequest {
            stream: stream(2),
            expected: ExpectedVersion::Any,
            events: vec![new_event(&payload)],
            marker: Some(event_log::Marker { name: "about/head".into(), value: position.to_be_bytes().to_vec() }),
        }
    };
    let first = log.append_after_head(about_head).await.unwrap();
    assert_eq!(first.first_position, 0);
    assert_eq!(log.event(0).unwrap().unwrap().payload, b"genesis");
    log.append(stream(1), ExpectedVersion::Any, vec![new_event(b"other")]).await.unwrap();
    let placed = log.append_after_head(about_head).await.unwrap();
    assert_eq!((placed.first_position, placed.last_position), (2, 2));
    assert_eq!(log.event(2).unwrap().unwrap().payload, log.event(1).unwrap().unwrap().hash.as_bytes());
    assert_eq!(log.marker("about/head").unwrap(), Some(2u64.to_be_bytes().to_vec()));

    let invalid = log.append_after_head(|_| event_log::AppendRequest {
        stream: stream(3),
        expected: ExpectedVersion::Any,
        events: Vec::new(),
        marker: None,
    });
    assert!(matches!(invalid.await, Err(AppendError::Invalid { field: "events", .. })));
}

#[tokio::test]
async fn verify_after_a_trusted_head_rejects_a_chain_rebuilt_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = {
        let log = EventLog::open(dir.path()).unwrap();
        for i in 0..20u32 {
            log.append(stream(i % 3), ExpectedVersion::Any, vec![new_event(format!("event {i}").as_bytes())])
                .await
                .unwrap();
        }
        let trusted = Head { position: 9, hash: log.event(9).unwrap().unwrap().hash };
        let report = log.verify_after(trusted).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.verified, report.last_verified.map(|h| h.position)), (10, Some(19)));
        trusted
    };
    // Rewrite event 4 and rebuild the whole chain after it: it verifies from the start, but no longer
    // extends the head that was vouched for.
    tampering::rewrite_and_rechain(dir.path(), 4, |record| {
        let mut changed = record.to_vec();
        let at = changed.windows(7).position(|w| w == b"event 4").unwrap();
        changed[at + 6] = b'5';
        changed
    });
    let log = EventLog::open(dir.path()).unwrap();
    assert!(log.verify(..).unwrap().is_intact(), "a rebuilt chain is consistent in itself");
    let report = log.verify_after(trusted).unwrap();
    assert_eq!(report.first_mismatch.map(|m| m.position), Some(10));
}

const HOLDER_DIR_VAR: &str = "EVENT_LOG_TEST_HOLD_DIR";

/// Run as a child process by the test below (the same test binary, filtered to the same test): opens the
/// log named by [`HOLDER_DIR_VAR`], says so, and keeps it open until its standard input closes.
fn hold_log_until_stdin_closes(dir: &str) {
    let log = EventLog::open(dir).unwrap();
    println!("holding the log");
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    drop(log);
}

#[test]
fn a_log_held_by_another_process_is_refused_at_once_and_says_so() {
    if let Ok(dir) = std::env::var(HOLDER_DIR_VAR) {
        return hold_log_until_stdin_closes(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut holder = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_log_held_by_another_process_is_refused_at_once_and_says_so", "--nocapture"])
        .env(HOLDER_DIR_VAR, dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(holder.stdout.take().unwrap()));
    let held = lines.by_ref().map_while(Result::ok).any(|line| line == "holding the log");
    assert!(held, "the child process opened the log");

    let error = EventLog::open(dir.path()).unwrap_err();
    assert!(matches!(error, OpenError::InUse { .. }), "{error:?}");
    assert_eq!(error.to_string(), format!("{} is in use by another process", dir.path().display()));
    let raw = event_log::open_sled_when_unlocked(dir.path()).unwrap_err();
    assert!(matches!(raw, OpenError::InUse { .. }), "{raw:?}");

    drop(holder.stdin.take());
    lines.for_each(drop); // what the child's test harness prints until it exits
    assert!(holder.wait().unwrap().success());
    // Once the other process has gone, the log opens.
    assert_eq!(EventLog::open(dir.path()).unwrap().next_position(), 0);
}

#[tokio::test]
async fn a_second_open_in_the_same_process_waits_for_the_first_and_then_says_it_is_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let error = EventLog::open(dir.path()).unwrap_err();
    assert!(matches!(error, OpenError::StillLocked { .. }), "{error:?}");
    assert!(error.to_string().contains("still in use"), "{error}");
    drop(log);
    assert_eq!(EventLog::open(dir.path()).unwrap().next_position(), 0, "closing lets go of the directory");
}

fn marked(stream_id: StreamId, expected: ExpectedVersion, events: usize, marker: &str) -> event_log::AppendRequest {
    event_log::AppendRequest {
        stream: stream_id,
        expected,
        events: (0..events).map(|i| new_event(format!("{marker} {i}").as_bytes())).collect(),
        marker: Some(event_log::Marker { name: marker.into(), value: marker.as_bytes().to_vec() }),
    }
}

#[tokio::test]
async fn append_in_order_commits_the_prefix_before_the_first_failure_and_nothing_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        log.append(stream(9), ExpectedVersion::NoStream, vec![new_event(b"before")]).await.unwrap();
        let requests = vec![
            marked(stream(1), ExpectedVersion::NoStream, 2, "first"),
            marked(stream(2), ExpectedVersion::Any, 1, "second"),
            marked(stream(9), ExpectedVersion::Exact(5), 1, "refused"),
            marked(stream(3), ExpectedVersion::Any, 1, "after"),
        ];
        let outcome = log.append_in_order(requests).await;
        let positions: Vec<_> = outcome.appended.iter().map(|r| (r.first_position, r.last_position)).collect();
        assert_eq!(positions, vec![(1, 2), (3, 3)]);
        assert!(
            matches!(outcome.failed, Some(AppendError::WrongExpectedVersion { actual: Some(0), .. })),
            "{:?}",
            outcome.failed
        );

        // An invalid request ends the batch the same way, before anything reaches the writer.
        let mut invalid = marked(stream(4), ExpectedVersion::Any, 1, "invalid");
        invalid.events.clear();
        let requests = vec![
            marked(stream(5), ExpectedVersion::Any, 1, "valid"),
            invalid,
            marked(stream(6), ExpectedVersion::Any, 1, "late"),
        ];
        let outcome = log.append_in_order(requests).await;
        assert_eq!(outcome.appended.len(), 1);
        assert!(matches!(outcome.failed, Some(AppendError::Invalid { field: "events", .. })), "{:?}", outcome.failed);
    }
    // Durable, with their markers; nothing after a failure was written.
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.next_position(), 5);
    for (marker, present) in [
        ("first", true),
        ("second", true),
        ("refused", false),
        ("after", false),
        ("valid", true),
        ("invalid", false),
        ("late", false),
    ] {
        assert_eq!(log.marker(marker).unwrap().is_some(), present, "marker {marker}");
    }
    assert_eq!(log.stream_version(&stream(1)).unwrap(), Some(1));
    assert_eq!(log.stream_version(&stream(3)).unwrap(), None);
    assert_eq!(log.stream_version(&stream(6)).unwrap(), None);
    assert!(log.verify(..).unwrap().is_intact());
}

#[tokio::test]
async fn append_in_order_is_one_commit_that_racing_appends_never_split() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let racers: Vec<_> = (0..8u32)
        .map(|r| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..50u32 {
                    let event = new_event(format!("racer {r} {i}").as_bytes());
                    log.append(stream(100 + r), ExpectedVersion::Any, vec![event]).await.unwrap();
                }
            })
        })
        .collect();
    for round in 0..20u32 {
        let requests =
            (0..10u32).map(|i| marked(stream(i), ExpectedVersion::Any, 1, &format!("m{round}-{i}"))).collect();
        let outcome = log.append_in_order(requests).await;
        assert!(outcome.failed.is_none(), "{:?}", outcome.failed);
        let first = outcome.appended[0].first_position;
        let positions: Vec<_> = outcome.appended.iter().map(|r| r.first_position).collect();
        assert_eq!(positions, (first..first + 10).collect::<Vec<_>>(), "round {round}: staged together, in order");
    }
    for racer in racers {
        racer.await.unwrap();
    }
    assert!(log.verify(..).unwrap().is_intact());
}

#[tokio::test]
async fn a_small_journal_checkpoints_often_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let options = event_log::Options { journal_capacity_bytes: 16 * 1024, ..event_log::Options::default() };
    {
        let log = EventLog::open_with(dir.path(), options.clone()).unwrap();
        for i in 0..300u32 {
            let events = (0..1 + i % 4).map(|j| new_event(format!("event {i}.{j}").as_bytes())).collect();
            log.append(stream(i % 7), ExpectedVersion::Any, events).await.unwrap();
            if i % 50 == 0 {
                log.put_marker("cursor", i.to_be_bytes().to_vec()).await.unwrap();
            }
        }
        assert!(std::fs::metadata(dir.path().join("journal")).unwrap().len() <= 16 * 1024);
    }
    let log = EventLog::open_with(dir.path(), options).unwrap();
    assert_eq!(log.next_position(), 750);
    assert_eq!(log.marker("cursor").unwrap(), Some(250u32.to_be_bytes().to_vec()));
    assert!(log.verify(..).unwrap().is_intact());
}

#[tokio::test]
async fn indexes_saved_on_close_serve_the_next_open_unless_the_log_no_longer_matches_them() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<_> = (0..50u32).map(|i| new_event(format!("event {i}").as_bytes())).collect();
    {
        let log = EventLog::open(dir.path()).unwrap();
        for (i, event) in events.iter().enumerate() {
            log.append(stream(i as u32 % 3), ExpectedVersion::Any, vec![event.clone()]).await.unwrap();
        }
    }
    assert!(dir.path().join("indexes").exists(), "saved on close");
    {
        // Served from the saved indexes: a retry is recognised, streams continue where they were.
        let log = EventLog::open(dir.path()).unwrap();
        let again = log.append(stream(45 % 3), ExpectedVersion::Any, vec![events[45].clone()]).await.unwrap();
        assert_eq!(again.first_position, 45);
        assert_eq!(log.stream_version(&stream(0)).unwrap(), Some(16));
        assert_eq!(log.next_position(), 50);
    }
    // Cut short behind the log's back: the saved indexes name events that are gone, so they are not used.
    tampering::truncate_from(dir.path(), 40);
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.next_position(), 40);
    assert_eq!(log.stream_version(&stream(0)).unwrap(), Some(13));
    let appended = log.append(stream(45 % 3), ExpectedVersion::Any, vec![events[45].clone()]).await.unwrap();
    assert_eq!(appended.first_position, 40, "the event that was cut off is appended anew");
    assert!(log.verify(..).unwrap().is_intact());
}

#[tokio::test]
async fn a_trace_context_is_recorded_last_and_an_event_without_one_keeps_the_bytes_it_always_had() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let trace = event_log::TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let mut traced = new_event(b"traced");
    traced.metadata.trace = Some(trace);
    log.append(stream(1), ExpectedVersion::Any, vec![new_event(b"plain"), traced]).await.unwrap();
    let events: Vec<_> = log.read_all(0).map(|e| e.unwrap()).collect();
    assert_eq!((events[0].metadata.trace, events[1].metadata.trace), (None, Some(trace)));

    // Field 15 (tag 0x7a), length 55, the traceparent: after every other field, as canonical bytes are.
    let mut field = vec![0x7a, 55];
    field.extend_from_slice(trace.to_string().as_bytes());
    assert!(events[1].record_bytes().ends_with(&field));
    // Without a trace context the field is absent: the record is what it was before the field existed.
    // Without a trace context the field is absent, prev_hash (field 14, tag 0x72) ends the record: it is
    // what it was before the field existed.
    let prev_hash_field = [&[0x72, 32][..], events[0].prev_hash.as_bytes()].concat();
    assert!(events[0].record_bytes().ends_with(&prev_hash_field));
    for event in &events {
        let decoded = event_log::decode_envelope(&event_log::encode_envelope(event)).unwrap();
        assert_eq!(&decoded, event);
    }
    let report = log.verify(..).unwrap();
    assert!(report.first_mismatch.is_none(), "{report:?}");
}

#[tokio::test]
async fn stats_count_the_appends_events_and_syncs_made_durable_and_no_refused_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.stats().appends, 0);
    let three = (0..3).map(|i| new_event(format!("event {i}").as_bytes())).collect();
    log.append(stream(1), ExpectedVersion::NoStream, three).await.unwrap();
    log.append(stream(2), ExpectedVersion::NoStream, vec![new_event(b"one")]).await.unwrap();
    let refused = log.append(stream(2), ExpectedVersion::NoStream, vec![new_event(b"again")]).await;
    assert!(matches!(refused, Err(AppendError::WrongExpectedVersion { .. })));

    let stats = log.stats();
    assert_eq!((stats.appends, stats.events), (2, log.next_position()));
    assert!((1..=2).contains(&stats.commits), "{stats:?}");
    assert_eq!(stats.group_size.count, stats.commits);
    assert_eq!(stats.group_size.sum, 2.0);
    assert_eq!(stats.sync_seconds.count, stats.commits, "one fdatasync per commit");
    assert_eq!(stats.sync_seconds.counts.iter().sum::<u64>(), stats.commits);
    assert!(stats.sync_seconds.sum > 0.0);
}
