//! Deciding a report's submission: the obligation open for it, the content its kind requires (checked by
//! the identity guard first, then against the catalogue and the budget), every attestation given.

use std::collections::BTreeMap;

use contracts::reporting::v1::ReportKind;
use domain_kernel::Money;

use super::decide::{Context, Submission, last_review};
use super::state::{ObligationState, ReportingEvent, Review, ScheduleData, Version};
use crate::domain::Rejection;
use crate::domain::content;
use crate::domain::identity_guard::GuardContext;
use crate::domain::report::{Attestations, Financial, FinancialSummary, ReportContent};

pub(super) fn submit(
    schedule: &ScheduleData,
    ctx: Context<'_>,
    s: Submission,
) -> Result<Vec<ReportingEvent>, Rejection> {
    let o = open_for_submission(schedule, &s.report_ref)?;
    let kind = o.terms.kind;
    let content = s.content;
    check_sections(kind, &content)?;
    // The identity guard runs before any other check of the content.
    let guard = GuardContext { reference_year: o.terms.period_start.year };
    if let Some(p) = &content.progress {
        content::guard_progress(p, guard)?;
    }
    if let Some(f) = &content.financial {
        content::guard_financial(f, guard)?;
    }
    if let Some(p) = &content.progress {
        content::check_progress(p, ctx.catalogue)?;
    }
    let financial_summary = match &content.financial {
        None => None,
        Some(f) => Some(financial_summary(schedule, o, f)?),
    };
    check_attestations(content.attestations)?;
    let version = Version {
        number: o.versions.len() as u32 + 1,
        kind,
        period_start: o.terms.period_start,
        period_end: o.terms.period_end,
        content,
        financial_summary,
        catalogue_version: ctx.catalogue.version.clone(),
        submitted_by: ctx.actor.subject.clone(),
        submitted_at: ctx.now,
        review: Review::Awaiting,
    };
    Ok(vec![ReportingEvent::Submitted(version.to_wire(schedule, &o.terms))])
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
fn check_sections(kind: ReportKind, s: &ReportContent) -> Result<(), Rejection> {
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
    f: &Financial,
) -> Result<FinancialSummary, Rejection> {
    let spent = content::check_financial(f, &schedule.budget_lines, schedule.award_amount.currency)?;
    let before = spent_before(schedule, o)?;
    content::summarise(
        &schedule.budget_lines,
        &spent,
        &before,
        schedule.released_total,
        o.terms.kind == ReportKind::Final,
    )
}

fn check_attestations(attestations: Attestations) -> Result<(), Rejection> {
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
/// obligation's period ends. Amounts too large to add up are refused, never left out of the sum.
fn spent_before(schedule: &ScheduleData, this: &ObligationState) -> Result<BTreeMap<String, Money>, Rejection> {
    let mut spent: BTreeMap<String, Money> = BTreeMap::new();
    for o in &schedule.obligations {
        if o.terms.obligation_id == this.terms.obligation_id || o.terms.period_end >= this.terms.period_end {
            continue;
        }
        let Some(accepted) = o.versions.iter().find(|v| matches!(v.review, Review::Accepted { .. })) else { continue };
        for (line_id, amount) in accepted.content.financial.iter().flat_map(Financial::spent) {
            let entry = spent.entry(line_id.to_owned()).or_insert(Money::zero(amount.currency));
            *entry = entry.checked_add(amount).ok_or_else(content::too_large)?;
        }
    }
    Ok(spent)
}
