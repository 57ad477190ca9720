//! The award as its readers see it (`grants.awards.v1.Award`), built once from the folded state: for the
//! service's answers and for `grants as-of`, which shows an award at a past point.

use contracts::awards::v1 as pb;
use contracts::values::WireValue;

use crate::domain::award::{AwardData, Variation, VariationStatus};
use crate::domain::terms::{Terms, TrancheTerms};

/// An award as every reader may see it (partners see their own awards in full).
pub fn award_view(award: &AwardData, version: u64, history: Vec<pb::HistoryEntry>) -> pb::Award {
    let terms = award.terms.as_ref();
    let tranches =
        terms.map(|terms| terms.tranches.iter().map(|t| tranche_view(award, t)).collect()).unwrap_or_default();
    let terms_wire = terms.map(Terms::to_wire);
    let conditions = terms_wire.iter().flat_map(|t| t.reports.iter()).map(|r| report_condition(award, r)).collect();
    pb::Award {
        award_id: award.id.to_string(),
        application_id: award.application_id.to_string(),
        round_id: award.round_id.to_string(),
        organisation_id: award.organisation_id.to_string(),
        title: award.title.clone(),
        approved_amount: Some(award.approved_amount.to_wire()),
        status: award.status.to_wire() as i32,
        terms: terms_wire,
        signed: award.signed_by.is_some(),
        signed_by: award.signed_by.clone().unwrap_or_default(),
        tranches,
        conditions,
        variations: award.variations.iter().map(variation_view).collect(),
        released_total: Some(award.released_total.to_wire()),
        status_reason: award.status_reason.clone(),
        version,
        history,
    }
}

/// One tranche of the agreement: released, cancelled or pending, and whether its gating reports are in.
fn tranche_view(award: &AwardData, tranche: &TrancheTerms) -> pb::TrancheView {
    let release = award.released.get(&tranche.tranche_id);
    let status = if release.is_some() {
        pb::TrancheStatus::Released
    } else if award.cancelled.contains(&tranche.tranche_id) {
        pb::TrancheStatus::Cancelled
    } else {
        pb::TrancheStatus::Pending
    };
    pb::TrancheView {
        tranche: Some(pb::Tranche {
            tranche_id: tranche.tranche_id.clone(),
            kind: tranche.kind as i32,
            amount: Some(tranche.amount.to_wire()),
            due_date: Some(tranche.due_date.to_wire()),
            required_reports: tranche.required_reports.clone(),
        }),
        status: status as i32,
        conditions_met: tranche.required_reports.iter().all(|r| award.met.contains_key(r)),
        payment: release.map(|r| r.payment.to_wire()),
        released_by: release.map(|r| r.released_by.clone()).unwrap_or_default(),
    }
}

/// One report the agreement requires, and the accepted report that met it, if any.
fn report_condition(award: &AwardData, requirement: &pb::ReportRequirement) -> pb::ReportCondition {
    let met = award.met.get(&requirement.report_ref);
    pb::ReportCondition {
        requirement: Some(requirement.clone()),
        met: met.is_some(),
        report_id: met.map(|m| m.report_id.clone()).unwrap_or_default(),
        accepted_by: met.map(|m| m.accepted_by.clone()).unwrap_or_default(),
        accepted_at: met.map(|m| m.accepted_at.to_wire()),
    }
}

/// One variation of the award and its decision.
fn variation_view(variation: &Variation) -> pb::VariationView {
    pb::VariationView {
        variation_id: variation.variation_id.clone(),
        change: Some(variation.change.to_wire()),
        reason: variation.reason.clone(),
        requested_by: variation.requested_by.clone(),
        status: match variation.status {
            VariationStatus::Requested => pb::VariationStatus::Requested,
            VariationStatus::Approved => pb::VariationStatus::Approved,
            VariationStatus::Declined => pb::VariationStatus::Declined,
        } as i32,
        decided_by: variation.decided_by.clone(),
        decision_note: variation.decision_note.clone(),
    }
}
