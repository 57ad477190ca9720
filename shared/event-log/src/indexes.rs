//! The stream and event-id indexes, held in memory and rebuilt from the commit entries when the log opens
//! (see [`crate::keys`]): sled then writes one entry per commit instead of three per event.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Write};
use std::path::Path;

use uuid::Uuid;

use crate::chain::Hash;
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

    /// Every entry, sorted (merging the recent ones in first).
    fn entries(&mut self) -> &[(u64, u64)] {
        self.merge();
        &self.sorted
    }

    /// The entries, unsorted, to add more to before building a new index.
    pub(crate) fn into_entries(mut self) -> Vec<(u64, u64)> {
        self.merge();
        self.sorted
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

/// The indexes as of a position, written to a file of their own when the log closes so that the next
/// open reads only the commit entries after it instead of all of them. Its header names the position it
/// covers and the hash stored for the event before it: a log that no longer has that event there (cut
/// short or rewritten) is indexed from scratch instead. A CRC-32 over the whole file guards the rest.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub next_position: u64,
    /// The stored hash at `next_position - 1` (genesis for an empty log).
    pub head_hash: Hash,
    pub ids: IdIndex,
    pub streams: StreamIndex,
}

pub(crate) const SNAPSHOT_FILE: &str = "indexes";
const SNAPSHOT_MAGIC: &[u8; 16] = b"grants-log-idx-1";

impl Snapshot {
    /// Writes the snapshot beside the log (to a new file, synced, then renamed over the old one).
    pub(crate) fn write(
        dir: &Path,
        next_position: u64,
        head_hash: &Hash,
        ids: &mut IdIndex,
        streams: &StreamIndex,
    ) -> io::Result<()> {
        let entries = ids.entries();
        let mut out = Vec::with_capacity(64 + entries.len() * 16 + streams.streams.len() * 64);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&next_position.to_be_bytes());
        out.extend_from_slice(head_hash.as_bytes());
        out.extend_from_slice(&(streams.streams.len() as u64).to_be_bytes());
        for (stream, positions) in &streams.streams {
            for part in [stream.stream_type(), stream.key()] {
                out.extend_from_slice(&(part.len() as u16).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
            out.extend_from_slice(&(positions.len() as u64).to_be_bytes());
            positions.iter().for_each(|p| out.extend_from_slice(&p.to_be_bytes()));
        }
        out.extend_from_slice(&(entries.len() as u64).to_be_bytes());
        for (hash, position) in entries {
            out.extend_from_slice(&hash.to_be_bytes());
            out.extend_from_slice(&position.to_be_bytes());
        }
        out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
        let new = dir.join(format!("{SNAPSHOT_FILE}.new"));
        let mut file = std::fs::File::create(&new)?;
        file.write_all(&out)?;
        file.sync_all()?;
        std::fs::rename(&new, dir.join(SNAPSHOT_FILE))?;
        std::fs::File::open(dir)?.sync_all()
    }

    /// The snapshot beside the log, if there is a whole one.
    pub(crate) fn read(dir: &Path) -> Option<Snapshot> {
        let bytes = std::fs::read(dir.join(SNAPSHOT_FILE)).ok()?;
        let (body, crc) = bytes.split_at(bytes.len().checked_sub(4)?);
        if !body.starts_with(SNAPSHOT_MAGIC) || crc32fast::hash(body).to_be_bytes() != crc {
            return None;
        }
        let mut at = SNAPSHOT_MAGIC.len();
        let mut take = |len: usize| {
            let taken = body.get(at..at + len);
            at += len;
            taken
        };
        let u64_of = |bytes: Option<&[u8]>| bytes.and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
        let next_position = u64_of(take(8))?;
        let head_hash = Hash::from_slice(take(32)?)?;
        let stream_count = u64_of(take(8))?;
        let mut streams = StreamIndex::default();
        for _ in 0..stream_count {
            let mut part = || {
                let len = u16::from_be_bytes(take(2)?.try_into().ok()?) as usize;
                String::from_utf8(take(len)?.to_vec()).ok()
            };
            let stream = StreamId::new(part()?, part()?).ok()?;
            let count = usize::try_from(u64_of(take(8))?).ok()?;
            let positions =
                take(count.checked_mul(8)?)?.chunks_exact(8).map(|p| u64_of(Some(p))).collect::<Option<_>>()?;
            streams.streams.insert(stream, positions);
        }
        let id_count = usize::try_from(u64_of(take(8))?).ok()?;
        let ids = take(id_count.checked_mul(16)?)?
            .chunks_exact(16)
            .map(|e| Some((u64_of(Some(&e[..8]))?, u64_of(Some(&e[8..]))?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Snapshot { next_position, head_hash, ids: IdIndex { sorted: ids, ..IdIndex::default() }, streams })
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
    fn a_snapshot_reads_back_as_written_and_a_damaged_one_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids = IdIndex::from_entries(vec![(5, 0), (1, 1)]);
        ids.insert(&Uuid::from_u128(9), 2);
        let mut streams = StreamIndex::default();
        streams.extend(StreamId::new("award", "a").unwrap(), vec![0, 2]);
        streams.extend(StreamId::new("application", "b").unwrap(), vec![1]);
        Snapshot::write(dir.path(), 3, &Hash::from_bytes([7; 32]), &mut ids, &streams).unwrap();
        let read = Snapshot::read(dir.path()).unwrap();
        assert_eq!((read.next_position, read.head_hash), (3, Hash::from_bytes([7; 32])));
        assert_eq!(read.ids.candidates(&Uuid::from_u128(9)).collect::<Vec<_>>(), vec![2]);
        assert_eq!(read.ids.sorted.len(), 3);
        assert_eq!(read.streams.positions(&StreamId::new("award", "a").unwrap(), 0, 10), vec![0, 2]);
        assert_eq!(read.streams.version(&StreamId::new("application", "b").unwrap()), Some(0));

        let path = dir.path().join(SNAPSHOT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(Snapshot::read(dir.path()).is_none());
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
