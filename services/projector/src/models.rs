//! The read models on sled, in generations: the live handler, full rebuilds, digests and lag.
//!
//! Every generation is one sled tree (`projector.gen.<n>`) holding all read models and, under `cp/`, the
//! per-source checkpoints, so that an event's effect and its checkpoint commit in one transaction on one
//! tree. The tree `projector.meta` names the active generation. A rebuild fills generation `n + 1` from
//! position 0 of every source log while queries and the live consumer keep using `n`; it then takes the
//! writer lock (pausing the consumer), catches the new generation up to each source's head, switches the
//! pointer durably and drops the old tree. A crash during a rebuild leaves the pointer on the old
//! generation; the half-built tree is dropped at the next start.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use event_bus::{Cause, Checkpoint, Handler, HandlerError, SourceError};
use event_log::RecordedEvent;
use event_log_grpc::ClientError;
use service_runtime::LogSources;
use sha2::{Digest as _, Sha256};
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::projection::{Decoded, ProjectError, SOURCES, apply, checkpoint_key, decode, project};
use crate::rebuild::{Delivery, ReadEvent, read_ahead};
use crate::store::{BatchedStore, Store, StoreError, TxStore};

const META_TREE: &str = "projector.meta";
const ACTIVE_KEY: &str = "active";
const FORMAT_KEY: &str = "format";

/// The shape of the read-model entries this version writes. Raise it when an entry's encoding changes: a
/// projector that finds an older one rebuilds its models from the logs at start (2: indicator counts kept
/// per report, for the perturbation's record keys).
pub const MODEL_FORMAT: u64 = 2;
const GENERATION_PREFIX: &str = "projector.gen.";

/// Changed entries a rebuild gathers in memory before writing them as one sled batch.
const REBUILD_BATCH_ENTRIES: usize = 50_000;

/// Events between two calls of a rebuild's progress.
const PROGRESS_EVERY: u64 = 10_000;

fn generation_tree_name(number: u64) -> String {
    format!("{GENERATION_PREFIX}{number}")
}

/// One generation of the read models.
#[derive(Clone, Debug)]
pub struct Generation {
    pub number: u64,
    pub tree: sled::Tree,
}

/// The read models of one projector: the active generation for queries and the live handler.
#[derive(Clone, Debug)]
pub struct Models {
    db: sled::Db,
    meta: sled::Tree,
    /// The generation the live handler writes; held while a rebuild switches generations.
    writer: Arc<tokio::sync::Mutex<Generation>>,
    /// The generation queries read; replaced at the switch.
    reader: Arc<RwLock<Generation>>,
    /// The entry format of the active generation, when it is older than [`MODEL_FORMAT`].
    outdated: Option<u64>,
}

/// Reads the checkpoint of `source` from a generation tree.
pub fn read_checkpoint(tree: &sled::Tree, source: &str) -> Result<Checkpoint, StoreError> {
    match tree.get(checkpoint_key(source))? {
        Some(bytes) => Checkpoint::decode(source, &bytes).map_err(StoreError::Checkpoint),
        None => Ok(Checkpoint::start(source)),
    }
}

