//! An append-only, hash-chained event log on sled: each service of the grants platform keeps its history in
//! one of these, in a directory of its own.
//!
//! - **Streams**, one per aggregate, with optimistic concurrency ([`ExpectedVersion`]).
//! - A gap-free **global position** per log, in commit order: a reader that has seen position `p` has seen
//!   every event before it. Readers only ever see durable events.
//! - **Idempotent appends** by event id over the whole history: retrying an append returns the original
//!   result and writes nothing.
//! - **Group commit**: one writer thread gathers concurrent appends into one sled batch and one flush; an
//!   append returns only after its events are on disk.
//! - A **SHA-256 hash chain** over canonical protobuf bytes (`proto/grants/eventlog/v1/event_record.proto`)
//!   that anyone can verify without this code; [`EventLog::verify`] recomputes it.
//! - No API changes or removes an event.
//!
//! # Durability decision
//!
//! sled 0.34's `flush` writes its log buffer with `pwrite` and then calls `sync_file_range` on Linux. That
//! waits for the written pages to reach the device, but it neither flushes the device's volatile write
//! cache nor persists file metadata such as the file's new size, so it survives a process crash but not a
//! power loss. Every commit is therefore followed by `fdatasync` of sled's data file. sled also writes a
//! page over a quarter of its 512 KiB segment (an event with a large payload) to a file of its own under
//! `blobs/` and never syncs it, so new blob files and their directory are synced first. The benchmark
//! (`cargo bench -p event-log`) measures both; see the crate README for the figures.

mod chain;
mod commit_entry;
mod error;
mod event;
mod indexes;
mod journal;
mod keys;
mod log;
mod migration;
mod stream;
mod wire;
mod writer;

pub use chain::{ChainVerifier, Hash, Head, Mismatch, VerifyReport};
pub use error::{AppendError, OpenError, StorageError};
pub use event::{Actor, EventMetadata, NewEvent, RecordedEvent, Timestamp};
pub use log::{
    AppendRequest, AppendResult, AppendedInOrder, Durability, EventLog, MAX_EVENT_TYPE_LEN, MAX_EVENTS_PER_APPEND,
    Marker, Options, ReadAll, StoredEvent, Subscription, open_sled_when_unlocked,
};
pub use stream::{ExpectedVersion, InvalidStreamId, MAX_STREAM_PART_LEN, StreamId};
pub use wire::{CheckedRecord, DecodeError, decode_envelope, decode_envelope_parts, decode_record, encode_envelope};
