//! The small storage interface the projection writes through, and the read interface queries read
//! through, with the three places they live: a sled transaction (live), a batched overlay on a fresh sled
//! tree (rebuild), and memory (as-of answers).
//!
//! Projection only needs point reads and writes (sled transactions cannot iterate); queries also scan by
//! key prefix, outside transactions.

use std::collections::{BTreeMap, HashMap};

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

/// Writes into a sled tree nobody else writes (a generation being rebuilt) through an in-memory overlay,
/// applied as one sled batch every `flush_every` changed keys: bounded memory, few large writes.
#[derive(Debug)]
pub struct OverlayStore {
    tree: sled::Tree,
    changes: HashMap<String, Option<Vec<u8>>>,
    flush_every: usize,
}

impl OverlayStore {
    pub fn new(tree: sled::Tree, flush_every: usize) -> OverlayStore {
        OverlayStore { tree, changes: HashMap::new(), flush_every: flush_every.max(1) }
    }

    /// Applies the pending changes to the tree (not yet durable: see `sled::Tree::flush`).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (key, value) in self.changes.drain() {
            match value {
                Some(value) => batch.insert(key.as_bytes(), value),
                None => batch.remove(key.as_bytes()),
            }
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    fn maybe_flush(&mut self) -> Result<(), StoreError> {
        if self.changes.len() >= self.flush_every { self.flush() } else { Ok(()) }
    }
}

impl Store for OverlayStore {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.changes.get(key) {
            Some(value) => Ok(value.clone()),
            None => Ok(self.tree.get(key.as_bytes())?.map(|v| v.to_vec())),
        }
    }
    fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.changes.insert(key.to_owned(), Some(value));
        self.maybe_flush()
    }
    fn remove(&mut self, key: &str) -> Result<(), StoreError> {
        self.changes.insert(key.to_owned(), None);
        self.maybe_flush()
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
}
