//! A consumer handler that writes a read model in sled, for the bus's own tests and benchmark: the
//! checkpoint commits in the same sled transaction as the effect, as a real read model's must.
//! (Included by the benchmark with `#[path]`; the services' handlers are their own.)

use event_bus::{Checkpoint, Handler, HandlerError, Rejection};
use event_log::RecordedEvent;
use sled::transaction::{ConflictableTransactionResult, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

/// Name of the sled tree in which [`SledHandler`] keeps checkpoints.
const CHECKPOINT_TREE: &str = "event-bus.checkpoints";

/// A handler that writes a read model in sled: `apply` writes through the transactional tree, and the
/// checkpoint is written to [`CHECKPOINT_TREE`] in the same transaction. Commits are made durable in one
/// flush per batch of messages ([`Handler::sync`]), before any of them is acknowledged.
///
/// `apply` may run more than once for one event when sled retries a conflicting transaction, so it must
/// only write through the tree it is given.
pub struct SledHandler<F> {
    db: sled::Db,
    state: Tree,
    checkpoints: Tree,
    apply: F,
}

impl<F> std::fmt::Debug for SledHandler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledHandler").field("state", &self.state.name()).finish_non_exhaustive()
    }
}

impl<F> SledHandler<F>
where
    F: Fn(&RecordedEvent, &TransactionalTree) -> ConflictableTransactionResult<(), Rejection> + Send,
{
    /// A handler writing `state` (a tree of `db`) with `apply`.
    pub fn new(db: sled::Db, state: Tree, apply: F) -> Result<SledHandler<F>, sled::Error> {
        let checkpoints = db.open_tree(CHECKPOINT_TREE)?;
        Ok(SledHandler { db, state, checkpoints, apply })
    }
}

/// The checkpoint for `source` stored by a [`SledHandler`] in `db`.
pub fn sled_checkpoint(db: &sled::Db, source: &str) -> Result<Checkpoint, HandlerError> {
    let tree = db.open_tree(CHECKPOINT_TREE).map_err(HandlerError::failed)?;
    match tree.get(Checkpoint::key_for(source)).map_err(HandlerError::failed)? {
        Some(bytes) => Checkpoint::decode(source, &bytes).map_err(HandlerError::failed),
        None => Ok(Checkpoint::start(source)),
    }
}

impl<F> Handler for SledHandler<F>
where
    F: Fn(&RecordedEvent, &TransactionalTree) -> ConflictableTransactionResult<(), Rejection> + Send,
{
    fn checkpoint(&mut self, source: &str) -> Result<Checkpoint, HandlerError> {
        sled_checkpoint(&self.db, source)
    }

    async fn handle(&mut self, event: &RecordedEvent, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
        let (key, value) = (checkpoint.key(), checkpoint.encode());
        let apply = &self.apply;
        (&self.state, &self.checkpoints)
            .transaction(|(state, checkpoints)| {
                apply(event, state)?;
                checkpoints.insert(key.as_bytes(), value.as_slice())?;
                Ok(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(rejection) => HandlerError::from(rejection),
                TransactionError::Storage(e) => HandlerError::failed(e),
            })
    }

    async fn commit_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
        self.checkpoints
            .insert(checkpoint.key().as_bytes(), checkpoint.encode())
            .map(|_| ())
            .map_err(HandlerError::failed)
    }

    async fn sync(&mut self) -> Result<(), HandlerError> {
        self.db.flush_async().await.map(|_| ()).map_err(HandlerError::failed)
    }
}
