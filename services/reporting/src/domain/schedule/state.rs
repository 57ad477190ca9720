//! An award's reporting schedule as folded from its events: the obligations with their terms, each
//! report's versions and review decisions, suspensions and termination.

use std::collections::BTreeSet;

use contracts::reporting::v1::{self as pb, ReportKind};
use contracts::values::{WireError, WireValue};
use domain_kernel::{Date, Money, Timestamp};
use uuid::Uuid;

use crate::domain::content::BudgetLine;
use crate::domain::dates;
use crate::domain::report::{Financial, FinancialSummary, Progress, ReportContent};
use crate::domain::{Actor, AwardId, OrganisationId, Role};

fn report_kind(field: &str, value: i32) -> Result<ReportKind, WireError> {
    ReportKind::try_from(value).map_err(|_| WireError::new(field, "unknown"))
}

/// One obligation's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObligationTerms {
    pub obligation_id: Uuid,
    pub report_ref: String,
    pub kind: ReportKind,
    pub period_start: Date,
    pub period_end: Date,
    pub due_date: Date,
    pub report_id: Uuid,
    pub gates_tranches: Vec<String>,
}

impl ObligationTerms {
    pub fn to_wire(&self) -> pb::Obligation {
        pb::Obligation {
            obligation_id: self.obligation_id.to_string(),
            report_ref: self.report_ref.clone(),
            kind: self.kind as i32,
            period_start: Some(self.period_start.to_wire()),
            period_end: Some(self.period_end.to_wire()),
            due_date: Some(self.due_date.to_wire()),
            report_id: self.report_id.to_string(),
            gates_tranches: self.gates_tranches.clone(),
        }
    }

    /// Reads an obligation; `field` is its path (e.g. `obligations[0]`).
    pub(super) fn from_wire(field: &str, o: &pb::Obligation) -> Result<ObligationTerms, WireError> {
        let path = |name: &str| format!("{field}.{name}");
        Ok(ObligationTerms {
            obligation_id: domain_kernel::parse_uuid(&path("obligation_id"), &o.obligation_id)?,
            report_ref: o.report_ref.clone(),
            kind: report_kind(&path("kind"), o.kind)?,
            period_start: Date::from_wire(&path("period_start"), o.period_start.as_ref())?,
            period_end: Date::from_wire(&path("period_end"), o.period_end.as_ref())?,
            due_date: Date::from_wire(&path("due_date"), o.due_date.as_ref())?,
            report_id: domain_kernel::parse_uuid(&path("report_id"), &o.report_id)?,
            gates_tranches: o.gates_tranches.clone(),
        })
    }
}

/// What the review decided about one submitted version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Review {
    Awaiting,
    RevisionRequested { reasons: Vec<String>, by: String, at: Timestamp },
    Accepted { by: String, at: Timestamp },
}

/// One submitted version of a report, as recorded: what the reviewer saw, and the decision about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    /// 1 for the first submission, counting up with each revision.
    pub number: u32,
    pub kind: ReportKind,
    pub period_start: Date,
    pub period_end: Date,
    pub content: ReportContent,
    /// What the service computed from the financial section when it was submitted.
    pub financial_summary: Option<FinancialSummary>,
    pub catalogue_version: String,
    pub submitted_by: String,
    pub submitted_at: Timestamp,
    pub review: Review,
}

impl Version {
    /// The recorded submission of this version of `obligation`'s report, as the event and readers show it.
    pub fn to_wire(&self, schedule: &ScheduleData, obligation: &ObligationTerms) -> pb::ReportSubmitted {
        pb::ReportSubmitted {
            report_id: obligation.report_id.to_string(),
            award_id: schedule.award_id.to_string(),
            report_ref: obligation.report_ref.clone(),
            kind: self.kind as i32,
            version: self.number,
            organisation_id: schedule.organisation_id.to_string(),
            period_start: Some(self.period_start.to_wire()),
            period_end: Some(self.period_end.to_wire()),
            progress: self.content.progress.as_ref().map(Progress::to_wire),
            financial: self.content.financial.as_ref().map(Financial::to_wire),
            financial_summary: self.financial_summary.as_ref().map(FinancialSummary::to_wire),
            attestations: Some(self.content.attestations.to_wire()),
            submitted_by: self.submitted_by.clone(),
            submitted_at: Some(self.submitted_at.to_wire()),
            catalogue_version: self.catalogue_version.clone(),
            sealed_text: None,
        }
    }

    /// Reads a recorded submission, waiting for review.
    pub(super) fn from_wire(e: &pb::ReportSubmitted) -> Result<Version, WireError> {
        Ok(Version {
            number: e.version,
            kind: report_kind("kind", e.kind)?,
            period_start: Date::from_wire("period_start", e.period_start.as_ref())?,
            period_end: Date::from_wire("period_end", e.period_end.as_ref())?,
            content: ReportContent::from_wire(e.progress.as_ref(), e.financial.as_ref(), e.attestations.as_ref())?,
            financial_summary: e
                .financial_summary
                .as_ref()
                .map(|s| FinancialSummary::from_wire("financial_summary", s))
                .transpose()?,
            catalogue_version: e.catalogue_version.clone(),
            submitted_by: e.submitted_by.clone(),
            submitted_at: Timestamp::from_wire("submitted_at", e.submitted_at.as_ref())?,
            review: Review::Awaiting,
        })
    }
}

