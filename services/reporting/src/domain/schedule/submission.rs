//! Deciding a report's submission: the obligation open for it, the content its kind requires (checked by
//! the identity guard first, then against the catalogue and the budget), every attestation given.

use contracts::values::WireValue;
use std::collections::BTreeMap;

use contracts::reporting::v1::{self as pb, ReportKind};
use domain_kernel::Money;

use super::decide::{Context, Submission, last_review};
use super::state::{ObligationState, ReportingEvent, Review, ScheduleData};
use crate::domain::Rejection;
use crate::domain::content::{self};
use crate::domain::identity_guard::GuardContext;

pub(super) fn submit(
    schedule: &ScheduleData,
    ctx: Context<'_>,
    s: Submission,
) -> Result<Vec<ReportingEvent>, Rejection> {
    let o = open_for_submission(schedule, &s.report_ref)?;
    let kind = o.terms.kind;
    check_sections(kind, &s)?;
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
        Some(f) => Some(financial_summary(schedule, o, f)?),
    };
    let attestations = s.attestations.unwrap_or_default();
    check_attestations(&attestations)?;
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

/// The obligation of `report_ref`, if a version may be submitted now: not cancelled, not waiting for
/// review, not accepted.
fn open_for_submission<'a>(schedule: &'a ScheduleData, report_ref: &str) -> Result<&'a ObligationState, Rejection> {
    let o = schedule.obligation(report_ref).ok_or_else(|| Rejection::not_found("obligation", report_ref))?;
    if o.cancelled_on.is_some() {
        return Err(Rejection::precondition("report_ref", format!("the obligation `{report_ref}` is cancelled")));
    }
    match last_review(o) {
        None | Some(Review::RevisionRequested { .. }) => Ok(o),
        Some(Review::Awaiting) => Err(Rejection::precondition(
            "report_ref",
            format!("the report `{report_ref}` is submitted and waits for review"),
        )),
        Some(Review::Accepted { .. }) => {
            Err(Rejection::precondition("report_ref", format!("the report `{report_ref}` is accepted already")))
        }
    }
}

/// A progress section belongs to progress and final reports, a financial one to financial and final ones.
fn check_sections(kind: ReportKind, s: &Submission) -> Result<(), Rejection> {
    let wants_progress = matches!(kind, ReportKind::Progress | ReportKind::Final);
    let wants_financial = matches!(kind, ReportKind::Financial | ReportKind::Final);
    let kind_name = kind.as_str_name();
    for (field, given, wanted) in
        [("progress", s.progress.is_some(), wants_progress), ("financial", s.financial.is_some(), wants_financial)]
    {
        match (given, wanted) {
            (false, true) => {
                return Err(Rejection::precondition(field, format!("is required for a {kind_name} report")));
            }
            (true, false) => {
                return Err(Rejection::precondition(field, format!("must be absent from a {kind_name} report")));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks the financial section against the budget and sums it up with what earlier reports spent.
fn financial_summary(
    schedule: &ScheduleData,
    o: &ObligationState,
    f: &pb::FinancialContent,
) -> Result<pb::FinancialSummary, Rejection> {
    let spent = content::check_financial(f, &schedule.budget_lines, schedule.award_amount.currency)?;
    let before = spent_before(schedule, o);
    content::summarise(
        &schedule.budget_lines,
        &spent,
        &before,
        schedule.released_total,
        o.terms.kind == ReportKind::Final,
    )
}

fn check_attestations(attestations: &pb::Attestations) -> Result<(), Rejection> {
    for (field, given) in [
        ("attestations.consent_for_data_use", attestations.consent_for_data_use),
        ("attestations.safeguarding_and_child_protection", attestations.safeguarding_and_child_protection),
        ("attestations.fraud_and_anti_corruption", attestations.fraud_and_anti_corruption),
    ] {
        if !given {
            return Err(Rejection::precondition(field, "must be attested: a report cannot be submitted without it"));
        }
    }
    Ok(())
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
        for (line_id, amount) in &accepted.spent {
            let entry = spent.entry(line_id.clone()).or_insert(Money::zero(amount.currency));
            *entry = entry.checked_add(*amount).unwrap_or(*entry);
        }
    }
    spent
}
