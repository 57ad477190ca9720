//! The award as its readers see it (`grants.awards.v1.Award`), built once from the folded state: for the
//! service's answers and for `grants as-of`, which shows an award at a past point.

use contracts::awards::v1 as pb;
use contracts::values::WireValue;

use crate::domain::award::{AwardData, VariationStatus};
use crate::domain::terms::Terms;

/// An award as every reader may see it (partners see their own awards in full).
pub fn award_view(award: &AwardData, version: u64, history: Vec<pb::HistoryEntry>) -> pb::Award {
    let terms = award.terms.as_ref();
    let tranches = terms
        .map(|terms| {
            terms
                .tranches
                .iter()
                .map(|t| {
                    let release = award.released.get(&t.tranche_id);
                    let status = if release.is_some() {
                        pb::TrancheStatus::Released
                    } else if award.cancelled.contains(&t.tranche_id) {
                        pb::TrancheStatus::Cancelled
                    } else {
                        pb::TrancheStatus::Pending
                    };
                    pb::TrancheView {
                        tranche: Some(pb::Tranche {
                            tranche_id: t.tranche_id.clone(),
                            kind: t.kind as i32,
                            amount: Some(t.amount.to_wire()),
                            due_date: Some(t.due_date.to_wire()),
                            required_reports: t.required_reports.clone(),
                        }),
                        status: status as i32,
                        conditions_met: t.required_reports.iter().all(|r| award.met.contains_key(r)),
                        payment: release.map(|r| r.payment.to_wire()),
                        released_by: release.map(|r| r.released_by.clone()).unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let terms_wire = terms.map(Terms::to_wire);
    let conditions = terms_wire
        .iter()
        .flat_map(|t| t.reports.iter())
        .map(|requirement| {
            let met = award.met.get(&requirement.report_ref);
            pb::ReportCondition {
                requirement: Some(requirement.clone()),
                met: met.is_some(),
                report_id: met.map(|m| m.report_id.clone()).unwrap_or_default(),
                accepted_by: met.map(|m| m.accepted_by.clone()).unwrap_or_default(),
                accepted_at: met.map(|m| m.accepted_at.to_wire()),
            }
        })
        .collect();
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
        variations: award
            .variations
            .iter()
            .map(|v| pb::VariationView {
                variation_id: v.variation_id.clone(),
                change: Some(v.change.to_wire()),
                reason: v.reason.clone(),
                requested_by: v.requested_by.clone(),
                status: match v.status {
                    VariationStatus::Requested => pb::VariationStatus::Requested,
                    VariationStatus::Approved => pb::VariationStatus::Approved,
                    VariationStatus::Declined => pb::VariationStatus::Declined,
                } as i32,
                decided_by: v.decided_by.clone(),
                decision_note: v.decision_note.clone(),
            })
            .collect(),
        released_total: Some(award.released_total.to_wire()),
        status_reason: award.status_reason.clone(),
        version,
        history,
    }
}
