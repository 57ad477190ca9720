//! The single writer: gathers concurrent appends into one sled batch and one flush (group commit), assigns
//! gap-free positions and chains hashes. It runs on its own thread so that a slow disk never blocks the
//! async runtime, and it is the only code that writes to the log's tree.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::chain::{Hash, Head};
use crate::commit_entry::{self, EntryBuilder};
use crate::copy::{CopiedEvent, CopyError};
use crate::error::{AppendError, StorageError};
use crate::event::{RecordedEvent, Timestamp};
use crate::indexes::{IdIndex, Snapshot, StreamIndex};
use crate::journal::{Journal, Writes};
use crate::keys;
use crate::stream::StreamId;
use crate::wire::{self, RecordFields};
use crate::{AppendRequest, AppendResult, AppendedInOrder, Durability};

/// Most commands taken into one group commit; bounds the latency a single batch adds.
const MAX_COMMANDS_PER_COMMIT: usize = 4096;

/// What an append is answered.
pub(crate) type AppendReply = oneshot::Sender<Result<AppendResult, AppendError>>;

/// Builds an append from the log's head (`None` when the log is empty) as the writer stages it.
pub(crate) type MakeRequest = Box<dyn FnOnce(Option<Head>) -> AppendRequest + Send>;

pub(crate) enum Command {
    Append {
        request: AppendRequest,
        reply: AppendReply,
    },
    AppendAfterHead {
        make: MakeRequest,
        reply: AppendReply,
    },
    /// Requests applied in order in one commit until the first that fails; `invalid` is the validation
    /// error of the request after them, found before sending.
    AppendInOrder {
        requests: Vec<AppendRequest>,
        invalid: Option<AppendError>,
        reply: oneshot::Sender<AppendedInOrder>,
    },
    PutMarker {
        name: String,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    /// Events another log recorded, kept verbatim (see `copy.rs`).
    AppendCopied {
        events: Vec<CopiedEvent>,
        reply: CopyReply,
    },
}

/// What a copy is answered: the log's new head.
pub(crate) type CopyReply = oneshot::Sender<Result<Head, CopyError>>;

pub(crate) struct Writer {
    pub tree: sled::Tree,
    pub next_position: u64,
    pub head_hash: Hash,
    pub last_recorded: Timestamp,
    /// Where each event id may be stored; only the writer uses it.
    pub ids: IdIndex,
    /// Shared with readers, who only look below the durable position.
    pub streams: Arc<RwLock<StreamIndex>>,
    /// The log's directory, where the indexes are saved on close.
    pub dir: PathBuf,
}

/// Makes applied commits durable and only then answers them. Runs on a thread of its own so that the
/// writer stages and applies the next commit while the disk syncs the previous one (pipelined group
/// commit); several applied commits waiting for it are made durable by one journal write and one sync.
pub(crate) struct Syncer {
    pub journal: Journal,
    pub durability: Durability,
    pub checkpoint: Checkpoint,
    /// Publishes the number of durable events (the next position to be written) to readers.
    pub durable: watch::Sender<u64>,
    /// What it made durable, for [`crate::EventLog::stats`].
    pub stats: Arc<crate::stats::StatsCounters>,
}

/// Writes of one group commit that later commands in the same commit must already see.
#[derive(Default)]
pub(crate) struct Staged {
    batch: sled::Batch,
    /// The same writes, for the journal.
    writes: Writes,
    pub(crate) is_empty: bool,
    pub(crate) ids: HashMap<Uuid, u64>,
    /// The positions staged for each stream, in order.
    pub(crate) streams: HashMap<StreamId, Vec<u64>>,
    /// The commit's entries, the last one still open.
    entries: Vec<EntryBuilder>,
}

impl Staged {
    fn insert(&mut self, key: &[u8], value: Vec<u8>) {
        self.writes.insert(key, &value);
        self.batch.insert(key, value);
        self.is_empty = false;
    }

    fn entry_holding(&self, position: u64) -> Option<&EntryBuilder> {
        self.entries.iter().rev().find(|e| e.first_position() <= position)
    }

