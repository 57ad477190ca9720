//! An award's reporting schedule: its obligations (scheduled from the signed agreement, adjusted by
//! variations, suspension and termination) and the report of each obligation with every submitted
//! version and review decision.

use contracts::common::v1::ErasureReason;
use std::collections::{BTreeMap, BTreeSet};

use contracts::awards::v1 as awards;
use contracts::reporting::v1::{self as pb, ReportKind};
use contracts::values::{WireError, WireValue};
use domain_kernel::{Date, Money, Timestamp};
use uuid::Uuid;

use super::catalogue::Catalogue;
use super::content::{self, BudgetLine};
use super::dates;
use super::identity_guard::{self, GuardContext};
use super::{Actor, AwardId, OrganisationId, Rejection, Role, check_short_id, check_text, obligation_id, report_id};

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

    fn from_wire(o: &pb::Obligation) -> Result<ObligationTerms, WireError> {
        Ok(ObligationTerms {
            obligation_id: domain_kernel::parse_uuid("obligation_id", &o.obligation_id)?,
            report_ref: o.report_ref.clone(),
            kind: ReportKind::try_from(o.kind).map_err(|_| WireError::new("kind", "unknown"))?,
            period_start: Date::from_wire("period_start", o.period_start.as_ref())?,
            period_end: Date::from_wire("period_end", o.period_end.as_ref())?,
            due_date: Date::from_wire("due_date", o.due_date.as_ref())?,
            report_id: domain_kernel::parse_uuid("report_id", &o.report_id)?,
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

#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub submission: pb::ReportSubmitted,
    pub submitted_at: Timestamp,
    pub review: Review,
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

    fn is_open(&self) -> bool {
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

    fn obligation_mut(&mut self, report_ref: &str) -> Option<&mut ObligationState> {
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

// ---------------------------------------------------------------------------------------------------------
// Events of the awards service

fn budget_from_terms(terms: &awards::AgreementTerms) -> Result<Vec<BudgetLine>, Rejection> {
    terms
        .budget_lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            check_short_id(&format!("terms.budget_lines[{i}].line_id"), &l.line_id)?;
            Ok(BudgetLine {
                line_id: l.line_id.clone(),
                category: l.category.clone(),
                amount: Money::from_wire(&format!("terms.budget_lines[{i}].amount"), l.amount.as_ref())?,
            })
        })
        .collect()
}

fn obligations_from_terms(award: AwardId, terms: &awards::AgreementTerms) -> Result<Vec<ObligationTerms>, Rejection> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(terms.reports.len());
    for (i, r) in terms.reports.iter().enumerate() {
        let field = format!("terms.reports[{i}]");
        check_short_id(&format!("{field}.report_ref"), &r.report_ref)?;
        if !seen.insert(r.report_ref.clone()) {
            return Err(Rejection::invalid(format!("{field}.report_ref"), "is repeated"));
        }
        let kind = match ReportKind::try_from(r.kind) {
            Ok(ReportKind::Unspecified) | Err(_) => {
                return Err(Rejection::invalid(format!("{field}.kind"), "must be PROGRESS, FINANCIAL or FINAL"));
            }
            Ok(kind) => kind,
        };
        let period_start = Date::from_wire(&format!("{field}.period_start"), r.period_start.as_ref())?;
        let period_end = Date::from_wire(&format!("{field}.period_end"), r.period_end.as_ref())?;
        let due_date = Date::from_wire(&format!("{field}.due_date"), r.due_date.as_ref())?;
        if period_start > period_end || due_date < period_end {
            return Err(Rejection::invalid(field, "must have period_start <= period_end <= due_date"));
        }
        let id = obligation_id(award, &r.report_ref);
        out.push(ObligationTerms {
            obligation_id: id,
            report_ref: r.report_ref.clone(),
            kind,
            period_start,
            period_end,
            due_date,
            report_id: report_id(id),
            gates_tranches: terms
                .tranches
                .iter()
                .filter(|t| t.required_reports.contains(&r.report_ref))
                .map(|t| t.tranche_id.clone())
                .collect(),
        });
    }
    Ok(out)
}

fn terms_of(terms: Option<&awards::AgreementTerms>) -> Result<&awards::AgreementTerms, Rejection> {
    terms.ok_or_else(|| Rejection::invalid("terms", "is required"))
}

fn scheduled<'a>(state: &'a Schedule, award_id: &str) -> Result<&'a ScheduleData, Rejection> {
    state.0.as_ref().ok_or_else(|| {
        Rejection::precondition(
            "award_id",
            format!("no agreement of award {award_id} was signed: nothing is scheduled"),
        )
    })
}

