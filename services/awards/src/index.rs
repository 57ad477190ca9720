//! What the awards service indexes from its own log (the runtime's [`ListingIndex`] builds and catches it
//! up): awards in the order they were offered, with what listing filters on (organisation, round, status).

use contracts::names::stream;
use std::collections::{BTreeMap, HashMap};

use event_log::RecordedEvent;
use service_runtime::ServiceError;
use service_runtime::listing_index::{Indexed, ListingIndex, decode, page_after};

use crate::domain::award::{AwardEvent, Status};
use crate::domain::{AwardId, OrganisationId, RoundId};

/// The awards service's listing index.
pub type Index = ListingIndex<Awards>;

/// What listing needs to know about an award without replaying it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub award_id: AwardId,
    pub organisation_id: OrganisationId,
    pub round_id: RoundId,
    pub status: Status,
}

/// The indexed awards.
#[derive(Debug, Default)]
pub struct Awards {
    /// Offer position -> award.
    by_position: BTreeMap<u64, AwardId>,
    entries: HashMap<AwardId, Entry>,
}

impl Indexed for Awards {
    fn apply(&mut self, recorded: &RecordedEvent) -> Result<(), ServiceError> {
        let id = match AwardId::parse("", recorded.stream.key()) {
            Ok(id) if recorded.stream.stream_type() == stream::AWARD => id,
            _ => return Ok(()),
        };
        let status = match decode::<AwardEvent>(recorded)? {
            AwardEvent::Offered(e) => {
                // Recorded by this service after checking them: an id that does not read is corrupt data.
                let corrupt = |e| ServiceError::internal_from("a recorded award offer does not read", e);
                let organisation_id = OrganisationId::parse("organisation_id", &e.organisation_id).map_err(corrupt)?;
                let round_id = RoundId::parse("round_id", &e.round_id).map_err(corrupt)?;
                self.by_position.insert(recorded.position, id);
                self.entries.insert(id, Entry { award_id: id, organisation_id, round_id, status: Status::Offered });
                return Ok(());
            }
            AwardEvent::AgreementSigned(_) | AwardEvent::Resumed(_) => Status::Active,
            AwardEvent::Suspended(_) => Status::Suspended,
            AwardEvent::Terminated(_) => Status::Terminated,
            AwardEvent::Closed(_) => Status::Closed,
            _ => return Ok(()),
        };
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.status = status;
        }
        Ok(())
    }
}

impl Awards {
    /// Awards offered after position `after`, in offer order, that pass `keep`; at most `limit`, with the
    /// offer position of each.
    pub fn list(&self, after: Option<u64>, limit: usize, keep: impl Fn(&Entry) -> bool) -> Vec<(u64, AwardId)> {
        page_after(&self.by_position, after, limit, |id| self.entries.get(id).is_some_and(&keep))
    }
}