    /// The open entry, which receives `position` next; a new one when there is none or it is full.
    pub(crate) fn entry_for(&mut self, position: u64) -> &mut EntryBuilder {
        if self.entries.last().is_none_or(EntryBuilder::is_full) {
            self.entries.push(EntryBuilder::new(position));
        }
        let last = self.entries.len() - 1;
        &mut self.entries[last]
    }
}

enum Done {
    Append(AppendReply, AppendResult),
    /// An append refused by what the log holds (a stream at another version, an event id taken): answered
    /// only once what it was refused for is durable, so that the caller can read what it lost to.
    Rejected(AppendReply, AppendError),
    Marker(oneshot::Sender<Result<(), StorageError>>),
    InOrder(oneshot::Sender<AppendedInOrder>, AppendedInOrder),
    Copied(CopyReply, Result<Head, CopyError>),
}

impl Done {
    /// How many appends it answers as made: one, or each request applied in order.
    fn appends(&self) -> u64 {
        match self {
            Done::Append(..) => 1,
            Done::InOrder(_, in_order) => in_order.appended.len() as u64,
            // A batch of copied events is one append when it was written.
            Done::Copied(_, copied) => u64::from(copied.is_ok()),
            Done::Rejected(..) | Done::Marker(_) => 0,
        }
    }

    fn answer(self, outcome: &Result<(), StorageError>) {
        match (self, outcome) {
            (Done::Append(reply, result), Ok(())) => drop(reply.send(Ok(result))),
            (Done::Rejected(reply, rejection), Ok(())) => drop(reply.send(Err(rejection))),
            (Done::Append(reply, _) | Done::Rejected(reply, _), Err(e)) => {
                drop(reply.send(Err(AppendError::Storage(e.clone()))))
            }
            (Done::Marker(reply), Ok(())) => drop(reply.send(Ok(()))),
            (Done::Marker(reply), Err(e)) => drop(reply.send(Err(e.clone()))),
            (Done::InOrder(reply, outcome), Ok(())) => drop(reply.send(outcome)),
            // Not durable, so none of them is appended as far as the caller can rely on.
            (Done::InOrder(reply, _), Err(e)) => drop(
                reply.send(AppendedInOrder { appended: Vec::new(), failed: Some(AppendError::Storage(e.clone())) }),
            ),
            (Done::Copied(reply, copied), Ok(())) => drop(reply.send(copied)),
            (Done::Copied(reply, _), Err(e)) => drop(reply.send(Err(CopyError::Storage(e.clone())))),
        }
    }
}

/// A commit the writer applied to sled, waiting to be made durable. Commits without writes (every command
/// rejected or a retry of stored events) still pass through, so that their answers wait for everything
/// applied before them to be durable.
struct Applied {
    done: Vec<Done>,
    wrote: bool,
    writes: Writes,
    next_position: u64,
}

impl Writer {
    pub(crate) fn run(mut self, syncer: Syncer, mut commands: mpsc::Receiver<Command>) {
        let failed = Arc::new(AtomicBool::new(false));
        // One applied commit may wait while the previous one syncs; meanwhile new commands queue up and
        // form the next, larger commit.
        let (applied_tx, applied_rx) = std::sync::mpsc::sync_channel::<Applied>(1);
        let syncer = {
            let failed = failed.clone();
            std::thread::Builder::new().name("event-log-sync".into()).spawn(move || syncer.run(applied_rx, &failed))
        };
        let syncer = match syncer {
            Ok(handle) => handle,
            Err(error) => {
                tracing::error!(%error, "cannot start the event log's sync thread");
                failed.store(true, Ordering::SeqCst);
                while let Some(command) = commands.blocking_recv() {
                    refuse_all(vec![command]);
                }
                return;
            }
        };
        while let Some(first) = commands.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_COMMANDS_PER_COMMIT {
                match commands.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            if failed.load(Ordering::SeqCst) {
                refuse_all(batch);
                continue;
            }
            match self.apply(batch) {
                Ok(applied) => {
                    if let Err(unsent) = applied_tx.send(applied) {
                        failed.store(true, Ordering::SeqCst);
                        unsent.0.done.into_iter().for_each(|d| d.answer(&Err(StorageError::Failed)));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "event log write failed; refusing further appends");
                    failed.store(true, Ordering::SeqCst);
                }
            }
        }
        drop(applied_tx);
        let _ = syncer.join();
        if !failed.load(Ordering::SeqCst) {
            let streams = self.streams.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Err(error) = Snapshot::write(&self.dir, self.next_position, &self.head_hash, &mut self.ids, &streams)
            {
                tracing::warn!(%error, "cannot save the event log's indexes; the next open rebuilds them");
            }
        }
    }

