//! The commands on an application and the decider that routes each to the function deciding it.

use contracts::applications::v1 as pb;
use contracts::common::v1::ErasureReason;
use domain_kernel::{Money, Timestamp};

use super::content::Content;
use super::state::{Application, ApplicationData, ApplicationEvent};
use super::{decision, review, submission};
use crate::domain::round::RoundData;
use crate::domain::{Actor, ApplicationId, OrganisationId, Rejection, Role};

#[derive(Clone, Debug)]
pub enum ApplicationCommand {
    Draft {
        application_id: ApplicationId,
        organisation_registered: bool,
        content: Content,
    },
    Edit {
        content: Content,
    },
    Submit,
    Withdraw {
        reason: String,
    },
    AssignReviewer {
        reviewer_subject: String,
    },
    DeclareConflictOfInterest {
        has_conflict: bool,
        statement: String,
    },
    RecordReview {
        scores: Vec<(String, u32)>,
        recommendation: pb::Recommendation,
        comment: String,
    },
    /// `round_approved_total`: the sum already approved in the round (from the index, under its lock).
    Approve {
        approved_amount: Money,
        reasons: Vec<String>,
        round_approved_total: Money,
    },
    Reject {
        reasons: Vec<String>,
    },
    /// A safeguarding erasure of the application's free text (the runtime destroys the key).
    EraseText {
        reason: ErasureReason,
    },
}

/// What a command is decided against besides the application itself.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now: Timestamp,
    /// The application's round (for a draft: the round named in the request); `None` if unknown.
    pub round: Option<&'a RoundData>,
}

/// Decides an application command.
pub fn handle(
    state: &Application,
    ctx: Context<'_>,
    command: ApplicationCommand,
) -> Result<Vec<ApplicationEvent>, Rejection> {
    let ApplicationCommand::Draft { application_id, organisation_registered, content } = command else {
        return handle_existing(state, ctx, command);
    };
    if state.0.is_some() {
        return Err(Rejection::duplicate("application", application_id.to_string()));
    }
    draft(ctx, application_id, organisation_registered, content)
}

fn draft(
    ctx: Context<'_>,
    application_id: ApplicationId,
    organisation_registered: bool,
    content: Content,
) -> Result<Vec<ApplicationEvent>, Rejection> {
    let organisation = match (ctx.actor.role, ctx.actor.organisation.as_deref()) {
        (Role::Partner, Some(org)) => OrganisationId::parse("org", org)?,
        _ => return Err(Rejection::NotAllowed("only a partner organisation drafts applications".into())),
    };
    if !organisation_registered {
        return Err(Rejection::precondition(
            "organisation",
            format!("organisation {organisation} must be registered before it applies"),
        ));
    }
    let round = ctx.round.ok_or_else(|| Rejection::not_found("round", "named in `round_id`"))?;
    if round.closed || ctx.now >= round.closes_at {
        return Err(Rejection::precondition("round_id", "round is closed to new applications"));
    }
    content.check_limits()?;
    Ok(vec![ApplicationEvent::Drafted(pb::ApplicationDrafted {
        application_id: application_id.to_string(),
        round_id: round.id.to_string(),
        organisation_id: organisation.to_string(),
        content: Some(content.to_wire()),
        sealed_text: None,
    })])
}

/// An application that exists and that `ctx.actor` may see, with its round.
pub(super) struct ExistingApplication<'a> {
    pub app: &'a ApplicationData,
    pub round: &'a RoundData,
    pub actor: &'a Actor,
    pub now: Timestamp,
}

impl ExistingApplication<'_> {
    pub fn id(&self) -> String {
        self.app.id.to_string()
    }
}

fn handle_existing(
    state: &Application,
    ctx: Context<'_>,
    command: ApplicationCommand,
) -> Result<Vec<ApplicationEvent>, Rejection> {
    let app = match &state.0 {
        Some(app) if app.visible_to(ctx.actor) => app,
        // Another organisation's application reads as unknown.
        _ => return Err(Rejection::not_found("application", "named in `application_id`")),
    };
    let round = ctx.round.ok_or_else(|| Rejection::not_found("round", app.round_id))?;
    let on = ExistingApplication { app, round, actor: ctx.actor, now: ctx.now };
    match command {
        ApplicationCommand::Draft { .. } => Err(Rejection::duplicate("application", on.id())),
        ApplicationCommand::Edit { content } => submission::edit(&on, content),
        ApplicationCommand::Submit => submission::submit(&on),
        ApplicationCommand::Withdraw { reason } => submission::withdraw(&on, reason),
        ApplicationCommand::AssignReviewer { reviewer_subject } => review::assign_reviewer(&on, reviewer_subject),
        ApplicationCommand::DeclareConflictOfInterest { has_conflict, statement } => {
            review::declare_conflict_of_interest(&on, has_conflict, statement)
        }
        ApplicationCommand::RecordReview { scores, recommendation, comment } => {
            review::record_review(&on, scores, recommendation, comment)
        }
        ApplicationCommand::Approve { approved_amount, reasons, round_approved_total } => {
            decision::approve(&on, approved_amount, reasons, round_approved_total)
        }
        ApplicationCommand::Reject { reasons } => decision::reject(&on, reasons),
        ApplicationCommand::EraseText { reason } => Ok(vec![ApplicationEvent::TextErased(pb::ApplicationTextErased {
            application_id: on.id(),
            reason: reason as i32,
            erased_by: ctx.actor.subject.clone(),
        })]),
    }
}
