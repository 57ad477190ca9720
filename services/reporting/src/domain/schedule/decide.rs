//! The commands on an award's reporting and the decider that routes each to the function deciding it:
//! a partner submits, a reviewer requests a revision or accepts, safeguarding erases a report's text.

use contracts::common::v1::ErasureReason;
use contracts::values::WireValue;

use contracts::reporting::v1::{self as pb};
use domain_kernel::Timestamp;

use super::state::{ObligationState, ReportingEvent, Review, Schedule, ScheduleData};
use super::submission;
use crate::domain::catalogue::Catalogue;
use crate::domain::identity_guard::{self, GuardContext};
use crate::domain::report::ReportContent;
use crate::domain::{Actor, Rejection, check_text};

/// What a partner submits for an obligation, as decoded from the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    pub report_ref: String,
    pub content: ReportContent,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Submit(Submission),
    RequestRevision {
        report_ref: String,
        reasons: Vec<String>,
    },
    Accept {
        report_ref: String,
    },
    /// A safeguarding erasure of every version's free text (the runtime destroys the key).
    EraseText {
        report_ref: String,
        reason: ErasureReason,
    },
}

/// Who decides, when, and against which catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now: Timestamp,
    pub catalogue: &'a Catalogue,
}

/// Most revision reasons, and most characters of one.
pub const MAX_REASONS: usize = 20;
pub const MAX_REASON: usize = 2_000;

pub(super) fn last_review(o: &ObligationState) -> Option<&Review> {
    o.versions.last().map(|v| &v.review)
}

fn awaiting_review<'a>(schedule: &'a ScheduleData, report_ref: &str) -> Result<&'a ObligationState, Rejection> {
    let o = schedule.obligation(report_ref).ok_or_else(|| Rejection::not_found("obligation", report_ref))?;
    match last_review(o) {
        Some(Review::Awaiting) => Ok(o),
        None => Err(Rejection::precondition("report_ref", format!("the report `{report_ref}` is not submitted"))),
        Some(Review::RevisionRequested { .. }) => Err(Rejection::precondition(
            "report_ref",
            format!("the report `{report_ref}` waits for the partner's revision, not for review"),
        )),
        Some(Review::Accepted { .. }) => {
            Err(Rejection::precondition("report_ref", format!("the report `{report_ref}` is accepted already")))
        }
    }
}

/// Decides a command on an award's reporting.
pub fn handle(state: &Schedule, ctx: Context<'_>, command: Command) -> Result<Vec<ReportingEvent>, Rejection> {
    let schedule = match &state.0 {
        Some(s) if s.visible_to(ctx.actor) => s,
        // Another organisation's award reads as unknown.
        _ => return Err(Rejection::not_found("award reporting schedule", "named in `award_id`")),
    };
    match command {
        Command::Submit(submission) => submission::submit(schedule, ctx, submission),
        Command::RequestRevision { report_ref, reasons } => request_revision(schedule, ctx, report_ref, reasons),
        Command::EraseText { report_ref, reason } => erase_text(schedule, ctx, report_ref, reason),
        Command::Accept { report_ref } => accept(schedule, ctx, report_ref),
    }
}

fn request_revision(
    schedule: &ScheduleData,
    ctx: Context<'_>,
    report_ref: String,
    reasons: Vec<String>,
) -> Result<Vec<ReportingEvent>, Rejection> {
    let o = awaiting_review(schedule, &report_ref)?;
    if reasons.is_empty() || reasons.len() > MAX_REASONS {
        return Err(Rejection::invalid("reasons", format!("must hold 1 to {MAX_REASONS} reasons")));
    }
    let guard = GuardContext { reference_year: o.terms.period_start.year };
    for (i, reason) in reasons.iter().enumerate() {
        let field = format!("reasons[{i}]");
        check_text(&field, reason, 1, MAX_REASON)?;
        identity_guard::check(&field, reason, guard)?;
    }
    Ok(vec![ReportingEvent::RevisionRequested(pb::RevisionRequested {
        report_id: o.terms.report_id.to_string(),
        award_id: schedule.award_id.to_string(),
        report_ref,
        version: o.versions.len() as u32,
        reasons,
        requested_by: ctx.actor.subject.clone(),
        requested_at: Some(ctx.now.to_wire()),
        sealed_text: None,
    })])
}

fn erase_text(
    schedule: &ScheduleData,
    ctx: Context<'_>,
    report_ref: String,
    reason: ErasureReason,
) -> Result<Vec<ReportingEvent>, Rejection> {
    let o = schedule.obligation(&report_ref).ok_or_else(|| Rejection::not_found("obligation", &report_ref))?;
    if o.versions.is_empty() {
        return Err(Rejection::not_found("report", format!("of `{report_ref}` (none was submitted)")));
    }
    Ok(vec![ReportingEvent::TextErased(pb::ReportTextErased {
        report_id: o.terms.report_id.to_string(),
        award_id: schedule.award_id.to_string(),
        report_ref,
        reason: reason as i32,
        erased_by: ctx.actor.subject.clone(),
    })])
}

fn accept(schedule: &ScheduleData, ctx: Context<'_>, report_ref: String) -> Result<Vec<ReportingEvent>, Rejection> {
    let o = awaiting_review(schedule, &report_ref)?;
    Ok(vec![ReportingEvent::Accepted(pb::ReportAccepted {
        report_id: o.terms.report_id.to_string(),
        award_id: schedule.award_id.to_string(),
        report_ref,
        kind: o.terms.kind as i32,
        period_start: Some(o.terms.period_start.to_wire()),
        period_end: Some(o.terms.period_end.to_wire()),
        organisation_id: schedule.organisation_id.to_string(),
        accepted_by: ctx.actor.subject.clone(),
        accepted_at: Some(ctx.now.to_wire()),
    })])
}
