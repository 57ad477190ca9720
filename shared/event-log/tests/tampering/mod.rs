//! Tampering as an insider with disk access would do it: through sled's own API, on a log no process has
//! open. Shared by the tests of every crate that must detect it (included with `#[path]`).

#![allow(dead_code)] // Each including test uses its own subset.

use std::path::Path;

/// The sled tree and key layout of the log (`shared/event-log/src/keys.rs`, format 2): `C` + big-endian
/// first position holds the records of one commit (`shared/event-log/src/commit_entry.rs`), each with its
/// hash, event id and stream in a header before the records' bytes.
const TREE: &str = "event-log";
const RECORD_HEADER_LEN: usize = 56;

/// One commit entry, taken apart.
struct Entry {
    first: u64,
    count_and_streams: Vec<u8>,
    /// Per record: hash, event id and stream index (52 bytes; the record's end offset is recomputed).
    headers: Vec<Vec<u8>>,
    records: Vec<Vec<u8>>,
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

impl Entry {
    fn key(&self) -> Vec<u8> {
        let mut key = vec![b'C'];
        key.extend_from_slice(&self.first.to_be_bytes());
        key
    }

    fn parse(key: &[u8], value: &[u8]) -> Entry {
        let first = u64::from_be_bytes(key[1..9].try_into().unwrap());
        let (count, streams) = (u32_at(value, 0), u32_at(value, 4));
        let mut at = 8;
        for _ in 0..streams * 2 {
            at += 2 + u16::from_be_bytes(value[at..at + 2].try_into().unwrap()) as usize;
        }
        let count_and_streams = value[..at].to_vec();
        let records_at = at + count * RECORD_HEADER_LEN;
        let (mut headers, mut records, mut start) = (Vec::new(), Vec::new(), 0);
        for i in 0..count {
            let header = &value[at + i * RECORD_HEADER_LEN..at + (i + 1) * RECORD_HEADER_LEN];
            let end = u32_at(header, 52);
            headers.push(header[..52].to_vec());
            records.push(value[records_at + start..records_at + end].to_vec());
            start = end;
        }
        Entry { first, count_and_streams, headers, records }
    }

    fn value(&self) -> Vec<u8> {
        let mut value = self.count_and_streams.clone();
        value[..4].copy_from_slice(&(self.records.len() as u32).to_be_bytes());
        let mut end = 0;
        for (header, record) in self.headers.iter().zip(&self.records) {
            end += record.len();
            value.extend_from_slice(header);
            value.extend_from_slice(&(end as u32).to_be_bytes());
        }
        self.records.iter().for_each(|record| value.extend_from_slice(record));
        value
    }

    fn holds(&self, position: u64) -> bool {
        (self.first..self.first + self.records.len() as u64).contains(&position)
    }

    fn hash(&self, position: u64) -> Vec<u8> {
        self.headers[(position - self.first) as usize][..32].to_vec()
    }
}

/// What the helpers do to the log's tree (closures, so that the including crates need not name sled's
/// types).
struct Log<'a> {
    /// The entry holding a position.
    find: &'a dyn Fn(u64) -> Option<Entry>,
    store: &'a dyn Fn(&Entry),
    /// Removes every entry keyed at or after a position.
    remove_from: &'a dyn Fn(u64),
}

