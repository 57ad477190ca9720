//! The key layout of the log's sled tree. One tree holds everything so that a whole group commit is one
//! atomic `apply_batch`:
//!
//! | key                                             | value                              |
//! |-------------------------------------------------|------------------------------------|
//! | `E` position (u64 BE)                           | hash (32 bytes) then record bytes  |
//! | `S` len (u32 BE) stream id bytes version (u64 BE) | position (u64 BE)                |
//! | `I` event id (16 bytes)                         | position (u64 BE)                  |
//! | `M` marker name                                 | marker value                       |
//! | `F`                                             | format identifier                  |
//!
//! Stream and id entries are indexes over the `E` entries, written in the same batch.

use uuid::Uuid;

use crate::stream::StreamId;

pub(crate) const TREE: &[u8] = b"event-log";
pub(crate) const FORMAT_KEY: &[u8] = b"F";
/// Changes whenever the layout or the record encoding changes incompatibly.
pub(crate) const FORMAT: &[u8] = b"grants-event-log/1";
pub(crate) const EVENT_PREFIX: &[u8] = b"E";

pub(crate) fn event_key(position: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = b'E';
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

pub(crate) fn position_of_event_key(key: &[u8]) -> Option<u64> {
    match key {
        [b'E', rest @ ..] => rest.try_into().ok().map(u64::from_be_bytes),
        _ => None,
    }
}

/// The prefix shared by all version entries of one stream.
pub(crate) fn stream_prefix(stream: &StreamId) -> Vec<u8> {
    let (t, k) = (stream.stream_type().as_bytes(), stream.key().as_bytes());
    let mut key = Vec::with_capacity(1 + 4 + 2 + t.len() + k.len() + 8);
    key.push(b'S');
    // Length-prefixed parts: no stream's prefix is a prefix of another stream's.
    key.extend_from_slice(&u32::try_from(t.len() + k.len() + 2).unwrap_or(u32::MAX).to_be_bytes());
    key.extend_from_slice(&u16::try_from(t.len()).unwrap_or(u16::MAX).to_be_bytes());
    key.extend_from_slice(t);
    key.extend_from_slice(k);
    key
}

pub(crate) fn stream_version_key(prefix: &[u8], version: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

pub(crate) fn version_of_stream_key(key: &[u8]) -> Option<u64> {
    key.len().checked_sub(8).and_then(|at| key[at..].try_into().ok()).map(u64::from_be_bytes)
}

pub(crate) fn event_id_key(id: &Uuid) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = b'I';
    key[1..].copy_from_slice(id.as_bytes());
    key
}

pub(crate) fn marker_key(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + name.len());
    key.push(b'M');
    key.extend_from_slice(name.as_bytes());
    key
}

pub(crate) fn decode_u64(value: &[u8]) -> Option<u64> {
    value.try_into().ok().map(u64::from_be_bytes)
}