/// A signed agreement schedules one obligation per reporting requirement; a schedule that exists
/// already (a duplicate, whatever its event id) decides nothing.
pub fn on_agreement_signed(state: &Schedule, e: &awards::AgreementSigned) -> Result<Vec<ReportingEvent>, Rejection> {
    let award = AwardId::parse("award_id", &e.award_id)?;
    if state.0.is_some() {
        return Ok(Vec::new());
    }
    let organisation = OrganisationId::parse("organisation_id", &e.organisation_id)?;
    let terms = terms_of(e.terms.as_ref())?;
    let amount = Money::from_wire("terms.amount", terms.amount.as_ref())?;
    let period_start = Date::from_wire("terms.period_start", terms.period_start.as_ref())?;
    let period_end = Date::from_wire("terms.period_end", terms.period_end.as_ref())?;
    let budget = budget_from_terms(terms)?;
    let obligations = obligations_from_terms(award, terms)?;
    Ok(vec![ReportingEvent::Scheduled(pb::ObligationsScheduled {
        award_id: award.to_string(),
        organisation_id: organisation.to_string(),
        round_id: e.round_id.clone(),
        application_id: e.application_id.clone(),
        award_amount: Some(amount.to_wire()),
        period_start: Some(period_start.to_wire()),
        period_end: Some(period_end.to_wire()),
        budget_lines: budget.iter().map(BudgetLine::to_wire).collect(),
        obligations: obligations.iter().map(ObligationTerms::to_wire).collect(),
    })])
}

/// An approved variation replaces the schedule: obligations with a submitted report keep their terms
/// (only the tranches they gate follow the agreement); open ones take the new requirement's terms; open
/// ones whose requirement is gone are cancelled; new requirements become new obligations.
pub fn on_variation_approved(
    state: &Schedule,
    e: &awards::VariationApproved,
    on: Date,
) -> Result<Vec<ReportingEvent>, Rejection> {
    let schedule = scheduled(state, &e.award_id)?;
    if schedule.applied_variations.contains(&e.variation_id) {
        return Ok(Vec::new());
    }
    let terms = terms_of(e.terms.as_ref())?;
    let next = obligations_from_terms(schedule.award_id, terms)?;
    let mut obligations = Vec::new();
    for new in &next {
        match schedule.obligation(&new.report_ref) {
            Some(old) if !old.versions.is_empty() => {
                obligations.push(ObligationTerms { gates_tranches: new.gates_tranches.clone(), ..old.terms.clone() });
            }
            _ => obligations.push(new.clone()),
        }
    }
    let mut cancelled = Vec::new();
    for old in &schedule.obligations {
        if next.iter().any(|n| n.report_ref == old.terms.report_ref) || old.cancelled_on.is_some() {
            continue;
        }
        if old.versions.is_empty() {
            cancelled.push(old.terms.report_ref.clone());
        } else {
            obligations.push(old.terms.clone());
        }
    }
    Ok(vec![ReportingEvent::Rescheduled(pb::ObligationsRescheduled {
        award_id: schedule.award_id.to_string(),
        cause: "VariationApproved".into(),
        variation_id: e.variation_id.clone(),
        obligations: obligations.iter().map(ObligationTerms::to_wire).collect(),
        cancelled_report_refs: cancelled,
        budget_lines: budget_from_terms(terms)?.iter().map(BudgetLine::to_wire).collect(),
        award_amount: Some(Money::from_wire("terms.amount", terms.amount.as_ref())?.to_wire()),
        period_end: Some(Date::from_wire("terms.period_end", terms.period_end.as_ref())?.to_wire()),
        effective_on: Some(on.to_wire()),
    })])
}

