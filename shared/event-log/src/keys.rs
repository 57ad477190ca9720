//! The key layout of the log's sled tree (format `grants-event-log/2`). One tree holds everything so that
//! a whole group commit is one atomic `apply_batch`:
//!
//! | key                              | value                                                   |
//! |----------------------------------|---------------------------------------------------------|
//! | `C` first position (u64 BE)      | the records of one commit, see [`crate::commit_entry`]  |
//! | `M` marker name                  | marker value                                            |
//! | `F`                              | format identifier                                       |
//!
//! A group commit writes one `C` entry holding all its records (their canonical bytes verbatim, their
//! hashes, and for each its event id and stream, so that the indexes are rebuilt without decoding a
//! record). A commit whose records pass [`crate::commit_entry::ENTRY_TARGET_BYTES`] is cut into several
//! entries, each keyed by its own first position, so that no entry grows into one of sled's blob files.
//! Entries follow each other without gaps: the one holding position `p` is the last key at or before
//! `C p`. The stream and event-id indexes are not stored: the log rebuilds them in memory when it opens.
//!
//! Beside sled's files the log's directory holds two of its own: `journal`, the commit journal that makes
//! each commit durable before sled does (see [`crate::journal`]), and `indexes`, the indexes as of the
//! last close (see [`crate::indexes::Snapshot`]), which only spares the next open from reading every entry.
//!
//! Format 1 (`grants-event-log/1`) stored one `E` entry per event (hash then record) with `S` (stream
//! version) and `I` (event id) index entries beside it; opening such a log converts it once
//! ([`crate::migration`]).

pub(crate) const TREE: &[u8] = b"event-log";
pub(crate) const FORMAT_KEY: &[u8] = b"F";
/// Changes whenever the layout or the record encoding changes incompatibly.
pub(crate) const FORMAT: &[u8] = b"grants-event-log/2";
pub(crate) const COMMIT_PREFIX: &[u8] = b"C";

pub(crate) fn commit_key(first_position: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = COMMIT_PREFIX[0];
    key[1..].copy_from_slice(&first_position.to_be_bytes());
    key
}

pub(crate) fn first_position_of_commit_key(key: &[u8]) -> Option<u64> {
    match key {
        [b'C', rest @ ..] => rest.try_into().ok().map(u64::from_be_bytes),
        _ => None,
    }
}

pub(crate) fn marker_key(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + name.len());
    key.push(b'M');
    key.extend_from_slice(name.as_bytes());
    key
}

/// The keys of format 1, read only to convert a log.
pub(crate) mod format_1 {
    pub(crate) const FORMAT: &[u8] = b"grants-event-log/1";
    /// `E` position (u64 BE): hash (32 bytes) then record bytes.
    pub(crate) const EVENT_PREFIX: &[u8] = b"E";
    /// `S` stream prefix and version: position; `I` event id: position. Removed after conversion.
    pub(crate) const INDEX_PREFIXES: [&[u8]; 2] = [b"S", b"I"];

    pub(crate) fn position_of_event_key(key: &[u8]) -> Option<u64> {
        match key {
            [b'E', rest @ ..] => rest.try_into().ok().map(u64::from_be_bytes),
            _ => None,
        }
    }
}
