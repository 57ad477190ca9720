//! Deciding variations: requested with a change that could apply, approved by someone other than the
//! requester against the award as it is then, or declined.

use contracts::awards::v1 as pb;

use super::decide::{Context, check_reason};
use super::state::{AwardData, AwardEvent, Status, Variation, VariationStatus};
use crate::domain::terms::Change;
use crate::domain::{Rejection, check_text};

pub(super) fn request(
    award: &AwardData,
    ctx: Context<'_>,
    variation_id: String,
    change: Change,
    reason: String,
) -> Result<Vec<AwardEvent>, Rejection> {
    let terms = award.signed_terms()?;
    award.require_status(&[Status::Active, Status::Suspended], "request a variation")?;
    check_reason("reason", &reason)?;
    if award.variations.iter().any(|v| v.variation_id == variation_id) {
        return Err(Rejection::duplicate("variation", variation_id));
    }
    // Checked now so that a variation that could never apply is not even recorded.
    change.apply_to(terms, &award.released_amounts(), &award.cancelled)?;
    Ok(vec![AwardEvent::VariationRequested(pb::VariationRequested {
        award_id: award.id.to_string(),
        variation_id,
        change: Some(change.to_wire()),
        reason,
        requested_by: ctx.actor.subject.clone(),
        sealed_text: None,
    })])
}

pub(super) fn approve(
    award: &AwardData,
    ctx: Context<'_>,
    variation_id: String,
    comment: String,
) -> Result<Vec<AwardEvent>, Rejection> {
    let terms = award.signed_terms()?;
    let variation = award.variation(&variation_id)?;
    award.require_status(&[Status::Active, Status::Suspended], "approve a variation")?;
    require_undecided(variation)?;
    if variation.requested_by == ctx.actor.subject {
        return Err(Rejection::precondition(
            "approved_by",
            "the person who requested a variation cannot approve it (segregation of duties)",
        ));
    }
    check_text("comment", &comment, 0, 2_000)?;
    // Decided against the award as it is now: it may have moved on since the request.
    let (next, cancelled) = variation.change.apply_to(terms, &award.released_amounts(), &award.cancelled)?;
    Ok(vec![AwardEvent::VariationApproved(pb::VariationApproved {
        award_id: award.id.to_string(),
        variation_id,
        change: Some(variation.change.to_wire()),
        approved_by: ctx.actor.subject.clone(),
        comment,
        terms: Some(next.to_wire()),
        cancelled_tranche_ids: cancelled,
        sealed_text: None,
    })])
}

pub(super) fn decline(
    award: &AwardData,
    ctx: Context<'_>,
    variation_id: String,
    reason: String,
) -> Result<Vec<AwardEvent>, Rejection> {
    require_undecided(award.variation(&variation_id)?)?;
    check_reason("reason", &reason)?;
    Ok(vec![AwardEvent::VariationDeclined(pb::VariationDeclined {
        award_id: award.id.to_string(),
        variation_id,
        declined_by: ctx.actor.subject.clone(),
        reason,
        sealed_text: None,
    })])
}

fn require_undecided(variation: &Variation) -> Result<(), Rejection> {
    if variation.status != VariationStatus::Requested {
        return Err(Rejection::precondition("variation_id", "the variation is decided already"));
    }
    Ok(())
}
