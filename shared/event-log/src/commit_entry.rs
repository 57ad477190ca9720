//! The value of a commit entry (`C` key, see [`crate::keys`]): the records of consecutive positions with
//! what rebuilding the indexes needs, all big-endian:
//!
//! ```text
//! u32 record count n, u32 stream count s
//! s x (u16 length, stream type, u16 length, stream key)        the streams the records belong to
//! n x (32-byte hash, 16-byte event id, u32 stream index, u32 end of the record in the record bytes)
//! the records' canonical bytes, back to back
//! ```
//!
//! The record bytes are exactly what the hash chain covers, so readers hand out slices of the entry.

use uuid::Uuid;

use crate::chain::Hash;
use crate::error::StorageError;
use crate::keys;
use crate::stream::StreamId;

/// A commit's records go into one entry until it holds this many bytes, then into the next. sled moves a
/// page over a quarter of its 512 KiB segment to a blob file of its own: entries stay well under it.
pub(crate) const ENTRY_TARGET_BYTES: usize = 6 * 1024;

const COUNTS_LEN: usize = 8;
const RECORD_HEADER_LEN: usize = 32 + 16 + 4 + 4;

/// Gathers the records of consecutive positions into one entry.
#[derive(Debug)]
pub(crate) struct EntryBuilder {
    first_position: u64,
    streams: Vec<StreamId>,
    headers: Vec<u8>,
    records: Vec<u8>,
}

impl EntryBuilder {
    pub(crate) fn new(first_position: u64) -> EntryBuilder {
        EntryBuilder { first_position, streams: Vec::new(), headers: Vec::new(), records: Vec::new() }
    }

    pub(crate) fn first_position(&self) -> u64 {
        self.first_position
    }

    pub(crate) fn len(&self) -> u64 {
        (self.headers.len() / RECORD_HEADER_LEN) as u64
    }

    pub(crate) fn is_full(&self) -> bool {
        self.records.len() + self.headers.len() >= ENTRY_TARGET_BYTES
    }

    /// Adds the record of the next position.
    pub(crate) fn push(&mut self, hash: &Hash, event_id: &Uuid, stream: &StreamId, record: &[u8]) {
        // A commit holds few streams, usually one per append, and appends of one stream are adjacent.
        let stream_index = match self.streams.iter().rposition(|s| s == stream) {
            Some(index) => index,
            None => {
                self.streams.push(stream.clone());
                self.streams.len() - 1
            }
        };
        self.records.extend_from_slice(record);
        self.headers.extend_from_slice(hash.as_bytes());
        self.headers.extend_from_slice(event_id.as_bytes());
        self.headers.extend_from_slice(&(stream_index as u32).to_be_bytes());
        self.headers.extend_from_slice(&(self.records.len() as u32).to_be_bytes());
    }

    /// The hash and record bytes of `position`, if this entry holds it.
    pub(crate) fn get(&self, position: u64) -> Option<(Hash, &[u8])> {
        let index = usize::try_from(position.checked_sub(self.first_position)?).ok()?;
        let header = self.headers.get(index * RECORD_HEADER_LEN..(index + 1) * RECORD_HEADER_LEN)?;
        let end = read_u32(header, 52)? as usize;
        let start = match index.checked_sub(1) {
            None => 0,
            Some(before) => read_u32(&self.headers, before * RECORD_HEADER_LEN + 52)? as usize,
        };
        Some((Hash::from_slice(&header[..32])?, self.records.get(start..end)?))
    }

    /// The entry's value.
    pub(crate) fn finish(self) -> Vec<u8> {
        let streams_len: usize = self.streams.iter().map(|s| 4 + s.stream_type().len() + s.key().len()).sum();
        let mut value = Vec::with_capacity(COUNTS_LEN + streams_len + self.headers.len() + self.records.len());
        value.extend_from_slice(&(self.len() as u32).to_be_bytes());
        value.extend_from_slice(&(self.streams.len() as u32).to_be_bytes());
        for stream in &self.streams {
            for part in [stream.stream_type(), stream.key()] {
                // Stream parts are at most `MAX_STREAM_PART_LEN` (256) bytes.
                value.extend_from_slice(&(part.len() as u16).to_be_bytes());
                value.extend_from_slice(part.as_bytes());
            }
        }
        value.extend_from_slice(&self.headers);
        value.extend_from_slice(&self.records);
        value
    }
}

