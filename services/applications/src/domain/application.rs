//! Applications: drafted, edited, submitted, withdrawn; reviewed; approved or rejected.

use contracts::common::v1::ErasureReason;
use std::collections::BTreeSet;

use contracts::applications::v1 as pb;
use contracts::values::{OptionalWireValue, WireError, WireValue};
use domain_kernel::{Country, Money, Timestamp};

use super::round::RoundData;
use super::{Actor, ApplicationId, OrganisationId, Rejection, Role, RoundId, check_count, check_text};

/// What an applicant writes (all optional while drafting).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Content {
    pub title: String,
    pub summary: String,
    pub requested_amount: Option<Money>,
    pub budget_lines: Vec<(String, Money)>,
    pub countries: Vec<Country>,
    pub services_offered: Vec<pb::ServiceType>,
    pub target_groups: Vec<String>,
}

impl Content {
    /// Reads content from the wire; `field` is the path of the content field (e.g. `content`).
    pub fn from_wire(field: &str, c: Option<&pb::ApplicationContent>) -> Result<Content, WireError> {
        let Some(c) = c else { return Ok(Content::default()) };
        let mut budget_lines = Vec::with_capacity(c.budget_lines.len());
        for (i, line) in c.budget_lines.iter().enumerate() {
            let amount = Money::from_wire(&format!("{field}.budget_lines[{i}].amount"), line.amount.as_ref())?;
            budget_lines.push((line.description.clone(), amount));
        }
        let mut countries = Vec::with_capacity(c.countries.len());
        for (i, country) in c.countries.iter().enumerate() {
            countries.push(Country::parse(&format!("{field}.countries[{i}]"), country)?);
        }
        let mut services_offered = Vec::with_capacity(c.services_offered.len());
        for (i, s) in c.services_offered.iter().enumerate() {
            match pb::ServiceType::try_from(*s) {
                Ok(pb::ServiceType::Unspecified) | Err(_) => {
                    return Err(WireError::new(
                        format!("{field}.services_offered[{i}]"),
                        "must be a known service type",
                    ));
                }
                Ok(service) => services_offered.push(service),
            }
        }
        Ok(Content {
            title: c.title.clone(),
            summary: c.summary.clone(),
            requested_amount: Money::from_wire_optional(
                &format!("{field}.requested_amount"),
                c.requested_amount.as_ref(),
            )?,
            budget_lines,
            countries,
            services_offered,
            target_groups: c.target_groups.clone(),
        })
    }

    pub fn to_wire(&self) -> pb::ApplicationContent {
        pb::ApplicationContent {
            title: self.title.clone(),
            summary: self.summary.clone(),
            requested_amount: self.requested_amount.map(Money::to_wire),
            budget_lines: self
                .budget_lines
                .iter()
                .map(|(description, amount)| pb::BudgetLine {
                    description: description.clone(),
                    amount: Some(amount.to_wire()),
                })
                .collect(),
            countries: self.countries.iter().map(|c| c.as_str().to_owned()).collect(),
            services_offered: self.services_offered.iter().map(|s| *s as i32).collect(),
            target_groups: self.target_groups.clone(),
        }
    }

    /// Limits that hold even for drafts.
    fn check_limits(&self) -> Result<(), Rejection> {
        check_text("content.title", &self.title, 0, 200)?;
        check_text("content.summary", &self.summary, 0, 10_000)?;
        check_count("content.budget_lines", self.budget_lines.len(), 0, 100)?;
        for (i, (description, _)) in self.budget_lines.iter().enumerate() {
            check_text(&format!("content.budget_lines[{i}].description"), description, 1, 200)?;
        }
        check_count("content.countries", self.countries.len(), 0, 30)?;
        let services: BTreeSet<i32> = self.services_offered.iter().map(|s| *s as i32).collect();
        if services.len() != self.services_offered.len() {
            return Err(Rejection::invalid("content.services_offered", "must not hold duplicates"));
        }
        check_count("content.target_groups", self.target_groups.len(), 0, 20)?;
        for (i, group) in self.target_groups.iter().enumerate() {
            check_text(&format!("content.target_groups[{i}]"), group, 1, 200)?;
        }
        Ok(())
    }