impl Models {
    /// Opens (or creates) the read models in `db`, dropping generations a crashed rebuild left behind.
    pub fn open(db: sled::Db) -> Result<Models, StoreError> {
        let meta = db.open_tree(META_TREE)?;
        let number = match meta.get(ACTIVE_KEY)? {
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Malformed("`projector.meta/active` is not 8 bytes".into()))?,
            ),
            None => 0,
        };
        let active = generation_tree_name(number);
        for name in db.tree_names() {
            if name.starts_with(GENERATION_PREFIX.as_bytes()) && name.as_ref() != active.as_bytes() {
                db.drop_tree(&name)?;
            }
        }
        let generation = Generation { number, tree: db.open_tree(&active)? };
        let format = match meta.get(FORMAT_KEY)? {
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Malformed("`projector.meta/format` is not 8 bytes".into()))?,
            ),
            // Models written before the format was recorded are of the first format; none yet, of this one.
            None if generation.tree.is_empty() => MODEL_FORMAT,
            None => 1,
        };
        if format == MODEL_FORMAT {
            meta.insert(FORMAT_KEY, &MODEL_FORMAT.to_be_bytes())?;
        }
        Ok(Models {
            db,
            meta,
            writer: Arc::new(tokio::sync::Mutex::new(generation.clone())),
            reader: Arc::new(RwLock::new(generation)),
            outdated: (format < MODEL_FORMAT).then_some(format),
        })
    }

    /// The entry format of the active generation, when it was written by an earlier version and must be
    /// rebuilt before queries can read it.
    pub fn outdated_format(&self) -> Option<u64> {
        self.outdated
    }

    /// The generation queries read now.
    pub fn active(&self) -> Generation {
        self.reader.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The live handler for the bus consumer.
    pub fn handler(&self) -> LiveHandler {
        LiveHandler { models: self.clone() }
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// SHA-256 over the active generation's read-model entries (not its checkpoints) in key order: each
    /// entry as key length (4 bytes, big-endian), key, value length, value.
    pub fn digest(&self) -> Result<(u64, String, u64), StoreError> {
        let generation = self.active();
        let (hash, entries) = digest_tree(&generation.tree)?;
        Ok((generation.number, hash, entries))
    }

    /// Builds a new generation from position 0 of every source log and switches to it. Queries and the
    /// live consumer keep using the current generation until the switch. `progress` is called with the
    /// counts so far every ten thousand events or so.
    ///
    /// A pipeline (see [`crate::rebuild`]): each source's log is read and decoded ahead by a task of its
    /// own, this task projects into memory, and a writer thread writes the new generation's entries in
    /// large batches, unflushed; one flush before the switch makes it durable.
    pub async fn rebuild(
        &self,
        sources: &LogSources,
        mut progress: impl FnMut(&RebuildProgress),
    ) -> Result<RebuildProgress, RebuildError> {
        let started = Instant::now();
        let number = self.active().number + 1;
        let name = generation_tree_name(number);
        self.db.drop_tree(name.as_bytes())?;
        let tree = self.db.open_tree(&name)?;
        let mut report =
            RebuildProgress { generation: number, sources: heads(sources).await?, ..RebuildProgress::default() };
        progress(&report);
        let mut store = BatchedStore::new(tree.clone(), REBUILD_BATCH_ENTRIES)?;
        replay_sources(sources, &mut store, &mut report, &mut |report: &mut RebuildProgress| {
            report.elapsed = started.elapsed();
            progress(report);
        })
        .await?;
        // Written before the lock, so that the live consumer waits only for the catch-up's few events.
        store.write_all()?;

        // The switch: no live event is applied between the catch-up and the pointer change.
        let mut writer = self.writer.lock().await;
        let catching_up = Instant::now();
        for index in 0..report.sources.len() {
            catch_up_source(sources, &mut store, &tree, &writer.tree, &mut report, index).await?;
        }
        store.write_all()?;
        report.stages.catching_up = catching_up.elapsed();
        let flushing = Instant::now();
        tree.flush_async().await?;
        report.stages.flushing = flushing.elapsed();
        report.stages.waiting_for_writer = store.waited_for_writer();
        drop(store);
        let old = self.switch_to(&mut writer, Generation { number, tree }).await?;
        drop(writer);
        self.db.drop_tree(generation_tree_name(old.number).as_bytes())?;
        report.elapsed = started.elapsed();
        report.finished = true;
        progress(&report);
        Ok(report)
    }

    /// Makes `generation` the active one, durably, for queries and for the live handler (whose lock the
    /// caller holds as `writer`); returns the generation it replaces.
    async fn switch_to(&self, writer: &mut Generation, generation: Generation) -> Result<Generation, RebuildError> {
        self.meta.insert(ACTIVE_KEY, &generation.number.to_be_bytes())?;
        self.meta.insert(FORMAT_KEY, &MODEL_FORMAT.to_be_bytes())?;
        self.meta.flush_async().await?;
        *self.reader.write().unwrap_or_else(std::sync::PoisonError::into_inner) = generation.clone();
        Ok(std::mem::replace(writer, generation))
    }
}

/// The sources a rebuild reads, each with nothing applied yet and its head now.
async fn heads(sources: &LogSources) -> Result<Vec<(String, u64, u64)>, RebuildError> {
    let mut heads = Vec::new();
    for source in SOURCES.iter().copied().filter(|source| sources.has(source)) {
        let head = sources.connect(source).await?.head().await.map_err(RebuildError::reading(source))?;
        heads.push((source.to_owned(), 0, head.next_position));
    }
    Ok(heads)
}

/// Replays every source of `report` from position 0 to its end into `store` (the sources read at the
/// same time, see [`crate::rebuild`]) and stores their checkpoints there, telling `progress` every ten
/// thousand events.
async fn replay_sources(
    sources: &LogSources,
    store: &mut BatchedStore,
    report: &mut RebuildProgress,
    progress: &mut impl FnMut(&mut RebuildProgress),
) -> Result<(), RebuildError> {
    let names: Vec<String> = report.sources.iter().map(|(name, _, _)| name.clone()).collect();
    let mut checkpoints: Vec<Checkpoint> = names.iter().map(Checkpoint::start).collect();
    let mut ended = vec![false; names.len()];
    let mut deliveries = read_ahead(sources, &names);
    loop {
        let waiting = Instant::now();
        let Some(delivery) = deliveries.recv().await else { break };
        report.stages.waiting_for_reads += waiting.elapsed();
        let (index, events) = match delivery? {
            Delivery::Events { source, events } => (source, events),
            Delivery::End { source } => {
                ended[source] = true;
                continue;
            }
        };
        let projecting = Instant::now();
        let waited_before = store.waited_for_writer();
        let before = report.events_applied;
        for ReadEvent { event, decoded } in events {
            apply_to(store, &mut checkpoints[index], &names[index], &event, decoded)?;
            report.events_applied += 1;
        }
        store.write_when_full()?;
        report.stages.projecting += projecting.elapsed().saturating_sub(store.waited_for_writer() - waited_before);
        report.sources[index].1 = checkpoints[index].next_position;
        if before / PROGRESS_EVERY != report.events_applied / PROGRESS_EVERY {
            progress(report);
        }
    }
    if let Some(index) = ended.iter().position(|ended| !ended) {
        return Err(RebuildError::Unfinished(names[index].clone()));
    }
    for (index, checkpoint) in checkpoints.iter().enumerate() {
        store.put(&checkpoint_key(&checkpoint.source), checkpoint.encode())?;
        report.sources[index].1 = checkpoint.next_position;
        report.sources[index].2 = report.sources[index].2.max(checkpoint.next_position);
    }
    Ok(())
}

/// Applies to the new generation (`rebuilt`, written through `store`) what the `index`th source of
/// `report` recorded since the replay, up to its head now, while the live generation (`live`) is held
/// still; refuses when the live models are ahead of the log.
async fn catch_up_source(
    sources: &LogSources,
    store: &mut BatchedStore,
    rebuilt: &sled::Tree,
    live: &sled::Tree,
    report: &mut RebuildProgress,
    index: usize,
) -> Result<(), RebuildError> {
    let source = report.sources[index].0.clone();
    let mut client = sources.connect(&source).await?;
    let mut checkpoint = read_checkpoint(rebuilt, &source)?;
    let head = client.head().await.map_err(RebuildError::reading(&source))?.next_position;
    let events = client.read_range(checkpoint.next_position, head).await.map_err(RebuildError::reading(&source))?;
    for event in &events {
        let decoded = decode(&source, event);
        apply_to(store, &mut checkpoint, &source, event, decoded)?;
        report.events_applied += 1;
    }
    store.put(&checkpoint_key(&source), checkpoint.encode())?;
    // The live generation can only be behind the log, so the new one now covers all it applied.
    let applied_live = read_checkpoint(live, &source)?;
    if applied_live.next_position > checkpoint.next_position {
        return Err(RebuildError::Behind {
            name: source,
            live: applied_live.next_position,
            rebuilt: checkpoint.next_position,
        });
    }
    report.sources[index].1 = checkpoint.next_position;
    report.sources[index].2 = head;
    Ok(())
}

/// Applies one event of a replay, `decoded` by its source ([`decode`]), to `store`, moving `checkpoint`;
/// an event the projection refuses is recorded as skipped, as the live consumer records a dead-lettered
/// one.
fn apply_to(
    store: &mut impl Store,
    checkpoint: &mut Checkpoint,
    source: &str,
    event: &RecordedEvent,
    decoded: Result<Option<Decoded>, ProjectError>,
) -> Result<(), RebuildError> {
    if event.position != checkpoint.next_position {
        let out_of_order = ClientError::OutOfOrder { expected: checkpoint.next_position, actual: event.position };
        return Err(RebuildError::reading(source)(out_of_order));
    }
    match decoded.and_then(|decoded| decoded.map_or(Ok(()), |decoded| apply(store, event, decoded))) {
        Ok(()) => {}
        Err(ProjectError::Rejected(reason)) => {
            tracing::warn!(source, position = event.position, %reason, "event skipped in a replay");
            checkpoint.skipped.insert(event.position);
        }
        Err(ProjectError::Store(e)) => return Err(e.into()),
    }
    *checkpoint = checkpoint.applied(event.position, event.hash);
    Ok(())
}

/// SHA-256 over a tree's entries except checkpoints; returns the hex digest and the number of entries.
pub fn digest_tree(tree: &sled::Tree) -> Result<(String, u64), StoreError> {
    let mut hasher = Sha256::new();
    let mut entries = 0u64;
    for item in tree.iter() {
        let (key, value) = item?;
        if key.starts_with(b"cp/") {
            continue;
        }
        for part in [key.as_ref(), value.as_ref()] {
            hasher.update(u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            hasher.update(part);
        }
        entries += 1;
    }
    Ok((hex::encode(hasher.finalize()), entries))
}

/// How far a rebuild got.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RebuildProgress {
    pub generation: u64,
    /// Per source: name, next position applied, head when read.
    pub sources: Vec<(String, u64, u64)>,
    pub events_applied: u64,
    pub elapsed: Duration,
    pub finished: bool,
    /// Where the projecting task's time went so far.
    pub stages: RebuildStages,
}

/// Where a rebuild's time goes, seen from the task that projects: busy projecting, or waiting for the
/// readers (reading is the slower stage) or for the writer (writing is); then the catch-up under the
/// writer lock and the one flush.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RebuildStages {
    pub projecting: Duration,
    pub waiting_for_reads: Duration,
    pub waiting_for_writer: Duration,
    pub catching_up: Duration,
    pub flushing: Duration,
}