/// A stored commit entry, checked once for consistent lengths; its records are slices of the value.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    first_position: u64,
    value: sled::IVec,
    len: usize,
    stream_table: std::ops::Range<usize>,
    stream_count: usize,
    headers_at: usize,
    records_at: usize,
}

impl Entry {
    pub(crate) fn parse(first_position: u64, value: sled::IVec) -> Result<Entry, StorageError> {
        let corrupt = |reason: &str| StorageError::Corrupt {
            location: format!("commit entry at position {first_position}"),
            reason: reason.to_owned(),
        };
        let len = read_u32(&value, 0).ok_or_else(|| corrupt("shorter than its counts"))? as usize;
        let stream_count = read_u32(&value, 4).ok_or_else(|| corrupt("shorter than its counts"))? as usize;
        if len == 0 {
            return Err(corrupt("holds no record"));
        }
        let mut at = COUNTS_LEN;
        for _ in 0..stream_count * 2 {
            let part = read_u16(&value, at).ok_or_else(|| corrupt("stream table cut short"))? as usize;
            at += 2 + part;
        }
        let stream_table = COUNTS_LEN..at;
        let headers_at = at;
        let records_at = len
            .checked_mul(RECORD_HEADER_LEN)
            .and_then(|headers| headers.checked_add(headers_at))
            .filter(|end| *end <= value.len())
            .ok_or_else(|| corrupt("record headers cut short"))?;
        let entry = Entry { first_position, value, len, stream_table, stream_count, headers_at, records_at };
        let mut previous_end = 0;
        for index in 0..len {
            let end = entry.record_end(index);
            if end < previous_end || entry.records_at + end > entry.value.len() {
                return Err(corrupt("record lengths do not fit the entry"));
            }
            if entry.stream_index(index) >= stream_count {
                return Err(corrupt("record names a stream the entry does not hold"));
            }
            previous_end = end;
        }
        Ok(entry)
    }

    /// An entry as sled holds it, under its `C` key.
    pub(crate) fn from_stored(key: &[u8], value: sled::IVec) -> Result<Entry, StorageError> {
        let first = keys::first_position_of_commit_key(key).ok_or_else(|| StorageError::Corrupt {
            location: format!("commit entry key {key:?}"),
            reason: "not a commit entry key".into(),
        })?;
        Entry::parse(first, value)
    }

    pub(crate) fn first_position(&self) -> u64 {
        self.first_position
    }

    /// The position after the entry's last record.
    pub(crate) fn end_position(&self) -> u64 {
        self.first_position + self.len as u64
    }

    pub(crate) fn holds(&self, position: u64) -> bool {
        (self.first_position..self.end_position()).contains(&position)
    }

    fn header(&self, index: usize) -> &[u8] {
        let at = self.headers_at + index * RECORD_HEADER_LEN;
        &self.value[at..at + RECORD_HEADER_LEN]
    }

    fn record_end(&self, index: usize) -> usize {
        read_u32(self.header(index), 52).unwrap_or(0) as usize
    }

    fn stream_index(&self, index: usize) -> usize {
        read_u32(self.header(index), 48).unwrap_or(0) as usize
    }

    /// The stored hash of the record at `index` (0 is the entry's first position).
    pub(crate) fn hash(&self, index: usize) -> Hash {
        Hash::from_slice(&self.header(index)[..32]).unwrap_or_default()
    }

    pub(crate) fn event_id(&self, index: usize) -> Uuid {
        Uuid::from_slice(&self.header(index)[32..48]).unwrap_or_default()
    }

    /// The canonical record bytes at `index`, sharing the entry's memory.
    pub(crate) fn record(&self, index: usize) -> sled::IVec {
        let start = index.checked_sub(1).map_or(0, |before| self.record_end(before));
        let end = self.record_end(index);
        self.value.subslice(self.records_at + start, end - start)
    }

