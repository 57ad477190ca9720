//! The stream and event-id indexes, held in memory and rebuilt from the commit entries when the log opens
//! (see [`crate::keys`]): sled then writes one entry per commit instead of three per event.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use uuid::Uuid;

use crate::stream::StreamId;

/// The position of every event of each stream, in version order: versions have no gaps, so a stream's
/// version `v` is at index `v`.
#[derive(Debug, Default)]
pub(crate) struct StreamIndex {
    streams: HashMap<StreamId, Vec<u64>>,
}

impl StreamIndex {
    /// The version of the stream's last event; `None` if it has none.
    pub(crate) fn version(&self, stream: &StreamId) -> Option<u64> {
        self.streams.get(stream).and_then(|positions| (positions.len() as u64).checked_sub(1))
    }

    /// The version of the stream's last event below `until`; `None` if it has none there.
    pub(crate) fn version_below(&self, stream: &StreamId, until: u64) -> Option<u64> {
        let positions = self.streams.get(stream)?;
        (positions.partition_point(|p| *p < until) as u64).checked_sub(1)
    }

    /// The positions of the stream's events from `from_version` on that are below `until`.
    pub(crate) fn positions(&self, stream: &StreamId, from_version: u64, until: u64) -> Vec<u64> {
        let Some(positions) = self.streams.get(stream) else { return Vec::new() };
        let from = usize::try_from(from_version).unwrap_or(usize::MAX).min(positions.len());
        let below = positions.partition_point(|p| *p < until);
        positions.get(from..below.max(from)).unwrap_or_default().to_vec()
    }

    /// Adds the positions of one stream, appended in version order.
    pub(crate) fn extend(&mut self, stream: StreamId, positions: Vec<u64>) {
        match self.streams.get_mut(&stream) {
            Some(existing) => existing.extend(positions),
            None => {
                self.streams.insert(stream, positions);
            }
        }
    }
}

/// Which positions may hold an event id: a sorted array of (64-bit hash of the id, position), compact and
/// quick to rebuild, and a small map of the ids added since it was last merged. Two ids may share a hash:
/// a hit is only a candidate, confirmed against the stored record by the caller.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    sorted: Vec<(u64, u64)>,
    recent: HashMap<u64, u64, BuildHasherDefault<PreHashed>>,
    /// Recent entries whose hash was in `recent` already (rare): searched linearly.
    recent_collided: Vec<(u64, u64)>,
}

/// Recent entries merged into the sorted array past this many, or an eighth of it if that is more, so
/// that merging costs a few array copies per event over time.
const MERGE_AT_LEAST: usize = 64 * 1024;

impl IdIndex {
    /// An index of `entries`, in any order.
    pub(crate) fn from_entries(mut entries: Vec<(u64, u64)>) -> IdIndex {
        entries.sort_unstable();
        IdIndex { sorted: entries, ..IdIndex::default() }
    }

    pub(crate) fn insert(&mut self, id: &Uuid, position: u64) {
        let hash = id_hash(id);
        if let Some(existing) = self.recent.insert(hash, position) {
            // Keep both: put the earlier one back and the new one aside.
            self.recent.insert(hash, existing);
            self.recent_collided.push((hash, position));
        }
        if self.recent.len() >= MERGE_AT_LEAST.max(self.sorted.len() / 8) {
            self.merge();
        }
    }

    /// Every position whose event id may be `id`.
    pub(crate) fn candidates(&self, id: &Uuid) -> impl Iterator<Item = u64> + '_ {
        let hash = id_hash(id);
        let start = self.sorted.partition_point(|(h, _)| *h < hash);
        let sorted = self.sorted[start..].iter().take_while(move |(h, _)| *h == hash).map(|(_, p)| *p);
        let recent = self.recent.get(&hash).copied();
        let collided = self.recent_collided.iter().filter(move |(h, _)| *h == hash).map(|(_, p)| *p);
        sorted.chain(recent).chain(collided)
    }

    fn merge(&mut self) {
        let mut recent: Vec<(u64, u64)> = self.recent.drain().chain(self.recent_collided.drain(..)).collect();
        recent.sort_unstable();
        let old = std::mem::take(&mut self.sorted);
        let mut merged = Vec::with_capacity(old.len() + recent.len());
        let (mut a, mut b) = (old.into_iter().peekable(), recent.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, _) => b.next(),
            };
            match next {
                Some(entry) => merged.push(entry),
                None => break,
            }
        }
        self.sorted = merged;
    }
}

/// The 64-bit key of an event id in [`IdIndex`]: each half mixed in turn, so ids that differ in either
/// half (random, time-ordered, or counters) rarely share one.
pub(crate) fn id_hash(id: &Uuid) -> u64 {
    let value = id.as_u128();
    mix((value as u64) ^ mix((value >> 64) as u64))
}

/// SplitMix64's finaliser: every input bit moves about half the output bits.
fn mix(value: u64) -> u64 {
    let mut x = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The map's keys are [`id_hash`]es already: hashing them again would only cost time.
#[derive(Default)]
pub(crate) struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8) | u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_before_and_after_merging_and_collisions_keep_every_candidate() {
        let mut index = IdIndex::from_entries((0..1000u64).map(|p| (id_hash(&Uuid::from_u128(p.into())), p)).collect());
        for p in 1000..(1000 + MERGE_AT_LEAST as u64 + 10) {
            index.insert(&Uuid::from_u128(p.into()), p);
        }
        assert!(index.recent.len() < 20, "merged once past the threshold");
        for p in [0u64, 999, 1000, 50_000, 1000 + MERGE_AT_LEAST as u64 + 9] {
            assert_eq!(index.candidates(&Uuid::from_u128(p.into())).collect::<Vec<_>>(), vec![p]);
        }
        assert_eq!(index.candidates(&Uuid::from_u128(u128::MAX)).count(), 0);
        // The same id (as a hash collision would look) at two positions: both are candidates, before and
        // after a merge.
        index.insert(&Uuid::from_u128(7), 9_000_000);
        let mut found: Vec<_> = index.candidates(&Uuid::from_u128(7)).collect();
        found.sort_unstable();
        assert_eq!(found, vec![7, 9_000_000]);
        index.insert(&Uuid::from_u128(u128::MAX - 1), 9_000_001);
        index.insert(&Uuid::from_u128(u128::MAX - 1), 9_000_002);
        index.merge();
        assert_eq!(index.candidates(&Uuid::from_u128(u128::MAX - 1)).count(), 2);
        assert_eq!(index.sorted.len(), 1000 + MERGE_AT_LEAST + 10 + 3);
    }

    #[test]
    fn stream_positions_are_cut_at_the_version_and_the_durable_end() {
        let mut index = StreamIndex::default();
        let stream = StreamId::new("award", "1").unwrap();
        index.extend(stream.clone(), vec![3, 5]);
        index.extend(stream.clone(), vec![8, 13]);
        assert_eq!(index.version(&stream), Some(3));
        assert_eq!(index.positions(&stream, 1, 13), vec![5, 8]);
        assert_eq!(index.positions(&stream, 9, 100), Vec::<u64>::new());
        assert_eq!(index.version(&StreamId::new("award", "2").unwrap()), None);
    }
}
