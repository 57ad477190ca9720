//! The service's in-memory read index, derived only from its own log: which award each report belongs
//! to, and the reports whose last version waits for review in the order they were submitted. Rebuilt at
//! start-up and caught up (reading every durable event it has not seen, in position order) before each
//! read that needs it, so a caller reads its own writes and sees schedules the bus consumer appended.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use contracts::reporting::v1 as pb;
use event_log::EventLog;
use service_runtime::{DomainEvent, ServiceError};

use crate::domain::schedule::ReportingEvent;
use crate::domain::{AwardId, OrganisationId};
use crate::events::STREAM_TYPE;

/// Where a report lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportEntry {
    pub award_id: AwardId,
    pub report_ref: String,
    pub organisation_id: OrganisationId,
}

#[derive(Debug, Default)]
struct State {
    next_position: u64,
    reports: HashMap<String, ReportEntry>,
    organisations: HashMap<AwardId, OrganisationId>,
    /// Submission position -> report id, for reports whose last version waits for review.
    awaiting: BTreeMap<u64, String>,
    awaiting_position: HashMap<String, u64>,
}

#[derive(Clone, Debug, Default)]
pub struct Index {
    state: Arc<Mutex<State>>,
}

impl Index {
    /// Builds the index from everything in `log`.
    pub fn build(log: &EventLog) -> Result<Index, ServiceError> {
        let index = Index::default();
        index.catch_up(log)?;
        Ok(index)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies every durable event the index has not seen yet.
    pub fn catch_up(&self, log: &EventLog) -> Result<(), ServiceError> {
        let mut state = self.lock();
        for recorded in log.read_all(state.next_position) {
            let recorded = recorded?;
            let reporting = match AwardId::parse("", recorded.stream.key()) {
                Ok(award_id) if recorded.stream.stream_type() == STREAM_TYPE => Some((award_id, decode(&recorded)?)),
                _ => None,
            };
            // Past the event only once it decoded: one that fails is read again by the next catch-up.
            state.next_position = recorded.position + 1;
            let Some((award_id, event)) = reporting else { continue };
            match &event {
                ReportingEvent::Scheduled(e) => {
                    let Ok(organisation_id) = OrganisationId::parse("", &e.organisation_id) else { continue };
                    state.organisations.insert(award_id, organisation_id);
                    for o in &e.obligations {
                        let entry = ReportEntry { award_id, report_ref: o.report_ref.clone(), organisation_id };
                        state.reports.insert(o.report_id.clone(), entry);
                    }
                }
                ReportingEvent::Rescheduled(e) => {
                    let Some(organisation_id) = state.organisations.get(&award_id).copied() else { continue };
                    for o in &e.obligations {
                        let entry = ReportEntry { award_id, report_ref: o.report_ref.clone(), organisation_id };
                        state.reports.insert(o.report_id.clone(), entry);
                    }
                }
                ReportingEvent::Submitted(e) => {
                    if let Some(old) = state.awaiting_position.insert(e.report_id.clone(), recorded.position) {
                        state.awaiting.remove(&old);
                    }
                    state.awaiting.insert(recorded.position, e.report_id.clone());
                }
                ReportingEvent::RevisionRequested(pb::RevisionRequested { report_id, .. })
                | ReportingEvent::Accepted(pb::ReportAccepted { report_id, .. }) => {
                    if let Some(old) = state.awaiting_position.remove(report_id) {
                        state.awaiting.remove(&old);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn report(&self, report_id: &str) -> Option<ReportEntry> {
        self.lock().reports.get(report_id).cloned()
    }

    /// Reports waiting for review submitted after position `after`, oldest first, that pass `keep`; at
    /// most `limit`, with the submission position of each.
    pub fn awaiting(
        &self,
        after: Option<u64>,
        limit: usize,
        keep: impl Fn(&ReportEntry) -> bool,
    ) -> Vec<(u64, ReportEntry)> {
        let state = self.lock();
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        state
            .awaiting
            .range((start, std::ops::Bound::Unbounded))
            .filter_map(|(p, id)| state.reports.get(id).map(|e| (*p, e.clone())))
            .filter(|(_, e)| keep(e))
            .take(limit)
            .collect()
    }
}

fn decode(recorded: &event_log::RecordedEvent) -> Result<ReportingEvent, ServiceError> {
    ReportingEvent::decode_payload(&recorded.event_type, &recorded.payload)
        .map_err(|e| ServiceError::Internal(format!("position {}: {e}", recorded.position)))
}
