//! What other services' events, consumed from the bus, mean for an award: an approved application is
//! offered one, an accepted report meets one of its reporting requirements.

use contracts::applications::v1 as apps;
use contracts::awards::v1 as pb;
use contracts::reporting::v1::ReportAccepted;
use contracts::values::WireValue;
use domain_kernel::{Money, Timestamp};

use super::evolve::read_countries;
use super::state::{Award, AwardEvent};
use crate::domain::{ApplicationId, AwardId, OrganisationId, Rejection, RoundId, check_text};

/// What an `ApplicationApproved` means for the award of that application: an offer, or nothing when the
/// award exists already (a duplicate, whatever its event id).
pub fn offer(state: &Award, approved: &apps::ApplicationApproved) -> Result<Vec<AwardEvent>, Rejection> {
    let application_id = ApplicationId::parse("application_id", &approved.application_id)?;
    if state.0.is_some() {
        return Ok(Vec::new());
    }
    let round_id = RoundId::parse("round_id", &approved.round_id)?;
    let organisation_id = OrganisationId::parse("organisation_id", &approved.organisation_id)?;
    let amount = Money::from_wire("approved_amount", approved.approved_amount.as_ref())?;
    if !amount.is_positive() {
        return Err(Rejection::invalid("approved_amount", "must be positive"));
    }
    // Read here too, so that an offer never records a country its award could not be loaded with.
    let countries = read_countries(&approved.countries)?;
    Ok(vec![AwardEvent::Offered(pb::AwardOffered {
        award_id: AwardId::for_application(application_id).to_string(),
        application_id: application_id.to_string(),
        round_id: round_id.to_string(),
        organisation_id: organisation_id.to_string(),
        title: approved.title.clone(),
        approved_amount: Some(amount.to_wire()),
        approved_by: approved.decided_by.clone(),
        countries: countries.iter().map(|c| c.as_str().to_owned()).collect(),
    })])
}

/// What a `ReportAccepted` means for its award: the matching requirement is met, or nothing when it was
/// met already. An acceptance that matches no requirement of a signed agreement is refused.
pub fn accept_report(state: &Award, accepted: &ReportAccepted) -> Result<Vec<AwardEvent>, Rejection> {
    let award = state.0.as_ref().ok_or_else(|| Rejection::not_found("award", &accepted.award_id))?;
    let terms = award.signed_terms().map_err(|_| {
        Rejection::precondition("award_id", "the award's agreement is not signed: no report is required")
    })?;
    let requirement = terms.requirement(&accepted.report_ref).ok_or_else(|| {
        Rejection::precondition(
            "report_ref",
            format!("`{}` is not a reporting requirement of award {}", accepted.report_ref, award.id),
        )
    })?;
    if accepted.kind != requirement.kind as i32 {
        return Err(Rejection::precondition(
            "kind",
            format!("must be {} as the requirement `{}` says", requirement.kind.as_str_name(), requirement.report_ref),
        ));
    }
    if !accepted.organisation_id.is_empty() && accepted.organisation_id != award.organisation_id.to_string() {
        return Err(Rejection::precondition(
            "organisation_id",
            format!("must be the award's organisation {}", award.organisation_id),
        ));
    }
    check_text("accepted_by", &accepted.accepted_by, 1, 200)?;
    check_text("report_id", &accepted.report_id, 1, 200)?;
    let accepted_at = Timestamp::from_wire("accepted_at", accepted.accepted_at.as_ref())?;
    if award.met.contains_key(&accepted.report_ref) {
        return Ok(Vec::new());
    }
    let tranche_ids = terms
        .tranches
        .iter()
        .filter(|t| t.required_reports.contains(&accepted.report_ref))
        .map(|t| t.tranche_id.clone())
        .collect();
    Ok(vec![AwardEvent::ReportConditionMet(pb::ReportConditionMet {
        award_id: award.id.to_string(),
        report_ref: accepted.report_ref.clone(),
        report_id: accepted.report_id.clone(),
        kind: accepted.kind,
        accepted_by: accepted.accepted_by.clone(),
        accepted_at: Some(accepted_at.to_wire()),
        tranche_ids,
    })])
}
