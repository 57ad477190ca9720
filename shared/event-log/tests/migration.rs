//! Opening a log written in format 1 (`grants-event-log/1`) by the code of that format converts it once
//! to the present format; afterwards every event, position, hash, stream, marker, retry and verification
//! is what that code read from it. The fixture (`migration/format-1.tar.gz`) was written by the log as
//! it was before format 2, with the appends of `migration/fixture.rs`; `expected.txt` beside the log in
//! the archive is what that code read back.

#[path = "migration/fixture.rs"]
mod fixture;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use event_log::EventLog;
use fixture::Step;
use sha2::{Digest, Sha256};

/// Unpacks the fixture; returns the log's directory and the expected lines by their first word.
fn unpack(into: &Path) -> (PathBuf, HashMap<String, Vec<Vec<String>>>) {
    let archive = std::fs::File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/migration/format-1.tar.gz"))
        .expect("the fixture is in the repository");
    tar::Archive::new(flate2::read::GzDecoder::new(archive)).unpack(into).expect("the fixture unpacks");
    let mut expected: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for line in std::fs::read_to_string(into.join("expected.txt")).unwrap().lines() {
        let mut words = line.split(' ').map(str::to_owned);
        let kind = words.next().unwrap();
        expected.entry(kind).or_default().push(words.collect());
    }
    (into.join("log"), expected)
}

/// Reads everything the fixture's writer read and compares, then retries every append of the fixture.
async fn assert_reads_as_before(log: &EventLog, expected: &HashMap<String, Vec<Vec<String>>>) {
    let head = log.head().unwrap().unwrap();
    assert_eq!(vec![head.position.to_string(), head.hash.to_string()], expected["head"][0]);
    let events: Vec<Vec<String>> = log
        .read_all(0)
        .stored()
        .map(|stored| {
            let stored = stored.unwrap();
            vec![stored.position.to_string(), stored.hash.to_string(), hex::encode(Sha256::digest(&stored.record))]
        })
        .collect();
    assert_eq!(events, expected["event"]);
    // Decoded reads, one position at a time and the whole log, agree with the stored records.
    for event in log.read_all(0) {
        let event = event.unwrap();
        assert_eq!(log.event(event.position).unwrap().unwrap(), event);
    }
    for line in &expected["stream"] {
        let stream = fixture::streams().into_iter().find(|s| s.to_string() == line[0]).unwrap();
        let positions: Vec<String> = log.read_stream(&stream, 0).map(|e| e.unwrap().position.to_string()).collect();
        assert_eq!(positions.join(","), line[1], "stream {stream}");
    }
    for line in &expected["marker"] {
        let value = log.marker(&line[0]).unwrap().map_or("none".to_owned(), hex::encode);
        assert_eq!(value, line[1], "marker {}", line[0]);
    }
    let report = log.verify(..).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.verified.to_string(), expected["verified"][0][0]);

    let before = log.next_position();
    let results: HashMap<&str, &Vec<String>> = expected["result"].iter().map(|l| (l[0].as_str(), l)).collect();
    for (i, step) in fixture::steps().into_iter().enumerate() {
        if let Step::Append(request) = step {
            let r = log.append_request(request).await.expect("a retry returns the first result");
            let got = [r.first_position, r.last_position, r.stream_version].map(|n| n.to_string());
            assert_eq!(got[..], results[i.to_string().as_str()][1..], "append {i}");
        }
    }
    assert_eq!(log.next_position(), before, "retries write nothing");
}

/// The keys of the log's tree, by their first byte.
fn key_kinds(dir: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    let db = event_log::open_sled_when_unlocked(dir).unwrap();
    let tree = db.open_tree("event-log").unwrap();
    let mut kinds: Vec<u8> = tree.iter().keys().map(|k| k.unwrap()[0]).collect();
    kinds.dedup();
    (kinds, tree.get(b"F").unwrap().map(|f| f.to_vec()))
}

#[tokio::test]
async fn a_format_1_log_is_converted_once_and_reads_back_as_before() {
    let work = tempfile::tempdir().unwrap();
    let (dir, expected) = unpack(work.path());
    assert_eq!(key_kinds(&dir).1.as_deref(), Some(&b"grants-event-log/1"[..]));
    {
        let log = EventLog::open(&dir).unwrap();
        assert_reads_as_before(&log, &expected).await;
    }
    assert_eq!(key_kinds(&dir), (b"CFM".to_vec(), Some(b"grants-event-log/2".to_vec())), "no format-1 entry is left");
    let log = EventLog::open(&dir).unwrap();
    assert_reads_as_before(&log, &expected).await;
    let big = log.read_all(0).find(|e| e.as_ref().unwrap().payload.len() == fixture::LARGE_PAYLOAD_LEN);
    assert!(big.is_some(), "the event over 128 KiB is there");
}

#[tokio::test]
async fn a_conversion_interrupted_before_or_after_the_switch_is_completed_on_the_next_open() {
    // Before the switch: entries of the new format beside the old ones, the format key still 1. One of
    // them is garbage, as a write cut short would leave it.
    let work = tempfile::tempdir().unwrap();
    let (dir, expected) = unpack(work.path());
    {
        let db = event_log::open_sled_when_unlocked(&dir).unwrap();
        let tree = db.open_tree("event-log").unwrap();
        tree.insert([&b"C"[..], &3u64.to_be_bytes()].concat(), vec![0xee; 100]).unwrap();
        db.flush().unwrap();
    }
    drop(EventLog::open(&dir).unwrap());
    // After the switch: format-1 entries still there, as if removing them had been cut short.
    {
        let db = event_log::open_sled_when_unlocked(&dir).unwrap();
        let tree = db.open_tree("event-log").unwrap();
        tree.insert([&b"E"[..], &0u64.to_be_bytes()].concat(), vec![0xee; 100]).unwrap();
        tree.insert(b"I-leftover", vec![0xee; 8]).unwrap();
        db.flush().unwrap();
    }
    {
        let log = EventLog::open(&dir).unwrap();
        assert_reads_as_before(&log, &expected).await;
    }
    assert_eq!(key_kinds(&dir).0, b"CFM".to_vec());
}
