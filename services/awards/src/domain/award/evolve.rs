//! Folding an award's events into its state. Each event's protobuf values are read into domain values here,
//! once; an event whose values do not read is an error naming the value, never skipped.

use std::collections::{BTreeMap, BTreeSet};

use contracts::awards::v1 as pb;
use contracts::values::{WireError, WireValue};
use domain_kernel::{Country, InvalidValue, Money, Timestamp};

use super::payment::Payment;
use super::state::{Acceptance, Award, AwardData, AwardEvent, Release, Status, Variation, VariationStatus};
use crate::domain::terms::{BudgetLine, Change, Terms};
use crate::domain::{ApplicationId, AwardId, OrganisationId, RoundId};

/// Folds an event into the award. Events of an award not yet offered change nothing.
pub fn apply(state: Award, event: &AwardEvent) -> Result<Award, WireError> {
    if let AwardEvent::Offered(e) = event {
        return Ok(Award(Some(offered(e)?)));
    }
    let Some(mut award) = state.0 else { return Ok(Award(None)) };
    match event {
        AwardEvent::Offered(_) => {}
        AwardEvent::AgreementSet(e) => award.terms = Some(Terms::from_wire("terms", e.terms.as_ref())?),
        AwardEvent::AgreementSigned(e) => {
            award.terms = Some(Terms::from_wire("terms", e.terms.as_ref())?);
            award.signed_by = Some(e.signed_by.clone());
            award.status = Status::Active;
        }
        AwardEvent::ReportConditionMet(e) => {
            let acceptance = Acceptance {
                report_id: e.report_id.clone(),
                accepted_by: e.accepted_by.clone(),
                accepted_at: Timestamp::from_wire("accepted_at", e.accepted_at.as_ref())?,
            };
            award.met.insert(e.report_ref.clone(), acceptance);
        }
        AwardEvent::TrancheReleased(e) => released(&mut award, e)?,
        AwardEvent::BudgetReallocated(e) => {
            if let Some(terms) = award.terms.as_mut() {
                terms.budget_lines = BudgetLine::many_from_wire("budget_lines", &e.budget_lines)?;
            }
        }
        AwardEvent::VariationRequested(e) => award.variations.push(Variation {
            variation_id: e.variation_id.clone(),
            change: Change::from_wire("change", e.change.as_ref())?,
            reason: e.reason.clone(),
            requested_by: e.requested_by.clone(),
            status: VariationStatus::Requested,
            decided_by: String::new(),
            decision_note: String::new(),
        }),
        AwardEvent::VariationApproved(e) => {
            award.terms = Some(Terms::from_wire("terms", e.terms.as_ref())?);
            award.cancelled.extend(e.cancelled_tranche_ids.iter().cloned());
            decide_variation(&mut award, &e.variation_id, VariationStatus::Approved, &e.approved_by, &e.comment);
        }
        AwardEvent::VariationDeclined(e) => {
            decide_variation(&mut award, &e.variation_id, VariationStatus::Declined, &e.declined_by, &e.reason);
        }
        AwardEvent::Suspended(e) => {
            award.status = Status::Suspended;
            award.status_reason = e.reason.clone();
        }
        AwardEvent::Resumed(e) => {
            award.status = Status::Active;
            award.status_reason = e.reason.clone();
        }
        AwardEvent::Terminated(e) => {
            award.status = Status::Terminated;
            award.status_reason = e.reason.clone();
            award.cancelled.extend(e.cancelled_tranche_ids.iter().cloned());
        }
        AwardEvent::Closed(_) => award.status = Status::Closed,
        // What was erased reads as erased when the stream is loaded; the award itself does not change.
        AwardEvent::TextErased(_) | AwardEvent::VariationTextErased(_) => {}
    }
    Ok(Award(Some(award)))
}

fn offered(e: &pb::AwardOffered) -> Result<AwardData, WireError> {
    let approved_amount = Money::from_wire("approved_amount", e.approved_amount.as_ref())?;
    Ok(AwardData {
        id: AwardId::parse("award_id", &e.award_id)?,
        application_id: ApplicationId::parse("application_id", &e.application_id)?,
        round_id: RoundId::parse("round_id", &e.round_id)?,
        organisation_id: OrganisationId::parse("organisation_id", &e.organisation_id)?,
        title: e.title.clone(),
        approved_amount,
        approved_by: e.approved_by.clone(),
        countries: read_countries(&e.countries)?,
        status: Status::Offered,
        terms: None,
        signed_by: None,
        released: BTreeMap::new(),
        cancelled: BTreeSet::new(),
        met: BTreeMap::new(),
        variations: Vec::new(),
        released_total: Money::zero(approved_amount.currency),
        status_reason: String::new(),
    })
}

/// Reads the `countries` of an offer, or of the approval it is made from, naming the first code that does not
/// read (`countries[i]`).
pub(super) fn read_countries(codes: &[String]) -> Result<Vec<Country>, InvalidValue> {
    codes.iter().enumerate().map(|(i, code)| Country::parse(&format!("countries[{i}]"), code)).collect()
}

fn released(award: &mut AwardData, e: &pb::TrancheReleased) -> Result<(), WireError> {
    let release = Release {
        amount: Money::from_wire("amount", e.amount.as_ref())?,
        payment: Payment::from_wire("payment", e.payment.as_ref())?,
        released_by: e.released_by.clone(),
    };
    award.released_total = Money::from_wire("released_total", e.released_total.as_ref())?;
    award.released.insert(e.tranche_id.clone(), release);
    Ok(())
}

fn decide_variation(award: &mut AwardData, id: &str, status: VariationStatus, by: &str, note: &str) {
    if let Some(v) = award.variations.iter_mut().find(|v| v.variation_id == id) {
        v.status = status;
        v.decided_by = by.to_owned();
        v.decision_note = note.to_owned();
    }
}