/// A reallocation moves money between budget lines: financial reports are checked against the new
/// budget. The same budget again decides nothing.
pub fn on_budget_reallocated(
    state: &Schedule,
    e: &awards::BudgetReallocated,
    on: Date,
) -> Result<Vec<ReportingEvent>, Rejection> {
    let schedule = scheduled(state, &e.award_id)?;
    let wire = awards::AgreementTerms { budget_lines: e.budget_lines.clone(), ..Default::default() };
    let budget = budget_from_terms(&wire)?;
    if budget == schedule.budget_lines {
        return Ok(Vec::new());
    }
    Ok(vec![ReportingEvent::Rescheduled(pb::ObligationsRescheduled {
        award_id: schedule.award_id.to_string(),
        cause: "BudgetReallocated".into(),
        variation_id: String::new(),
        obligations: schedule
            .obligations
            .iter()
            .filter(|o| o.cancelled_on.is_none())
            .map(|o| o.terms.to_wire())
            .collect(),
        cancelled_report_refs: Vec::new(),
        budget_lines: budget.iter().map(BudgetLine::to_wire).collect(),
        award_amount: Some(schedule.award_amount.to_wire()),
        period_end: Some(schedule.period_end.to_wire()),
        effective_on: Some(on.to_wire()),
    })])
}

/// A released tranche counts towards what the partner must account for (the unspent balance).
pub fn on_tranche_released(state: &Schedule, e: &awards::TrancheReleased) -> Result<Vec<ReportingEvent>, Rejection> {
    let schedule = scheduled(state, &e.award_id)?;
    if schedule.released_tranches.contains(&e.tranche_id) {
        return Ok(Vec::new());
    }
    let amount = Money::from_wire("amount", e.amount.as_ref())?;
    let total = Money::from_wire("released_total", e.released_total.as_ref())?;
    Ok(vec![ReportingEvent::Disbursement(pb::DisbursementRecorded {
        award_id: schedule.award_id.to_string(),
        tranche_id: e.tranche_id.clone(),
        amount: Some(amount.to_wire()),
        released_total: Some(total.to_wire()),
    })])
}

/// A suspension puts open obligations on hold from its first day.
pub fn on_suspended(state: &Schedule, e: &awards::AwardSuspended, on: Date) -> Result<Vec<ReportingEvent>, Rejection> {
    let schedule = scheduled(state, &e.award_id)?;
    if schedule.is_suspended() || schedule.terminated_on.is_some() {
        return Ok(Vec::new());
    }
    Ok(vec![ReportingEvent::Suspended(pb::ObligationsSuspended {
        award_id: schedule.award_id.to_string(),
        reason: e.reason.clone(),
        suspended_on: Some(on.to_wire()),
        sealed_text: None,
    })])
}

/// A resumption extends the due dates of open obligations that fell due during (or after the start of)
/// the suspension by the number of days it lasted.
pub fn on_resumed(state: &Schedule, e: &awards::AwardResumed, on: Date) -> Result<Vec<ReportingEvent>, Rejection> {
    let schedule = scheduled(state, &e.award_id)?;
    let Some((from, None)) = schedule.suspensions.last().copied() else { return Ok(Vec::new()) };
    let length = (dates::days(on) - dates::days(from)).max(0);
    let extensions = schedule
        .obligations
        .iter()
        .filter(|o| o.is_open() && o.terms.due_date >= from && length > 0)
        .map(|o| pb::DueDateExtension {
            report_ref: o.terms.report_ref.clone(),
            previous_due_date: Some(o.terms.due_date.to_wire()),
            due_date: Some(dates::add_days(o.terms.due_date, length).to_wire()),
        })
        .collect();
    Ok(vec![ReportingEvent::Resumed(pb::ObligationsResumed {
        award_id: schedule.award_id.to_string(),
        reason: e.reason.clone(),
        resumed_on: Some(on.to_wire()),
        extensions,
        sealed_text: None,
    })])
}

