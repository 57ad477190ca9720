//! The commit journal: what makes an append durable. Each group commit's writes (its commit entries and
//! markers) are appended to this file and `fdatasync`ed, one write and one sync; sled applies the same
//! writes in memory and persists them at its own pace. When the journal is full, a checkpoint flushes and
//! syncs sled (its data file and blob files) and the journal starts over; opening a log replays the
//! journal into sled first. Replaying is idempotent (every write is an insert of a value that never
//! changes, or a marker, replayed in order), so replaying writes sled already holds does no harm.
//!
//! Layout: a 4 KiB header (magic, generation, CRC-32 of both), then records from offset 4096:
//!
//! ```text
//! u32 payload length | u64 generation | u32 CRC-32 of generation and payload | payload
//! payload: (u32 key length, key, u32 value length, value) for each write, in order
//! ```
//!
//! A record of another generation (left from before the last checkpoint), or whose checksum does not
//! match (a write cut short by a crash), ends the replay.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) const FILE_NAME: &str = "journal";
const MAGIC: &[u8; 16] = b"grants-log-jrnl1";
const HEADER_LEN: u64 = 4096;
const FRAME_LEN: usize = 4 + 8 + 4;

/// The writes of one group commit, encoded as a journal record's payload.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    payload: Vec<u8>,
}

impl Writes {
    pub(crate) fn insert(&mut self, key: &[u8], value: &[u8]) {
        for part in [key, value] {
            self.payload.extend_from_slice(&(part.len() as u32).to_be_bytes());
            self.payload.extend_from_slice(part);
        }
    }

    /// The payload's writes as a sled batch.
    fn to_batch(payload: &[u8]) -> Option<sled::Batch> {
        let mut batch = sled::Batch::default();
        let mut at = 0;
        let part = |at: &mut usize| {
            let len = u32::from_be_bytes(payload.get(*at..*at + 4)?.try_into().ok()?) as usize;
            let bytes = payload.get(*at + 4..*at + 4 + len)?;
            *at += 4 + len;
            Some(bytes)
        };
        while at < payload.len() {
            let key = part(&mut at)?;
            let value = part(&mut at)?;
            batch.insert(key, value);
        }
        Some(batch)
    }
}

#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    generation: u64,
    /// Where the next record goes.
    end: u64,
    capacity: u64,
}

impl Journal {
    /// Opens the journal in `dir` (creating it if needed) and applies what it holds to `tree`. The caller
    /// must then make sled durable and call [`Journal::start_over`].
    pub(crate) fn open_and_replay(
        dir: &Path,
        capacity: u64,
        tree: &sled::Tree,
    ) -> Result<(Journal, u64), JournalError> {
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path)?;
        let mut header = vec![0u8; HEADER_LEN as usize];
        let read = read_up_to(&file, &mut header, 0)?;
        // A header cut short is only ever written right after a checkpoint: nothing to replay then.
        let generation = (read == header.len()).then(|| parse_header(&header)).flatten();
        let mut replayed = 0;
        let mut end = HEADER_LEN;
        if let Some(generation) = generation {
            let mut frame = [0u8; FRAME_LEN];
            loop {
                if read_up_to(&file, &mut frame, end)? < FRAME_LEN {
                    break;
                }
                let len = u32::from_be_bytes(frame[..4].try_into().unwrap_or_default()) as u64;
                let record_generation = u64::from_be_bytes(frame[4..12].try_into().unwrap_or_default());
                let crc = u32::from_be_bytes(frame[12..16].try_into().unwrap_or_default());
                if record_generation != generation
                    || end + FRAME_LEN as u64 + len > capacity.max(file.metadata()?.len())
                {
                    break;
                }
                let mut payload = vec![0u8; len as usize];
                if read_up_to(&file, &mut payload, end + FRAME_LEN as u64)? < payload.len()
                    || checksum(generation, &payload) != crc
                {
                    break;
                }
                let batch = Writes::to_batch(&payload).ok_or(JournalError::Malformed { offset: end })?;
                tree.apply_batch(batch)?;
                replayed += 1;
                end += FRAME_LEN as u64 + len;
            }
        }
        let journal = Journal { file, generation: generation.unwrap_or(0), end, capacity };
        Ok((journal, replayed))
    }

    /// The journal bytes that `writes` take, framed.
    pub(crate) fn framed_len(writes: &[&Writes]) -> usize {
        writes.iter().map(|w| FRAME_LEN + w.payload.len()).sum()
    }

    /// Whether this many framed bytes fit after what the journal holds.
    pub(crate) fn has_room_for(&self, bytes: usize) -> bool {
        self.end + bytes as u64 <= self.capacity
    }

    /// Appends the records of `writes` (one per group commit) with one write, without syncing.
    pub(crate) fn append(&mut self, writes: &[&Writes]) -> io::Result<()> {
        let mut buffer = Vec::with_capacity(Journal::framed_len(writes));
        for w in writes {
            buffer.extend_from_slice(&(w.payload.len() as u32).to_be_bytes());
            buffer.extend_from_slice(&self.generation.to_be_bytes());
            buffer.extend_from_slice(&checksum(self.generation, &w.payload).to_be_bytes());
            buffer.extend_from_slice(&w.payload);
        }
        self.file.write_all_at(&buffer, self.end)?;
        self.end += buffer.len() as u64;
        Ok(())
    }

    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Empties the journal once sled holds everything in it durably: a new generation, so that the
    /// records of the old one no longer count.
    pub(crate) fn start_over(&mut self) -> io::Result<()> {
        let generation = self.generation.wrapping_add(1);
        let mut header = vec![0u8; HEADER_LEN as usize];
        header[..16].copy_from_slice(MAGIC);
        header[16..24].copy_from_slice(&generation.to_be_bytes());
        let crc = crc32fast::hash(&header[..24]);
        header[24..28].copy_from_slice(&crc.to_be_bytes());
        self.file.write_all_at(&header, 0)?;
        // The file's size (a new or grown journal) must be durable too: a full sync.
        self.file.sync_all()?;
        self.generation = generation;
        self.end = HEADER_LEN;
        Ok(())
    }
}

