//! Folding an application's events into its state. Each event's protobuf values are read into domain
//! values here, once; an event whose values do not read is an error naming the value, never skipped.

use contracts::applications::v1 as pb;
use contracts::values::{WireError, WireValue};
use domain_kernel::{Money, Timestamp};

use super::content::Content;
use super::state::{Application, ApplicationData, ApplicationEvent, Decision, Review, Reviewer, Status};
use crate::domain::{ApplicationId, OrganisationId, RoundId};

/// Folds an event into the application. Events of an application not yet drafted change nothing.
pub fn apply(state: Application, event: &ApplicationEvent) -> Result<Application, WireError> {
    if let ApplicationEvent::Drafted(e) = event {
        return Ok(Application(Some(drafted(e)?)));
    }
    let mut state = state;
    let Some(app) = state.0.as_mut() else { return Ok(state) };
    match event {
        ApplicationEvent::Drafted(_) => {}
        ApplicationEvent::Edited(e) => app.content = Content::from_wire("content", e.content.as_ref())?,
        ApplicationEvent::Submitted(e) => {
            app.status = Status::Submitted;
            app.content = Content::from_wire("content", e.content.as_ref())?;
            app.submitted_at = Some(Timestamp::from_wire("submitted_at", e.submitted_at.as_ref())?);
        }
        ApplicationEvent::Withdrawn(e) => {
            app.status = Status::Withdrawn;
            app.withdrawal_reason = e.reason.clone();
        }
        ApplicationEvent::ReviewerAssigned(e) => {
            app.reviewers.push(Reviewer { subject: e.reviewer_subject.clone(), declaration: None, review: None })
        }
        ApplicationEvent::ConflictOfInterestDeclared(e) => {
            if let Some(r) = app.reviewers.iter_mut().find(|r| r.subject == e.reviewer_subject) {
                r.declaration = Some((e.has_conflict, e.statement.clone()));
            }
        }
        ApplicationEvent::ReviewRecorded(e) => {
            let review = review(e)?;
            if let Some(r) = app.reviewers.iter_mut().find(|r| r.subject == e.reviewer_subject) {
                r.review = Some(review);
            }
        }
        ApplicationEvent::Approved(e) => {
            app.status = Status::Approved;
            app.decision = Some(Decision {
                approved: true,
                approved_amount: Some(Money::from_wire("approved_amount", e.approved_amount.as_ref())?),
                reasons: e.reasons.clone(),
                decided_by: e.decided_by.clone(),
            });
        }
        ApplicationEvent::Rejected(e) => {
            app.status = Status::Rejected;
            app.decision = Some(Decision {
                approved: false,
                approved_amount: None,
                reasons: e.reasons.clone(),
                decided_by: e.decided_by.clone(),
            });
        }
        // What was erased reads as erased when the stream is loaded; the application itself does not change.
        ApplicationEvent::TextErased(_) => {}
    }
    Ok(state)
}

fn drafted(e: &pb::ApplicationDrafted) -> Result<ApplicationData, WireError> {
    Ok(ApplicationData {
        id: ApplicationId::parse("application_id", &e.application_id)?,
        round_id: RoundId::parse("round_id", &e.round_id)?,
        organisation_id: OrganisationId::parse("organisation_id", &e.organisation_id)?,
        status: Status::Draft,
        content: Content::from_wire("content", e.content.as_ref())?,
        submitted_at: None,
        reviewers: Vec::new(),
        decision: None,
        withdrawal_reason: String::new(),
    })
}

fn review(e: &pb::ReviewRecorded) -> Result<Review, WireError> {
    let recommendation = match pb::Recommendation::try_from(e.recommendation) {
        Ok(pb::Recommendation::Unspecified) | Err(_) => {
            return Err(WireError::new("recommendation", "must be a known recommendation"));
        }
        Ok(recommendation) => recommendation,
    };
    Ok(Review {
        scores: e.scores.iter().map(|s| (s.criterion_id.clone(), s.score)).collect(),
        weighted_total_basis_points: e.weighted_total_basis_points,
        recommendation,
        comment: e.comment.clone(),
    })
}
