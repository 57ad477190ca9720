//! Tampering as an insider with disk access would do it: through sled's own API, on a log no process has
//! open. Shared by the tests of every crate that must detect it (included with `#[path]`).

#![allow(dead_code)] // Each including test uses its own subset.

use std::path::Path;

/// The sled tree and key layout of the log (`shared/event-log/src/keys.rs`): `E` + big-endian position
/// holds the event's hash followed by its record bytes.
const TREE: &str = "event-log";

fn event_key(position: u64) -> Vec<u8> {
    let mut key = vec![b'E'];
    key.extend_from_slice(&position.to_be_bytes());
    key
}

fn sha256(prev: &[u8], record: &[u8]) -> [u8; 32] {
    event_log::Hash::chain(&event_log::Hash::from_slice(prev).unwrap(), record).as_bytes().to_owned()
}

/// The stored record bytes of the event at `position`.
pub fn record_at(dir: &Path, position: u64) -> Vec<u8> {
    let db = event_log::open_sled_when_unlocked(dir).unwrap();
    let value = db.open_tree(TREE).unwrap().get(event_key(position)).unwrap().expect("event is stored");
    value[32..].to_vec()
}

/// Changes the stored record bytes of the event at `position` in place with `change`, leaving its stored
/// hash as it was: the hash no longer matches the bytes, as after a careless edit or a flipped bit.
pub fn change_record(dir: &Path, position: u64, change: impl FnOnce(&mut Vec<u8>)) {
    let db = event_log::open_sled_when_unlocked(dir).unwrap();
    let tree = db.open_tree(TREE).unwrap();
    let stored = tree.get(event_key(position)).unwrap().expect("event is stored");
    let mut record = stored[32..].to_vec();
    change(&mut record);
    let mut value = stored[..32].to_vec();
    value.extend_from_slice(&record);
    tree.insert(event_key(position), value).unwrap();
    db.flush().unwrap();
}

/// Replaces the record at `position` by `rewrite(record)` and rebuilds the chain from there to the head,
/// as a careful attacker would: every later record gets the new `prev_hash` (its last field, 32 bytes at
/// the very end) and every stored hash is recomputed, so that the chain verifies from any point after it.
pub fn rewrite_and_rechain(dir: &Path, position: u64, rewrite: impl FnOnce(&[u8]) -> Vec<u8>) {
    rewrite_at(dir, position, rewrite, true);
}

/// Replaces the record at `position` by `rewrite(record)` and its stored hash by the one recomputed for
/// it, leaving every later event as it was: the rewritten event verifies against the one before it, and
/// the events after it still chain back to the hash it had.
pub fn rewrite_alone(dir: &Path, position: u64, rewrite: impl FnOnce(&[u8]) -> Vec<u8>) {
    rewrite_at(dir, position, rewrite, false);
}

fn rewrite_at(dir: &Path, position: u64, rewrite: impl FnOnce(&[u8]) -> Vec<u8>, through_head: bool) {
    let db = event_log::open_sled_when_unlocked(dir).unwrap();
    let tree = db.open_tree(TREE).unwrap();
    let prev_hash = match position.checked_sub(1) {
        None => [0u8; 32].to_vec(),
        Some(before) => tree.get(event_key(before)).unwrap().unwrap()[..32].to_vec(),
    };
    let stored = tree.get(event_key(position)).unwrap().unwrap();
    let mut record = rewrite(&stored[32..]);
    let mut hash = sha256(&prev_hash, &record);
    let mut at = position;
    loop {
        let mut value = hash.to_vec();
        value.extend_from_slice(&record);
        tree.insert(event_key(at), value).unwrap();
        at += 1;
        let Some(next) = tree.get(event_key(at)).unwrap().filter(|_| through_head) else { break };
        record = next[32..].to_vec();
        let len = record.len();
        record[len - 32..].copy_from_slice(&hash);
        hash = sha256(&hash, &record);
    }
    db.flush().unwrap();
}

/// Removes every event from `position` on (only the events: indexes and markers stay as they were).
pub fn truncate_from(dir: &Path, position: u64) {
    let db = event_log::open_sled_when_unlocked(dir).unwrap();
    let tree = db.open_tree(TREE).unwrap();
    let mut removed = 0;
    while tree.remove(event_key(position + removed)).unwrap().is_some() {
        removed += 1;
    }
    assert!(removed > 0, "nothing stored at {position}");
    db.flush().unwrap();
}

/// The same record with its first field (`position`, field 1) moved to the end: a protobuf decoder reads the
/// very same message, but the bytes are not the canonical encoding.
pub fn first_field_moved_to_end(record: &[u8]) -> Vec<u8> {
    assert_eq!(record[0], 0x08, "the record starts with field 1 (a varint): its position is not 0");
    let varint_end = 1 + record[1..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
    let mut moved = record[varint_end..].to_vec();
    moved.extend_from_slice(&record[..varint_end]);
    moved
}