fn parse_header(header: &[u8]) -> Option<u64> {
    let generation = u64::from_be_bytes(header.get(16..24)?.try_into().ok()?);
    let crc = u32::from_be_bytes(header.get(24..28)?.try_into().ok()?);
    (header.starts_with(MAGIC) && crc32fast::hash(&header[..24]) == crc).then_some(generation)
}

fn checksum(generation: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&generation.to_be_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Reads into `buffer` from `offset` until it is full or the file ends; returns how much was read.
fn read_up_to(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut read = 0;
    while read < buffer.len() {
        match file.read_at(&mut buffer[read..], offset + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum JournalError {
    #[error("commit journal: {0}")]
    Io(#[from] io::Error),
    #[error("commit journal could not be replayed: {0}")]
    Sled(#[from] sled::Error),
    #[error("commit journal record at offset {offset} passes its checksum but does not decode")]
    Malformed { offset: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(key: &str, value: &str) -> Writes {
        let mut w = Writes::default();
        w.insert(key.as_bytes(), value.as_bytes());
        w
    }

    fn replay(dir: &Path) -> (Journal, u64, sled::Db) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        let (journal, replayed) = Journal::open_and_replay(dir, 1 << 20, &tree).unwrap();
        (journal, replayed, db)
    }

    #[test]
    fn replay_stops_at_a_record_cut_short_and_ignores_records_of_an_older_generation() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, replayed, _) = replay(dir.path());
        assert_eq!(replayed, 0, "a new journal holds nothing");
        journal.start_over().unwrap();
        journal.append(&[&writes("a", "1"), &writes("b", "2")]).unwrap();
        journal.append(&[&writes("c", "3")]).unwrap();
        journal.sync().unwrap();
        let (_, replayed, db) = replay(dir.path());
        assert_eq!(replayed, 3);
        assert_eq!(db.open_tree("t").unwrap().get("c").unwrap().as_deref(), Some(&b"3"[..]));

        // The last record cut short: the two before it still count.
        let file = OpenOptions::new().write(true).open(dir.path().join(FILE_NAME)).unwrap();
        let len = file.metadata().unwrap().len();
        file.set_len(len - 1).unwrap();
        let (mut journal, replayed, db) = replay(dir.path());
        assert_eq!(replayed, 2);
        assert_eq!(db.open_tree("t").unwrap().get("c").unwrap(), None);

        // After a checkpoint the old records are still in the file but no longer count.
        journal.start_over().unwrap();
        journal.append(&[&writes("d", "4")]).unwrap();
        let (_, replayed, db) = replay(dir.path());
        assert_eq!(replayed, 1);
        assert_eq!(db.open_tree("t").unwrap().get("a").unwrap(), None);
    }
}