    /// Rules for submission into `round`. Missing or ineligible content is a precondition failure: the
    /// draft itself was valid, it is not ready.
    fn check_complete(&self, round: &RoundData) -> Result<(), Rejection> {
        let missing = |field: &str| Rejection::precondition(field, "is required to submit");
        if self.title.is_empty() {
            return Err(missing("content.title"));
        }
        if self.summary.is_empty() {
            return Err(missing("content.summary"));
        }
        let amount = self.requested_amount.ok_or_else(|| missing("content.requested_amount"))?;
        if !amount.is_positive() {
            return Err(Rejection::precondition("content.requested_amount", "must be positive"));
        }
        if amount.currency != round.currency() {
            return Err(Rejection::precondition(
                "content.requested_amount.currency",
                format!("must be the round's currency {}", round.currency()),
            ));
        }
        if amount.minor_units > round.budget_ceiling.minor_units {
            return Err(Rejection::precondition(
                "content.requested_amount",
                format!("must be within the round's ceiling of {}", round.budget_ceiling.minor_units),
            ));
        }
        if self.budget_lines.is_empty() {
            return Err(missing("content.budget_lines"));
        }
        let mut sum = Money::zero(round.currency());
        for (i, (_, line)) in self.budget_lines.iter().enumerate() {
            if line.currency != round.currency() || !line.is_positive() {
                return Err(Rejection::precondition(
                    format!("content.budget_lines[{i}].amount"),
                    format!("must be positive and in {}", round.currency()),
                ));
            }
            sum = sum
                .checked_add(*line)
                .ok_or_else(|| Rejection::precondition("content.budget_lines", "sum overflows"))?;
        }
        if sum != amount {
            return Err(Rejection::precondition(
                "content.budget_lines",
                format!("must sum to the requested amount {}, they sum to {}", amount.minor_units, sum.minor_units),
            ));
        }
        if self.countries.is_empty() {
            return Err(missing("content.countries"));
        }
        if let Some((i, c)) = self.countries.iter().enumerate().find(|(_, c)| !round.eligible_countries.contains(c)) {
            return Err(Rejection::precondition(
                format!("content.countries[{i}]"),
                format!("{c} is not eligible in the round"),
            ));
        }
        if self.services_offered.is_empty() {
            return Err(missing("content.services_offered"));
        }
        if self.target_groups.is_empty() {
            return Err(missing("content.target_groups"));
        }
        Ok(())
    }
}

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

#[derive(Clone, Debug, PartialEq)]
pub struct Reviewer {
    pub subject: String,
    /// `Some((has_conflict, statement))` once declared.
    pub declaration: Option<(bool, String)>,
    pub review: Option<pb::ReviewRecorded>,
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
    pub fn completed_reviews(&self) -> Vec<&pb::ReviewRecorded> {
        self.reviewers.iter().filter_map(|r| r.review.as_ref()).collect()
    }

    pub fn reviewer(&self, subject: &str) -> Option<&Reviewer> {
        self.reviewers.iter().find(|r| r.subject == subject)
    }

    /// Whether `actor` may see this application: staff always, partners their own organisation's,
    /// reviewers those assigned to them.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        match actor.role {
            Role::Partner => actor.organisation.as_deref() == Some(self.organisation_id.to_string().as_str()),
            Role::Reviewer => self.reviewer(&actor.subject).is_some(),
            _ => true,
        }
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

fn check_reasons(reasons: &[String], min: usize) -> Result<(), Rejection> {
    check_count("reasons", reasons.len(), min, 20)?;
    for (i, reason) in reasons.iter().enumerate() {
        check_text(&format!("reasons[{i}]"), reason, 1, 2_000)?;
    }
    Ok(())
}

