//! The small storage interface the projection writes through, and the read interface queries read
//! through, with the three places they live: a sled transaction (live), batches written to a fresh sled
//! tree by a thread of their own (rebuild), and memory (as-of answers).
//!
//! Projection only needs point reads and writes (sled transactions cannot iterate); queries also scan by
//! key prefix, outside transactions.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sled::transaction::{TransactionalTree, UnabortableTransactionError};

/// A read-model storage failure, with the error underneath when there is one.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("read-model storage failed: {0}")]
    Sled(#[from] sled::Error),
    /// sled failed inside a transaction; [`TxStore`] keeps a copy aside for sled itself.
    #[error("read-model storage failed: {0}")]
    Transaction(#[source] UnabortableTransactionError),
    #[error("read-model storage failed: entry `{key}` does not decode: {source}")]
    EntryDecode { key: String, source: serde_json::Error },
    #[error("read-model storage failed: entry `{key}` does not encode: {source}")]
    EntryEncode { key: String, source: serde_json::Error },
    /// A stored checkpoint does not read.
    #[error("read-model storage failed: {0}")]
    Checkpoint(#[source] event_bus::BusError),
    /// The thread that writes a rebuild's batches could not start.
    #[error("read-model storage failed: the rebuild's writer thread cannot start: {0}")]
    WriterStart(#[source] std::io::Error),
    /// The thread that writes a rebuild's batches ended before its work (it panicked).
    #[error("read-model storage failed: the rebuild's writer thread stopped")]
    WriterStopped,
    /// A stored key or value is not what this version writes.
    #[error("read-model storage failed: {0}")]
    Malformed(String),
}

/// Where projection reads and writes read-model entries.
pub trait Store {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), StoreError>;
    fn remove(&mut self, key: &str) -> Result<(), StoreError>;
}

/// Where queries read read-model entries: point reads and scans in key order.
pub trait View {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Entries whose key starts with `prefix` and is greater than `after` (when given), in key order.
    fn scan(&self, prefix: &str, after: Option<&str>) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.scan_limit(prefix, after, usize::MAX)
    }
    fn scan_limit(&self, prefix: &str, after: Option<&str>, limit: usize)
    -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

/// Read models in memory: as-of answers and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemStore {
    pub entries: BTreeMap<String, Vec<u8>>,
}

impl Store for MemStore {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries.get(key).cloned())
    }
    fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.entries.insert(key.to_owned(), value);
        Ok(())
    }
    fn remove(&mut self, key: &str) -> Result<(), StoreError> {
        self.entries.remove(key);
        Ok(())
    }
}

impl View for MemStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries.get(key).cloned())
    }
    fn scan_limit(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let start = match after {
            Some(after) if after >= prefix => std::ops::Bound::Excluded(after.to_owned()),
            _ => std::ops::Bound::Included(prefix.to_owned()),
        };
        Ok(self
            .entries
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

impl View for sled::Tree {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sled::Tree::get(self, key.as_bytes())?.map(|v| v.to_vec()))
    }
    fn scan_limit(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        let iter = match after {
            Some(after) if after >= prefix => {
                self.range::<&[u8], _>((std::ops::Bound::Excluded(after.as_bytes()), std::ops::Bound::Unbounded))
            }
            _ => self.range::<&[u8], _>(prefix.as_bytes()..),
        };
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix.as_bytes()) || out.len() >= limit {
                break;
            }
            let key = String::from_utf8(k.to_vec()).map_err(|_| StoreError::Malformed("a key is not UTF-8".into()))?;
            out.push((key, v.to_vec()));
        }
        Ok(out)
    }
}

/// Writes through a sled transaction. sled's own conflict error must reach the transaction closure
/// unchanged so that sled can retry; it is kept aside and handed back by [`TxStore::take_error`].
pub struct TxStore<'a> {
    tree: &'a TransactionalTree,
    error: Option<UnabortableTransactionError>,
}

impl std::fmt::Debug for TxStore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxStore").finish_non_exhaustive()
    }
}

impl<'a> TxStore<'a> {
    pub fn new(tree: &'a TransactionalTree) -> TxStore<'a> {
        TxStore { tree, error: None }
    }

    pub fn take_error(&mut self) -> Option<UnabortableTransactionError> {
        self.error.take()
    }

    fn keep<T>(&mut self, result: Result<T, UnabortableTransactionError>) -> Result<T, StoreError> {
        result.map_err(|e| {
            self.error = Some(e.clone());
            StoreError::Transaction(e)
        })
    }
}

impl Store for TxStore<'_> {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let result = self.tree.get(key.as_bytes());
        self.keep(result).map(|v| v.map(|v| v.to_vec()))
    }
    fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let result = self.tree.insert(key.as_bytes(), value);
        self.keep(result).map(|_| ())
    }
    fn remove(&mut self, key: &str) -> Result<(), StoreError> {
        let result = self.tree.remove(key.as_bytes());
        self.keep(result).map(|_| ())
    }
}