/// The status of an obligation on a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Open,
    Overdue { days: u32 },
    OnHold,
    Submitted,
    RevisionRequested,
    Accepted,
    Cancelled,
}

impl Status {
    pub fn to_wire(self) -> pb::ObligationStatus {
        match self {
            Status::Open => pb::ObligationStatus::Open,
            Status::Overdue { .. } => pb::ObligationStatus::Overdue,
            Status::OnHold => pb::ObligationStatus::OnHold,
            Status::Submitted => pb::ObligationStatus::Submitted,
            Status::RevisionRequested => pb::ObligationStatus::RevisionRequested,
            Status::Accepted => pb::ObligationStatus::Accepted,
            Status::Cancelled => pb::ObligationStatus::Cancelled,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObligationState {
    pub terms: ObligationTerms,
    pub cancelled_on: Option<Date>,
    pub versions: Vec<Version>,
}

impl ObligationState {
    pub fn accepted(&self) -> Option<(&str, Timestamp)> {
        self.versions.iter().find_map(|v| match &v.review {
            Review::Accepted { by, at } => Some((by.as_str(), *at)),
            _ => None,
        })
    }

    /// The status on `date` (end of that day, UTC), given the award's suspensions (`[from, until)`).
    /// Submissions and reviews count from the day they were recorded; the due date is the current one.
    pub fn status_on(&self, date: Date, suspensions: &[(Date, Option<Date>)]) -> Status {
        let until = |t: Timestamp| dates::date_of(t) <= date;
        let submitted: Vec<&Version> = self.versions.iter().filter(|v| until(v.submitted_at)).collect();
        if let Some(last) = submitted.last() {
            return match &last.review {
                Review::Accepted { at, .. } if until(*at) => Status::Accepted,
                Review::RevisionRequested { at, .. } if until(*at) => Status::RevisionRequested,
                _ => Status::Submitted,
            };
        }
        if self.cancelled_on.is_some_and(|c| c <= date) {
            return Status::Cancelled;
        }
        if suspensions.iter().any(|(from, until)| *from <= date && until.is_none_or(|u| date < u)) {
            return Status::OnHold;
        }
        if date > self.terms.due_date {
            let days = dates::days(date) - dates::days(self.terms.due_date);
            return Status::Overdue { days: u32::try_from(days).unwrap_or(u32::MAX) };
        }
        Status::Open
    }

    pub(super) fn is_open(&self) -> bool {
        self.versions.is_empty() && self.cancelled_on.is_none()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleData {
    pub award_id: AwardId,
    pub organisation_id: OrganisationId,
    pub round_id: String,
    pub application_id: String,
    pub award_amount: Money,
    pub period_start: Date,
    pub period_end: Date,
    pub budget_lines: Vec<BudgetLine>,
    pub released_total: Money,
    pub released_tranches: BTreeSet<String>,
    /// In schedule order (as the agreement lists its requirements; new ones appended).
    pub obligations: Vec<ObligationState>,
    /// Suspensions: first day, and the day of resumption (exclusive) once resumed.
    pub suspensions: Vec<(Date, Option<Date>)>,
    pub terminated_on: Option<Date>,
    pub applied_variations: BTreeSet<String>,
}

impl ScheduleData {
    /// Staff see every schedule; partners only their own organisation's.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        match actor.role {
            Role::Partner => actor.organisation.as_deref() == Some(self.organisation_id.to_string().as_str()),
            _ => true,
        }
    }

    pub fn obligation(&self, report_ref: &str) -> Option<&ObligationState> {
        self.obligations.iter().find(|o| o.terms.report_ref == report_ref)
    }

    pub(super) fn obligation_mut(&mut self, report_ref: &str) -> Option<&mut ObligationState> {
        self.obligations.iter_mut().find(|o| o.terms.report_ref == report_ref)
    }

    pub fn is_suspended(&self) -> bool {
        self.suspensions.last().is_some_and(|(_, until)| until.is_none())
    }
}

/// An award's reporting state: `None` until its agreement is signed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule(pub Option<ScheduleData>);

/// The events of an award's reporting. Kept unboxed although a submission is larger than the others:
/// events are decoded and folded one at a time, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum ReportingEvent {
    Scheduled(pb::ObligationsScheduled),
    Rescheduled(pb::ObligationsRescheduled),
    Disbursement(pb::DisbursementRecorded),
    Suspended(pb::ObligationsSuspended),
    Resumed(pb::ObligationsResumed),
    Cancelled(pb::ObligationsCancelled),
    Submitted(pb::ReportSubmitted),
    RevisionRequested(pb::RevisionRequested),
    Accepted(pb::ReportAccepted),
    TextErased(pb::ReportTextErased),
}