    /// Stages every command and applies the writes to sled in one atomic batch; the syncer answers.
    fn apply(&mut self, commands: Vec<Command>) -> Result<Applied, StorageError> {
        let mut staged = Staged { is_empty: true, ..Staged::default() };
        let mut next_position = self.next_position;
        let mut head_hash = self.head_hash;
        let mut recorded_at = Timestamp::now().max(self.last_recorded);
        let mut done = Vec::with_capacity(commands.len());
        for command in commands {
            let (request, reply) = match command {
                Command::Append { request, reply } => (request, reply),
                Command::AppendAfterHead { make, reply } => {
                    let head = next_position.checked_sub(1).map(|position| Head { position, hash: head_hash });
                    let request = make(head);
                    if let Err(invalid) = crate::log::validate(&request) {
                        drop(reply.send(Err(invalid)));
                        continue;
                    }
                    (request, reply)
                }
                Command::PutMarker { name, value, reply } => {
                    staged.insert(&keys::marker_key(&name), value);
                    done.push(Done::Marker(reply));
                    continue;
                }
                Command::AppendInOrder { requests, invalid, reply } => {
                    let mut outcome = AppendedInOrder { appended: Vec::with_capacity(requests.len()), failed: None };
                    for request in &requests {
                        let mut cursor = ChainCursor { next_position, head_hash, recorded_at };
                        match self.stage_append(request, &mut staged, &mut cursor) {
                            Ok(result) => {
                                next_position = cursor.next_position;
                                head_hash = cursor.head_hash;
                                outcome.appended.push(result);
                            }
                            Err(rejection) => {
                                outcome.failed = Some(rejection);
                                break;
                            }
                        }
                    }
                    if outcome.failed.is_none() {
                        outcome.failed = invalid;
                    }
                    done.push(Done::InOrder(reply, outcome));
                    continue;
                }
                Command::AppendCopied { events, reply } => {
                    let copied = self.stage_copied(&events, &mut staged, next_position, head_hash);
                    if let Ok(copied) = &copied {
                        (next_position, head_hash) = (copied.head.position + 1, copied.head.hash);
                        // Appends after a copy are never recorded before what it copied.
                        recorded_at = recorded_at.max(copied.recorded_at);
                    }
                    done.push(Done::Copied(reply, copied.map(|copied| copied.head)));
                    continue;
                }
            };
            let mut cursor = ChainCursor { next_position, head_hash, recorded_at };
            match self.stage_append(&request, &mut staged, &mut cursor) {
                Ok(result) => {
                    next_position = cursor.next_position;
                    head_hash = cursor.head_hash;
                    done.push(Done::Append(reply, result));
                }
                // What it was refused for may be staged in this commit or applied by the one syncing now.
                Err(rejection) => done.push(Done::Rejected(reply, rejection)),
            }
        }
        let wrote = !staged.is_empty;
        if wrote {
            for entry in std::mem::take(&mut staged.entries) {
                staged.insert(&keys::commit_key(entry.first_position()), entry.finish());
            }
            if let Err(error) = self.tree.apply_batch(std::mem::take(&mut staged.batch)) {
                let error = StorageError::from(error);
                let outcome = Err(error.clone());
                done.into_iter().for_each(|d| d.answer(&outcome));
                return Err(error);
            }
            self.next_position = next_position;
            self.head_hash = head_hash;
            self.last_recorded = recorded_at;
            for (id, position) in staged.ids {
                self.ids.insert(&id, position);
            }
            // Readers only look below the durable position, which these are not yet.
            let mut streams = self.streams.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (stream, positions) in staged.streams {
                streams.extend(stream, positions);
            }
        }
        Ok(Applied { done, wrote, writes: staged.writes, next_position })
    }