/// Changes to entries by key, `None` removing one.
type Changes = HashMap<String, Option<Vec<u8>>>;

/// Writes into a sled tree nobody else writes (a generation being rebuilt). Changes gather in memory and
/// go to the tree in large batches on a writer thread of its own, while projection goes on with the next
/// batch; reads see the gathering changes, then the batches still being written, then the tree.
///
/// The writer inserts a batch key by key in key order rather than as one `sled::Batch`: applying a batch
/// holds sled's process-wide write lock, which stops every read of every tree (queries of the live
/// generation, and this store's own reads) for the whole batch. A half-written generation needs no
/// atomicity: a crash leaves it inactive, and it is dropped at the next start. Nothing is flushed here:
/// the rebuild flushes once, before it makes the generation active.
#[derive(Debug)]
pub struct BatchedStore {
    tree: sled::Tree,
    gathering: Changes,
    /// Handed to the writer and not yet confirmed written, oldest first.
    writing: VecDeque<Arc<Changes>>,
    batch_entries: usize,
    /// Hashes of every key handed to the writer: a key whose hash is not here is not in the tree, so
    /// reading it (a record created by this event, mostly) needs no sled lookup.
    keys_in_tree: HashSet<u64>,
    writer: Option<BatchWriter>,
    /// Time spent waiting for the writer to take a batch or to finish.
    waited_for_writer: Duration,
}

/// The writer thread and its two channels: batches to write, and the outcome of each in order.
#[derive(Debug)]
struct BatchWriter {
    batches: std::sync::mpsc::SyncSender<Arc<Changes>>,
    written: std::sync::mpsc::Receiver<Result<(), sled::Error>>,
    thread: std::thread::JoinHandle<()>,
}

impl BatchedStore {
    /// Writes to `tree` in batches of about `batch_entries` changed entries.
    pub fn new(tree: sled::Tree, batch_entries: usize) -> Result<BatchedStore, StoreError> {
        // One batch waits while one is written: projection runs at most two batches ahead of the tree.
        let (batches, to_write) = std::sync::mpsc::sync_channel::<Arc<Changes>>(1);
        let (report, written) = std::sync::mpsc::channel();
        let target = tree.clone();
        let thread = std::thread::Builder::new()
            .name("rebuild-writer".into())
            .spawn(move || {
                for changes in to_write {
                    if report.send(write_changes(&target, &changes)).is_err() {
                        return;
                    }
                }
            })
            .map_err(StoreError::WriterStart)?;
        Ok(BatchedStore {
            tree,
            gathering: Changes::new(),
            writing: VecDeque::new(),
            batch_entries: batch_entries.max(1),
            keys_in_tree: HashSet::new(),
            writer: Some(BatchWriter { batches, written, thread }),
            waited_for_writer: Duration::ZERO,
        })
    }

    /// Hands the gathered changes to the writer once there are enough of them; call between events.
    pub fn write_when_full(&mut self) -> Result<(), StoreError> {
        if self.gathering.len() >= self.batch_entries { self.hand_over() } else { Ok(()) }
    }

    /// Writes everything gathered and waits until the tree holds it (not yet durable: see
    /// `sled::Tree::flush`). The store can be written again afterwards.
    pub fn write_all(&mut self) -> Result<(), StoreError> {
        self.hand_over()?;
        let started = Instant::now();
        while !self.writing.is_empty() {
            let outcome = match &self.writer {
                Some(writer) => writer.written.recv().map_err(|_| StoreError::WriterStopped)?,
                None => return Err(StoreError::WriterStopped),
            };
            outcome?;
            self.writing.pop_front();
        }
        self.waited_for_writer += started.elapsed();
        Ok(())
    }

    /// How long projection waited for the writer so far.
    pub fn waited_for_writer(&self) -> Duration {
        self.waited_for_writer
    }

    fn hand_over(&mut self) -> Result<(), StoreError> {
        let Some(writer) = &self.writer else { return Err(StoreError::WriterStopped) };
        // Batches the writer has finished no longer need to be read from memory.
        while let Ok(outcome) = writer.written.try_recv() {
            outcome?;
            self.writing.pop_front();
        }
        if self.gathering.is_empty() {
            return Ok(());
        }
        self.keys_in_tree.extend(self.gathering.keys().map(|key| key_hash(key)));
        let changes = Arc::new(std::mem::take(&mut self.gathering));
        self.writing.push_back(changes.clone());
        let started = Instant::now();
        writer.batches.send(changes).map_err(|_| StoreError::WriterStopped)?;
        self.waited_for_writer += started.elapsed();
        Ok(())
    }
}