fn require_status(app: &ApplicationData, allowed: &[Status], action: &str) -> Result<(), Rejection> {
    if allowed.contains(&app.status) {
        return Ok(());
    }
    let names: Vec<_> = allowed.iter().map(|s| s.name()).collect();
    Err(Rejection::precondition(
        "status",
        format!("must be {} to {action}, the application is {}", names.join(" or "), app.status.name()),
    ))
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
    let id = app.id.to_string();
    let round = ctx.round.ok_or_else(|| Rejection::not_found("round", app.round_id))?;
    match command {
        ApplicationCommand::Draft { .. } => Err(Rejection::duplicate("application", id)),
        ApplicationCommand::Edit { content } => {
            require_status(app, &[Status::Draft], "edit it")?;
            content.check_limits()?;
            Ok(vec![ApplicationEvent::Edited(pb::ApplicationEdited {
                application_id: id,
                content: Some(content.to_wire()),
                sealed_text: None,
            })])
        }
        ApplicationCommand::Submit => {
            require_status(app, &[Status::Draft], "submit it")?;
            if !round.accepts_submissions(ctx.now) {
                return Err(Rejection::precondition("round", "round is not open for submissions now"));
            }
            app.content.check_complete(round)?;
            Ok(vec![ApplicationEvent::Submitted(pb::ApplicationSubmitted {
                application_id: id,
                round_id: app.round_id.to_string(),
                organisation_id: app.organisation_id.to_string(),
                content: Some(app.content.to_wire()),
                submitted_at: Some(ctx.now.to_wire()),
                sealed_text: None,
            })])
        }
        ApplicationCommand::Withdraw { reason } => {
            require_status(app, &[Status::Draft, Status::Submitted], "withdraw it")?;
            check_text("reason", &reason, 0, 2_000)?;
            Ok(vec![ApplicationEvent::Withdrawn(pb::ApplicationWithdrawn {
                application_id: id,
                round_id: app.round_id.to_string(),
                organisation_id: app.organisation_id.to_string(),
                reason,
                sealed_text: None,
            })])
        }
        ApplicationCommand::AssignReviewer { reviewer_subject } => {
            require_status(app, &[Status::Submitted], "assign reviewers")?;
            check_text("reviewer_subject", &reviewer_subject, 1, 200)?;
            if app.reviewer(&reviewer_subject).is_some() {
                return Err(Rejection::duplicate(
                    "reviewer assignment",
                    format!("{reviewer_subject} is assigned already"),
                ));
            }
            Ok(vec![ApplicationEvent::ReviewerAssigned(pb::ReviewerAssigned { application_id: id, reviewer_subject })])
        }
        ApplicationCommand::DeclareConflictOfInterest { has_conflict, statement } => {
            let reviewer = app.reviewer(&ctx.actor.subject).ok_or_else(|| Rejection::not_found("application", &id))?;
            require_status(app, &[Status::Submitted], "declare conflicts of interest")?;
            if reviewer.declaration.is_some() {
                return Err(Rejection::precondition("has_conflict", "the reviewer has declared already"));
            }
            check_text("statement", &statement, usize::from(has_conflict), 2_000)?;
            if !has_conflict && same_organisation(ctx.actor, app) {
                return Err(Rejection::precondition(
                    "has_conflict",
                    "must be true: the reviewer belongs to the applying organisation",
                ));
            }
            Ok(vec![ApplicationEvent::ConflictOfInterestDeclared(pb::ConflictOfInterestDeclared {
                application_id: id,
                reviewer_subject: ctx.actor.subject.clone(),
                has_conflict,
                statement,
                sealed_text: None,
            })])
        }
        ApplicationCommand::RecordReview { scores, recommendation, comment } => {
            let reviewer = app.reviewer(&ctx.actor.subject).ok_or_else(|| Rejection::not_found("application", &id))?;
            require_status(app, &[Status::Submitted], "review it")?;
            match &reviewer.declaration {
                None => {
                    return Err(Rejection::precondition(
                        "reviewer",
                        "must declare conflicts of interest before scoring",
                    ));
                }
                Some((true, _)) => {
                    return Err(Rejection::precondition("reviewer", "has a conflict of interest and cannot score"));
                }
                Some((false, _)) if same_organisation(ctx.actor, app) => {
                    return Err(Rejection::precondition(
                        "reviewer",
                        "belongs to the applying organisation and cannot score",
                    ));
                }
                Some((false, _)) => {}
            }
            if reviewer.review.is_some() {
                return Err(Rejection::precondition("reviewer", "has reviewed this application already"));
            }
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
            if recommendation == pb::Recommendation::Unspecified {
                return Err(Rejection::invalid("recommendation", "is required"));
            }
            check_text("comment", &comment, 0, 10_000)?;
            Ok(vec![ApplicationEvent::ReviewRecorded(pb::ReviewRecorded {
                application_id: id,
                reviewer_subject: ctx.actor.subject.clone(),
                scores: scores
                    .into_iter()
                    .map(|(criterion_id, score)| pb::CriterionScore { criterion_id, score })
                    .collect(),
                weighted_total_basis_points: u32::try_from(total).unwrap_or(u32::MAX),
                recommendation: recommendation as i32,
                comment,
                sealed_text: None,
            })])
        }
        ApplicationCommand::Approve { approved_amount, reasons, round_approved_total } => {
            require_status(app, &[Status::Submitted], "decide it")?;
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
            let average = reviews.iter().map(|r| u64::from(r.weighted_total_basis_points)).sum::<u64>()
                / reviews.len().max(1) as u64;
            Ok(vec![ApplicationEvent::Approved(pb::ApplicationApproved {
                application_id: id,
                round_id: app.round_id.to_string(),
                organisation_id: app.organisation_id.to_string(),
                approved_amount: Some(approved_amount.to_wire()),
                requested_amount: Some(requested.to_wire()),
                reasons,
                decided_by: ctx.actor.subject.clone(),
                average_score_basis_points: u32::try_from(average).unwrap_or(u32::MAX),
                title: app.content.title.clone(),
                countries: app.content.countries.iter().map(|c| c.as_str().to_owned()).collect(),
                services_offered: app.content.services_offered.iter().map(|s| *s as i32).collect(),
                budget_lines: app.content.to_wire().budget_lines,
                sealed_text: None,
            })])
        }
        ApplicationCommand::Reject { reasons } => {
            require_status(app, &[Status::Submitted], "decide it")?;
            check_reviews(app, round)?;
            check_reasons(&reasons, 1)?;
            Ok(vec![ApplicationEvent::Rejected(pb::ApplicationRejected {
                application_id: id,
                round_id: app.round_id.to_string(),
                organisation_id: app.organisation_id.to_string(),
                reasons,
                decided_by: ctx.actor.subject.clone(),
                sealed_text: None,
            })])
        }
        ApplicationCommand::EraseText { reason } => Ok(vec![ApplicationEvent::TextErased(pb::ApplicationTextErased {
            application_id: id,
            reason: reason as i32,
            erased_by: ctx.actor.subject.clone(),
        })]),
    }
}

