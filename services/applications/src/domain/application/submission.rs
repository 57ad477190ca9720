//! Deciding an applicant's own commands on a drafted application: edit, submit, withdraw.

use contracts::applications::v1 as pb;
use contracts::values::WireValue;

use super::content::Content;
use super::decide::ExistingApplication;
use super::state::{ApplicationEvent, Status};
use crate::domain::{Rejection, check_text};

pub(super) fn edit(on: &ExistingApplication<'_>, content: Content) -> Result<Vec<ApplicationEvent>, Rejection> {
    on.app.require_status(&[Status::Draft], "edit it")?;
    content.check_limits()?;
    Ok(vec![ApplicationEvent::Edited(pb::ApplicationEdited {
        application_id: on.id(),
        content: Some(content.to_wire()),
        sealed_text: None,
    })])
}

/// Submits a complete draft while its round accepts submissions.
pub(super) fn submit(on: &ExistingApplication<'_>) -> Result<Vec<ApplicationEvent>, Rejection> {
    let app = on.app;
    app.require_status(&[Status::Draft], "submit it")?;
    if !on.round.accepts_submissions(on.now) {
        return Err(Rejection::precondition("round", "round is not open for submissions now"));
    }
    app.content.check_complete(on.round)?;
    Ok(vec![ApplicationEvent::Submitted(pb::ApplicationSubmitted {
        application_id: on.id(),
        round_id: app.round_id.to_string(),
        organisation_id: app.organisation_id.to_string(),
        content: Some(app.content.to_wire()),
        submitted_at: Some(on.now.to_wire()),
        sealed_text: None,
    })])
}

pub(super) fn withdraw(on: &ExistingApplication<'_>, reason: String) -> Result<Vec<ApplicationEvent>, Rejection> {
    let app = on.app;
    app.require_status(&[Status::Draft, Status::Submitted], "withdraw it")?;
    check_text("reason", &reason, 0, 2_000)?;
    Ok(vec![ApplicationEvent::Withdrawn(pb::ApplicationWithdrawn {
        application_id: on.id(),
        round_id: app.round_id.to_string(),
        organisation_id: app.organisation_id.to_string(),
        reason,
        sealed_text: None,
    })])
}
