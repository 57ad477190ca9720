//! What the awards service's events, consumed from the bus, mean for an award's reporting schedule:
//! scheduled when the agreement is signed, rescheduled by variations and reallocations, disbursements
//! recorded, held while suspended, cancelled on termination.

use contracts::values::WireValue;
use std::collections::BTreeSet;

use contracts::awards::v1 as awards;
use contracts::reporting::v1::{self as pb, ReportKind};
use domain_kernel::{Date, Money};

use super::state::{ObligationTerms, ReportingEvent, Schedule, ScheduleData};
use crate::domain::content::BudgetLine;
use crate::domain::dates;
use crate::domain::{AwardId, OrganisationId, Rejection, check_short_id, obligation_id, report_id};

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