impl RebuildProgress {
    pub fn events_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            #[allow(clippy::cast_precision_loss)]
            let events = self.events_applied as f64;
            events / secs
        } else {
            0.0
        }
    }
}

/// Why a rebuild or an as-of replay failed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No client of a source's log could be made.
    #[error(transparent)]
    Connect(#[from] SourceError),
    #[error("source `{source_name}` cannot be read: {cause}")]
    Read {
        source_name: String,
        #[source]
        cause: ClientError,
    },
    /// A source's reader stopped before the end of its log without saying why.
    #[error("source `{0}` was not read to the end of its log")]
    Unfinished(String),
    #[error("source `{name}`: the live models applied up to {live} but the log gave only {rebuilt}")]
    Behind { name: String, live: u64, rebuilt: u64 },
}

impl RebuildError {
    /// A failed read of `source`'s log, for `map_err`.
    pub fn reading(source: &str) -> impl Fn(ClientError) -> RebuildError + '_ {
        move |cause| RebuildError::Read { source_name: source.to_owned(), cause }
    }
}

impl From<sled::Error> for RebuildError {
    fn from(e: sled::Error) -> Self {
        RebuildError::Store(e.into())
    }
}

/// Why a live transaction stopped.
#[derive(Debug)]
enum Abort {
    Rejected(String),
    Failed(Cause),
}