/// A termination cancels open obligations, except the FINAL report and those whose period ended on or
/// before the termination: the partner still accounts for money received and work done.
/// An award terminated before its agreement was signed had nothing scheduled: nothing to do.
pub fn on_terminated(
    state: &Schedule,
    e: &awards::AwardTerminated,
    on: Date,
) -> Result<Vec<ReportingEvent>, Rejection> {
    let Some(schedule) = state.0.as_ref() else { return Ok(Vec::new()) };
    if schedule.terminated_on.is_some() {
        return Ok(Vec::new());
    }
    let cancelled = schedule
        .obligations
        .iter()
        .filter(|o| o.is_open() && o.terms.kind != ReportKind::Final && o.terms.period_end > on)
        .map(|o| o.terms.report_ref.clone())
        .collect();
    Ok(vec![ReportingEvent::Cancelled(pb::ObligationsCancelled {
        award_id: schedule.award_id.to_string(),
        reason: e.reason.clone(),
        cancelled_on: Some(on.to_wire()),
        cancelled_report_refs: cancelled,
        sealed_text: None,
    })])
}

// ---------------------------------------------------------------------------------------------------------
// Commands

/// What a partner submits for an obligation, as decoded from the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    pub report_ref: String,
    pub progress: Option<pb::ProgressContent>,
    pub financial: Option<pb::FinancialContent>,
    pub attestations: Option<pb::Attestations>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Submit(Submission),
    RequestRevision {
        report_ref: String,
        reasons: Vec<String>,
    },
    Accept {
        report_ref: String,
    },
    /// A safeguarding erasure of every version's free text (the runtime destroys the key).
    EraseText {
        report_ref: String,
        reason: ErasureReason,
    },
}

/// Who decides, when, and against which catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now: Timestamp,
    pub catalogue: &'a Catalogue,
}

/// Most revision reasons, and most characters of one.
pub const MAX_REASONS: usize = 20;
pub const MAX_REASON: usize = 2_000;

fn last_review(o: &ObligationState) -> Option<&Review> {
    o.versions.last().map(|v| &v.review)
}

fn awaiting_review<'a>(schedule: &'a ScheduleData, report_ref: &str) -> Result<&'a ObligationState, Rejection> {
    let o = schedule.obligation(report_ref).ok_or_else(|| Rejection::not_found("obligation", report_ref))?;
    match last_review(o) {
        Some(Review::Awaiting) => Ok(o),
        None => Err(Rejection::precondition("report_ref", format!("the report `{report_ref}` is not submitted"))),
        Some(Review::RevisionRequested { .. }) => Err(Rejection::precondition(
            "report_ref",
            format!("the report `{report_ref}` waits for the partner's revision, not for review"),
        )),
        Some(Review::Accepted { .. }) => {
            Err(Rejection::precondition("report_ref", format!("the report `{report_ref}` is accepted already")))
        }
    }
}

