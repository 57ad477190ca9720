//! The log handle: opening, appending through the writer, and reading what is durable.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::fs::File;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use crate::chain::{ChainVerifier, Hash, Head, VerifyReport};
use crate::commit_entry::{self, Entry};
use crate::copy::{CopiedEvent, CopyError};
use crate::error::{AppendError, OpenError, StorageError};
use crate::event::{NewEvent, RecordedEvent, Timestamp};
use crate::indexes::{IdIndex, Snapshot, StreamIndex, id_hash};
use crate::journal::{Journal, JournalError};
use crate::keys;
use crate::migration;
use crate::stats::LogStats;
use crate::stream::{ExpectedVersion, StreamId};
use crate::wire;
use crate::writer::{BlobFiles, Checkpoint, Command, Syncer, Writer};

/// Most events in one append.
pub const MAX_EVENTS_PER_APPEND: usize = 10_000;
/// Longest event type name, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 256;

/// How an append is made durable before it is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// The commit's journal record written, then `fdatasync` of the journal: survives power loss. The
    /// default.
    #[default]
    Fdatasync,
    /// The journal record written without a sync: survives a process crash, not a power loss. Only for
    /// measuring what the sync costs.
    WriteOnly,
}

/// How to open a log.
#[derive(Clone, Debug)]
pub struct Options {
    pub durability: Durability,
    /// Upper bound of sled's page cache, in bytes (default 16 MiB). Reads of a whole log stream through
    /// it; a larger cache mostly helps reads of recent events.
    pub cache_capacity_bytes: u64,
    /// Size of the commit journal (default 16 MiB): when full, sled is flushed and synced (a checkpoint)
    /// and the journal starts over. A larger one checkpoints less often and replays more on open.
    pub journal_capacity_bytes: u64,
    /// Reads of at least this many events page the second half of their range into sled's cache on another
    /// thread while the reader works through the first (default 100,000): a replay after a restart finds
    /// nothing cached, and paging in is most of what such a first read costs.
    pub read_ahead_min_events: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Fdatasync,
            cache_capacity_bytes: 16 * 1024 * 1024,
            journal_capacity_bytes: 16 * 1024 * 1024,
            read_ahead_min_events: 100_000,
        }
    }
}

/// A durable key-value entry written atomically with an append (for example a consumer's checkpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    pub name: String,
    pub value: Vec<u8>,
}

/// One append: events for one stream, under an expectation, with an optional marker written atomically.
#[derive(Clone, Debug)]
pub struct AppendRequest {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub marker: Option<Marker>,
}

/// Where an append's events were stored: consecutive positions, and the stream's version after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    pub first_position: u64,
    pub last_position: u64,
    pub stream_version: u64,
}

/// What [`EventLog::append_in_order`] did: the results of the requests appended, in order, and the error
/// of the request after them when one failed (the rest were not attempted).
#[derive(Debug)]
pub struct AppendedInOrder {
    pub appended: Vec<AppendResult>,
    pub failed: Option<AppendError>,
}

/// A service's append-only event log: one sled database in a directory. Cheap to clone; all clones share
/// one writer. There is no API to change or remove an event.
#[derive(Clone, Debug)]
pub struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    tree: sled::Tree,
    streams: Arc<RwLock<StreamIndex>>,
    commands: Option<mpsc::Sender<Command>>,
    durable: watch::Receiver<u64>,
    writer: Mutex<Option<JoinHandle<()>>>,
    read_ahead_min_events: u64,
    stats: Arc<crate::stats::StatsCounters>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer after its current commit; waiting for it releases sled's
        // file lock, so the log can be reopened as soon as the last handle is gone.
        self.commands.take();
        if let Some(handle) = self.writer.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
    }
}

