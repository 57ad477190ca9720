//! Deciding an award's lifecycle: suspension, resumption, termination, close-out, and the erasure of its
//! free text.

use contracts::awards::v1 as pb;
use contracts::common::v1::ErasureReason;
use contracts::reporting::v1::ReportKind;
use contracts::values::WireValue;

use super::decide::{Context, check_reason};
use super::state::{AwardData, AwardEvent, Status};
use crate::domain::{Rejection, check_text};

pub(super) fn suspend(award: &AwardData, reason: String) -> Result<Vec<AwardEvent>, Rejection> {
    award.require_status(&[Status::Active], "suspend it")?;
    check_reason("reason", &reason)?;
    Ok(vec![AwardEvent::Suspended(pb::AwardSuspended { award_id: award.id.to_string(), reason, sealed_text: None })])
}

pub(super) fn resume(award: &AwardData, reason: String) -> Result<Vec<AwardEvent>, Rejection> {
    award.require_status(&[Status::Suspended], "resume it")?;
    check_reason("reason", &reason)?;
    Ok(vec![AwardEvent::Resumed(pb::AwardResumed { award_id: award.id.to_string(), reason, sealed_text: None })])
}

/// Ends the award: every tranche not yet released or cancelled is cancelled (an unsigned award has none).
pub(super) fn terminate(award: &AwardData, reason: String) -> Result<Vec<AwardEvent>, Rejection> {
    award.require_status(&[Status::Offered, Status::Active, Status::Suspended], "terminate it")?;
    check_reason("reason", &reason)?;
    let cancelled_tranche_ids = award
        .terms
        .iter()
        .filter(|_| award.status != Status::Offered)
        .flat_map(|t| &t.tranches)
        .filter(|t| award.is_pending(&t.tranche_id))
        .map(|t| t.tranche_id.clone())
        .collect();
    Ok(vec![AwardEvent::Terminated(pb::AwardTerminated {
        award_id: award.id.to_string(),
        reason,
        released_total: Some(award.released_total.to_wire()),
        cancelled_tranche_ids,
        sealed_text: None,
    })])
}

/// Closes the award once every tranche is settled (released or cancelled) and the final report accepted.
pub(super) fn close(award: &AwardData, comment: String) -> Result<Vec<AwardEvent>, Rejection> {
    let terms = award.signed_terms()?;
    award.require_status(&[Status::Active], "close it")?;
    check_text("comment", &comment, 0, 2_000)?;
    if let Some(t) = terms.tranches.iter().find(|t| award.is_pending(&t.tranche_id)) {
        return Err(Rejection::precondition(
            "tranches",
            format!("tranche `{}` must be released or cancelled before the award is closed", t.tranche_id),
        ));
    }
    if let Some(r) =
        terms.reports.iter().find(|r| r.kind == ReportKind::Final && !award.met.contains_key(&r.report_ref))
    {
        return Err(Rejection::precondition(
            "reports",
            format!("the final report `{}` must be accepted before the award is closed", r.report_ref),
        ));
    }
    Ok(vec![AwardEvent::Closed(pb::AwardClosed {
        award_id: award.id.to_string(),
        released_total: Some(award.released_total.to_wire()),
        comment,
        sealed_text: None,
    })])
}

/// Erases a variation's free text, or the award's own when no variation is named.
pub(super) fn erase_text(
    award: &AwardData,
    ctx: Context<'_>,
    variation_id: Option<String>,
    reason: ErasureReason,
) -> Result<Vec<AwardEvent>, Rejection> {
    let award_id = award.id.to_string();
    let erased_by = ctx.actor.subject.clone();
    let Some(variation_id) = variation_id else {
        return Ok(vec![AwardEvent::TextErased(pb::AwardTextErased { award_id, reason: reason as i32, erased_by })]);
    };
    award.variation(&variation_id)?;
    Ok(vec![AwardEvent::VariationTextErased(pb::VariationTextErased {
        award_id,
        variation_id,
        reason: reason as i32,
        erased_by,
    })])
}