/// Decides a command on an award's reporting.
pub fn handle(state: &Schedule, ctx: Context<'_>, command: Command) -> Result<Vec<ReportingEvent>, Rejection> {
    let schedule = match &state.0 {
        Some(s) if s.visible_to(ctx.actor) => s,
        // Another organisation's award reads as unknown.
        _ => return Err(Rejection::not_found("award reporting schedule", "named in `award_id`")),
    };
    match command {
        Command::Submit(submission) => submit(schedule, ctx, submission),
        Command::RequestRevision { report_ref, reasons } => {
            let o = awaiting_review(schedule, &report_ref)?;
            if reasons.is_empty() || reasons.len() > MAX_REASONS {
                return Err(Rejection::invalid("reasons", format!("must hold 1 to {MAX_REASONS} reasons")));
            }
            let guard = GuardContext { reference_year: o.terms.period_start.year };
            for (i, reason) in reasons.iter().enumerate() {
                let field = format!("reasons[{i}]");
                check_text(&field, reason, 1, MAX_REASON)?;
                identity_guard::check(&field, reason, guard)?;
            }
            Ok(vec![ReportingEvent::RevisionRequested(pb::RevisionRequested {
                report_id: o.terms.report_id.to_string(),
                award_id: schedule.award_id.to_string(),
                report_ref,
                version: o.versions.len() as u32,
                reasons,
                requested_by: ctx.actor.subject.clone(),
                requested_at: Some(ctx.now.to_wire()),
                sealed_text: None,
            })])
        }
        Command::EraseText { report_ref, reason } => {
            let o = schedule.obligation(&report_ref).ok_or_else(|| Rejection::not_found("obligation", &report_ref))?;
            if o.versions.is_empty() {
                return Err(Rejection::not_found("report", format!("of `{report_ref}` (none was submitted)")));
            }
            Ok(vec![ReportingEvent::TextErased(pb::ReportTextErased {
                report_id: o.terms.report_id.to_string(),
                award_id: schedule.award_id.to_string(),
                report_ref,
                reason: reason as i32,
                erased_by: ctx.actor.subject.clone(),
            })])
        }
        Command::Accept { report_ref } => {
            let o = awaiting_review(schedule, &report_ref)?;
            Ok(vec![ReportingEvent::Accepted(pb::ReportAccepted {
                report_id: o.terms.report_id.to_string(),
                award_id: schedule.award_id.to_string(),
                report_ref,
                kind: o.terms.kind as i32,
                period_start: Some(o.terms.period_start.to_wire()),
                period_end: Some(o.terms.period_end.to_wire()),
                organisation_id: schedule.organisation_id.to_string(),
                accepted_by: ctx.actor.subject.clone(),
                accepted_at: Some(ctx.now.to_wire()),
            })])
        }
    }
}

fn submit(schedule: &ScheduleData, ctx: Context<'_>, s: Submission) -> Result<Vec<ReportingEvent>, Rejection> {
    let o = schedule.obligation(&s.report_ref).ok_or_else(|| Rejection::not_found("obligation", &s.report_ref))?;
    if o.cancelled_on.is_some() {
        return Err(Rejection::precondition("report_ref", format!("the obligation `{}` is cancelled", s.report_ref)));
    }
    match last_review(o) {
        None | Some(Review::RevisionRequested { .. }) => {}
        Some(Review::Awaiting) => {
            return Err(Rejection::precondition(
                "report_ref",
                format!("the report `{}` is submitted and waits for review", s.report_ref),
            ));
        }
        Some(Review::Accepted { .. }) => {
            return Err(Rejection::precondition(
                "report_ref",
                format!("the report `{}` is accepted already", s.report_ref),
            ));
        }
    }
    let kind = o.terms.kind;
    let wants_progress = matches!(kind, ReportKind::Progress | ReportKind::Final);
    let wants_financial = matches!(kind, ReportKind::Financial | ReportKind::Final);
    let kind_name = kind.as_str_name();
    match (&s.progress, wants_progress) {
        (None, true) => {
            return Err(Rejection::precondition("progress", format!("is required for a {kind_name} report")));
        }
        (Some(_), false) => {
            return Err(Rejection::precondition("progress", format!("must be absent from a {kind_name} report")));
        }
        _ => {}
    }
    match (&s.financial, wants_financial) {
        (None, true) => {
            return Err(Rejection::precondition("financial", format!("is required for a {kind_name} report")));
        }
        (Some(_), false) => {
            return Err(Rejection::precondition("financial", format!("must be absent from a {kind_name} report")));
        }
        _ => {}
    }
    // The identity guard runs before any other check of the content.
    let guard = GuardContext { reference_year: o.terms.period_start.year };
    if let Some(p) = &s.progress {
        content::guard_progress(p, guard)?;
    }
    if let Some(f) = &s.financial {
        content::guard_financial(f, guard)?;
    }
    if let Some(p) = &s.progress {
        content::check_progress(p, ctx.catalogue)?;
    }
    let financial_summary = match &s.financial {
        None => None,
        Some(f) => {
            let currency = schedule.award_amount.currency;
            let spent = content::check_financial(f, &schedule.budget_lines, currency)?;
            let before = spent_before(schedule, o);
            let summary = content::summarise(
                &schedule.budget_lines,
                &spent,
                &before,
                schedule.released_total,
                kind == ReportKind::Final,
            )?;
            Some(summary)
        }
    };
    let attestations = s.attestations.unwrap_or_default();
    for (field, given) in [
        ("attestations.consent_for_data_use", attestations.consent_for_data_use),
        ("attestations.safeguarding_and_child_protection", attestations.safeguarding_and_child_protection),
        ("attestations.fraud_and_anti_corruption", attestations.fraud_and_anti_corruption),
    ] {
        if !given {
            return Err(Rejection::precondition(field, "must be attested: a report cannot be submitted without it"));
        }
    }
    Ok(vec![ReportingEvent::Submitted(pb::ReportSubmitted {
        report_id: o.terms.report_id.to_string(),
        award_id: schedule.award_id.to_string(),
        report_ref: s.report_ref,
        kind: kind as i32,
        version: o.versions.len() as u32 + 1,
        organisation_id: schedule.organisation_id.to_string(),
        period_start: Some(o.terms.period_start.to_wire()),
        period_end: Some(o.terms.period_end.to_wire()),
        progress: s.progress,
        financial: s.financial,
        financial_summary,
        attestations: Some(attestations),
        submitted_by: ctx.actor.subject.clone(),
        submitted_at: Some(ctx.now.to_wire()),
        catalogue_version: ctx.catalogue.version.clone(),
        sealed_text: None,
    })])
}

