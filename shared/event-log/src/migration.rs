//! Converting a log of format 1 (one `E` entry per event, `S` and `I` index entries) to format 2 (one
//! entry per commit, indexes in memory), once, when it is opened. The new entries are written beside the
//! old ones, and the format key switches only once all of them are in place and flushed: a crash before
//! that leaves a format-1 log whose conversion starts over; a crash after it leaves old entries that the
//! next open removes.

use crate::commit_entry::EntryBuilder;
use crate::error::StorageError;
use crate::keys::{self, format_1};

/// Records converted per sled batch: bounds the memory a conversion holds.
const RECORDS_PER_BATCH: u64 = 4096;
/// Entries removed per sled batch.
const REMOVALS_PER_BATCH: usize = 10_000;
/// A conversion logs its progress every this many events.
const PROGRESS_EVERY: u64 = 100_000;

pub(crate) fn convert_format_1(tree: &sled::Tree, db: &sled::Db, shown: &str) -> Result<(), StorageError> {
    // Entries of an attempt a crash interrupted.
    remove_prefix(tree, keys::COMMIT_PREFIX)?;
    let total = match tree.scan_prefix(format_1::EVENT_PREFIX).next_back().transpose()? {
        Some((key, _)) => format_1::position_of_event_key(&key).map_or(0, |p| p + 1),
        None => 0,
    };
    tracing::info!(log = shown, events = total, "converting the event log from format 1 to format 2");
    let mut batch = sled::Batch::default();
    let mut in_batch = 0u64;
    let mut converted = 0u64;
    let mut entry: Option<EntryBuilder> = None;
    for found in tree.scan_prefix(format_1::EVENT_PREFIX) {
        let (key, value) = found?;
        let corrupt = |reason: String| StorageError::Corrupt { location: format!("format-1 entry {key:?}"), reason };
        let position = format_1::position_of_event_key(&key).ok_or_else(|| corrupt("malformed key".into()))?;
        if value.len() < 32 {
            return Err(corrupt("value too short".into()));
        }
        let (hash, record) = value.split_at(32);
        let hash = crate::Hash::from_slice(hash).unwrap_or_default();
        let event = crate::log::decode_record_at(position, record, hash)?;
        // An entry holds consecutive positions only: a missing event (which verification reports) starts
        // a new one, as does a full one.
        let ends_entry = entry.as_ref().is_some_and(|e| e.is_full() || e.first_position() + e.len() != position);
        if ends_entry && let Some(full) = entry.take() {
            batch.insert(&keys::commit_key(full.first_position()), full.finish());
        }
        entry.get_or_insert_with(|| EntryBuilder::new(position)).push(&hash, &event.event_id, &event.stream, record);
        in_batch += 1;
        converted += 1;
        if in_batch >= RECORDS_PER_BATCH && entry.as_ref().is_some_and(EntryBuilder::is_full) {
            let full = entry.take().map(|e| (e.first_position(), e.finish()));
            if let Some((first, value)) = full {
                batch.insert(&keys::commit_key(first), value);
            }
            tree.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
        if converted.is_multiple_of(PROGRESS_EVERY) {
            tracing::info!(log = shown, converted, of = total, "converting the event log");
        }
    }
    if let Some(last) = entry.take() {
        batch.insert(&keys::commit_key(last.first_position()), last.finish());
    }
    tree.apply_batch(batch)?;
    db.flush()?;
    // The switch: from here on the log is read in format 2.
    tree.insert(keys::FORMAT_KEY, keys::FORMAT)?;
    db.flush()?;
    tracing::info!(log = shown, converted, "converted the event log to format 2; removing the format-1 entries");
    remove_format_1_leftovers(tree, db)
}

/// Removes what format 1 left in a converted log, if anything.
pub(crate) fn remove_format_1_leftovers(tree: &sled::Tree, db: &sled::Db) -> Result<(), StorageError> {
    let mut removed = 0;
    for prefix in std::iter::once(format_1::EVENT_PREFIX).chain(format_1::INDEX_PREFIXES) {
        removed += remove_prefix(tree, prefix)?;
    }
    if removed > 0 {
        db.flush()?;
    }
    Ok(())
}

fn remove_prefix(tree: &sled::Tree, prefix: &[u8]) -> Result<usize, StorageError> {
    let mut removed = 0;
    loop {
        let keys: Vec<sled::IVec> =
            tree.scan_prefix(prefix).keys().take(REMOVALS_PER_BATCH).collect::<Result<_, _>>()?;
        if keys.is_empty() {
            return Ok(removed);
        }
        let mut batch = sled::Batch::default();
        removed += keys.len();
        keys.into_iter().for_each(|key| batch.remove(key));
        tree.apply_batch(batch)?;
    }
}
