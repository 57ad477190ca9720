//! Copies of a log (`EventLog::append_copied`): the records kept verbatim, with their positions, times and
//! hashes; a copy that does not continue the log (a gap, another chain, a changed or re-encoded record)
//! refused with the position and the rule, and nothing of it written.

mod sample_events;
mod tampering;

use event_log::{CopiedEvent, CopyError, EventLog, ExpectedVersion, Hash, Head, RecordedEvent};
use sample_events::{new_event, stream};

/// A log of `count` events over three streams, several per append.
async fn written(dir: &std::path::Path, count: u32) -> EventLog {
    let log = EventLog::open(dir).unwrap();
    for first in (0..count).step_by(4) {
        let events = (first..count.min(first + 4)).map(|i| new_event(format!("event {i}").as_bytes())).collect();
        log.append(stream(first % 3), ExpectedVersion::Any, events).await.unwrap();
    }
    log
}

fn recorded(log: &EventLog, range: std::ops::Range<u64>) -> Vec<RecordedEvent> {
    log.read_range(range).map(Result::unwrap).collect()
}

fn copied(events: &[RecordedEvent]) -> Vec<CopiedEvent> {
    events.iter().map(CopiedEvent::from).collect()
}

fn refusal(result: Result<Head, CopyError>) -> (u64, String) {
    match result {
        Err(CopyError::Refused(mismatch)) => (mismatch.position, mismatch.reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_copy_holds_the_records_verbatim_and_goes_on_from_its_head_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let source = written(&dir.path().join("source"), 50).await;
    let all = recorded(&source, 0..50);
    {
        let copy = EventLog::open(dir.path().join("copy")).unwrap();
        assert_eq!(copy.append_copied(copied(&all[..21])).await.unwrap(), Head { position: 20, hash: all[20].hash });
        assert_eq!(copy.append_copied(copied(&all[21..])).await.unwrap(), Head { position: 49, hash: all[49].hash });
    }
    let copy = EventLog::open(dir.path().join("copy")).unwrap();
    assert_eq!(copy.head().unwrap(), source.head().unwrap());
    // Byte for byte: the same records (positions, times, chain) under the same hashes.
    assert_eq!(recorded(&copy, 0..50), all);
    assert!(copy.verify(..).unwrap().is_intact());
    for n in 0..3 {
        let of = |log: &EventLog| log.read_stream(&stream(n), 0).map(Result::unwrap).collect::<Vec<_>>();
        assert_eq!(of(&copy), of(&source));
        assert_eq!(copy.stream_version(&stream(n)).unwrap(), source.stream_version(&stream(n)).unwrap());
    }

    // A service started on the copy appends after it, later than anything copied, and its event ids are
    // known: a retried append of a copied event returns where it is.
    let next = copy.append(stream(0), ExpectedVersion::Any, vec![new_event(b"after the copy")]).await.unwrap();
    assert_eq!(next.first_position, 50);
    let appended = copy.event(50).unwrap().unwrap();
    assert_eq!(appended.prev_hash, all[49].hash);
    assert!(appended.recorded_at >= all[49].recorded_at);
    let first = &all[0];
    let retry = event_log::NewEvent {
        event_id: first.event_id,
        event_type: first.event_type.clone(),
        schema_version: first.schema_version,
        payload: first.payload.clone(),
        metadata: first.metadata.clone(),
    };
    let again = copy.append(first.stream.clone(), ExpectedVersion::Any, vec![retry]).await.unwrap();
    assert_eq!((again.first_position, copy.next_position()), (0, 51));
    assert!(copy.verify(..).unwrap().is_intact());
}

#[tokio::test]
async fn a_copy_that_does_not_continue_the_log_is_refused_whole_with_the_position_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let source = written(&dir.path().join("source"), 30).await;
    let other = written(&dir.path().join("other"), 20).await;
    let all = recorded(&source, 0..30);
    let copy = EventLog::open(dir.path().join("copy")).unwrap();
    copy.append_copied(copied(&all[..10])).await.unwrap();
    let unchanged = |copy: &EventLog| assert_eq!(copy.head().unwrap(), Some(Head { position: 9, hash: all[9].hash }));

    // A gap: position 11 where 10 is due.
    let (position, reason) = refusal(copy.append_copied(copied(&all[11..15])).await);
    assert_eq!(position, 10, "{reason}");
    assert!(reason.contains("the record says position 11; this log's next is 10"), "{reason}");
    unchanged(&copy);

    // Another log's event 10: the right position on another chain.
    let foreign = recorded(&other, 10..11);
    let (position, reason) = refusal(copy.append_copied(copied(&foreign)).await);
    assert_eq!(position, 10, "{reason}");
    assert!(reason.contains("it is from another log"), "{reason}");
    unchanged(&copy);

    // Good events first, then a record changed under its hash: nothing of the batch is written.
    let mut changed = copied(&all[10..20]);
    let at = changed[5].record.windows(5).position(|w| w == b"event").unwrap();
    changed[5].record[at] = b'E';
    let (position, reason) = refusal(copy.append_copied(changed).await);
    assert_eq!(position, 15, "{reason}");
    assert!(reason.contains("stored hash"), "{reason}");
    unchanged(&copy);

    // The same event re-encoded (the position field moved to the end) under a hash recomputed for it: it
    // links and hashes, but its bytes are not the canonical encoding.
    let record = tampering::first_field_moved_to_end(all[10].record_bytes());
    let hash = Hash::chain(&all[9].hash, &record);
    let (position, reason) = refusal(copy.append_copied(vec![CopiedEvent { record, hash }]).await);
    assert_eq!(position, 10, "{reason}");
    assert!(reason.contains("canonical encoding"), "{reason}");
    unchanged(&copy);

    // An empty copy names the rule.
    let (position, reason) = refusal(copy.append_copied(Vec::new()).await);
    assert_eq!((position, reason.as_str()), (10, "a copy holds 1 to 10000 events"));

    // The rest, in order, is taken.
    copy.append_copied(copied(&all[10..])).await.unwrap();
    assert_eq!(recorded(&copy, 0..30), all);
    assert!(copy.verify(..).unwrap().is_intact());
}