/// Spent per budget line in the accepted financial (or final) reports of periods that ended before this
/// obligation's period ends.
fn spent_before(schedule: &ScheduleData, this: &ObligationState) -> BTreeMap<String, Money> {
    let mut spent: BTreeMap<String, Money> = BTreeMap::new();
    for o in &schedule.obligations {
        if o.terms.obligation_id == this.terms.obligation_id || o.terms.period_end >= this.terms.period_end {
            continue;
        }
        let Some(accepted) = o.versions.iter().find(|v| matches!(v.review, Review::Accepted { .. })) else { continue };
        for line in accepted.submission.financial.iter().flat_map(|f| &f.lines) {
            if let Ok(amount) = Money::from_wire("", line.spent.as_ref()) {
                let entry = spent.entry(line.line_id.clone()).or_insert(Money::zero(amount.currency));
                *entry = entry.checked_add(amount).unwrap_or(*entry);
            }
        }
    }
    spent
}

// ---------------------------------------------------------------------------------------------------------
// Folding events

fn budget_of(lines: &[pb::BudgetLine]) -> Vec<BudgetLine> {
    lines
        .iter()
        .filter_map(|l| {
            Some(BudgetLine {
                line_id: l.line_id.clone(),
                category: l.category.clone(),
                amount: Money::from_wire("", l.amount.as_ref()).ok()?,
            })
        })
        .collect()
}

fn date_or(d: Option<&contracts::common::v1::Date>, fallback: Date) -> Date {
    Date::from_wire("", d).unwrap_or(fallback)
}

