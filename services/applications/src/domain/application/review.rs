//! Deciding the review of a submitted application: reviewers assigned, each declaring conflicts of
//! interest before scoring every criterion of the round once.

use std::collections::BTreeSet;

use contracts::applications::v1 as pb;

use super::decide::ExistingApplication;
use super::state::{ApplicationEvent, Reviewer, Status};
use crate::domain::round::RoundData;
use crate::domain::{Rejection, check_text};

pub(super) fn assign_reviewer(
    on: &ExistingApplication<'_>,
    reviewer_subject: String,
) -> Result<Vec<ApplicationEvent>, Rejection> {
    on.app.require_status(&[Status::Submitted], "assign reviewers")?;
    check_text("reviewer_subject", &reviewer_subject, 1, 200)?;
    if on.app.reviewer(&reviewer_subject).is_some() {
        return Err(Rejection::duplicate("reviewer assignment", format!("{reviewer_subject} is assigned already")));
    }
    Ok(vec![ApplicationEvent::ReviewerAssigned(pb::ReviewerAssigned { application_id: on.id(), reviewer_subject })])
}

/// The acting reviewer, who must be assigned: anyone else reads the application as unknown.
fn acting_reviewer<'a>(on: &ExistingApplication<'a>) -> Result<&'a Reviewer, Rejection> {
    on.app.reviewer(&on.actor.subject).ok_or_else(|| Rejection::not_found("application", on.id()))
}

pub(super) fn declare_conflict_of_interest(
    on: &ExistingApplication<'_>,
    has_conflict: bool,
    statement: String,
) -> Result<Vec<ApplicationEvent>, Rejection> {
    let reviewer = acting_reviewer(on)?;
    on.app.require_status(&[Status::Submitted], "declare conflicts of interest")?;
    if reviewer.declaration.is_some() {
        return Err(Rejection::precondition("has_conflict", "the reviewer has declared already"));
    }
    check_text("statement", &statement, usize::from(has_conflict), 2_000)?;
    if !has_conflict && on.app.is_of_organisation_of(on.actor) {
        return Err(Rejection::precondition(
            "has_conflict",
            "must be true: the reviewer belongs to the applying organisation",
        ));
    }
    Ok(vec![ApplicationEvent::ConflictOfInterestDeclared(pb::ConflictOfInterestDeclared {
        application_id: on.id(),
        reviewer_subject: on.actor.subject.clone(),
        has_conflict,
        statement,
        sealed_text: None,
    })])
}

pub(super) fn record_review(
    on: &ExistingApplication<'_>,
    scores: Vec<(String, u32)>,
    recommendation: pb::Recommendation,
    comment: String,
) -> Result<Vec<ApplicationEvent>, Rejection> {
    let reviewer = acting_reviewer(on)?;
    on.app.require_status(&[Status::Submitted], "review it")?;
    check_may_score(on, reviewer)?;
    let total = weighted_total(on.round, &scores)?;
    if recommendation == pb::Recommendation::Unspecified {
        return Err(Rejection::invalid("recommendation", "is required"));
    }
    check_text("comment", &comment, 0, 10_000)?;
    Ok(vec![ApplicationEvent::ReviewRecorded(pb::ReviewRecorded {
        application_id: on.id(),
        reviewer_subject: on.actor.subject.clone(),
        scores: scores.into_iter().map(|(criterion_id, score)| pb::CriterionScore { criterion_id, score }).collect(),
        weighted_total_basis_points: u32::try_from(total).unwrap_or(u32::MAX),
        recommendation: recommendation as i32,
        comment,
        sealed_text: None,
    })])
}

/// A reviewer scores once, after declaring no conflict, and never for their own organisation.
fn check_may_score(on: &ExistingApplication<'_>, reviewer: &Reviewer) -> Result<(), Rejection> {
    let refuse = |why: &str| Err(Rejection::precondition("reviewer", why));
    match &reviewer.declaration {
        None => return refuse("must declare conflicts of interest before scoring"),
        Some((true, _)) => return refuse("has a conflict of interest and cannot score"),
        Some((false, _)) if on.app.is_of_organisation_of(on.actor) => {
            return refuse("belongs to the applying organisation and cannot score");
        }
        Some((false, _)) => {}
    }
    if reviewer.review.is_some() {
        return refuse("has reviewed this application already");
    }
    Ok(())
}

/// Checks that `scores` scores every criterion of the round once, within its range; returns the weighted
/// total in basis points.
fn weighted_total(round: &RoundData, scores: &[(String, u32)]) -> Result<u64, Rejection> {
    let mut seen = BTreeSet::new();
    let mut total: u64 = 0;
    for (i, (criterion_id, score)) in scores.iter().enumerate() {
        let criterion = round.criterion(criterion_id).ok_or_else(|| {
            Rejection::invalid(format!("scores[{i}].criterion_id"), "is not a criterion of the round")
        })?;
        if !seen.insert(criterion_id.as_str()) {
            return Err(Rejection::invalid(format!("scores[{i}].criterion_id"), "is scored twice"));
        }
        if *score > criterion.max_score {
            return Err(Rejection::invalid(
                format!("scores[{i}].score"),
                format!("must be 0 to {}", criterion.max_score),
            ));
        }
        total += u64::from(*score) * u64::from(criterion.weight) * 100 / u64::from(criterion.max_score);
    }
    if let Some(missing) = round.criteria.iter().find(|c| !seen.contains(c.id.as_str())) {
        return Err(Rejection::invalid("scores", format!("must score criterion `{}`", missing.id)));
    }
    Ok(total)
}
