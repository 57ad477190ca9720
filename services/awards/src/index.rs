//! The service's in-memory read index, derived only from its own log: awards in the order they were
//! offered, with what listing filters on (organisation, round, status). Rebuilt at start-up and caught up
//! (reading every durable event it has not seen, in position order) before each listing, so a caller
//! reads its own writes and sees offers the bus consumer appended.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use event_log::EventLog;
use service_runtime::{DomainEvent, ServiceError};

use crate::domain::award::{AwardEvent, Status};
use crate::domain::{AwardId, OrganisationId, RoundId};

/// What listing needs to know about an award without replaying it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub award_id: AwardId,
    pub organisation_id: OrganisationId,
    pub round_id: RoundId,
    pub status: Status,
}

#[derive(Debug, Default)]
struct State {
    next_position: u64,
    /// Offer position -> award.
    by_position: BTreeMap<u64, AwardId>,
    entries: HashMap<AwardId, Entry>,
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
            let award = match AwardId::parse("", recorded.stream.key()) {
                Ok(id) if recorded.stream.stream_type() == "award" => Some((id, decode(&recorded)?)),
                _ => None,
            };
            // Past the event only once it decoded: one that fails is read again by the next catch-up.
            state.next_position = recorded.position + 1;
            let Some((id, event)) = award else { continue };
            let status = match &event {
                AwardEvent::Offered(e) => {
                    let (Ok(organisation_id), Ok(round_id)) =
                        (OrganisationId::parse("", &e.organisation_id), RoundId::parse("", &e.round_id))
                    else {
                        continue;
                    };
                    state.by_position.insert(recorded.position, id);
                    state
                        .entries
                        .insert(id, Entry { award_id: id, organisation_id, round_id, status: Status::Offered });
                    continue;
                }
                AwardEvent::AgreementSigned(_) | AwardEvent::Resumed(_) => Status::Active,
                AwardEvent::Suspended(_) => Status::Suspended,
                AwardEvent::Terminated(_) => Status::Terminated,
                AwardEvent::Closed(_) => Status::Closed,
                _ => continue,
            };
            if let Some(entry) = state.entries.get_mut(&id) {
                entry.status = status;
            }
        }
        Ok(())
    }

    /// Awards offered after position `after`, in offer order, that pass `keep`; at most `limit`, with the
    /// offer position of each.
    pub fn list(&self, after: Option<u64>, limit: usize, keep: impl Fn(&Entry) -> bool) -> Vec<(u64, AwardId)> {
        let state = self.lock();
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        state
            .by_position
            .range((start, std::ops::Bound::Unbounded))
            .filter(|(_, id)| state.entries.get(id).is_some_and(&keep))
            .take(limit)
            .map(|(p, id)| (*p, *id))
            .collect()
    }
}

fn decode(recorded: &event_log::RecordedEvent) -> Result<AwardEvent, ServiceError> {
    AwardEvent::decode_payload(&recorded.event_type, &recorded.payload)
        .map_err(|e| ServiceError::Internal(format!("position {}: {e}", recorded.position)))
}