impl EventLog {
    /// Opens (creating if needed) the log in `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<EventLog, OpenError> {
        EventLog::open_with(path, Options::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<EventLog, OpenError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        let storage = |source| OpenError::Storage { path: shown.clone(), source };
        let io = |source| OpenError::Io { path: shown.clone(), source };
        let corrupt = |reason: String| OpenError::Corrupt { path: shown.clone(), reason };
        let storage_error = |error: StorageError| match error {
            StorageError::Sled(source) => OpenError::Storage { path: shown.clone(), source },
            StorageError::Corrupt { location, reason } => corrupt(format!("at {location}: {reason}")),
            other => corrupt(other.to_string()),
        };

        std::fs::create_dir_all(&path).map_err(io)?;
        let config = sled::Config::new().path(&path).cache_capacity(options.cache_capacity_bytes);
        let db = open_when_unlocked(&config, &path).map_err(|attempt| attempt.into_error(&path))?;
        let tree = db.open_tree(keys::TREE).map_err(storage)?;

        match tree.get(keys::FORMAT_KEY).map_err(storage)? {
            Some(found) if found.as_ref() == keys::FORMAT => {
                migration::remove_format_1_leftovers(&tree, &db).map_err(storage_error)?
            }
            Some(found) if found.as_ref() == keys::format_1::FORMAT => {
                migration::convert_format_1(&tree, &db, &shown).map_err(storage_error)?
            }
            Some(found) => {
                return Err(OpenError::Incompatible {
                    path: shown,
                    found: String::from_utf8_lossy(&found).into_owned(),
                    expected: String::from_utf8_lossy(keys::FORMAT).into_owned(),
                });
            }
            None if !tree.is_empty() => {
                return Err(OpenError::Incompatible {
                    path: shown,
                    found: "none".into(),
                    expected: String::from_utf8_lossy(keys::FORMAT).into_owned(),
                });
            }
            None => {
                tree.insert(keys::FORMAT_KEY, keys::FORMAT).map_err(storage)?;
                db.flush().map_err(storage)?;
            }
        }

        let data_file =
            File::open(path.join("db")).map_err(|source| OpenError::DataFile { path: shown.clone(), source })?;
        let mut checkpoint = Checkpoint { db, data_file, blobs: BlobFiles::new(path.join("blobs")) };
        let (mut journal, replayed) =
            Journal::open_and_replay(&path, options.journal_capacity_bytes, &tree).map_err(|error| match error {
                JournalError::Io(source) => io(source),
                JournalError::Sled(source) => storage(source),
                malformed @ JournalError::Malformed { .. } => corrupt(malformed.to_string()),
            })?;
        if replayed > 0 {
            tracing::info!(log = shown, commits = replayed, "replayed the event log's commit journal");
        }
        // sled holds what the journal held durably from here on, and the journal starts empty.
        checkpoint.run(&mut journal).map_err(storage_error)?;
        // Make the directory entries of sled's files and the journal durable once; later syncs cover
        // file contents.
        File::open(&path).and_then(|dir| dir.sync_all()).map_err(io)?;

        let rebuilt = rebuild_indexes(&tree, &shown, Snapshot::read(&path)).map_err(storage_error)?;
        let next_position = rebuilt.next_position;
        let (head_hash, last_recorded) = match rebuilt.last {
            None => (Hash::GENESIS, Timestamp::default()),
            Some((position, hash, record)) => {
                let last = decode_record_at(position, &record, hash).map_err(storage_error)?;
                if last.position != position {
                    return Err(corrupt(format!("event stored under position {position} says {}", last.position)));
                }
                (last.hash, last.recorded_at)
            }
        };
        let streams = Arc::new(RwLock::new(rebuilt.streams));

        let (durable_tx, durable_rx) = watch::channel(next_position);
        let (commands_tx, commands_rx) = mpsc::channel(MAX_EVENTS_PER_APPEND);
        let writer = Writer {
            tree: tree.clone(),
            next_position,
            head_hash,
            last_recorded,
            ids: rebuilt.ids,
            streams: streams.clone(),
            dir: path.clone(),
        };
        let stats = Arc::new(crate::stats::StatsCounters::default());
        let syncer =
            Syncer { journal, durability: options.durability, checkpoint, durable: durable_tx, stats: stats.clone() };
        let handle = std::thread::Builder::new()
            .name("event-log-writer".into())
            .spawn(move || writer.run(syncer, commands_rx))
            .map_err(io)?;

        Ok(EventLog {
            inner: Arc::new(Inner {
                path,
                tree,
                streams,
                commands: Some(commands_tx),
                durable: durable_rx,
                writer: Mutex::new(Some(handle)),
                read_ahead_min_events: options.read_ahead_min_events,
                stats,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Appends `events` to `stream` if the stream meets `expected`; returns after they are on disk.
    pub async fn append(
        &self,
        stream: StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, AppendError> {
        self.append_request(AppendRequest { stream, expected, events, marker: None }).await
    }

    /// Appends as [`EventLog::append`] does, and writes the request's marker in the same atomic commit.
    pub async fn append_request(&self, request: AppendRequest) -> Result<AppendResult, AppendError> {
        validate(&request)?;
        let (reply, response) = oneshot::channel();
        self.send(Command::Append { request, reply }).await.map_err(AppendError::Storage)?;
        response.await.map_err(|_| AppendError::Storage(StorageError::Failed))?
    }

    /// Appends `requests` in order, each only if every one before it was appended: the first that fails
    /// ends the batch, and nothing after it is written. A consumer appends the reactions to several
    /// consumed events this way, each with its checkpoint marker, so a failed one never lets a later
    /// checkpoint pass it. Returns once everything appended is durable.
    ///
    /// The requests go to the writer as one command, staged in order into one group commit.
    pub async fn append_in_order(&self, mut requests: Vec<AppendRequest>) -> AppendedInOrder {
        let mut invalid = None;
        if let Some(at) = requests.iter().position(|r| validate(r).is_err()) {
            invalid = validate(&requests[at]).err();
            requests.truncate(at);
        }
        let (reply, response) = oneshot::channel();
        let refused = |error| AppendedInOrder { appended: Vec::new(), failed: Some(AppendError::Storage(error)) };
        if let Err(error) = self.send(Command::AppendInOrder { requests, invalid, reply }).await {
            return refused(error);
        }
        response.await.unwrap_or_else(|_| refused(StorageError::Failed))
    }

    /// Appends what `make` builds from the log's head (`None` for an empty log) at the moment the writer
    /// commits it, so that the events land right after that head however many other appends race with it:
    /// for an event about the head it follows, such as a signed checkpoint of that head. `make` runs on the
    /// writer's thread, so it must be quick.
    pub async fn append_after_head(
        &self,
        make: impl FnOnce(Option<Head>) -> AppendRequest + Send + 'static,
    ) -> Result<AppendResult, AppendError> {
        let (reply, response) = oneshot::channel();
        self.send(Command::AppendAfterHead { make: Box::new(make), reply }).await.map_err(AppendError::Storage)?;
        response.await.map_err(|_| AppendError::Storage(StorageError::Failed))?
    }

    /// Appends events another log already recorded (a backup copying a service's log), verbatim: their
    /// positions, times, hashes and bytes are kept, not assigned. Each event must be the next position
    /// and link to the head's hash, its hash must be SHA-256 of that link and its bytes, its bytes must be
    /// the canonical encoding, its stream version must follow its stream's, and its event id must be new
    /// to this log; otherwise nothing is written and [`CopyError::Refused`] names the position and the
    /// rule. Written in one commit, made durable like any append; returns the new head.
    pub async fn append_copied(&self, events: Vec<CopiedEvent>) -> Result<Head, CopyError> {
        let (reply, response) = oneshot::channel();
        self.send(Command::AppendCopied { events, reply }).await?;
        response.await.map_err(|_| CopyError::Storage(StorageError::Failed))?
    }

    /// Durably sets a marker (for example a relay's cursor) outside of any append.
    pub async fn put_marker(&self, name: &str, value: Vec<u8>) -> Result<(), StorageError> {
        let (reply, response) = oneshot::channel();
        self.send(Command::PutMarker { name: name.to_owned(), value, reply }).await?;
        response.await.map_err(|_| StorageError::Failed)?
    }

    async fn send(&self, command: Command) -> Result<(), StorageError> {
        let commands = self.inner.commands.as_ref().ok_or(StorageError::Failed)?;
        commands.send(command).await.map_err(|_| StorageError::Failed)
    }

    pub fn marker(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.inner.tree.get(keys::marker_key(name))?.map(|v| v.to_vec()))
    }

    /// What the writer made durable since the log was opened: appends, events, group commits, group
    /// sizes and `fdatasync` latency. Cheap: a few atomic loads.
    pub fn stats(&self) -> LogStats {
        self.inner.stats.snapshot()
    }

    /// The number of durable events, which is also the position the next event will get.
    pub fn next_position(&self) -> u64 {
        *self.inner.durable.borrow()
    }

    /// The last durable event's position and hash; `None` for an empty log.
    pub fn head(&self) -> Result<Option<Head>, StorageError> {
        let Some(position) = self.next_position().checked_sub(1) else { return Ok(None) };
        let event = self.event(position)?.ok_or_else(|| missing(position))?;
        Ok(Some(Head { position, hash: event.hash }))
    }

    /// The durable event at `position`.
    pub fn event(&self, position: u64) -> Result<Option<RecordedEvent>, StorageError> {
        if position >= self.next_position() {
            return Ok(None);
        }
        let (hash, record) = stored_at(&self.inner.tree, position)?;
        decode_record_at(position, &record, hash).map(Some)
    }

    /// The version of the last durable event of `stream`; `None` if the stream has none.
    pub fn stream_version(&self, stream: &StreamId) -> Result<Option<u64>, StorageError> {
        let durable = self.next_position();
        let streams = self.inner.streams.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(streams.version_below(stream, durable))
    }

    /// The durable events of `stream` from `from_version` on, in version order.
    pub fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
    ) -> impl Iterator<Item = Result<RecordedEvent, StorageError>> + use<> {
        let durable = self.next_position();
        let positions = self.inner.streams.read().unwrap_or_else(std::sync::PoisonError::into_inner).positions(
            stream,
            from_version,
            durable,
        );
        let tree = self.inner.tree.clone();
        // Consecutive events of a stream often share a commit entry: keep the last one.
        let mut entry: Option<Entry> = None;
        positions.into_iter().map(move |position| {
            let found = match entry.take().filter(|e| e.holds(position)) {
                Some(held) => held,
                None => commit_entry::entry_holding(&tree, position)?.ok_or_else(|| missing(position))?,
            };
            let index = found.index_of(position);
            let event = decode_record_at(position, &found.record(index), found.hash(index));
            entry = Some(found);
            event
        })
    }

    /// The durable events from `from` on, in position order.
    pub fn read_all(&self, from: u64) -> ReadAll {
        self.read_range(from..)
    }

    /// The durable events in `range`, in position order.
    pub fn read_range(&self, range: impl RangeBounds<u64>) -> ReadAll {
        let from = match range.start_bound() {
            Bound::Included(p) => *p,
            Bound::Excluded(p) => p.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let durable = self.next_position();
        let until = match range.end_bound() {
            Bound::Included(p) => p.saturating_add(1).min(durable),
            Bound::Excluded(p) => (*p).min(durable),
            Bound::Unbounded => durable,
        };
        let len = until.saturating_sub(from);
        let read_ahead = (len > 0 && len >= self.inner.read_ahead_min_events)
            .then(|| ReadAhead::start(&self.inner.tree, from + len / 2, until))
            .flatten();
        ReadAll {
            records: Records::new(&self.inner.tree, from, until),
            expected: from,
            until,
            read_ahead,
            pending: None,
        }
    }

    /// Everything from `from` on, then every new event as it becomes durable.
    pub fn subscribe(&self, from: u64) -> Subscription {
        Subscription {
            tree: self.inner.tree.clone(),
            durable: self.inner.durable.clone(),
            next: from,
            buffer: VecDeque::new(),
        }
    }

    /// Recomputes the hash chain over the durable events in `range` and reports the first position that
    /// does not match. Events before the range are trusted through the stored hash of the one before it.
    pub fn verify(&self, range: impl RangeBounds<u64>) -> Result<VerifyReport, StorageError> {
        let events = self.read_range(range);
        let verifier = match events.expected.checked_sub(1) {
            None => ChainVerifier::from_genesis(),
            Some(before) => ChainVerifier::resume(events.expected, stored_at(&self.inner.tree, before)?.0),
        };
        verify_read(events, verifier)
    }

    /// Recomputes the hash chain from the event after `trusted` (a head vouched for elsewhere, such as a
    /// signed checkpoint) to the durable head: every event after it must chain back to `trusted.hash`.
    pub fn verify_after(&self, trusted: Head) -> Result<VerifyReport, StorageError> {
        let start = trusted.position.saturating_add(1);
        verify_read(self.read_range(start..), ChainVerifier::resume(start, trusted.hash))
    }
}

/// Runs `verifier` over the stored events of `events`, reporting a missing event as a mismatch too.
fn verify_read(events: ReadAll, mut verifier: ChainVerifier) -> Result<VerifyReport, StorageError> {
    let until = events.until();
    let missing_at = |position| crate::chain::Mismatch { position, reason: "event is missing from the log".into() };
    for stored in events.stored() {
        let StoredEvent { position, hash, record } = stored?;
        if position != verifier.next_position() {
            let mismatch = missing_at(verifier.next_position());
            return Ok(verifier.report(Some(mismatch)));
        }
        if let Err(mismatch) = verifier.check(&record, &hash) {
            return Ok(verifier.report(Some(mismatch)));
        }
    }
    // The range's last events may be the missing ones.
    let mismatch = (verifier.next_position() < until).then(|| missing_at(verifier.next_position()));
    Ok(verifier.report(mismatch))
}

enum OpenAttempt {
    Panicked,
    /// Another process holds the directory's lock.
    InUse,
    /// This process opened the directory before and its lock was still held after [`LOCK_WAIT`].
    StillLocked,
    Failed(sled::Error),
}

/// How long opening waits for sled's file lock. sled releases it only when its last background thread lets
/// go of the files, which can be a moment after the previous owner in this process closed the database.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The directories this process has opened a sled database in. sled locks its data file with `flock`, which
/// two opens refuse each other whether they are in one process or two; only a database this process opened
/// can be about to let go of its lock, so only then is the lock worth waiting for.
static OPENED_HERE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Opens a sled database directory (a read model, a consumer's database, or a log's files for inspection),
/// waiting up to a few seconds for the lock that a database closed a moment ago in this process may still
/// hold through sled's background threads. A directory that another process holds is refused at once.
pub fn open_sled_when_unlocked(path: impl AsRef<Path>) -> Result<sled::Db, OpenError> {
    let path = path.as_ref();
    open_when_unlocked(&sled::Config::new().path(path), path).map_err(|attempt| attempt.into_error(path))
}

impl OpenAttempt {
    fn into_error(self, path: &Path) -> OpenError {
        let path = path.display().to_string();
        match self {
            OpenAttempt::Panicked => {
                OpenError::Corrupt { path, reason: "the storage engine could not read its files".into() }
            }
            OpenAttempt::InUse => OpenError::InUse { path },
            OpenAttempt::StillLocked => OpenError::StillLocked { path, waited_seconds: LOCK_WAIT.as_secs() },
            OpenAttempt::Failed(e @ sled::Error::Corruption { .. }) => {
                OpenError::Corrupt { path, reason: e.to_string() }
            }
            OpenAttempt::Failed(other) => OpenError::Storage { path, source: other },
        }
    }
}

fn open_when_unlocked(config: &sled::Config, dir: &Path) -> Result<sled::Db, OpenAttempt> {
    // Canonical, so that two spellings of one directory are one entry; computed once the directory exists.
    let key = || std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let started = std::time::Instant::now();
    loop {
        // sled 0.34 can panic on some damaged files instead of returning an error; callers get an error.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open())) {
            Err(_) => return Err(OpenAttempt::Panicked),
            Ok(Ok(db)) => {
                if let Ok(mut set) = OPENED_HERE.lock() {
                    set.insert(key());
                }
                return Ok(db);
            }
            Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") => {
                if !OPENED_HERE.lock().map(|set| set.contains(&key())).unwrap_or(true) {
                    return Err(OpenAttempt::InUse);
                }
                if started.elapsed() >= LOCK_WAIT {
                    return Err(OpenAttempt::StillLocked);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(Err(e)) => return Err(OpenAttempt::Failed(e)),
        }
    }
}

fn missing(position: u64) -> StorageError {
    StorageError::Corrupt { location: format!("position {position}"), reason: "durable event is missing".into() }
}

pub(crate) fn validate(request: &AppendRequest) -> Result<(), AppendError> {
    let invalid = |field, rule: &str| Err(AppendError::Invalid { field, rule: rule.to_owned() });
    if request.events.is_empty() {
        return invalid("events", "must hold at least one event");
    }
    if request.events.len() > MAX_EVENTS_PER_APPEND {
        return invalid("events", "must hold at most 10000 events");
    }
    let mut ids = HashSet::with_capacity(request.events.len());
    for event in &request.events {
        if !ids.insert(event.event_id) {
            return invalid("event_id", "must be unique within one append");
        }
        if event.event_type.is_empty() || event.event_type.len() > MAX_EVENT_TYPE_LEN {
            return invalid("event_type", "must be 1 to 256 bytes");
        }
        if event.schema_version == 0 {
            return invalid("schema_version", "must be at least 1");
        }
    }
    if request.marker.as_ref().is_some_and(|m| m.name.is_empty()) {
        return invalid("marker.name", "must not be empty");
    }
    Ok(())
}

/// Decodes the canonical record bytes stored at `position`.
pub(crate) fn decode_record_at(position: u64, record: &[u8], hash: Hash) -> Result<RecordedEvent, StorageError> {
    wire::decode_record(record, hash)
        .map_err(|e| StorageError::Corrupt { location: format!("position {position}"), reason: e.to_string() })
}

/// The stored hash and record bytes of `position`.
fn stored_at(tree: &sled::Tree, position: u64) -> Result<(Hash, sled::IVec), StorageError> {
    let entry = commit_entry::entry_holding(tree, position)?.ok_or_else(|| missing(position))?;
    let index = entry.index_of(position);
    Ok((entry.hash(index), entry.record(index)))
}

/// What opening finds in the commit entries: the indexes, where the log ends, and its last record.
struct Rebuilt {
    next_position: u64,
    last: Option<(u64, Hash, sled::IVec)>,
    ids: IdIndex,
    streams: StreamIndex,
}

/// Rebuilds the stream and event-id indexes from the commit entries' headers, without decoding a record:
/// from the snapshot written when the log last closed and the entries after it, or from every entry if
/// there is no snapshot or it does not match the log. A missing entry is left for reads and `verify` to
/// report; entries that overlap are corrupt.
fn rebuild_indexes(tree: &sled::Tree, shown: &str, snapshot: Option<Snapshot>) -> Result<Rebuilt, StorageError> {
    let started = std::time::Instant::now();
    let (mut ids, mut streams, mut next_position, mut last) = (Vec::new(), StreamIndex::default(), 0, None);
    if let Some(snapshot) = snapshot {
        match snapshot_head(tree, &snapshot)? {
            Some(head) => {
                (ids, streams, next_position, last) =
                    (snapshot.ids.into_entries(), snapshot.streams, snapshot.next_position, head);
            }
            None => tracing::warn!(log = shown, "the index snapshot does not match the log; indexing every event"),
        }
    }
    let from_snapshot = ids.len();
    let tail = tree
        .range(keys::commit_key(next_position)..)
        .take_while(|found| found.as_ref().map_or(true, |(key, _)| key.starts_with(keys::COMMIT_PREFIX)));
    for found in tail {
        let (key, value) = found?;
        let entry = Entry::from_stored(&key, value)?;
        let first = entry.first_position();
        if first < next_position {
            return Err(StorageError::Corrupt {
                location: format!("commit entry at position {first}"),
                reason: format!("overlaps the entry before it, which ends at {next_position}"),
            });
        }
        if first > next_position {
            tracing::warn!(log = shown, from = next_position, to = first, "positions missing from the event log");
        }
        let entry_streams = entry.streams()?;
        let mut positions = vec![Vec::new(); entry_streams.len()];
        for (offset, (id, stream)) in entry.ids_and_streams().enumerate() {
            let position = first + offset as u64;
            ids.push((id_hash(&id), position));
            positions[stream].push(position);
        }
        for (stream, positions) in entry_streams.into_iter().zip(positions) {
            streams.extend(stream, positions);
        }
        next_position = entry.end_position();
        let index = entry.len() - 1;
        last = Some((next_position - 1, entry.hash(index), entry.record(index)));
    }
    if ids.len() - from_snapshot >= 100_000 {
        let seconds = started.elapsed().as_secs_f64();
        let indexed = ids.len() - from_snapshot;
        tracing::info!(log = shown, indexed, from_snapshot, seconds, "rebuilt the event log's indexes");
    }
    Ok(Rebuilt { next_position, last, ids: IdIndex::from_entries(ids), streams })
}

/// The log's last event as the snapshot saw it, if the log still holds it there and the snapshot ends at
/// an entry's end; `Ok(None)` if the snapshot does not match the log.
#[allow(clippy::type_complexity)] // The same triple as `Rebuilt::last`.
fn snapshot_head(
    tree: &sled::Tree,
    snapshot: &Snapshot,
) -> Result<Option<Option<(u64, Hash, sled::IVec)>>, StorageError> {
    let Some(before) = snapshot.next_position.checked_sub(1) else { return Ok(Some(None)) };
    let Some(entry) = commit_entry::entry_holding(tree, before)? else { return Ok(None) };
    let index = entry.index_of(before);
    let matches = entry.end_position() == snapshot.next_position && entry.hash(index) == snapshot.head_hash;
    Ok(matches.then(|| Some((before, entry.hash(index), entry.record(index)))))
}

/// Durable events in position order; see [`EventLog::read_all`].
pub struct ReadAll {
    records: Records,
    expected: u64,
    until: u64,
    read_ahead: Option<ReadAhead>,
    /// An event read past a gap, delivered after the gap is reported.
    pending: Option<StoredEvent>,
}

/// The stored records of a range of positions, in order, from the commit entries that hold them.
struct Records {
    entries: sled::Iter,
    current: Option<Entry>,
    /// The next index to read in `current`.
    index: usize,
    from: u64,
    until: u64,
}

impl Records {
    fn new(tree: &sled::Tree, from: u64, until: u64) -> Records {
        // Start at the entry holding `from`, which may be keyed before it.
        let start = match tree.range(keys::commit_key(0)..=keys::commit_key(from)).next_back() {
            Some(Ok((key, _))) => keys::first_position_of_commit_key(&key).unwrap_or(from),
            _ => from,
        };
        let entries = tree.range(keys::commit_key(start)..keys::commit_key(until.max(start)));
        Records { entries, current: None, index: 0, from, until }
    }
}

impl Iterator for Records {
    type Item = Result<StoredEvent, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = &self.current {
                if self.index < entry.len() {
                    let position = entry.first_position() + self.index as u64;
                    if position >= self.until {
                        self.current = None;
                        return None;
                    }
                    let stored =
                        StoredEvent { position, hash: entry.hash(self.index), record: entry.record(self.index) };
                    self.index += 1;
                    return Some(Ok(stored));
                }
                self.current = None;
            }
            let (key, value) = match self.entries.next()? {
                Ok(found) => found,
                Err(e) => return Some(Err(e.into())),
            };
            let parsed = Entry::from_stored(&key, value);
            match parsed {
                Ok(entry) => {
                    self.index =
                        usize::try_from(self.from.saturating_sub(entry.first_position())).unwrap_or(usize::MAX);
                    self.current = Some(entry);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A thread that walks part of a read's range ahead of the reader; it stops at the end of that part or as
/// soon as the read is dropped.
struct ReadAhead {
    stop: Arc<std::sync::atomic::AtomicBool>,
    walker: Option<JoinHandle<()>>,
}

impl ReadAhead {
    fn start(tree: &sled::Tree, from: u64, until: u64) -> Option<ReadAhead> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tree, stopped) = (tree.clone(), stop.clone());
        let walk = move || {
            for entry in tree.range(keys::commit_key(from)..keys::commit_key(until)) {
                if entry.is_err() || stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
        };
        // Without the thread the read is only slower.
        let walker = std::thread::Builder::new().name("event-log-read-ahead".into()).spawn(walk).ok()?;
        Some(ReadAhead { stop, walker: Some(walker) })
    }
}

impl Drop for ReadAhead {
    /// Stops the walk and waits for it (it checks between entries), so that dropping a read lets go of
    /// sled's files at once.
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(walker) = self.walker.take() {
            let _ = walker.join();
        }
    }
}

impl std::fmt::Debug for ReadAll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAll").field("next", &self.expected).field("until", &self.until).finish()
    }
}

/// One stored event, undecoded: what a verifier or an envelope needs, without the cost of decoding.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub position: u64,
    pub hash: Hash,
    /// The canonical record bytes, verbatim.
    pub record: sled::IVec,
}

impl ReadAll {
    /// The same events undecoded. Positions are not checked for gaps here; [`EventLog::verify`] does.
    pub fn stored(self) -> impl Iterator<Item = Result<StoredEvent, StorageError>> {
        let read_ahead = self.read_ahead;
        self.pending.map(Ok).into_iter().chain(self.records).inspect(move |_| {
            // The read-ahead lives as long as this iterator.
            let _ = &read_ahead;
        })
    }

    /// The positions this read covers: `from..until`.
    pub fn until(&self) -> u64 {
        self.until
    }
}

impl Iterator for ReadAll {
    type Item = Result<RecordedEvent, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let stored = match self.pending.take().map(Ok).or_else(|| self.records.next()) {
            Some(Ok(stored)) => stored,
            Some(Err(e)) => return Some(Err(e)),
            None => {
                // Entries ran out below the durable head: an event is missing (reported once).
                if self.expected < self.until {
                    let position = self.expected;
                    self.expected = self.until;
                    return Some(Err(missing(position)));
                }
                return None;
            }
        };
        if stored.position != self.expected {
            // Report the gap once, then go on from the event after it.
            let position = self.expected;
            self.expected = stored.position;
            self.pending = Some(stored);
            return Some(Err(missing(position)));
        }
        self.expected += 1;
        Some(decode_record_at(stored.position, &stored.record, stored.hash))
    }
}

/// A live reader: every durable event from a position on, then each new one as it is committed.
#[derive(Debug)]
pub struct Subscription {
    tree: sled::Tree,
    durable: watch::Receiver<u64>,
    next: u64,
    buffer: VecDeque<RecordedEvent>,
}

/// Events read from disk at a time by a subscription.
const SUBSCRIPTION_READ_AHEAD: u64 = 512;

impl Subscription {
    /// The next event, waiting for one to be committed if needed. `None` once the log is closed and
    /// everything durable was delivered.
    pub async fn next(&mut self) -> Option<Result<RecordedEvent, StorageError>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(Ok(event));
            }
            let durable = *self.durable.borrow_and_update();
            if self.next < durable {
                let until = durable.min(self.next + SUBSCRIPTION_READ_AHEAD);
                // One range scan rather than a lookup per position.
                let mut expected = self.next;
                for stored in Records::new(&self.tree, self.next, until) {
                    let event = stored.and_then(|stored| match stored.position {
                        position if position == expected => decode_record_at(position, &stored.record, stored.hash),
                        _ => Err(missing(expected)),
                    });
                    match event {
                        Ok(event) => self.buffer.push_back(event),
                        Err(e) => return Some(Err(e)),
                    }
                    expected += 1;
                    self.next = expected;
                }
                if self.next < until {
                    return Some(Err(missing(self.next)));
                }
                continue;
            }
            if self.durable.changed().await.is_err() {
                return None;
            }
        }
    }

    /// The position of the next event this subscription will deliver.
    pub fn position(&self) -> u64 {
        self.next - self.buffer.len() as u64
    }
}
