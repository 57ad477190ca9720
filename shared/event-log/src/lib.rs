//! An append-only, hash-chained event log on sled: each service of the grants platform keeps its history in
//! one of these, in a directory of its own.
//!
//! - **Streams**, one per aggregate, with optimistic concurrency ([`ExpectedVersion`]).
//! - A gap-free **global position** per log, in commit order: a reader that has seen position `p` has seen
//!   every event before it. Readers only ever see durable events.
//! - **Idempotent appends** by event id over the whole history: retrying an append returns the original
//!   result and writes nothing.
//! - **Group commit**: one writer thread gathers concurrent appends into one sled batch, one commit entry
//!   and one journal record; an append returns only after its journal record is on disk.
//! - A **SHA-256 hash chain** over canonical protobuf bytes (`proto/grants/eventlog/v1/event_record.proto`)
//!   that anyone can verify without this code; [`EventLog::verify`] recomputes it.
//! - No API changes or removes an event.
//! - **Copies** of another log's events ([`EventLog::append_copied`], for backups): kept verbatim, each
//!   checked against the chain before it is written.
//!
//! # Durability decision
//!
//! sled 0.34's `flush` writes its log buffer with `pwrite` and then calls `sync_file_range` on Linux, which
//! survives a process crash but not a power loss, and costs a disk round trip of its own. A commit is
//! therefore made durable by the log's own commit journal: one write and one `fdatasync` per group commit.
//! sled applies the same writes in memory and is flushed, and its data file and blob files synced, only at
//! checkpoints (when the journal is full, on open and on close); opening replays the journal into sled.
//! The benchmark (`cargo bench -p event-log`) measures it; see the crate README for the figures.

mod chain;
mod commit_entry;
mod copy;
mod error;
mod event;
mod indexes;
mod journal;
mod keys;
mod log;
mod migration;
mod stats;
mod stream;
mod trace;
mod wire;
mod writer;

pub use chain::{ChainVerifier, Hash, Head, Mismatch, VerifyReport};
pub use copy::{CopiedEvent, CopyError};
pub use error::{AppendError, OpenError, StorageError};
pub use event::{Actor, EventMetadata, NewEvent, RecordedEvent, Timestamp};
pub use log::{
    AppendRequest, AppendResult, AppendedInOrder, Durability, EventLog, MAX_EVENT_TYPE_LEN, MAX_EVENTS_PER_APPEND,
    Marker, Options, ReadAll, StoredEvent, Subscription, open_sled_when_unlocked,
};
pub use stats::{GROUP_SIZE_BOUNDS, HistogramSnapshot, LogStats, SYNC_SECONDS_BOUNDS};
pub use stream::{ExpectedVersion, InvalidStreamId, MAX_STREAM_PART_LEN, StreamId};
pub use trace::TraceContext;
pub use wire::{CheckedRecord, DecodeError, decode_envelope, decode_envelope_parts, decode_record, encode_envelope};