    /// The index within this entry of `position`, which it must hold.
    pub(crate) fn index_of(&self, position: u64) -> usize {
        (position - self.first_position) as usize
    }

    /// The streams of the entry, in the order its records refer to them.
    pub(crate) fn streams(&self) -> Result<Vec<StreamId>, StorageError> {
        let mut streams = Vec::with_capacity(self.stream_count);
        let table = &self.value[self.stream_table.clone()];
        let mut at = 0;
        let mut part = || {
            let len = read_u16(table, at).unwrap_or(0) as usize;
            let text = table.get(at + 2..at + 2 + len).unwrap_or_default();
            at += 2 + len;
            String::from_utf8(text.to_vec())
        };
        for _ in 0..self.stream_count {
            let stream = match (part(), part()) {
                (Ok(stream_type), Ok(key)) => StreamId::new(stream_type, key).ok(),
                _ => None,
            };
            streams.push(stream.ok_or_else(|| StorageError::Corrupt {
                location: format!("commit entry at position {}", self.first_position),
                reason: "a stream id in its stream table is not valid".into(),
            })?);
        }
        Ok(streams)
    }

    /// For each record, its event id and the index of its stream in [`Entry::streams`].
    pub(crate) fn ids_and_streams(&self) -> impl Iterator<Item = (Uuid, usize)> + '_ {
        (0..self.len).map(|index| (self.event_id(index), self.stream_index(index)))
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The stored entry holding `position`: the last entry keyed at or before it, if it reaches that far.
pub(crate) fn entry_holding(tree: &sled::Tree, position: u64) -> Result<Option<Entry>, StorageError> {
    let Some(found) = tree.range(keys::commit_key(0)..=keys::commit_key(position)).next_back() else {
        return Ok(None);
    };
    let (key, value) = found?;
    let entry = Entry::from_stored(&key, value)?;
    Ok(entry.holds(position).then_some(entry))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    bytes.get(at..at + 2).and_then(|b| b.try_into().ok()).map(u16::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_gives_back_each_record_with_its_hash_id_and_stream() {
        let streams = [StreamId::new("award", "a-1").unwrap(), StreamId::new("application", "b").unwrap()];
        let mut builder = EntryBuilder::new(40);
        for i in 0..5u8 {
            let record = vec![i; usize::from(i) * 3];
            builder.push(
                &Hash::from_bytes([i; 32]),
                &Uuid::from_u128(u128::from(i)),
                &streams[usize::from(i % 2)],
                &record,
            );
        }
        assert_eq!(builder.get(42).unwrap().1, &[2u8; 6][..]);
        assert!(builder.get(45).is_none() && builder.get(39).is_none());
        let entry = Entry::parse(40, builder.finish().into()).unwrap();
        assert_eq!((entry.first_position(), entry.end_position(), entry.len()), (40, 45, 5));
        assert_eq!(entry.streams().unwrap(), streams);
        for i in 0..5u8 {
            let index = usize::from(i);
            assert_eq!(entry.record(index).as_ref(), vec![i; index * 3].as_slice());
            assert_eq!(entry.hash(index), Hash::from_bytes([i; 32]));
        }
        let ids: Vec<_> = entry.ids_and_streams().collect();
        assert_eq!(ids[3], (Uuid::from_u128(3), 1));
    }

    #[test]
    fn a_damaged_entry_is_an_error_naming_it() {
        let mut builder = EntryBuilder::new(7);
        builder.push(&Hash::GENESIS, &Uuid::nil(), &StreamId::new("t", "k").unwrap(), b"record");
        let value = builder.finish();
        for cut in [3, 12, value.len() - 1] {
            let error = Entry::parse(7, value[..cut].to_vec().into()).unwrap_err();
            assert!(error.to_string().contains("position 7"), "{error}");
        }
        assert!(Entry::parse(7, vec![0xff; 40].into()).is_err());
    }
}
