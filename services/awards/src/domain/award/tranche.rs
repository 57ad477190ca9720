//! Deciding a tranche release: the agreement signed, the award active, the tranche pending and its gating
//! reports accepted, the payer none of those who decided to pay (maker-checker), the award not exceeded.

use contracts::awards::v1 as pb;
use contracts::values::WireValue;
use domain_kernel::{LifecycleStatus, Money};

use super::decide::Context;
use super::payment::Payment;
use super::state::{AwardData, AwardEvent, Status};
use crate::domain::Rejection;
use crate::domain::terms::{Terms, TrancheTerms};

pub(super) fn release(
    award: &AwardData,
    ctx: Context<'_>,
    tranche_id: String,
    payment: Payment,
) -> Result<Vec<AwardEvent>, Rejection> {
    let terms = award
        .signed_terms()
        .map_err(|_| Rejection::precondition("status", "the agreement must be signed before a tranche is released"))?;
    require_releasable(award)?;
    let tranche = terms.tranche(&tranche_id).ok_or_else(|| Rejection::not_found("tranche", &tranche_id))?;
    if award.released.contains_key(&tranche_id) {
        return Err(Rejection::precondition("tranche_id", format!("tranche `{tranche_id}` is released already")));
    }
    if award.cancelled.contains(&tranche_id) {
        return Err(Rejection::precondition("tranche_id", format!("tranche `{tranche_id}` is cancelled")));
    }
    let releaser = &ctx.actor.subject;
    check_segregation(award, releaser, &tranche_id)?;
    let gating_reports = gating_reports(award, tranche, releaser)?;
    let released_total = released_total_after(award, terms, tranche)?;
    payment.check(tranche.amount)?;
    Ok(vec![AwardEvent::TrancheReleased(pb::TrancheReleased {
        award_id: award.id.to_string(),
        organisation_id: award.organisation_id.to_string(),
        tranche_id,
        amount: Some(tranche.amount.to_wire()),
        released_total: Some(released_total.to_wire()),
        payment: Some(payment.to_wire()),
        released_by: releaser.clone(),
        gating_reports,
    })])
}

fn require_releasable(award: &AwardData) -> Result<(), Rejection> {
    match award.status {
        Status::Active => Ok(()),
        Status::Suspended => {
            Err(Rejection::precondition("status", "the award is SUSPENDED: no release until it is resumed"))
        }
        other => Err(Rejection::precondition("status", format!("the award is {}: no further release", other.name()))),
    }
}

fn segregation(releaser: &str, deed: &str, tranche_id: &str) -> Rejection {
    Rejection::precondition(
        "released_by",
        format!("{releaser} {deed} and cannot release tranche `{tranche_id}` (segregation of duties)"),
    )
}

/// Maker-checker: whoever decided to pay (approved the application, signed the agreement) may not also pay.
/// Accepting a gating report counts too: see [`gating_reports`].
fn check_segregation(award: &AwardData, releaser: &str, tranche_id: &str) -> Result<(), Rejection> {
    if award.approved_by == releaser {
        return Err(segregation(releaser, "approved the application", tranche_id));
    }
    if award.signed_by.as_deref() == Some(releaser) {
        return Err(segregation(releaser, "signed the agreement", tranche_id));
    }
    Ok(())
}

/// The accepted reports a tranche waits for, each accepted by someone other than the releaser.
fn gating_reports(
    award: &AwardData,
    tranche: &TrancheTerms,
    releaser: &str,
) -> Result<Vec<pb::GatingReport>, Rejection> {
    let tranche_id = &tranche.tranche_id;
    let mut gating_reports = Vec::with_capacity(tranche.required_reports.len());
    for report_ref in &tranche.required_reports {
        let acceptance = award.met.get(report_ref).ok_or_else(|| {
            Rejection::precondition(
                "tranche_id",
                format!("tranche `{tranche_id}` waits for report `{report_ref}` to be accepted"),
            )
        })?;
        if acceptance.accepted_by == releaser {
            return Err(segregation(releaser, &format!("accepted gating report `{report_ref}`"), tranche_id));
        }
        gating_reports.push(pb::GatingReport {
            report_ref: report_ref.clone(),
            report_id: acceptance.report_id.clone(),
            accepted_by: acceptance.accepted_by.clone(),
        });
    }
    Ok(gating_reports)
}

fn released_total_after(award: &AwardData, terms: &Terms, tranche: &TrancheTerms) -> Result<Money, Rejection> {
    award
        .released_total
        .checked_add(tranche.amount)
        .filter(|total| total.minor_units <= terms.amount.minor_units)
        .ok_or_else(|| {
            Rejection::precondition(
                "tranche_id",
                format!(
                    "releasing {} would take the released total above the award amount {}",
                    tranche.amount.minor_units, terms.amount.minor_units
                ),
            )
        })
}