fn same_organisation(actor: &Actor, app: &ApplicationData) -> bool {
    actor.organisation.as_deref() == Some(app.organisation_id.to_string().as_str())
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

/// Applies an event (see `round::apply` on values that do not parse).
pub fn apply(state: Application, event: &ApplicationEvent) -> Application {
    let content = |c: Option<&pb::ApplicationContent>| Content::from_wire("content", c).unwrap_or_default();
    let mut state = state;
    if let ApplicationEvent::Drafted(e) = event {
        let (Ok(id), Ok(round_id), Ok(organisation_id)) = (
            ApplicationId::parse("", &e.application_id),
            RoundId::parse("", &e.round_id),
            OrganisationId::parse("", &e.organisation_id),
        ) else {
            return state;
        };
        return Application(Some(ApplicationData {
            id,
            round_id,
            organisation_id,
            status: Status::Draft,
            content: content(e.content.as_ref()),
            submitted_at: None,
            reviewers: Vec::new(),
            decision: None,
            withdrawal_reason: String::new(),
        }));
    }
    let Some(app) = state.0.as_mut() else { return state };
    match event {
        ApplicationEvent::Drafted(_) => {}
        ApplicationEvent::Edited(e) => app.content = content(e.content.as_ref()),
        ApplicationEvent::Submitted(e) => {
            app.status = Status::Submitted;
            app.content = content(e.content.as_ref());
            app.submitted_at = Timestamp::from_wire("", e.submitted_at.as_ref()).ok();
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
            if let Some(r) = app.reviewers.iter_mut().find(|r| r.subject == e.reviewer_subject) {
                r.review = Some(e.clone());
            }
        }
        ApplicationEvent::Approved(e) => {
            app.status = Status::Approved;
            app.decision = Some(Decision {
                approved: true,
                approved_amount: Money::from_wire("", e.approved_amount.as_ref()).ok(),
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
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::round::tests::{opened, usd};

    const ORG: u128 = 42;

    fn partner() -> Actor {
        Actor {
            subject: "p".into(),
            role: Role::Partner,
            organisation: Some(OrganisationId(uuid::Uuid::from_u128(ORG)).to_string()),
        }
    }
    fn officer() -> Actor {
        Actor { subject: "po".into(), role: Role::ProgramOfficer, organisation: None }
    }
    fn reviewer(subject: &str) -> Actor {
        Actor { subject: subject.into(), role: Role::Reviewer, organisation: None }
    }

    fn complete() -> Content {
        Content {
            title: "Shelter".into(),
            summary: "Safe shelter".into(),
            requested_amount: Some(usd(10_000)),
            budget_lines: vec![("Rent".into(), usd(6_000)), ("Staff".into(), usd(4_000))],
            countries: vec![Country::parse("c", "KH").unwrap()],
            services_offered: vec![pb::ServiceType::Shelter],
            target_groups: vec!["returnees".into()],
        }
    }

    struct Setup {
        round: RoundData,
    }

    impl Setup {
        fn new() -> Setup {
            Setup { round: opened().0.unwrap() }
        }

        fn ctx<'a>(&'a self, actor: &'a Actor) -> Context<'a> {
            Context { actor, now: Timestamp::from_micros(5_000), round: Some(&self.round) }
        }

        fn run(
            &self,
            state: Application,
            actor: &Actor,
            command: ApplicationCommand,
        ) -> Result<Application, Rejection> {
            let events = handle(&state, self.ctx(actor), command)?;
            assert!(!events.is_empty());
            Ok(events.iter().fold(state, apply))
        }

        fn draft(&self, content: Content) -> Application {
            let command = ApplicationCommand::Draft {
                application_id: ApplicationId(uuid::Uuid::from_u128(9)),
                organisation_registered: true,
                content,
            };
            self.run(Application::default(), &partner(), command).unwrap()
        }

        fn submitted(&self) -> Application {
            self.run(self.draft(complete()), &partner(), ApplicationCommand::Submit).unwrap()
        }

        fn reviewed(&self) -> Application {
            let mut app = self.submitted();
            app =
                self.run(app, &officer(), ApplicationCommand::AssignReviewer { reviewer_subject: "r".into() }).unwrap();
            app = self
                .run(
                    app,
                    &reviewer("r"),
                    ApplicationCommand::DeclareConflictOfInterest { has_conflict: false, statement: String::new() },
                )
                .unwrap();
            self.run(app, &reviewer("r"), scores(&[("relevance", 10), ("capacity", 5)])).unwrap()
        }
    }

    fn scores(s: &[(&str, u32)]) -> ApplicationCommand {
        ApplicationCommand::RecordReview {
            scores: s.iter().map(|(c, v)| ((*c).to_owned(), *v)).collect(),
            recommendation: pb::Recommendation::Fund,
            comment: String::new(),
        }
    }

    /// Asserts a rejection of `kind` naming `field`; a rejection returns no events by construction.
    fn rejects(result: Result<Vec<ApplicationEvent>, Rejection>, field: &str) -> Rejection {
        let rejection = result.expect_err("expected a rejection");
        let text = rejection.to_string();
        assert!(text.contains(field), "`{text}` should name `{field}`");
        rejection
    }

    #[test]
    fn the_full_lifecycle_ends_approved_with_a_weighted_score() {
        let s = Setup::new();
        let app = s.reviewed();
        let review = app.0.as_ref().unwrap().reviewers[0].review.clone().unwrap();
        assert_eq!(review.weighted_total_basis_points, 10_000);
        let approve =
            ApplicationCommand::Approve { approved_amount: usd(8_000), reasons: vec![], round_approved_total: usd(0) };
        let events = handle(&app, s.ctx(&officer()), approve).unwrap();
        let ApplicationEvent::Approved(e) = &events[0] else { panic!("{events:?}") };
        assert_eq!((e.approved_amount.clone(), e.decided_by.as_str()), (Some(usd(8_000).to_wire()), "po"));
        assert_eq!(events.iter().fold(app, apply).0.unwrap().status, Status::Approved);
    }

    #[test]
    fn drafting_rules() {
        let s = Setup::new();
        let draft = |registered, actor: &Actor, round: Option<&RoundData>, content| {
            let command = ApplicationCommand::Draft {
                application_id: ApplicationId(uuid::Uuid::from_u128(9)),
                organisation_registered: registered,
                content,
            };
            handle(&Application::default(), Context { actor, now: Timestamp::from_micros(5_000), round }, command)
        };
        rejects(draft(false, &partner(), Some(&s.round), Content::default()), "organisation");
        assert!(matches!(draft(true, &officer(), Some(&s.round), Content::default()), Err(Rejection::NotAllowed(_))));
        rejects(draft(true, &partner(), None, Content::default()), "round");
        let mut closed = s.round.clone();
        closed.closed = true;
        rejects(draft(true, &partner(), Some(&closed), Content::default()), "round_id");
        let long = Content { title: "x".repeat(201), ..Content::default() };
        rejects(draft(true, &partner(), Some(&s.round), long), "content.title");
        let dup = Content {
            services_offered: vec![pb::ServiceType::Shelter, pb::ServiceType::Shelter],
            ..Content::default()
        };
        rejects(draft(true, &partner(), Some(&s.round), dup), "content.services_offered");
        assert!(matches!(
            handle(
                &s.draft(Content::default()),
                s.ctx(&partner()),
                ApplicationCommand::Draft {
                    application_id: ApplicationId(uuid::Uuid::from_u128(9)),
                    organisation_registered: true,
                    content: Content::default()
                }
            ),
            Err(Rejection::Duplicate { .. })
        ));
    }

    #[test]
    fn submission_rules() {
        let s = Setup::new();
        type Change = fn(&mut Content);
        let cases: [(Change, &str); 11] = [
            (|c| c.title.clear(), "content.title"),
            (|c| c.summary.clear(), "content.summary"),
            (|c| c.requested_amount = None, "content.requested_amount"),
            (|c| c.requested_amount = Some(usd(0)), "content.requested_amount"),
            (
                |c| c.requested_amount = Some(Money::new(10_000, domain_kernel::Currency::parse("c", "AUD").unwrap())),
                "content.requested_amount.currency",
            ),
            (
                |c| {
                    c.requested_amount = Some(usd(1_000_001));
                    c.budget_lines = vec![("All".into(), usd(1_000_001))]
                },
                "ceiling",
            ),
            (|c| c.budget_lines.clear(), "content.budget_lines"),
            (|c| c.budget_lines[0].1 = usd(1), "content.budget_lines"),
            (|c| c.countries = vec![Country::parse("c", "VN").unwrap()], "content.countries[0]"),
            (|c| c.services_offered.clear(), "content.services_offered"),
            (|c| c.target_groups.clear(), "content.target_groups"),
        ];
        for (change, field) in cases {
            let mut content = complete();
            change(&mut content);
            let r = rejects(handle(&s.draft(content), s.ctx(&partner()), ApplicationCommand::Submit), field);
            assert!(matches!(r, Rejection::Precondition { .. }), "{r:?}");
        }
        // Outside the round's window, or twice.
        let draft = s.draft(complete());
        let p = partner();
        let late = Context { now: s.round.closes_at, ..s.ctx(&p) };
        rejects(handle(&draft, late, ApplicationCommand::Submit), "round");
        rejects(handle(&s.submitted(), s.ctx(&partner()), ApplicationCommand::Submit), "status");
        // Editing is for drafts only.
        rejects(handle(&s.submitted(), s.ctx(&partner()), ApplicationCommand::Edit { content: complete() }), "status");
    }

    #[test]
    fn another_organisation_sees_nothing() {
        let s = Setup::new();
        let stranger = Actor { organisation: Some(uuid::Uuid::from_u128(1).to_string()), ..partner() };
        for command in [
            ApplicationCommand::Submit,
            ApplicationCommand::Withdraw { reason: String::new() },
            ApplicationCommand::Edit { content: complete() },
        ] {
            assert!(matches!(handle(&s.draft(complete()), s.ctx(&stranger), command), Err(Rejection::NotFound { .. })));
        }
        assert!(!s.draft(complete()).0.unwrap().visible_to(&stranger));
        assert!(!s.submitted().0.unwrap().visible_to(&reviewer("unassigned")));
    }

    #[test]
    fn withdrawal_rules() {
        let s = Setup::new();
        let withdraw = || ApplicationCommand::Withdraw { reason: "no longer needed".into() };
        let withdrawn = s.run(s.submitted(), &partner(), withdraw()).unwrap();
        rejects(handle(&withdrawn, s.ctx(&partner()), withdraw()), "status");
    }

    #[test]
    fn review_rules() {
        let s = Setup::new();
        let submitted = s.submitted();
        // Assignment: submitted only, once per reviewer.
        rejects(
            handle(
                &s.draft(complete()),
                s.ctx(&officer()),
                ApplicationCommand::AssignReviewer { reviewer_subject: "r".into() },
            ),
            "status",
        );
        rejects(
            handle(
                &submitted,
                s.ctx(&officer()),
                ApplicationCommand::AssignReviewer { reviewer_subject: String::new() },
            ),
            "reviewer_subject",
        );
        let assigned =
            s.run(submitted, &officer(), ApplicationCommand::AssignReviewer { reviewer_subject: "r".into() }).unwrap();
        assert!(matches!(
            handle(&assigned, s.ctx(&officer()), ApplicationCommand::AssignReviewer { reviewer_subject: "r".into() }),
            Err(Rejection::Duplicate { .. })
        ));
        // Only assigned reviewers; declare before scoring.
        assert!(matches!(handle(&assigned, s.ctx(&reviewer("x")), scores(&[])), Err(Rejection::NotFound { .. })));
        rejects(handle(&assigned, s.ctx(&reviewer("r")), scores(&[("relevance", 1), ("capacity", 1)])), "declare");
        // A conflict needs a statement and blocks scoring.
        rejects(
            handle(
                &assigned,
                s.ctx(&reviewer("r")),
                ApplicationCommand::DeclareConflictOfInterest { has_conflict: true, statement: String::new() },
            ),
            "statement",
        );
        let conflicted = s
            .run(
                assigned.clone(),
                &reviewer("r"),
                ApplicationCommand::DeclareConflictOfInterest { has_conflict: true, statement: "board member".into() },
            )
            .unwrap();
        rejects(handle(&conflicted, s.ctx(&reviewer("r")), scores(&[("relevance", 1), ("capacity", 1)])), "conflict");
        rejects(
            handle(
                &conflicted,
                s.ctx(&reviewer("r")),
                ApplicationCommand::DeclareConflictOfInterest { has_conflict: false, statement: String::new() },
            ),
            "declared already",
        );
        // A reviewer from the applying organisation must declare a conflict.
        let insider = Actor { organisation: partner().organisation, ..reviewer("r") };
        rejects(
            handle(
                &assigned,
                s.ctx(&insider),
                ApplicationCommand::DeclareConflictOfInterest { has_conflict: false, statement: String::new() },
            ),
            "has_conflict",
        );
        // Scores: every criterion once, within range, known; a recommendation.
        let clear = s
            .run(
                assigned,
                &reviewer("r"),
                ApplicationCommand::DeclareConflictOfInterest { has_conflict: false, statement: String::new() },
            )
            .unwrap();
        let r = reviewer("r");
        rejects(handle(&clear, s.ctx(&r), scores(&[("relevance", 11), ("capacity", 1)])), "scores[0].score");
        rejects(handle(&clear, s.ctx(&r), scores(&[("unknown", 1), ("capacity", 1)])), "scores[0].criterion_id");
        rejects(handle(&clear, s.ctx(&r), scores(&[("capacity", 1), ("capacity", 1)])), "scores[1].criterion_id");
        rejects(handle(&clear, s.ctx(&r), scores(&[("capacity", 1)])), "relevance");
        let unspecified = ApplicationCommand::RecordReview {
            scores: vec![("relevance".into(), 1), ("capacity".into(), 1)],
            recommendation: pb::Recommendation::Unspecified,
            comment: String::new(),
        };
        rejects(handle(&clear, s.ctx(&r), unspecified), "recommendation");
        let reviewed = s.run(clear, &r, scores(&[("relevance", 5), ("capacity", 1)])).unwrap();
        // 5/10*60 + 1/5*40 = 38%.
        assert_eq!(
            reviewed.0.as_ref().unwrap().reviewers[0].review.as_ref().unwrap().weighted_total_basis_points,
            3_800
        );
        rejects(handle(&reviewed, s.ctx(&r), scores(&[("relevance", 5), ("capacity", 1)])), "reviewed");
    }

    #[test]
    fn decision_rules() {
        let s = Setup::new();
        let approve = |amount: Money, total: Money| ApplicationCommand::Approve {
            approved_amount: amount,
            reasons: vec![],
            round_approved_total: total,
        };
        // Not before the required reviews.
        rejects(handle(&s.submitted(), s.ctx(&officer()), approve(usd(1), usd(0))), "reviews");
        rejects(
            handle(&s.submitted(), s.ctx(&officer()), ApplicationCommand::Reject { reasons: vec!["weak".into()] }),
            "reviews",
        );
        let reviewed = s.reviewed();
        rejects(handle(&reviewed, s.ctx(&officer()), approve(usd(0), usd(0))), "approved_amount.minor_units");
        let aud = Money::new(1, domain_kernel::Currency::parse("c", "AUD").unwrap());
        rejects(handle(&reviewed, s.ctx(&officer()), approve(aud, usd(0))), "approved_amount.currency");
        rejects(handle(&reviewed, s.ctx(&officer()), approve(usd(10_001), usd(0))), "amount requested");
        rejects(handle(&reviewed, s.ctx(&officer()), approve(usd(10_000), usd(995_000))), "remaining ceiling");
        assert!(handle(&reviewed, s.ctx(&officer()), approve(usd(5_000), usd(995_000))).is_ok());
        rejects(handle(&reviewed, s.ctx(&officer()), ApplicationCommand::Reject { reasons: vec![] }), "reasons");
        let rejected =
            s.run(reviewed, &officer(), ApplicationCommand::Reject { reasons: vec!["weak".into()] }).unwrap();
        rejects(handle(&rejected, s.ctx(&officer()), approve(usd(1), usd(0))), "status");
    }
}