/// Folds an event into the schedule. Events were checked when they were decided; a value that does not
/// decode leaves that part of the state as it was.
pub fn apply(state: Schedule, event: &ReportingEvent) -> Schedule {
    if let ReportingEvent::Scheduled(e) = event {
        return Schedule(scheduled_from(e));
    }
    let Some(mut s) = state.0 else { return Schedule(None) };
    match event {
        ReportingEvent::Scheduled(_) => {}
        ReportingEvent::Rescheduled(e) => {
            let on = date_or(e.effective_on.as_ref(), s.period_end);
            for wire in &e.obligations {
                let Ok(terms) = ObligationTerms::from_wire(wire) else { continue };
                match s.obligation_mut(&terms.report_ref) {
                    Some(existing) => {
                        existing.terms = terms;
                        existing.cancelled_on = None;
                    }
                    None => s.obligations.push(ObligationState { terms, cancelled_on: None, versions: Vec::new() }),
                }
            }
            for r in &e.cancelled_report_refs {
                if let Some(o) = s.obligation_mut(r) {
                    o.cancelled_on = Some(on);
                }
            }
            s.budget_lines = budget_of(&e.budget_lines);
            if let Ok(amount) = Money::from_wire("", e.award_amount.as_ref()) {
                s.award_amount = amount;
            }
            s.period_end = date_or(e.period_end.as_ref(), s.period_end);
            if !e.variation_id.is_empty() {
                s.applied_variations.insert(e.variation_id.clone());
            }
        }
        ReportingEvent::Disbursement(e) => {
            if let Ok(total) = Money::from_wire("", e.released_total.as_ref()) {
                s.released_total = total;
            }
            s.released_tranches.insert(e.tranche_id.clone());
        }
        ReportingEvent::Suspended(e) => {
            if let Ok(on) = Date::from_wire("", e.suspended_on.as_ref()) {
                s.suspensions.push((on, None));
            }
        }
        ReportingEvent::Resumed(e) => {
            if let (Ok(on), Some(last)) = (Date::from_wire("", e.resumed_on.as_ref()), s.suspensions.last_mut()) {
                last.1 = Some(on);
            }
            for x in &e.extensions {
                if let (Ok(due), Some(o)) = (Date::from_wire("", x.due_date.as_ref()), s.obligation_mut(&x.report_ref))
                {
                    o.terms.due_date = due;
                }
            }
        }
        ReportingEvent::Cancelled(e) => {
            let on = date_or(e.cancelled_on.as_ref(), s.period_end);
            s.terminated_on = Some(on);
            for r in &e.cancelled_report_refs {
                if let Some(o) = s.obligation_mut(r) {
                    o.cancelled_on = Some(on);
                }
            }
        }
        ReportingEvent::Submitted(e) => {
            if let Some(o) = s.obligation_mut(&e.report_ref) {
                o.versions.push(Version {
                    submission: e.clone(),
                    submitted_at: Timestamp::from_wire("", e.submitted_at.as_ref()).unwrap_or_default(),
                    review: Review::Awaiting,
                });
            }
        }
        ReportingEvent::RevisionRequested(e) => {
            if let Some(v) = s.obligation_mut(&e.report_ref).and_then(|o| o.versions.last_mut()) {
                v.review = Review::RevisionRequested {
                    reasons: e.reasons.clone(),
                    by: e.requested_by.clone(),
                    at: Timestamp::from_wire("", e.requested_at.as_ref()).unwrap_or_default(),
                };
            }
        }
        // What was erased reads as erased when the stream is loaded; the schedule itself does not change.
        ReportingEvent::TextErased(_) => {}
        ReportingEvent::Accepted(e) => {
            if let Some(v) = s.obligation_mut(&e.report_ref).and_then(|o| o.versions.last_mut()) {
                v.review = Review::Accepted {
                    by: e.accepted_by.clone(),
                    at: Timestamp::from_wire("", e.accepted_at.as_ref()).unwrap_or_default(),
                };
            }
        }
    }
    Schedule(Some(s))
}

fn scheduled_from(e: &pb::ObligationsScheduled) -> Option<ScheduleData> {
    let award_amount = Money::from_wire("", e.award_amount.as_ref()).ok()?;
    Some(ScheduleData {
        award_id: AwardId::parse("", &e.award_id).ok()?,
        organisation_id: OrganisationId::parse("", &e.organisation_id).ok()?,
        round_id: e.round_id.clone(),
        application_id: e.application_id.clone(),
        award_amount,
        period_start: Date::from_wire("", e.period_start.as_ref()).ok()?,
        period_end: Date::from_wire("", e.period_end.as_ref()).ok()?,
        budget_lines: budget_of(&e.budget_lines),
        released_total: Money::zero(award_amount.currency),
        released_tranches: BTreeSet::new(),
        obligations: e
            .obligations
            .iter()
            .filter_map(|o| ObligationTerms::from_wire(o).ok())
            .map(|terms| ObligationState { terms, cancelled_on: None, versions: Vec::new() })
            .collect(),
        suspensions: Vec::new(),
        terminated_on: None,
        applied_variations: BTreeSet::new(),
    })
}
