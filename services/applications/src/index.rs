//! What the applications service indexes from its own log (the runtime's [`ListingIndex`] builds it at
//! start-up and catches it up after each append, so a caller reads its own writes). It holds what a single
//! stream cannot answer: applications per round in drafting order (for listing), each round's approved
//! total (for the ceiling rule), and registration numbers per country (for uniqueness). Decisions and
//! registrations run under [`Index::lock_for_decision`]: the log is opened by one process only (sled
//! locks its files), so an in-process lock is enough to keep check-then-append atomic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use contracts::names::stream;
use contracts::values::WireValue;
use domain_kernel::Money;
use event_log::{EventLog, RecordedEvent};
use service_runtime::ServiceError;
use service_runtime::listing_index::{Indexed, ListingIndex, decode, page_after};

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

/// The indexed applications, approved totals and registrations.
#[derive(Debug, Default)]
struct State {
    /// Per round: drafting position -> application.
    by_round: HashMap<RoundId, BTreeMap<u64, ApplicationId>>,
    entries: HashMap<ApplicationId, Entry>,
    approved: HashMap<RoundId, Money>,
    registrations: HashSet<(String, String)>,
}

impl Indexed for State {
    fn apply(&mut self, recorded: &RecordedEvent) -> Result<(), ServiceError> {
        match recorded.stream.stream_type() {
            stream::APPLICATION => self.apply_application(recorded.position, &decode(recorded)?)?,
            stream::ORGANISATION => {
                if let OrganisationEvent::Registered(e) = decode(recorded)? {
                    self.registrations.insert((e.country, e.registration_number));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The applications service's index, and the lock its cross-aggregate decisions take.
#[derive(Clone, Debug, Default)]
pub struct Index {
    listing: ListingIndex<State>,
    decisions: Arc<tokio::sync::Mutex<()>>,
}

impl Index {
    /// Builds the index from everything in `log`.
    pub fn build(log: &EventLog) -> Result<Index, ServiceError> {
        Ok(Index { listing: ListingIndex::build(log)?, decisions: Arc::default() })
    }

    /// Applies every durable event the index has not seen yet.
    pub fn catch_up(&self, log: &EventLog) -> Result<(), ServiceError> {
        self.listing.catch_up(log)
    }

    /// Serialises decisions and registrations (see the module documentation).
    pub async fn lock_for_decision(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.decisions.lock().await
    }

    pub fn approved_total(&self, round: RoundId) -> Option<Money> {
        self.listing.read(|state| state.approved.get(&round).copied())
    }

    pub fn registration_taken(&self, country: &str, number: &str) -> bool {
        self.listing.read(|state| state.registrations.contains(&(country.to_owned(), number.to_owned())))
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
        self.listing.read(|state| {
            let Some(applications) = state.by_round.get(&round) else { return Vec::new() };
            page_after(applications, after, limit, |id| state.entries.get(id).is_some_and(&keep))
        })
    }
}

impl State {
    /// Folds one recorded application event; a value the service itself recorded that does not read is
    /// corrupt data, refused rather than left out of the listings and totals.
    fn apply_application(&mut self, position: u64, event: &ApplicationEvent) -> Result<(), ServiceError> {
        use contracts::applications::v1::ApplicationStatus as S;
        let corrupt = |e| ServiceError::internal_from("a recorded application event does not read", e);
        let parse = |id: &str| ApplicationId::parse("application_id", id).map_err(corrupt);
        match event {
            ApplicationEvent::Drafted(e) => {
                let id = parse(&e.application_id)?;
                let round = RoundId::parse("round_id", &e.round_id).map_err(corrupt)?;
                let org = OrganisationId::parse("organisation_id", &e.organisation_id).map_err(corrupt)?;
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
            ApplicationEvent::Submitted(e) => self.set_status(parse(&e.application_id)?, S::Submitted),
            ApplicationEvent::Withdrawn(e) => self.set_status(parse(&e.application_id)?, S::Withdrawn),
            ApplicationEvent::Rejected(e) => self.set_status(parse(&e.application_id)?, S::Rejected),
            ApplicationEvent::ReviewerAssigned(e) => {
                if let Some(entry) = self.entries.get_mut(&parse(&e.application_id)?) {
                    entry.reviewers.insert(e.reviewer_subject.clone());
                }
            }
            ApplicationEvent::Approved(e) => {
                self.set_status(parse(&e.application_id)?, S::Approved);
                let round = RoundId::parse("round_id", &e.round_id).map_err(corrupt)?;
                let amount = Money::from_wire("approved_amount", e.approved_amount.as_ref())
                    .map_err(|e| ServiceError::internal_from("a recorded application event does not read", e))?;
                let total = self.approved.entry(round).or_insert(Money::zero(amount.currency));
                *total = total
                    .checked_add(amount)
                    .ok_or_else(|| ServiceError::internal(format!("the approved total of round {round} overflows")))?;
            }
        }
        Ok(())
    }

    fn set_status(&mut self, id: ApplicationId, status: contracts::applications::v1::ApplicationStatus) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.status = status as i32;
        }
    }
}
