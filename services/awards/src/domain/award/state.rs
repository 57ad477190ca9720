//! What an award is, as folded from its events: status, terms, releases, met report requirements and
//! variations, all as domain values.

use std::collections::{BTreeMap, BTreeSet};

use contracts::awards::v1 as pb;
use domain_kernel::{Country, LifecycleStatus, Money, Timestamp, require_status};

use super::payment::Payment;
use crate::domain::terms::{Change, Terms};
use crate::domain::{Actor, ApplicationId, AwardId, OrganisationId, Rejection, Role, RoundId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Offered,
    Active,
    Suspended,
    Terminated,
    Closed,
}

impl Status {
    pub fn to_wire(self) -> pb::AwardStatus {
        match self {
            Status::Offered => pb::AwardStatus::Offered,
            Status::Active => pb::AwardStatus::Active,
            Status::Suspended => pb::AwardStatus::Suspended,
            Status::Terminated => pb::AwardStatus::Terminated,
            Status::Closed => pb::AwardStatus::Closed,
        }
    }
}

impl LifecycleStatus for Status {
    fn name(self) -> &'static str {
        match self {
            Status::Offered => "OFFERED",
            Status::Active => "ACTIVE",
            Status::Suspended => "SUSPENDED",
            Status::Terminated => "TERMINATED",
            Status::Closed => "CLOSED",
        }
    }
}

/// An accepted report that meets a requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    pub report_id: String,
    pub accepted_by: String,
    pub accepted_at: Timestamp,
}

/// A released tranche.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub amount: Money,
    pub payment: Payment,
    pub released_by: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariationStatus {
    Requested,
    Approved,
    Declined,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variation {
    pub variation_id: String,
    pub change: Change,
    pub reason: String,
    pub requested_by: String,
    pub status: VariationStatus,
    pub decided_by: String,
    pub decision_note: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AwardData {
    pub id: AwardId,
    pub application_id: ApplicationId,
    pub round_id: RoundId,
    pub organisation_id: OrganisationId,
    pub title: String,
    pub approved_amount: Money,
    /// Who approved the application this award was offered from (from `AwardOffered`).
    pub approved_by: String,
    /// Where the work happens, as the approved application named them.
    pub countries: Vec<Country>,
    pub status: Status,
    pub terms: Option<Terms>,
    pub signed_by: Option<String>,
    pub released: BTreeMap<String, Release>,
    pub cancelled: BTreeSet<String>,
    /// Met reporting requirements by `report_ref`.
    pub met: BTreeMap<String, Acceptance>,
    pub variations: Vec<Variation>,
    pub released_total: Money,
    pub status_reason: String,
}

impl AwardData {
    /// Staff see every award; partners only their own organisation's.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        match actor.role {
            Role::Partner => actor.organisation.as_deref() == Some(self.organisation_id.to_string().as_str()),
            _ => true,
        }
    }

    pub(super) fn released_amounts(&self) -> BTreeMap<String, Money> {
        self.released.iter().map(|(id, r)| (id.clone(), r.amount)).collect()
    }

    pub(super) fn signed_terms(&self) -> Result<&Terms, Rejection> {
        match (&self.terms, self.status) {
            (Some(terms), status) if status != Status::Offered => Ok(terms),
            _ => Err(Rejection::precondition("status", "the agreement must be signed first")),
        }
    }

    pub(super) fn variation(&self, id: &str) -> Result<&Variation, Rejection> {
        self.variations.iter().find(|v| v.variation_id == id).ok_or_else(|| Rejection::not_found("variation", id))
    }

    /// Whether a tranche is still to be paid: neither released nor cancelled.
    pub(super) fn is_pending(&self, tranche_id: &str) -> bool {
        !self.released.contains_key(tranche_id) && !self.cancelled.contains(tranche_id)
    }

    /// Refuses a command unless the award is in one of the `allowed` statuses; `action` says what was tried.
    pub(super) fn require_status(&self, allowed: &[Status], action: &str) -> Result<(), Rejection> {
        require_status("award", self.status, allowed, action)
    }
}

/// An award's state: `None` until offered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Award(pub Option<AwardData>);

#[derive(Clone, Debug, PartialEq)]
pub enum AwardEvent {
    Offered(pb::AwardOffered),
    AgreementSet(pb::AgreementSet),
    AgreementSigned(pb::AgreementSigned),
    ReportConditionMet(pb::ReportConditionMet),
    TrancheReleased(pb::TrancheReleased),
    BudgetReallocated(pb::BudgetReallocated),
    VariationRequested(pb::VariationRequested),
    VariationApproved(pb::VariationApproved),
    VariationDeclined(pb::VariationDeclined),
    Suspended(pb::AwardSuspended),
    Resumed(pb::AwardResumed),
    Terminated(pb::AwardTerminated),
    Closed(pb::AwardClosed),
    TextErased(pb::AwardTextErased),
    VariationTextErased(pb::VariationTextErased),
}
