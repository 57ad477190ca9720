//! The service's in-memory read index, derived only from its own log.
//!
//! Rebuilt at start-up by reading the whole log, and caught up (reading every durable event it has not
//! seen, in position order) after each append, so a caller reads its own writes. It holds what a single
//! stream cannot answer: applications per round in drafting order (for listing), each round's approved
//! total (for the ceiling rule), and registration numbers per country (for uniqueness). Decisions and
//! registrations run under [`Index::lock_for_decision`]: the log is opened by one process only (sled
//! locks its files), so an in-process lock is enough to keep check-then-append atomic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use contracts::values::WireValue;
use domain_kernel::Money;
use event_log::EventLog;
use service_runtime::{DomainEvent, ServiceError};

use crate::domain::application::ApplicationEvent;
use crate::domain::organisation::OrganisationEvent;
use crate::domain::{ApplicationId, OrganisationId, RoundId};

/// What listing needs to know about an application without replaying it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub application_id: ApplicationId,
    pub organisation_id: OrganisationId,
    pub status: i32,
    pub reviewers: HashSet<String>,
}

#[derive(Debug, Default)]
struct State {
    next_position: u64,
    /// Per round: drafting position -> application.
    by_round: HashMap<RoundId, BTreeMap<u64, ApplicationId>>,
    entries: HashMap<ApplicationId, Entry>,
    approved: HashMap<RoundId, Money>,
    registrations: HashSet<(String, String)>,
}

#[derive(Clone, Debug, Default)]
pub struct Index {
    state: Arc<Mutex<State>>,
    decisions: Arc<tokio::sync::Mutex<()>>,
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
            // The position advances only once the event is applied: one that fails to decode is read
            // again by the next catch-up instead of being skipped for good.
            match recorded.stream.stream_type() {
                "application" => {
                    let event = ApplicationEvent::decode_payload(&recorded.event_type, &recorded.payload)
                        .map_err(|e| ServiceError::Internal(format!("position {}: {e}", recorded.position)))?;
                    state.apply_application(recorded.position, &event);
                }
                "organisation" => {
                    let event = OrganisationEvent::decode_payload(&recorded.event_type, &recorded.payload)
                        .map_err(|e| ServiceError::Internal(format!("position {}: {e}", recorded.position)))?;
                    if let OrganisationEvent::Registered(e) = event {
                        state.registrations.insert((e.country, e.registration_number));
                    }
                }
                _ => {}
            }
            state.next_position = recorded.position + 1;
        }
        Ok(())
    }

    /// Serialises decisions and registrations (see the module documentation).
    pub async fn lock_for_decision(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.decisions.lock().await
    }

    pub fn approved_total(&self, round: RoundId) -> Option<Money> {
        self.lock().approved.get(&round).copied()
    }

    pub fn registration_taken(&self, country: &str, number: &str) -> bool {
        self.lock().registrations.contains(&(country.to_owned(), number.to_owned()))
    }

    /// The round's applications after drafting position `after`, in drafting order, that pass `keep`;
    /// at most `limit`, with the position of each.
    pub fn list(
        &self,
        round: RoundId,
        after: Option<u64>,
        limit: usize,
        keep: impl Fn(&Entry) -> bool,
    ) -> Vec<(u64, ApplicationId)> {
        let state = self.lock();
        let Some(applications) = state.by_round.get(&round) else { return Vec::new() };
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        applications
            .range((start, std::ops::Bound::Unbounded))
            .filter(|(_, id)| state.entries.get(id).is_some_and(&keep))
            .take(limit)
            .map(|(p, id)| (*p, *id))
            .collect()
    }
}

impl State {
    fn apply_application(&mut self, position: u64, event: &ApplicationEvent) {
        use contracts::applications::v1::ApplicationStatus as S;
        let parse = |id: &str| ApplicationId::parse("", id).ok();
        match event {
            ApplicationEvent::Drafted(e) => {
                let (Some(id), Ok(round), Ok(org)) = (
                    parse(&e.application_id),
                    RoundId::parse("", &e.round_id),
                    OrganisationId::parse("", &e.organisation_id),
                ) else {
                    return;
                };
                self.by_round.entry(round).or_default().insert(position, id);
                self.entries.insert(
                    id,
                    Entry {
                        application_id: id,
                        organisation_id: org,
                        status: S::Draft as i32,
                        reviewers: HashSet::new(),
                    },
                );
            }
            ApplicationEvent::Edited(_)
            | ApplicationEvent::ConflictOfInterestDeclared(_)
            | ApplicationEvent::ReviewRecorded(_)
            | ApplicationEvent::TextErased(_) => {}
            ApplicationEvent::Submitted(e) => self.set_status(parse(&e.application_id), S::Submitted),
            ApplicationEvent::Withdrawn(e) => self.set_status(parse(&e.application_id), S::Withdrawn),
            ApplicationEvent::Rejected(e) => self.set_status(parse(&e.application_id), S::Rejected),
            ApplicationEvent::ReviewerAssigned(e) => {
                if let Some(entry) = parse(&e.application_id).and_then(|id| self.entries.get_mut(&id)) {
                    entry.reviewers.insert(e.reviewer_subject.clone());
                }
            }
            ApplicationEvent::Approved(e) => {
                self.set_status(parse(&e.application_id), S::Approved);
                if let (Ok(round), Ok(amount)) =
                    (RoundId::parse("", &e.round_id), Money::from_wire("", e.approved_amount.as_ref()))
                {
                    let total = self.approved.entry(round).or_insert(Money::zero(amount.currency));
                    *total = total.checked_add(amount).unwrap_or(*total);
                }
            }
        }
    }

    fn set_status(&mut self, id: Option<ApplicationId>, status: contracts::applications::v1::ApplicationStatus) {
        if let Some(entry) = id.and_then(|id| self.entries.get_mut(&id)) {
            entry.status = status as i32;
        }
    }
}
