//! Timeline entries: one per projected step of a grant, keyed by the grant part (`app` or `award`), the
//! source and the event's position, so each source writes its own entries.

use event_log::RecordedEvent;

use super::ProjectError;
use super::entries::save;
use super::keys::timeline_key;
use super::records::TimelineRec;
use crate::store::Store;

/// Whose timeline a source writes steps of: the grant part `kind` (`app`, keyed by application id, or
/// `award`), and the source.
pub(super) struct Timeline {
    pub kind: &'static str,
    pub source: &'static str,
}

impl Timeline {
    /// Records `event` as a step of the timeline of grant part `id`.
    pub(super) fn step(
        &self,
        store: &mut impl Store,
        event: &RecordedEvent,
        id: &str,
        step: &str,
        summary: String,
    ) -> Result<(), ProjectError> {
        let entry = TimelineRec {
            event_type: event.event_type.clone(),
            step: step.to_owned(),
            actor_subject: event.metadata.actor.subject.clone(),
            actor_role: event.metadata.actor.role.clone(),
            occurred_at_micros: event.metadata.occurred_at.as_micros(),
            recorded_at_micros: event.recorded_at.as_micros(),
            summary,
        };
        Ok(save(store, &timeline_key(self.kind, id, self.source, event.position), &entry)?)
    }
}
