//! The commands on an award and the decider that routes each to the function deciding it.

use contracts::common::v1::ErasureReason;
use domain_kernel::Timestamp;

use super::payment::Payment;
use super::state::{Award, AwardEvent};
use super::{agreement, lifecycle, tranche, variation};
use crate::domain::terms::{Change, Move, Terms};
use crate::domain::{Actor, Rejection, check_text};

#[derive(Clone, Debug)]
pub enum AwardCommand {
    SetAgreement {
        terms: Terms,
    },
    Sign,
    ReleaseTranche {
        tranche_id: String,
        payment: Payment,
    },
    ReallocateBudget {
        moves: Vec<Move>,
        reason: String,
    },
    RequestVariation {
        variation_id: String,
        change: Change,
        reason: String,
    },
    ApproveVariation {
        variation_id: String,
        comment: String,
    },
    DeclineVariation {
        variation_id: String,
        reason: String,
    },
    Suspend {
        reason: String,
    },
    Resume {
        reason: String,
    },
    Terminate {
        reason: String,
    },
    Close {
        comment: String,
    },
    /// A safeguarding erasure of a variation's free text, or of the award's own (the runtime destroys the key).
    EraseText {
        variation_id: Option<String>,
        reason: ErasureReason,
    },
}

/// Who decides, and when.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now: Timestamp,
}

/// Decides a command on an award.
pub fn handle(state: &Award, ctx: Context<'_>, command: AwardCommand) -> Result<Vec<AwardEvent>, Rejection> {
    let award = match &state.0 {
        Some(award) if award.visible_to(ctx.actor) => award,
        // Another organisation's award reads as unknown.
        _ => return Err(Rejection::not_found("award", "named in `award_id`")),
    };
    match command {
        AwardCommand::SetAgreement { terms } => agreement::set_agreement(award, terms),
        AwardCommand::Sign => agreement::sign(award, ctx),
        AwardCommand::ReleaseTranche { tranche_id, payment } => tranche::release(award, ctx, tranche_id, payment),
        AwardCommand::ReallocateBudget { moves, reason } => agreement::reallocate_budget(award, moves, reason),
        AwardCommand::RequestVariation { variation_id, change, reason } => {
            variation::request(award, ctx, variation_id, change, reason)
        }
        AwardCommand::ApproveVariation { variation_id, comment } => {
            variation::approve(award, ctx, variation_id, comment)
        }
        AwardCommand::DeclineVariation { variation_id, reason } => variation::decline(award, ctx, variation_id, reason),
        AwardCommand::Suspend { reason } => lifecycle::suspend(award, reason),
        AwardCommand::Resume { reason } => lifecycle::resume(award, reason),
        AwardCommand::Terminate { reason } => lifecycle::terminate(award, reason),
        AwardCommand::Close { comment } => lifecycle::close(award, comment),
        AwardCommand::EraseText { variation_id, reason } => lifecycle::erase_text(award, ctx, variation_id, reason),
    }
}

/// A reason is required free text of at most 2 000 characters.
pub(super) fn check_reason(field: &str, value: &str) -> Result<(), Rejection> {
    check_text(field, value, 1, 2_000)
}