/// Writes one batch of changes to `tree`, in key order (sled inserts neighbours faster).
fn write_changes(tree: &sled::Tree, changes: &Changes) -> Result<(), sled::Error> {
    let mut sorted: Vec<(&String, &Option<Vec<u8>>)> = changes.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (key, value) in sorted {
        match value {
            Some(value) => tree.insert(key.as_bytes(), value.as_slice())?,
            None => tree.remove(key.as_bytes())?,
        };
    }
    Ok(())
}

fn key_hash(key: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

impl Drop for BatchedStore {
    fn drop(&mut self) {
        if let Some(BatchWriter { batches, written, thread }) = self.writer.take() {
            // Closing the channel ends the thread after the batch it is writing.
            drop((batches, written));
            let _ = thread.join();
        }
    }
}

impl Store for BatchedStore {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.gathering.get(key) {
            return Ok(value.clone());
        }
        for changes in self.writing.iter().rev() {
            if let Some(value) = changes.get(key) {
                return Ok(value.clone());
            }
        }
        if !self.keys_in_tree.contains(&key_hash(key)) {
            return Ok(None);
        }
        Ok(self.tree.get(key.as_bytes())?.map(|v| v.to_vec()))
    }
    fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.gathering.insert(key.to_owned(), Some(value));
        Ok(())
    }
    fn remove(&mut self, key: &str) -> Result<(), StoreError> {
        self.gathering.insert(key.to_owned(), None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_sled_failure_stays_the_source_under_the_same_message() {
        let sled_error = sled::Error::Unsupported("an operation".into());
        let error = StoreError::from(sled_error.clone());
        assert_eq!(error.to_string(), format!("read-model storage failed: {sled_error}"));
        let source = error.source().and_then(|cause| cause.downcast_ref::<sled::Error>());
        assert_eq!(source, Some(&sled_error));
    }

    #[test]
    fn a_failure_inside_a_transaction_is_kept_for_sled_and_as_the_source() {
        let db = sled::Config::new().temporary(true).open().expect("temporary sled");
        let tree = db.open_tree("entries").expect("tree");
        let failure = UnabortableTransactionError::Storage(sled::Error::Unsupported("an operation".into()));
        let outcome: Result<(), sled::transaction::TransactionError<()>> = tree.transaction(|tx| {
            let mut store = TxStore::new(tx);
            let error = store.keep::<()>(Err(failure.clone())).expect_err("the failure is reported");
            assert_eq!(error.to_string(), format!("read-model storage failed: {failure}"));
            let source = error.source().and_then(|cause| cause.downcast_ref::<UnabortableTransactionError>());
            assert_eq!(source, Some(&failure));
            assert_eq!(store.take_error(), Some(failure.clone()));
            Ok(())
        });
        outcome.expect("the transaction commits");
    }

    #[test]
    fn batched_changes_read_back_wherever_they_are_and_the_tree_ends_with_the_last_change_of_each_entry() {
        let db = sled::Config::new().temporary(true).open().expect("temporary sled");
        let tree = db.open_tree("generation").expect("tree");
        // Two changed entries per batch: most reads below find their entry already handed to the writer.
        let mut store = BatchedStore::new(tree.clone(), 2).expect("the writer starts");
        let mut expected = MemStore::default();
        for round in 0..20u8 {
            for key in ["app/b", "app/a", format!("tl/{round:02}").as_str()] {
                let value = match Store::get(&mut store, key).expect("reads") {
                    Some(mut value) => {
                        value.push(round);
                        value
                    }
                    None => vec![round],
                };
                assert_eq!(Store::get(&mut expected, key).unwrap().map(|v| v.len() + 1).unwrap_or(1), value.len());
                store.put(key, value.clone()).expect("writes");
                expected.put(key, value).unwrap();
                store.write_when_full().expect("hands over");
            }
            if round % 5 == 4 {
                store.remove("app/b").expect("removes");
                expected.remove("app/b").unwrap();
            }
        }
        assert_eq!(Store::get(&mut store, "never/written").expect("reads"), None);
        store.write_all().expect("written");
        let written: BTreeMap<String, Vec<u8>> = tree
            .iter()
            .map(|item| item.map(|(k, v)| (String::from_utf8(k.to_vec()).unwrap(), v.to_vec())))
            .collect::<Result<_, _>>()
            .expect("the tree reads");
        assert_eq!(written, expected.entries);
        assert_eq!(written["app/a"], (0..20).collect::<Vec<u8>>());
        // Removed after its last change: gone, though earlier versions of it were written.
        assert!(!written.contains_key("app/b"));
    }
}