/// The bus consumer's handler: projects each event into the active generation and commits the source's
/// checkpoint in the same sled transaction; [`Handler::sync`] flushes once per batch.
///
/// The checkpoint is re-read inside the transaction rather than trusted from the consumer: after a
/// rebuild switched generations, the consumer's cached checkpoint may be behind the new generation, and
/// events the rebuild already applied must change nothing.
#[derive(Debug)]
pub struct LiveHandler {
    models: Models,
}

impl Handler for LiveHandler {
    fn checkpoint(&mut self, source: &str) -> Result<Checkpoint, HandlerError> {
        read_checkpoint(&self.models.active().tree, source).map_err(HandlerError::failed)
    }

    async fn handle(&mut self, event: &RecordedEvent, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
        let generation = self.models.writer.lock().await;
        let source = checkpoint.source.as_str();
        let key = checkpoint_key(source);
        let result = generation.tree.transaction(|tx| {
            let stored = match tx.get(key.as_bytes())? {
                Some(bytes) => Checkpoint::decode(source, &bytes)
                    .map_err(|e| ConflictableTransactionError::Abort(Abort::Failed(e.into())))?,
                None => Checkpoint::start(source),
            };
            let position = event.position;
            let replay = stored.skipped.contains(&position);
            if position < stored.next_position && !replay {
                return Ok(());
            }
            if position > stored.next_position {
                return Err(ConflictableTransactionError::Abort(Abort::Failed(
                    format!(
                        "source `{source}`: position {position} is ahead of the models' next position {}",
                        stored.next_position
                    )
                    .into(),
                )));
            }
            let mut store = TxStore::new(tx);
            match project(&mut store, source, event) {
                Ok(()) => {}
                Err(ProjectError::Rejected(reason)) => {
                    return Err(ConflictableTransactionError::Abort(Abort::Rejected(reason)));
                }
                Err(ProjectError::Store(e)) => {
                    return Err(match store.take_error() {
                        Some(sled_error) => sled_error.into(),
                        None => ConflictableTransactionError::Abort(Abort::Failed(e.into())),
                    });
                }
            }
            let stored = stored.applied(position, event.hash);
            tx.insert(key.as_bytes(), stored.encode())?;
            Ok(())
        });
        result.map_err(|e| match e {
            TransactionError::Abort(Abort::Rejected(reason)) => HandlerError::Rejected(reason),
            TransactionError::Abort(Abort::Failed(cause)) => HandlerError::Failed(cause),
            TransactionError::Storage(e) => HandlerError::failed(e),
        })
    }

    async fn commit_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), HandlerError> {
        let generation = self.models.writer.lock().await;
        let mut stored = read_checkpoint(&generation.tree, &checkpoint.source).map_err(HandlerError::failed)?;
        if checkpoint.next_position <= stored.next_position {
            return Ok(());
        }
        let newly: BTreeSet<u64> = checkpoint.skipped.range(stored.next_position..).copied().collect();
        stored.skipped.extend(newly);
        stored.next_position = checkpoint.next_position;
        stored.last_hash = checkpoint.last_hash;
        generation
            .tree
            .insert(checkpoint_key(&checkpoint.source), stored.encode())
            .map(|_| ())
            .map_err(HandlerError::failed)
    }

    async fn sync(&mut self) -> Result<(), HandlerError> {
        self.models.flush().await.map_err(HandlerError::failed)
    }
}
