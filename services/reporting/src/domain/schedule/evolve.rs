//! Folding a schedule's events into its state. Each event's protobuf values are read into domain values
//! here, once; an event whose values do not read is an error naming the value, never skipped.

use std::collections::BTreeSet;

use contracts::reporting::v1::{self as pb};
use contracts::values::{WireError, WireValue};
use domain_kernel::{Date, Money, Timestamp};

use super::state::{ObligationState, ObligationTerms, ReportingEvent, Review, Schedule, ScheduleData, Version};
use crate::domain::content::BudgetLine;
use crate::domain::{AwardId, OrganisationId};

fn budget_of(lines: &[pb::BudgetLine]) -> Result<Vec<BudgetLine>, WireError> {
    let read = |(i, l): (usize, &pb::BudgetLine)| {
        Ok(BudgetLine {
            line_id: l.line_id.clone(),
            category: l.category.clone(),
            amount: Money::from_wire(&format!("budget_lines[{i}].amount"), l.amount.as_ref())?,
        })
    };
    lines.iter().enumerate().map(read).collect()
}

/// An optional date of an event: `fallback` when absent, an error when present and unreadable.
fn date_or(field: &str, d: Option<&contracts::common::v1::Date>, fallback: Date) -> Result<Date, WireError> {
    d.map_or(Ok(fallback), |d| Date::from_wire(field, Some(d)))
}

/// Folds an event into the schedule. Each event's protobuf values are read into domain values here, once;
/// an event whose values do not read is an error naming the value, never skipped. Events of a schedule
/// not yet made change nothing.
pub fn apply(state: Schedule, event: &ReportingEvent) -> Result<Schedule, WireError> {
    if let ReportingEvent::Scheduled(e) = event {
        return Ok(Schedule(Some(scheduled_from(e)?)));
    }
    let Some(mut s) = state.0 else { return Ok(Schedule(None)) };
    match event {
        ReportingEvent::Scheduled(_) => {}
        ReportingEvent::Rescheduled(e) => rescheduled(&mut s, e)?,
        ReportingEvent::Disbursement(e) => {
            s.released_total = Money::from_wire("released_total", e.released_total.as_ref())?;
            s.released_tranches.insert(e.tranche_id.clone());
        }
        ReportingEvent::Suspended(e) => {
            s.suspensions.push((Date::from_wire("suspended_on", e.suspended_on.as_ref())?, None));
        }
        ReportingEvent::Resumed(e) => resumed(&mut s, e)?,
        ReportingEvent::Cancelled(e) => {
            let on = date_or("cancelled_on", e.cancelled_on.as_ref(), s.period_end)?;
            s.terminated_on = Some(on);
            cancel(&mut s, &e.cancelled_report_refs, on);
        }
        ReportingEvent::Submitted(e) => {
            let version = Version::from_wire(e)?;
            if let Some(o) = s.obligation_mut(&e.report_ref) {
                o.versions.push(version);
            }
        }
        ReportingEvent::RevisionRequested(e) => {
            let at = Timestamp::from_wire("requested_at", e.requested_at.as_ref())?;
            let review = Review::RevisionRequested { reasons: e.reasons.clone(), by: e.requested_by.clone(), at };
            review_last_version(&mut s, &e.report_ref, review);
        }
        // What was erased reads as erased when the stream is loaded; the schedule itself does not change.
        ReportingEvent::TextErased(_) => {}
        ReportingEvent::Accepted(e) => {
            let at = Timestamp::from_wire("accepted_at", e.accepted_at.as_ref())?;
            review_last_version(&mut s, &e.report_ref, Review::Accepted { by: e.accepted_by.clone(), at });
        }
    }
    Ok(Schedule(Some(s)))
}

fn rescheduled(s: &mut ScheduleData, e: &pb::ObligationsRescheduled) -> Result<(), WireError> {
    let on = date_or("effective_on", e.effective_on.as_ref(), s.period_end)?;
    for (i, wire) in e.obligations.iter().enumerate() {
        let terms = ObligationTerms::from_wire(&format!("obligations[{i}]"), wire)?;
        match s.obligation_mut(&terms.report_ref) {
            Some(existing) => {
                existing.terms = terms;
                existing.cancelled_on = None;
            }
            None => s.obligations.push(ObligationState { terms, cancelled_on: None, versions: Vec::new() }),
        }
    }
    cancel(s, &e.cancelled_report_refs, on);
    s.budget_lines = budget_of(&e.budget_lines)?;
    if e.award_amount.is_some() {
        s.award_amount = Money::from_wire("award_amount", e.award_amount.as_ref())?;
    }
    s.period_end = date_or("period_end", e.period_end.as_ref(), s.period_end)?;
    if !e.variation_id.is_empty() {
        s.applied_variations.insert(e.variation_id.clone());
    }
    Ok(())
}

fn resumed(s: &mut ScheduleData, e: &pb::ObligationsResumed) -> Result<(), WireError> {
    let resumed_on = Date::from_wire("resumed_on", e.resumed_on.as_ref())?;
    if let Some(last) = s.suspensions.last_mut() {
        last.1 = Some(resumed_on);
    }
    for (i, x) in e.extensions.iter().enumerate() {
        let due = Date::from_wire(&format!("extensions[{i}].due_date"), x.due_date.as_ref())?;
        if let Some(o) = s.obligation_mut(&x.report_ref) {
            o.terms.due_date = due;
        }
    }
    Ok(())
}

fn cancel(s: &mut ScheduleData, report_refs: &[String], on: Date) {
    for r in report_refs {
        if let Some(o) = s.obligation_mut(r) {
            o.cancelled_on = Some(on);
        }
    }
}

fn review_last_version(s: &mut ScheduleData, report_ref: &str, review: Review) {
    if let Some(v) = s.obligation_mut(report_ref).and_then(|o| o.versions.last_mut()) {
        v.review = review;
    }
}

fn scheduled_from(e: &pb::ObligationsScheduled) -> Result<ScheduleData, WireError> {
    let award_amount = Money::from_wire("award_amount", e.award_amount.as_ref())?;
    let obligations = e
        .obligations
        .iter()
        .enumerate()
        .map(|(i, o)| ObligationTerms::from_wire(&format!("obligations[{i}]"), o))
        .map(|terms| Ok(ObligationState { terms: terms?, cancelled_on: None, versions: Vec::new() }))
        .collect::<Result<_, WireError>>()?;
    Ok(ScheduleData {
        award_id: AwardId::parse("award_id", &e.award_id)?,
        organisation_id: OrganisationId::parse("organisation_id", &e.organisation_id)?,
        round_id: e.round_id.clone(),
        application_id: e.application_id.clone(),
        award_amount,
        period_start: Date::from_wire("period_start", e.period_start.as_ref())?,
        period_end: Date::from_wire("period_end", e.period_end.as_ref())?,
        budget_lines: budget_of(&e.budget_lines)?,
        released_total: Money::zero(award_amount.currency),
        released_tranches: BTreeSet::new(),
        obligations,
        suspensions: Vec::new(),
        terminated_on: None,
        applied_variations: BTreeSet::new(),
    })
}
