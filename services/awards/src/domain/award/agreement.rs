//! Deciding the agreement: its terms set before signature, the signature, and budget reallocations within
//! the agreement's variance threshold.

use contracts::awards::v1 as pb;
use contracts::values::WireValue;

use super::decide::{Context, check_reason};
use super::state::{AwardData, AwardEvent, Status};
use crate::domain::Rejection;
use crate::domain::terms::{BudgetLine, Move, Terms, TermsStage};

pub(super) fn set_agreement(award: &AwardData, terms: Terms) -> Result<Vec<AwardEvent>, Rejection> {
    award.require_status(&[Status::Offered], "set the agreement (after signature use a variation)")?;
    terms.check("terms", TermsStage::Agreement { approved: award.approved_amount })?;
    Ok(vec![AwardEvent::AgreementSet(pb::AgreementSet {
        award_id: award.id.to_string(),
        terms: Some(terms.to_wire()),
    })])
}

pub(super) fn sign(award: &AwardData, ctx: Context<'_>) -> Result<Vec<AwardEvent>, Rejection> {
    award.require_status(&[Status::Offered], "sign the agreement")?;
    let terms = award
        .terms
        .as_ref()
        .ok_or_else(|| Rejection::precondition("terms", "must be set (SetAgreement) before signing"))?;
    Ok(vec![AwardEvent::AgreementSigned(pb::AgreementSigned {
        award_id: award.id.to_string(),
        organisation_id: award.organisation_id.to_string(),
        round_id: award.round_id.to_string(),
        application_id: award.application_id.to_string(),
        terms: Some(terms.to_wire()),
        signed_by: ctx.actor.subject.clone(),
        signed_at: Some(ctx.now.to_wire()),
    })])
}

pub(super) fn reallocate_budget(
    award: &AwardData,
    moves: Vec<Move>,
    reason: String,
) -> Result<Vec<AwardEvent>, Rejection> {
    let terms = award.signed_terms()?;
    award.require_status(&[Status::Active], "reallocate its budget")?;
    check_reason("reason", &reason)?;
    let (lines, moved) = terms.reallocate("moves", &moves)?;
    let moved_basis_points = terms.basis_points_of_amount(moved);
    if terms.needs_variation(moved) {
        return Err(Rejection::precondition(
            "moves",
            format!(
                "move {moved_basis_points} basis points of the award amount, above the agreement's variance \
                 threshold of {}%: request a reallocation variation instead",
                terms.variance_threshold_percent
            ),
        ));
    }
    Ok(vec![AwardEvent::BudgetReallocated(pb::BudgetReallocated {
        award_id: award.id.to_string(),
        moves: moves.iter().map(Move::to_wire).collect(),
        reason,
        budget_lines: lines.iter().map(BudgetLine::to_wire).collect(),
        moved_basis_points,
        sealed_text: None,
    })])
}
