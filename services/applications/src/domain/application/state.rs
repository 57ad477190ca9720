//! What an application is, as folded from its events: status, content, reviewers with their declarations
//! and reviews, and the decision, all as domain values.

use contracts::applications::v1 as pb;
use domain_kernel::{LifecycleStatus, Money, Timestamp, require_status};

use super::content::Content;
use crate::domain::{Actor, ApplicationId, OrganisationId, Rejection, Role, RoundId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Draft,
    Submitted,
    Withdrawn,
    Approved,
    Rejected,
}

impl Status {
    pub fn to_wire(self) -> pb::ApplicationStatus {
        match self {
            Status::Draft => pb::ApplicationStatus::Draft,
            Status::Submitted => pb::ApplicationStatus::Submitted,
            Status::Withdrawn => pb::ApplicationStatus::Withdrawn,
            Status::Approved => pb::ApplicationStatus::Approved,
            Status::Rejected => pb::ApplicationStatus::Rejected,
        }
    }
}

impl LifecycleStatus for Status {
    fn name(self) -> &'static str {
        match self {
            Status::Draft => "DRAFT",
            Status::Submitted => "SUBMITTED",
            Status::Withdrawn => "WITHDRAWN",
            Status::Approved => "APPROVED",
            Status::Rejected => "REJECTED",
        }
    }
}

/// A reviewer's scores and recommendation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// Score per criterion id, in the order given.
    pub scores: Vec<(String, u32)>,
    pub weighted_total_basis_points: u32,
    pub recommendation: pb::Recommendation,
    pub comment: String,
}

impl Review {
    pub fn to_wire(&self) -> pb::Review {
        pb::Review {
            scores: self
                .scores
                .iter()
                .map(|(criterion_id, score)| pb::CriterionScore { criterion_id: criterion_id.clone(), score: *score })
                .collect(),
            weighted_total_basis_points: self.weighted_total_basis_points,
            recommendation: self.recommendation as i32,
            comment: self.comment.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reviewer {
    pub subject: String,
    /// `Some((has_conflict, statement))` once declared.
    pub declaration: Option<(bool, String)>,
    pub review: Option<Review>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub approved: bool,
    pub approved_amount: Option<Money>,
    pub reasons: Vec<String>,
    pub decided_by: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApplicationData {
    pub id: ApplicationId,
    pub round_id: RoundId,
    pub organisation_id: OrganisationId,
    pub status: Status,
    pub content: Content,
    pub submitted_at: Option<Timestamp>,
    pub reviewers: Vec<Reviewer>,
    pub decision: Option<Decision>,
    pub withdrawal_reason: String,
}

impl ApplicationData {
    /// Reviews by reviewers without a conflict.
    pub fn completed_reviews(&self) -> Vec<&Review> {
        self.reviewers.iter().filter_map(|r| r.review.as_ref()).collect()
    }

    pub fn reviewer(&self, subject: &str) -> Option<&Reviewer> {
        self.reviewers.iter().find(|r| r.subject == subject)
    }

    /// Whether `actor` may see this application: staff always, partners their own organisation's,
    /// reviewers those assigned to them.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        match actor.role {
            Role::Partner => self.is_of_organisation_of(actor),
            Role::Reviewer => self.reviewer(&actor.subject).is_some(),
            _ => true,
        }
    }

    /// Whether `actor` belongs to the applying organisation.
    pub(super) fn is_of_organisation_of(&self, actor: &Actor) -> bool {
        actor.organisation.as_deref() == Some(self.organisation_id.to_string().as_str())
    }

    /// Refuses a command unless the application is in one of the `allowed` statuses; `action` says what was
    /// tried.
    pub(super) fn require_status(&self, allowed: &[Status], action: &str) -> Result<(), Rejection> {
        require_status("application", self.status, allowed, action)
    }
}

/// An application's state: `None` until drafted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Application(pub Option<ApplicationData>);

#[derive(Clone, Debug, PartialEq)]
pub enum ApplicationEvent {
    Drafted(pb::ApplicationDrafted),
    Edited(pb::ApplicationEdited),
    Submitted(pb::ApplicationSubmitted),
    Withdrawn(pb::ApplicationWithdrawn),
    ReviewerAssigned(pb::ReviewerAssigned),
    ConflictOfInterestDeclared(pb::ConflictOfInterestDeclared),
    ReviewRecorded(pb::ReviewRecorded),
    Approved(pb::ApplicationApproved),
    Rejected(pb::ApplicationRejected),
    TextErased(pb::ApplicationTextErased),
}