    /// Validates one append against the log and what this commit staged before it, then stages its writes.
    /// Reads everything it needs before staging anything, so a rejection leaves `staged` untouched.
    fn stage_append(
        &mut self,
        request: &AppendRequest,
        staged: &mut Staged,
        cursor: &mut ChainCursor,
    ) -> Result<AppendResult, AppendError> {
        let mut stored_positions = Vec::new();
        for event in &request.events {
            if let Some(position) = self.lookup_id(staged, &event.event_id)? {
                stored_positions.push((event, position));
            }
        }
        if !stored_positions.is_empty() {
            return self.replay_result(request, staged, &stored_positions);
        }

        let current = self.stream_head(staged, &request.stream);
        if !request.expected.is_met_by(current) {
            return Err(AppendError::WrongExpectedVersion {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: current,
            });
        }
        let first_position = cursor.next_position;
        let mut version = current.map_or(0, |v| v + 1);
        for event in &request.events {
            let position = cursor.next_position;
            let record = wire::encode_record(&RecordFields {
                position,
                stream: &request.stream,
                stream_version: version,
                event_id: event.event_id,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                payload: &event.payload,
                metadata: &event.metadata,
                recorded_at: cursor.recorded_at,
                prev_hash: &cursor.head_hash,
            });
            let hash = Hash::chain(&cursor.head_hash, &record);
            staged.entry_for(position).push(&hash, &event.event_id, &request.stream, &record);
            staged.ids.insert(event.event_id, position);
            cursor.next_position += 1;
            cursor.head_hash = hash;
            version += 1;
        }
        let positions = first_position..cursor.next_position;
        match staged.streams.get_mut(&request.stream) {
            Some(staged_positions) => staged_positions.extend(positions),
            None => drop(staged.streams.insert(request.stream.clone(), positions.collect())),
        }
        if let Some(marker) = &request.marker {
            staged.insert(&keys::marker_key(&marker.name), marker.value.clone());
        }
        staged.is_empty = false;
        Ok(AppendResult { first_position, last_position: cursor.next_position - 1, stream_version: version - 1 })
    }

    /// Every event of the request is stored already: the original result if this is a true retry of the
    /// same append, otherwise a conflict. Writes nothing either way.
    fn replay_result(
        &self,
        request: &AppendRequest,
        staged: &Staged,
        stored: &[(&crate::NewEvent, u64)],
    ) -> Result<AppendResult, AppendError> {
        let (first_event, first_position) = stored[0];
        let conflict =
            |event: &crate::NewEvent, position| AppendError::EventIdConflict { event_id: event.event_id, position };
        if stored.len() != request.events.len() {
            return Err(conflict(first_event, first_position));
        }
        let mut first_version = None;
        let mut last = None;
        for (i, &(event, position)) in stored.iter().enumerate() {
            let recorded = self.load_event(staged, position)?;
            let offset = i as u64;
            let first_version = *first_version.get_or_insert(recorded.stream_version);
            let in_place = recorded.stream == request.stream
                && recorded.stream_version == first_version + offset
                && position == first_position + offset;
            if !in_place || !recorded.is_same_fact_as(event) {
                return Err(conflict(event, position));
            }
            last = Some((position, recorded.stream_version));
        }
        let before_first = first_version.and_then(|v| v.checked_sub(1));
        if !request.expected.is_met_by(before_first) {
            return Err(conflict(first_event, first_position));
        }
        let (last_position, stream_version) = last.unwrap_or((first_position, 0));
        Ok(AppendResult { first_position, last_position, stream_version })
    }

