//! Timeline entries: one per projected step of a grant, keyed by the grant part (`app` or `award`), the
//! source and the event's position, so each source writes its own entries.

use event_log::RecordedEvent;

use super::ProjectError;
use super::entries::save;
use super::keys::timeline_key;
use super::records::TimelineRec;
use crate::store::Store;

/// Records `event` of `source` as a step of the timeline of grant part `kind` (`app`, keyed by
/// application id, or `award`) `id`.
pub(super) fn record(
    store: &mut impl Store,
    kind: &str,
    id: &str,
    source: &str,
    event: &RecordedEvent,
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
    Ok(save(store, &timeline_key(kind, id, source, event.position), &entry)?)
}
