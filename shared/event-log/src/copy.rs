//! Writing events another log already recorded (a backup's copy of a service's log): the records are kept
//! verbatim, with their positions, times and hashes, instead of being recorded anew as appends are.
//!
//! The normal append path assigns positions, times and the chain itself; a copy must not. So a copy is its
//! own writer command, checked here before anything is staged: each record is the next position, links
//! to the head's hash, hashes to the hash given with it, is in canonical encoding, follows on its stream's
//! version and carries an event id the log does not hold yet. A command's events are staged all or none,
//! in the same group commit (one journal record and one `fdatasync`) as any other command.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::chain::{ChainVerifier, Hash, Head, Mismatch};
use crate::error::StorageError;
use crate::event::{RecordedEvent, Timestamp};
use crate::stream::StreamId;
use crate::writer::{Staged, Writer};

/// One event as another log recorded it: its canonical record bytes and the hash stored beside them (an
/// `EventEnvelope` of `event_record.proto`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedEvent {
    pub record: Vec<u8>,
    pub hash: Hash,
}

impl From<&RecordedEvent> for CopiedEvent {
    fn from(event: &RecordedEvent) -> CopiedEvent {
        CopiedEvent { record: event.record_bytes().to_vec(), hash: event.hash }
    }
}

/// Why [`crate::EventLog::append_copied`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A copied event does not continue this log: `position` names it (or where it should have gone) and
    /// the reason says which rule it breaks.
    #[error("copied event at position {}: {}", .0.position, .0.reason)]
    Refused(Mismatch),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A copied event, checked, with what the indexes need.
struct Checked<'a> {
    event: &'a CopiedEvent,
    position: u64,
    event_id: Uuid,
    stream: StreamId,
    recorded_at: Timestamp,
}

/// The hash the next copied event must link to: the last one checked, or the log's head.
fn verifier_head(checked: &[Checked<'_>], head_hash: Hash) -> Hash {
    checked.last().map_or(head_hash, |c| c.event.hash)
}

/// Where the chain stands after a copy was staged: the new head and the latest `recorded_at` copied.
pub(crate) struct CopiedHead {
    pub head: Head,
    pub recorded_at: Timestamp,
}

impl Writer {
    /// Checks every event of a copy against the log as staged so far (`next_position`, `head_hash`), then
    /// stages them all; a refusal leaves `staged` untouched.
    pub(crate) fn stage_copied(
        &self,
        events: &[CopiedEvent],
        staged: &mut Staged,
        next_position: u64,
        head_hash: Hash,
    ) -> Result<CopiedHead, CopyError> {
        let refused = |position, reason: String| CopyError::Refused(Mismatch { position, reason });
        if events.is_empty() || events.len() > crate::MAX_EVENTS_PER_APPEND {
            return Err(refused(next_position, "a copy holds 1 to 10000 events".into()));
        }
        let mut verifier = ChainVerifier::resume(next_position, head_hash);
        let mut versions: HashMap<StreamId, Option<u64>> = HashMap::new();
        let mut ids = HashSet::with_capacity(events.len());
        let mut checked = Vec::with_capacity(events.len());
        for event in events {
            let position = verifier.next_position();
            let recorded = crate::log::decode_record_at(position, &event.record, event.hash)
                .map_err(|e| refused(position, e.to_string()))?;
            // The two ways a copy most often goes wrong, named before the hash says only that it differs.
            if recorded.position != position {
                let reason = format!("the record says position {}; this log's next is {position}", recorded.position);
                return Err(refused(position, reason));
            }
            if recorded.prev_hash != verifier_head(&checked, head_hash) {
                let reason = format!(
                    "the record links to {}, not to this log's head {}: it is from another log",
                    recorded.prev_hash,
                    verifier_head(&checked, head_hash)
                );
                return Err(refused(position, reason));
            }
            verifier.check(&event.record, &event.hash).map_err(CopyError::Refused)?;
            let version =
                versions.entry(recorded.stream.clone()).or_insert_with(|| self.stream_head(staged, &recorded.stream));
            let due = version.map_or(0, |v| v + 1);
            if recorded.stream_version != due {
                return Err(refused(
                    position,
                    format!(
                        "stream {} is at version {} here; the record says {}",
                        recorded.stream, due, recorded.stream_version
                    ),
                ));
            }
            *version = Some(due);
            if !ids.insert(recorded.event_id) || self.lookup_id(staged, &recorded.event_id)?.is_some() {
                return Err(refused(position, format!("event id {} is already in this log", recorded.event_id)));
            }
            checked.push(Checked {
                event,
                position,
                event_id: recorded.event_id,
                stream: recorded.stream,
                recorded_at: recorded.recorded_at,
            });
        }
        let mut latest = Timestamp::default();
        for Checked { event, position, event_id, stream, recorded_at } in checked {
            staged.entry_for(position).push(&event.hash, &event_id, &stream, &event.record);
            staged.ids.insert(event_id, position);
            staged.streams.entry(stream).or_default().push(position);
            latest = latest.max(recorded_at);
        }
        staged.is_empty = false;
        let last = events.last().map_or(head_hash, |e| e.hash);
        Ok(CopiedHead { head: Head { position: verifier.next_position() - 1, hash: last }, recorded_at: latest })
    }
}
