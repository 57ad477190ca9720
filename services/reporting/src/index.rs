//! What the reporting service indexes from its own log (the runtime's [`ListingIndex`] builds and catches
//! it up): which award each report belongs to, and the reports whose last version waits for review in the
//! order they were submitted.

use std::collections::{BTreeMap, HashMap};

use contracts::reporting::v1 as pb;
use event_log::RecordedEvent;
use service_runtime::ServiceError;
use service_runtime::listing_index::{Indexed, ListingIndex, decode, page_after};

use crate::domain::schedule::ReportingEvent;
use crate::domain::{AwardId, OrganisationId};
use crate::events::STREAM_TYPE;

/// The reporting service's index.
pub type Index = ListingIndex<Reports>;

/// Where a report lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportEntry {
    pub award_id: AwardId,
    pub report_ref: String,
    pub organisation_id: OrganisationId,
}

/// The indexed reports.
#[derive(Debug, Default)]
pub struct Reports {
    reports: HashMap<String, ReportEntry>,
    organisations: HashMap<AwardId, OrganisationId>,
    /// Submission position -> report id, for reports whose last version waits for review.
    awaiting: BTreeMap<u64, String>,
    awaiting_position: HashMap<String, u64>,
}

impl Indexed for Reports {
    fn apply(&mut self, recorded: &RecordedEvent) -> Result<(), ServiceError> {
        let award_id = match AwardId::parse("", recorded.stream.key()) {
            Ok(award_id) if recorded.stream.stream_type() == STREAM_TYPE => award_id,
            _ => return Ok(()),
        };
        match decode::<ReportingEvent>(recorded)? {
            ReportingEvent::Scheduled(e) => {
                // Recorded by this service after checking it: an id that does not read is corrupt data.
                let organisation_id = OrganisationId::parse("organisation_id", &e.organisation_id)
                    .map_err(|e| ServiceError::internal_from("a recorded schedule does not read", e))?;
                self.organisations.insert(award_id, organisation_id);
                self.place(award_id, organisation_id, &e.obligations);
            }
            ReportingEvent::Rescheduled(e) => {
                let Some(organisation_id) = self.organisations.get(&award_id).copied() else { return Ok(()) };
                self.place(award_id, organisation_id, &e.obligations);
            }
            ReportingEvent::Submitted(e) => {
                if let Some(old) = self.awaiting_position.insert(e.report_id.clone(), recorded.position) {
                    self.awaiting.remove(&old);
                }
                self.awaiting.insert(recorded.position, e.report_id);
            }
            ReportingEvent::RevisionRequested(pb::RevisionRequested { report_id, .. })
            | ReportingEvent::Accepted(pb::ReportAccepted { report_id, .. }) => {
                if let Some(old) = self.awaiting_position.remove(&report_id) {
                    self.awaiting.remove(&old);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Reports {
    fn place(&mut self, award_id: AwardId, organisation_id: OrganisationId, obligations: &[pb::Obligation]) {
        for o in obligations {
            let entry = ReportEntry { award_id, report_ref: o.report_ref.clone(), organisation_id };
            self.reports.insert(o.report_id.clone(), entry);
        }
    }

    pub fn report(&self, report_id: &str) -> Option<ReportEntry> {
        self.reports.get(report_id).cloned()
    }

    /// Reports waiting for review submitted after position `after`, oldest first, that pass `keep`; at
    /// most `limit`, with the submission position of each.
    pub fn awaiting(
        &self,
        after: Option<u64>,
        limit: usize,
        keep: impl Fn(&ReportEntry) -> bool,
    ) -> Vec<(u64, ReportEntry)> {
        page_after(&self.awaiting, after, limit, |id| self.reports.get(id).is_some_and(&keep))
            .into_iter()
            .filter_map(|(position, id)| self.reports.get(&id).map(|entry| (position, entry.clone())))
            .collect()
    }
}
