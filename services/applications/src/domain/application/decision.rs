//! Deciding a reviewed application: approved within what was requested and the round's remaining ceiling,
//! or rejected with reasons; either only after the round's required reviews.

use contracts::applications::v1 as pb;
use contracts::values::WireValue;
use domain_kernel::Money;

use super::decide::ExistingApplication;
use super::state::{ApplicationData, ApplicationEvent, Status};
use crate::domain::round::RoundData;
use crate::domain::{Rejection, check_count, check_text};

pub(super) fn approve(
    on: &ExistingApplication<'_>,
    approved_amount: Money,
    reasons: Vec<String>,
    round_approved_total: Money,
) -> Result<Vec<ApplicationEvent>, Rejection> {
    let (app, round) = (on.app, on.round);
    app.require_status(&[Status::Submitted], "decide it")?;
    check_reviews(app, round)?;
    if !approved_amount.is_positive() {
        return Err(Rejection::invalid("approved_amount.minor_units", "must be positive"));
    }
    if approved_amount.currency != round.currency() {
        return Err(Rejection::invalid(
            "approved_amount.currency",
            format!("must be the round's currency {}", round.currency()),
        ));
    }
    check_reasons(&reasons, 0)?;
    let requested = app.content.requested_amount.unwrap_or(Money::zero(round.currency()));
    if approved_amount.minor_units > requested.minor_units {
        return Err(Rejection::precondition(
            "approved_amount",
            format!("must be at most the amount requested ({})", requested.minor_units),
        ));
    }
    let remaining = round.budget_ceiling.minor_units - round_approved_total.minor_units;
    if approved_amount.minor_units > remaining {
        return Err(Rejection::precondition(
            "approved_amount",
            format!("must be within the round's remaining ceiling ({remaining})"),
        ));
    }
    let reviews = app.completed_reviews();
    let average =
        reviews.iter().map(|r| u64::from(r.weighted_total_basis_points)).sum::<u64>() / reviews.len().max(1) as u64;
    Ok(vec![ApplicationEvent::Approved(pb::ApplicationApproved {
        application_id: on.id(),
        round_id: app.round_id.to_string(),
        organisation_id: app.organisation_id.to_string(),
        approved_amount: Some(approved_amount.to_wire()),
        requested_amount: Some(requested.to_wire()),
        reasons,
        decided_by: on.actor.subject.clone(),
        average_score_basis_points: u32::try_from(average).unwrap_or(u32::MAX),
        title: app.content.title.clone(),
        countries: app.content.countries.iter().map(|c| c.as_str().to_owned()).collect(),
        services_offered: app.content.services_offered.iter().map(|s| *s as i32).collect(),
        budget_lines: app.content.to_wire().budget_lines,
        sealed_text: None,
    })])
}

pub(super) fn reject(on: &ExistingApplication<'_>, reasons: Vec<String>) -> Result<Vec<ApplicationEvent>, Rejection> {
    let app = on.app;
    app.require_status(&[Status::Submitted], "decide it")?;
    check_reviews(app, on.round)?;
    check_reasons(&reasons, 1)?;
    Ok(vec![ApplicationEvent::Rejected(pb::ApplicationRejected {
        application_id: on.id(),
        round_id: app.round_id.to_string(),
        organisation_id: app.organisation_id.to_string(),
        reasons,
        decided_by: on.actor.subject.clone(),
        sealed_text: None,
    })])
}

fn check_reasons(reasons: &[String], min: usize) -> Result<(), Rejection> {
    check_count("reasons", reasons.len(), min, 20)?;
    for (i, reason) in reasons.iter().enumerate() {
        check_text(&format!("reasons[{i}]"), reason, 1, 2_000)?;
    }
    Ok(())
}

fn check_reviews(app: &ApplicationData, round: &RoundData) -> Result<(), Rejection> {
    let done = app.completed_reviews().len();
    if done < round.required_reviews as usize {
        return Err(Rejection::precondition(
            "reviews",
            format!(
                "the round requires {} completed reviews before a decision, the application has {done}",
                round.required_reviews
            ),
        ));
    }
    Ok(())
}
