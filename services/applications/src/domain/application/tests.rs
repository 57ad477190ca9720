//! Every rule of the application aggregate, through its commands.

use contracts::applications::v1 as pb;
use contracts::values::WireValue;
use domain_kernel::{Country, Money, Timestamp};
use test_support::decider::{fold, given_state};

use super::{Application, ApplicationCommand, ApplicationEvent, Content, Context, Status, apply, handle};
use crate::domain::round::RoundData;
use crate::domain::round::tests::{opened, usd};
use crate::domain::{Actor, ApplicationId, OrganisationId, Rejection, Role};

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

    /// Runs a command that must be accepted; returns the state after its events.
    fn run(&self, state: Application, actor: &Actor, command: ApplicationCommand) -> Application {
        given_state(state).when(|state| handle(state, self.ctx(actor), command)).then_accept().0
    }

    fn draft(&self, content: Content) -> Application {
        let command = ApplicationCommand::Draft {
            application_id: ApplicationId(uuid::Uuid::from_u128(9)),
            organisation_registered: true,
            content,
        };
        self.run(Application::default(), &partner(), command)
    }

    fn submitted(&self) -> Application {
        self.run(self.draft(complete()), &partner(), ApplicationCommand::Submit)
    }

    fn reviewed(&self) -> Application {
        let mut app = self.submitted();
        app = self.run(app, &officer(), ApplicationCommand::AssignReviewer { reviewer_subject: "r".into() });
        app = self.run(
            app,
            &reviewer("r"),
            ApplicationCommand::DeclareConflictOfInterest { has_conflict: false, statement: String::new() },
        );
        self.run(app, &reviewer("r"), scores(&[("relevance", 10), ("capacity", 5)]))
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
    assert_eq!(fold(app, &events).0.unwrap().status, Status::Approved);
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
    let dup =
        Content { services_offered: vec![pb::ServiceType::Shelter, pb::ServiceType::Shelter], ..Content::default() };
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
    let withdrawn = s.run(s.submitted(), &partner(), withdraw());
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
        handle(&submitted, s.ctx(&officer()), ApplicationCommand::AssignReviewer { reviewer_subject: String::new() }),
        "reviewer_subject",
    );
    let assigned = s.run(submitted, &officer(), ApplicationCommand::AssignReviewer { reviewer_subject: "r".into() });
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
    let conflicted = s.run(
        assigned.clone(),
        &reviewer("r"),
        ApplicationCommand::DeclareConflictOfInterest { has_conflict: true, statement: "board member".into() },
    );
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
    let clear = s.run(
        assigned,
        &reviewer("r"),
        ApplicationCommand::DeclareConflictOfInterest { has_conflict: false, statement: String::new() },
    );
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
    let reviewed = s.run(clear, &r, scores(&[("relevance", 5), ("capacity", 1)]));
    // 5/10*60 + 1/5*40 = 38%.
    assert_eq!(reviewed.0.as_ref().unwrap().reviewers[0].review.as_ref().unwrap().weighted_total_basis_points, 3_800);
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
    let rejected = s.run(reviewed, &officer(), ApplicationCommand::Reject { reasons: vec!["weak".into()] });
    rejects(handle(&rejected, s.ctx(&officer()), approve(usd(1), usd(0))), "status");
}

#[test]
fn an_event_whose_values_do_not_read_is_a_fold_error_naming_the_value() {
    let s = Setup::new();
    let drafted = pb::ApplicationDrafted {
        application_id: ApplicationId(uuid::Uuid::from_u128(9)).to_string(),
        round_id: "not a round".into(),
        organisation_id: OrganisationId(uuid::Uuid::from_u128(ORG)).to_string(),
        ..Default::default()
    };
    let error = apply(Application::default(), &ApplicationEvent::Drafted(drafted)).unwrap_err();
    assert_eq!(error.field, "round_id");
    let unstamped = pb::ApplicationSubmitted { submitted_at: None, ..Default::default() };
    let error = apply(s.draft(complete()), &ApplicationEvent::Submitted(unstamped)).unwrap_err();
    assert_eq!(error.field, "submitted_at");
}