    /// The position of the stored or staged event with this id. A candidate of the id index is confirmed
    /// against the event id stored with the record, so ids sharing an index hash are told apart.
    pub(crate) fn lookup_id(&self, staged: &Staged, id: &Uuid) -> Result<Option<u64>, StorageError> {
        if let Some(position) = staged.ids.get(id) {
            return Ok(Some(*position));
        }
        for candidate in self.ids.candidates(id) {
            let entry =
                commit_entry::entry_holding(&self.tree, candidate)?.ok_or_else(|| missing_indexed(candidate))?;
            if entry.event_id(entry.index_of(candidate)) == *id {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    pub(crate) fn stream_head(&self, staged: &Staged, stream: &StreamId) -> Option<u64> {
        let stored = self.streams.read().unwrap_or_else(std::sync::PoisonError::into_inner).version(stream);
        match staged.streams.get(stream) {
            Some(positions) => Some(stored.map_or(0, |v| v + 1) + positions.len() as u64 - 1),
            None => stored,
        }
    }

    fn load_event(&self, staged: &Staged, position: u64) -> Result<RecordedEvent, StorageError> {
        if let Some((hash, record)) = staged.entry_holding(position).and_then(|entry| entry.get(position)) {
            return crate::log::decode_record_at(position, record, hash);
        }
        let entry = commit_entry::entry_holding(&self.tree, position)?.ok_or_else(|| missing_indexed(position))?;
        let index = entry.index_of(position);
        crate::log::decode_record_at(position, &entry.record(index), entry.hash(index))
    }
}

fn missing_indexed(position: u64) -> StorageError {
    StorageError::Corrupt { location: format!("position {position}"), reason: "indexed event is missing".into() }
}

impl Syncer {
    fn run(mut self, applied: std::sync::mpsc::Receiver<Applied>, failed: &AtomicBool) {
        while let Ok(first) = applied.recv() {
            let mut group = vec![first];
            while let Ok(more) = applied.try_recv() {
                group.push(more);
            }
            let wrote = group.iter().any(|a| a.wrote);
            let outcome = if failed.load(Ordering::SeqCst) {
                Err(StorageError::Failed)
            } else if wrote {
                self.make_durable(&group)
            } else {
                Ok(())
            };
            match &outcome {
                Ok(()) => {
                    if let Some(durable) = group.iter().filter(|a| a.wrote).map(|a| a.next_position).max() {
                        let before = self.durable.send_replace(durable);
                        let appends = group.iter().flat_map(|a| &a.done).map(Done::appends).sum();
                        self.stats.committed(appends, durable.saturating_sub(before));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "event log sync failed; refusing further appends");
                    failed.store(true, Ordering::SeqCst);
                }
            }
            group.into_iter().flat_map(|a| a.done).for_each(|d| d.answer(&outcome));
        }
        // Closing: leave nothing for the next open to replay.
        if !failed.load(Ordering::SeqCst)
            && let Err(error) = self.checkpoint.run(&mut self.journal)
        {
            tracing::warn!(%error, "event log checkpoint on close failed; the next open replays the journal");
        }
    }

    /// One journal record per commit, one write and one sync for the group; when the journal is full, a
    /// checkpoint instead (sled already holds the group's writes: the writer applied them before sending).
    fn make_durable(&mut self, group: &[Applied]) -> Result<(), StorageError> {
        let writes: Vec<&Writes> = group.iter().filter(|a| a.wrote).map(|a| &a.writes).collect();
        if !self.journal.has_room_for(Journal::framed_len(&writes)) {
            return self.checkpoint.run(&mut self.journal);
        }
        let journal_failed = |e| StorageError::Sync(Arc::new(e));
        self.journal.append(&writes).map_err(journal_failed)?;
        if self.durability == Durability::Fdatasync {
            let started = std::time::Instant::now();
            self.journal.sync().map_err(journal_failed)?;
            self.stats.synced(started.elapsed());
        }
        Ok(())
    }
}

/// Makes sled hold everything applied to it durably, then empties the journal.
pub(crate) struct Checkpoint {
    pub db: sled::Db,
    /// The sled log file, synced with fdatasync after sled's own flush (see the crate docs for why).
    pub data_file: File,
    pub blobs: BlobFiles,
}

impl Checkpoint {
    pub(crate) fn run(&mut self, journal: &mut Journal) -> Result<(), StorageError> {
        self.db.flush()?;
        // Blobs first: sled's log must never be durable while a blob it points to is not.
        self.blobs.sync_new().map_err(|e| StorageError::BlobSync(Arc::new(e)))?;
        self.data_file.sync_data().map_err(|e| StorageError::Sync(Arc::new(e)))?;
        journal.start_over().map_err(|e| StorageError::Sync(Arc::new(e)))
    }
}

/// sled writes a page too large for its log (over a quarter of a 512 KiB segment: an event with a large
/// payload, or a node holding several) to a file of its own in `blobs/`, and never syncs that file. The
/// syncer makes every new blob file, and the directory entry naming it, durable before the log that
/// points to it.
pub(crate) struct BlobFiles {
    dir: PathBuf,
    /// The blob files present at the last sync and the length each had when synced. sled writes a blob
    /// on the writer thread while the previous commit syncs, so a file may be listed half-written: one
    /// whose length changed since is synced again. sled removes old blobs, so this is rebuilt from each
    /// listing rather than grown.
    synced: HashMap<OsString, u64>,
}

impl BlobFiles {
    pub(crate) fn new(dir: PathBuf) -> BlobFiles {
        BlobFiles { dir, synced: HashMap::new() }
    }

    /// Syncs the blob files that appeared or grew since the last call; returns how many there were.
    pub(crate) fn sync_new(&mut self) -> std::io::Result<usize> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut present = HashMap::with_capacity(self.synced.len());
        let mut new = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            // Length first, then sync: the synced length is never more than what was made durable.
            let synced = match entry.metadata().map(|meta| meta.len()).and_then(|len| {
                if self.synced.get(&name) != Some(&len) {
                    File::open(entry.path())?.sync_data()?;
                    new += 1;
                }
                Ok(len)
            }) {
                Ok(len) => len,
                // sled removed a replaced blob meanwhile: nothing left to make durable.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            present.insert(name, synced);
        }
        if new > 0 {
            File::open(&self.dir)?.sync_all()?;
        }
        self.synced = present;
        Ok(new)
    }
}

/// Where the chain stands while one commit is being staged.
struct ChainCursor {
    next_position: u64,
    head_hash: Hash,
    recorded_at: Timestamp,
}

fn refuse_all(commands: Vec<Command>) {
    for command in commands {
        match command {
            Command::Append { reply, .. } | Command::AppendAfterHead { reply, .. } => {
                drop(reply.send(Err(AppendError::Storage(StorageError::Failed))))
            }
            Command::PutMarker { reply, .. } => drop(reply.send(Err(StorageError::Failed))),
            Command::AppendCopied { reply, .. } => drop(reply.send(Err(CopyError::Storage(StorageError::Failed)))),
            Command::AppendInOrder { reply, .. } => drop(reply.send(AppendedInOrder {
                appended: Vec::new(),
                failed: Some(AppendError::Storage(StorageError::Failed)),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BlobFiles;

    #[test]
    fn each_new_or_grown_blob_file_is_synced_once() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        let mut files = BlobFiles::new(blobs.clone());
        assert_eq!(files.sync_new().unwrap(), 0, "no directory yet");
        std::fs::create_dir(&blobs).unwrap();
        std::fs::write(blobs.join("1"), b"one").unwrap();
        std::fs::write(blobs.join("2"), b"two").unwrap();
        assert_eq!(files.sync_new().unwrap(), 2);
        assert_eq!(files.sync_new().unwrap(), 0);
        std::fs::remove_file(blobs.join("1")).unwrap();
        std::fs::write(blobs.join("3"), b"three").unwrap();
        assert_eq!(files.sync_new().unwrap(), 1);
        assert_eq!(files.synced.len(), 2, "removed blobs are forgotten");
        // A blob listed while sled was still writing it is synced again once it has grown.
        std::fs::write(blobs.join("3"), b"three, written in full").unwrap();
        assert_eq!(files.sync_new().unwrap(), 1);
        assert_eq!(files.sync_new().unwrap(), 0);
    }
}