fn with_log<R>(dir: &Path, act: impl FnOnce(&Log<'_>) -> R) -> R {
    let db = event_log::open_sled_when_unlocked(dir).unwrap();
    let tree = db.open_tree(TREE).unwrap();
    let key = |position: u64| [&b"C"[..], &position.to_be_bytes()].concat();
    let find = |position| {
        let (found, value) = tree.range(key(0)..=key(position)).next_back()?.unwrap();
        Some(Entry::parse(&found, &value)).filter(|entry| entry.holds(position))
    };
    let store = |entry: &Entry| drop(tree.insert(entry.key(), entry.value()).unwrap());
    let remove_from = |first| {
        let keys: Vec<_> = tree.range(key(first)..b"D".to_vec()).keys().map(Result::unwrap).collect();
        keys.into_iter().for_each(|k| drop(tree.remove(k).unwrap()));
    };
    let result = act(&Log { find: &find, store: &store, remove_from: &remove_from });
    db.flush().unwrap();
    result
}

fn sha256(prev: &[u8], record: &[u8]) -> [u8; 32] {
    event_log::Hash::chain(&event_log::Hash::from_slice(prev).unwrap(), record).as_bytes().to_owned()
}

/// The stored record bytes of the event at `position`.
pub fn record_at(dir: &Path, position: u64) -> Vec<u8> {
    with_log(dir, |log| {
        let entry = (log.find)(position).expect("event is stored");
        entry.records[(position - entry.first) as usize].clone()
    })
}

/// Changes the stored record bytes of the event at `position` in place with `change`, leaving its stored
/// hash as it was: the hash no longer matches the bytes, as after a careless edit or a flipped bit.
pub fn change_record(dir: &Path, position: u64, change: impl FnOnce(&mut Vec<u8>)) {
    with_log(dir, |log| {
        let mut entry = (log.find)(position).expect("event is stored");
        change(&mut entry.records[(position - entry.first) as usize]);
        (log.store)(&entry);
    });
}

/// Replaces the record at `position` by `rewrite(record)` and rebuilds the chain from there to the head,
/// as a careful attacker would: every later record gets the new `prev_hash` (field 14, 32 bytes, followed
/// only by the `traceparent` when there is one) and every stored hash is recomputed, so that the chain
/// verifies from any point after it.
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
    with_log(dir, |log| {
        let mut hash = match position.checked_sub(1) {
            None => [0u8; 32].to_vec(),
            Some(before) => (log.find)(before).unwrap().hash(before),
        };
        let mut entry = (log.find)(position).unwrap();
        let mut rewrite = Some(rewrite);
        let mut at = position;
        loop {
            let index = (at - entry.first) as usize;
            let record = &mut entry.records[index];
            match rewrite.take() {
                Some(rewrite) => *record = rewrite(record),
                None => {
                    let at = prev_hash_at(record);
                    record[at..at + 32].copy_from_slice(&hash);
                }
            }
            hash = sha256(&hash, record).to_vec();
            entry.headers[index][..32].copy_from_slice(&hash);
            at += 1;
            if !through_head || !entry.holds(at) {
                (log.store)(&entry);
                match (log.find)(at).filter(|_| through_head) {
                    Some(next) => entry = next,
                    None => break,
                }
            }
        }
    });
}

/// Where the 32 bytes of a record's `prev_hash` (field 14) start: the record's fields are walked by their
/// protobuf keys.
fn prev_hash_at(record: &[u8]) -> usize {
    let varint = |at: &mut usize| {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = record[*at];
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    };
    let mut at = 0;
    loop {
        let key = varint(&mut at);
        let len = match key & 7 {
            0 => {
                varint(&mut at);
                0
            }
            1 => 8,
            2 => varint(&mut at) as usize,
            5 => 4,
            other => panic!("wire type {other} in a record"),
        };
        if key >> 3 == 14 {
            assert_eq!(len, 32, "prev_hash is 32 bytes");
            return at;
        }
        at += len;
    }
}

/// Removes every event from `position` on (only the events: markers stay as they were).
pub fn truncate_from(dir: &Path, position: u64) {
    with_log(dir, |log| {
        let mut entry = (log.find)(position).expect("an event is stored at the position");
        let kept = (position - entry.first) as usize;
        (log.remove_from)(entry.first + 1);
        if kept == 0 {
            (log.remove_from)(entry.first);
        } else {
            entry.headers.truncate(kept);
            entry.records.truncate(kept);
            (log.store)(&entry);
        }
    });
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
