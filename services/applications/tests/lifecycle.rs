//! The real service over gRPC on a loopback port, with its log on disk: the full path from round to
//! approval, rejections that change nothing, concurrent edits, and retries with the same request id.

mod common;

use contracts::applications::v1::{self as pb, ApplicationsServiceClient};
use domain_kernel::Role;
use event_log::{EventLog, StreamId};
use test_support::fixtures::{from_now, usd};
use test_support::{Running, authed, request_id, token};
use tonic::Code;
use tonic::transport::Channel;

type Client = ApplicationsServiceClient<Channel>;

struct World {
    server: Running,
    client: Client,
    officer: String,
    admin: String,
    partner: String,
    other_partner: String,
    reviewer: String,
    organisation_id: String,
}

impl World {
    async fn new() -> World {
        let server = common::start().await;
        let client = server.client(Client::new).await;
        let organisation_id = uuid::Uuid::new_v4().to_string();
        let other = uuid::Uuid::new_v4().to_string();
        World {
            client,
            officer: token(Role::ProgramOfficer, "officer-1", None),
            admin: token(Role::Administrator, "admin-1", None),
            partner: token(Role::Partner, "partner-1", Some(&organisation_id)),
            other_partner: token(Role::Partner, "partner-2", Some(&other)),
            reviewer: token(Role::Reviewer, "reviewer-1", None),
            organisation_id,
            server,
        }
    }

    async fn open_round(&mut self, ceiling: i64) -> pb::Round {
        let request = World::round_request(ceiling);
        self.client.open_round(authed(request, &self.officer)).await.unwrap().into_inner().round.unwrap()
    }

    fn round_request(ceiling: i64) -> pb::OpenRoundRequest {
        pb::OpenRoundRequest {
            request_id: request_id(),
            title: "Round 1: shelter and legal aid".into(),
            description: "Services for survivors".into(),
            budget_ceiling: usd(ceiling),
            eligible_countries: vec!["KH".into(), "TH".into(), "PH".into()],
            themes: vec!["shelter".into()],
            opens_at: from_now(-3600),
            closes_at: from_now(86_400),
            criteria: vec![
                pb::Criterion {
                    criterion_id: "relevance".into(),
                    name: "Relevance".into(),
                    guidance: String::new(),
                    weight: 60,
                    max_score: 10,
                },
                pb::Criterion {
                    criterion_id: "capacity".into(),
                    name: "Capacity".into(),
                    guidance: String::new(),
                    weight: 40,
                    max_score: 5,
                },
            ],
            required_reviews: 1,
        }
    }

    async fn register(&mut self) {
        let request = self.registration();
        self.client.register_organisation(authed(request, &self.admin)).await.unwrap();
    }

    fn registration(&self) -> pb::RegisterOrganisationRequest {
        pb::RegisterOrganisationRequest {
            request_id: request_id(),
            organisation_id: self.organisation_id.clone(),
            legal_name: "Safe Harbour Foundation".into(),
            country: "KH".into(),
            organisation_type: pb::OrganisationType::NationalNgo as i32,
            registration_number: format!("KH-{}", &self.organisation_id[..8]),
            contact_person: Some(pb::ContactPerson {
                full_name: "Contact Person".into(),
                email: "c@example.org".into(),
                phone: String::new(),
            }),
        }
    }

    fn content(amount: i64) -> pb::ApplicationContent {
        pb::ApplicationContent {
            title: "Shelter in Phnom Penh".into(),
            summary: "Safe shelter and legal aid".into(),
            requested_amount: usd(amount),
            budget_lines: vec![
                pb::BudgetLine { description: "Shelter".into(), amount: usd(amount - 1000) },
                pb::BudgetLine { description: "Legal aid".into(), amount: usd(1000) },
            ],
            countries: vec!["KH".into()],
            services_offered: vec![pb::ServiceType::Shelter as i32, pb::ServiceType::LegalAid as i32],
            target_groups: vec!["women returning from abroad".into()],
        }
    }

    async fn draft(&mut self, round_id: &str, content: pb::ApplicationContent) -> pb::Application {
        let request =
            pb::DraftApplicationRequest { request_id: request_id(), round_id: round_id.into(), content: Some(content) };
        self.client.draft_application(authed(request, &self.partner)).await.unwrap().into_inner().application.unwrap()
    }

    async fn submit(&mut self, id: &str) -> Result<pb::Application, tonic::Status> {
        let request = pb::SubmitApplicationRequest {
            request_id: request_id(),
            application_id: id.into(),
            expected_version: None,
        };
        self.client
            .submit_application(authed(request, &self.partner))
            .await
            .map(|r| r.into_inner().application.unwrap())
    }

    async fn get(&mut self, id: &str, token: &str) -> Result<pb::Application, tonic::Status> {
        let request = pb::GetApplicationRequest { application_id: id.into() };
        self.client.get_application(authed(request, token)).await.map(|r| r.into_inner().application.unwrap())
    }

    /// Assigns the reviewer, who declares no conflict and scores.
    async fn review(&mut self, id: &str) {
        let assign = pb::AssignReviewerRequest {
            request_id: request_id(),
            application_id: id.into(),
            reviewer_subject: "reviewer-1".into(),
        };
        self.client.assign_reviewer(authed(assign, &self.officer)).await.unwrap();
        let declare = pb::DeclareConflictOfInterestRequest {
            request_id: request_id(),
            application_id: id.into(),
            has_conflict: false,
            statement: String::new(),
        };
        self.client.declare_conflict_of_interest(authed(declare, &self.reviewer)).await.unwrap();
        let review = pb::RecordReviewRequest {
            request_id: request_id(),
            application_id: id.into(),
            scores: vec![
                pb::CriterionScore { criterion_id: "relevance".into(), score: 8 },
                pb::CriterionScore { criterion_id: "capacity".into(), score: 5 },
            ],
            recommendation: pb::Recommendation::Fund as i32,
            comment: "Strong".into(),
        };
        let app =
            self.client.record_review(authed(review, &self.reviewer)).await.unwrap().into_inner().application.unwrap();
        // 8/10 * 60% + 5/5 * 40% = 88%.
        assert_eq!(app.reviewers[0].review.as_ref().unwrap().weighted_total_basis_points, 8_800);
    }

    async fn approve(&mut self, id: &str, amount: i64) -> Result<pb::Application, tonic::Status> {
        let request = pb::ApproveApplicationRequest {
            request_id: request_id(),
            application_id: id.into(),
            approved_amount: usd(amount),
            reasons: vec!["Fits the round".into()],
        };
        self.client
            .approve_application(authed(request, &self.officer))
            .await
            .map(|r| r.into_inner().application.unwrap())
    }
}

fn assert_rejected<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, field: &str) {
    let status = result.expect_err("expected a rejection");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(field), "message `{}` should name `{field}`", status.message());
}

#[tokio::test]
async fn full_path_from_round_to_approval_records_every_event_with_its_actor() {
    let mut w = World::new().await;
    let round = w.open_round(1_000_000).await;
    assert!(round.accepting_submissions);
    w.register().await;
    let draft = w.draft(&round.round_id, pb::ApplicationContent { title: "Draft".into(), ..Default::default() }).await;
    assert_eq!(draft.status, pb::ApplicationStatus::Draft as i32);
    let edit = pb::EditApplicationRequest {
        request_id: request_id(),
        application_id: draft.application_id.clone(),
        expected_version: Some(1),
        content: Some(World::content(400_000)),
    };
    let edited = w.client.edit_application(authed(edit, &w.partner)).await.unwrap().into_inner().application.unwrap();
    assert_eq!(edited.version, 2);
    let submitted = w.submit(&draft.application_id).await.unwrap();
    assert_eq!(submitted.status, pb::ApplicationStatus::Submitted as i32);
    w.review(&draft.application_id).await;
    let approved = w.approve(&draft.application_id, 350_000).await.unwrap();
    assert_eq!(approved.status, pb::ApplicationStatus::Approved as i32);
    assert_eq!(approved.decision.unwrap().approved_amount, usd(350_000));

    let round = w
        .client
        .get_round(authed(pb::GetRoundRequest { round_id: round.round_id.clone() }, &w.partner))
        .await
        .unwrap()
        .into_inner()
        .round
        .unwrap();
    assert_eq!(round.approved_total, usd(350_000));
    // The partner sees its application without reviewer details.
    let seen = w.get(&draft.application_id, &w.partner.clone()).await.unwrap();
    assert!(seen.reviewers.is_empty());
    assert_eq!(seen.completed_reviews, 1);
    let listed = w
        .client
        .list_applications(authed(
            pb::ListApplicationsRequest { round_id: round.round_id.clone(), ..Default::default() },
            &w.officer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.applications.len(), 1);

    let dir = w.server.stop().await;
    let log = EventLog::open(applications::service::log_dir(&dir.path().join("applications"))).unwrap();
    let stream = StreamId::new("application", draft.application_id.clone()).unwrap();
    let events: Vec<_> = log.read_stream(&stream, 0).map(Result::unwrap).collect();
    let kinds: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ApplicationDrafted",
            "ApplicationEdited",
            "ApplicationSubmitted",
            "ReviewerAssigned",
            "ConflictOfInterestDeclared",
            "ReviewRecorded",
            "ApplicationApproved"
        ]
    );
    let actors: Vec<_> =
        events.iter().map(|e| (e.metadata.actor.subject.as_str(), e.metadata.actor.role.as_str())).collect();
    assert_eq!(actors[0], ("partner-1", "partner"));
    assert_eq!(actors[3], ("officer-1", "program_officer"));
    assert_eq!(actors[5], ("reviewer-1", "reviewer"));
    assert_eq!(actors[6], ("officer-1", "program_officer"));
    assert_eq!(events[0].metadata.actor.organisation, w.organisation_id);
    let approved: pb::ApplicationApproved = prost::Message::decode(events[6].payload.as_slice()).unwrap();
    assert_eq!(approved.organisation_id, w.organisation_id);
    assert_eq!(approved.round_id, round.round_id);
    assert_eq!(approved.approved_amount, usd(350_000));
    assert_eq!(approved.decided_by, "officer-1");
    assert!(log.verify(..).unwrap().first_mismatch.is_none());
}

#[tokio::test]
async fn rejections_name_the_field_and_write_nothing() {
    let mut w = World::new().await;
    let round = w.open_round(500_000).await;
    // Drafting before the organisation is registered.
    let request =
        pb::DraftApplicationRequest { request_id: request_id(), round_id: round.round_id.clone(), content: None };
    assert_rejected(
        w.client.draft_application(authed(request, &w.partner)).await,
        Code::FailedPrecondition,
        "organisation",
    );
    w.register().await;

    // Invalid input.
    let mut bad_round = pb::OpenRoundRequest { request_id: request_id(), title: String::new(), ..Default::default() };
    assert_rejected(
        w.client.open_round(authed(bad_round.clone(), &w.officer)).await,
        Code::InvalidArgument,
        "budget_ceiling",
    );
    bad_round.budget_ceiling = usd(10);
    assert_rejected(w.client.open_round(authed(bad_round, &w.officer)).await, Code::InvalidArgument, "opens_at");
    let bad_id = pb::GetApplicationRequest { application_id: "nope".into() };
    assert_rejected(
        w.client.get_application(authed(bad_id, &w.officer)).await,
        Code::InvalidArgument,
        "application_id",
    );

    // Submission rules: over the ceiling, ineligible country, incomplete.
    let over = w.draft(&round.round_id, World::content(600_000)).await;
    assert_rejected(w.submit(&over.application_id).await, Code::FailedPrecondition, "content.requested_amount");
    let mut ineligible = World::content(100_000);
    ineligible.countries = vec!["VN".into()];
    let ineligible = w.draft(&round.round_id, ineligible).await;
    assert_rejected(w.submit(&ineligible.application_id).await, Code::FailedPrecondition, "content.countries[0]");
    let incomplete = w.draft(&round.round_id, pb::ApplicationContent::default()).await;
    assert_rejected(w.submit(&incomplete.application_id).await, Code::FailedPrecondition, "content.title");
    for id in [&over.application_id, &ineligible.application_id, &incomplete.application_id] {
        let app = w.get(id, &w.officer.clone()).await.unwrap();
        assert_eq!((app.version, app.status), (1, pb::ApplicationStatus::Draft as i32), "nothing written for {id}");
    }

    // Another organisation's application reads as not found, for reads and commands.
    assert_rejected(w.get(&over.application_id, &w.other_partner.clone()).await, Code::NotFound, "application");
    let withdraw = pb::WithdrawApplicationRequest {
        request_id: request_id(),
        application_id: over.application_id.clone(),
        reason: String::new(),
    };
    assert_rejected(
        w.client.withdraw_application(authed(withdraw, &w.other_partner)).await,
        Code::NotFound,
        "application",
    );

    // Decision before the required reviews; conflicted reviewer cannot score; over the ceiling.
    let good = w.draft(&round.round_id, World::content(300_000)).await;
    w.submit(&good.application_id).await.unwrap();
    assert_rejected(w.approve(&good.application_id, 100_000).await, Code::FailedPrecondition, "reviews");
    let assign = pb::AssignReviewerRequest {
        request_id: request_id(),
        application_id: good.application_id.clone(),
        reviewer_subject: "reviewer-2".into(),
    };
    w.client.assign_reviewer(authed(assign, &w.officer)).await.unwrap();
    let conflicted = token(Role::Reviewer, "reviewer-2", None);
    let declare = pb::DeclareConflictOfInterestRequest {
        request_id: request_id(),
        application_id: good.application_id.clone(),
        has_conflict: true,
        statement: "Former board member".into(),
    };
    w.client.declare_conflict_of_interest(authed(declare, &conflicted)).await.unwrap();
    let score = pb::RecordReviewRequest {
        request_id: request_id(),
        application_id: good.application_id.clone(),
        scores: vec![
            pb::CriterionScore { criterion_id: "relevance".into(), score: 1 },
            pb::CriterionScore { criterion_id: "capacity".into(), score: 1 },
        ],
        recommendation: pb::Recommendation::Fund as i32,
        comment: String::new(),
    };
    assert_rejected(w.client.record_review(authed(score, &conflicted)).await, Code::FailedPrecondition, "conflict");
    w.review(&good.application_id).await;
    assert_rejected(w.approve(&good.application_id, 300_001).await, Code::FailedPrecondition, "approved_amount");
    let second = w.draft(&round.round_id, World::content(300_000)).await;
    w.submit(&second.application_id).await.unwrap();
    w.review(&second.application_id).await;
    w.approve(&good.application_id, 300_000).await.unwrap();
    // 300000 approved of 500000: 300000 more would pass the ceiling.
    assert_rejected(w.approve(&second.application_id, 300_000).await, Code::FailedPrecondition, "remaining ceiling");
    let app = w.get(&second.application_id, &w.officer.clone()).await.unwrap();
    assert_eq!(app.status, pb::ApplicationStatus::Submitted as i32);
    w.approve(&second.application_id, 200_000).await.unwrap();
    // Decided: no more edits or withdrawals.
    let withdraw = pb::WithdrawApplicationRequest {
        request_id: request_id(),
        application_id: second.application_id.clone(),
        reason: String::new(),
    };
    assert_rejected(
        w.client.withdraw_application(authed(withdraw, &w.partner)).await,
        Code::FailedPrecondition,
        "status",
    );
    // A closed round takes no submissions.
    let close =
        pb::CloseRoundRequest { request_id: request_id(), round_id: round.round_id.clone(), reason: "done".into() };
    w.client.close_round(authed(close, &w.officer)).await.unwrap();
    let late = w.draft_late(&round.round_id).await;
    assert_rejected(late, Code::FailedPrecondition, "round_id");
    w.server.stop().await;
}

#[tokio::test]
async fn currencies_countries_and_ids_are_checked_against_their_standards() {
    let mut w = World::new().await;
    let not_money = pb::OpenRoundRequest {
        budget_ceiling: Some(contracts::common::v1::Money { minor_units: 100, currency: "ZZZ".into() }),
        ..World::round_request(100)
    };
    assert_rejected(
        w.client.open_round(authed(not_money, &w.officer)).await,
        Code::InvalidArgument,
        "budget_ceiling.currency",
    );
    let mut no_country = World::round_request(100);
    no_country.eligible_countries[1] = "XX".into();
    assert_rejected(
        w.client.open_round(authed(no_country, &w.officer)).await,
        Code::InvalidArgument,
        "eligible_countries[1]",
    );
    let registration = pb::RegisterOrganisationRequest { country: "XX".into(), ..w.registration() };
    assert_rejected(
        w.client.register_organisation(authed(registration, &w.admin)).await,
        Code::InvalidArgument,
        "country",
    );
    let upper_request = pb::RegisterOrganisationRequest { request_id: request_id().to_uppercase(), ..w.registration() };
    assert_rejected(
        w.client.register_organisation(authed(upper_request, &w.admin)).await,
        Code::InvalidArgument,
        "request_id",
    );
    let upper_organisation =
        pb::RegisterOrganisationRequest { organisation_id: w.organisation_id.to_uppercase(), ..w.registration() };
    assert_rejected(
        w.client.register_organisation(authed(upper_organisation, &w.admin)).await,
        Code::InvalidArgument,
        "organisation_id",
    );

    w.register().await;
    let round = w.open_round(500_000).await;
    let application = w.draft(&round.round_id, World::content(100_000)).await;
    // The application exists; its id in upper case is another spelling, which the contract refuses.
    let upper = application.application_id.to_uppercase();
    assert_rejected(w.get(&upper, &w.officer.clone()).await, Code::InvalidArgument, "application_id");
    assert_eq!(w.get(&application.application_id, &w.officer.clone()).await.unwrap().version, 1);
    let dir = w.server.stop().await;
    let log = event_log::EventLog::open(applications::service::log_dir(&dir.path().join("applications"))).unwrap();
    let types: Vec<_> = log.read_all(0).map(|e| e.unwrap().event_type).collect();
    assert_eq!(types, ["OrganisationRegistered", "RoundOpened", "ApplicationDrafted"], "refusals recorded nothing");
}

impl World {
    async fn draft_late(&mut self, round_id: &str) -> Result<tonic::Response<pb::ApplicationResponse>, tonic::Status> {
        let request =
            pb::DraftApplicationRequest { request_id: request_id(), round_id: round_id.into(), content: None };
        self.client.draft_application(authed(request, &self.partner)).await
    }
}

#[tokio::test]
async fn concurrent_edits_of_one_application_one_wins_the_other_is_aborted() {
    let mut w = World::new().await;
    let round = w.open_round(1_000_000).await;
    w.register().await;
    let draft = w.draft(&round.round_id, pb::ApplicationContent::default()).await;
    for _ in 0..5 {
        let current = w.get(&draft.application_id, &w.partner.clone()).await.unwrap();
        let edit = |title: &str| pb::EditApplicationRequest {
            request_id: request_id(),
            application_id: draft.application_id.clone(),
            expected_version: Some(current.version),
            content: Some(pb::ApplicationContent { title: title.into(), ..Default::default() }),
        };
        let (mut a, mut b) = (w.client.clone(), w.client.clone());
        let (ra, rb) = tokio::join!(
            a.edit_application(authed(edit("A"), &w.partner)),
            b.edit_application(authed(edit("B"), &w.partner)),
        );
        let codes: Vec<_> = [&ra, &rb].iter().map(|r| r.as_ref().err().map(|s| s.code())).collect();
        assert!(codes.contains(&None) && codes.contains(&Some(Code::Aborted)), "{codes:?}");
        let after = w.get(&draft.application_id, &w.partner.clone()).await.unwrap();
        assert_eq!(after.version, current.version + 1);
    }
    w.server.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_returns_the_first_result() {
    let mut w = World::new().await;
    let round = w.open_round(1_000_000).await;
    w.register().await;
    let request = pb::DraftApplicationRequest {
        request_id: request_id(),
        round_id: round.round_id.clone(),
        content: Some(World::content(1000 + 1000)),
    };
    let first = w.client.draft_application(authed(request.clone(), &w.partner)).await.unwrap().into_inner();
    let again = w.client.draft_application(authed(request.clone(), &w.partner)).await.unwrap().into_inner();
    assert_eq!(first, again);
    // Concurrent copies of one request: one application.
    let submit = pb::SubmitApplicationRequest {
        request_id: request_id(),
        application_id: first.application.as_ref().unwrap().application_id.clone(),
        expected_version: None,
    };
    let (mut a, mut b) = (w.client.clone(), w.client.clone());
    let (ra, rb) = tokio::join!(
        a.submit_application(authed(submit.clone(), &w.partner)),
        b.submit_application(authed(submit.clone(), &w.partner))
    );
    assert_eq!(ra.unwrap().into_inner(), rb.unwrap().into_inner());
    let listed = w
        .client
        .list_applications(authed(
            pb::ListApplicationsRequest { round_id: round.round_id.clone(), ..Default::default() },
            &w.partner,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.applications.len(), 1);
    assert_eq!(listed.applications[0].version, 2);
    // The same request id for a different request is refused.
    let mut different = request;
    different.content = None;
    assert_rejected(
        w.client.draft_application(authed(different, &w.partner)).await,
        Code::InvalidArgument,
        "request_id",
    );
    // Survives a restart: the stored response comes from the log.
    let dir = w.server.stop().await;
    let server = common::start_with(dir, None).await;
    let mut client = server.client(Client::new).await;
    let retried = client.submit_application(authed(submit, &w.partner)).await.unwrap().into_inner();
    assert_eq!(retried.application.unwrap().version, 2);
    server.stop().await;
}

#[tokio::test]
async fn listing_filters_and_pages_and_partners_see_only_their_own() {
    let mut w = World::new().await;
    let round = w.open_round(1_000_000).await;
    w.register().await;
    for _ in 0..5 {
        w.draft(&round.round_id, pb::ApplicationContent::default()).await;
    }
    let first = w.draft(&round.round_id, World::content(5000)).await;
    w.submit(&first.application_id).await.unwrap();
    let list = |page_token: String, status: pb::ApplicationStatus| pb::ListApplicationsRequest {
        round_id: round.round_id.clone(),
        status: status as i32,
        organisation_id: String::new(),
        page: Some(contracts::common::v1::PageRequest { page_size: 4, page_token }),
    };
    let page1 = w
        .client
        .list_applications(authed(list(String::new(), pb::ApplicationStatus::Unspecified), &w.officer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page1.applications.len(), 4);
    let page2 = w
        .client
        .list_applications(authed(list(page1.next_page_token.clone(), pb::ApplicationStatus::Unspecified), &w.officer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page2.applications.len(), 2);
    assert!(page2.next_page_token.is_empty());
    let submitted = w
        .client
        .list_applications(authed(list(String::new(), pb::ApplicationStatus::Submitted), &w.officer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.applications.len(), 1);
    let others = w
        .client
        .list_applications(authed(list(String::new(), pb::ApplicationStatus::Unspecified), &w.other_partner))
        .await
        .unwrap()
        .into_inner();
    assert!(others.applications.is_empty());
    let bad =
        w.client.list_applications(authed(list("x".into(), pb::ApplicationStatus::Unspecified), &w.officer)).await;
    assert_rejected(bad, Code::InvalidArgument, "page.page_token");
    w.server.stop().await;
}

#[tokio::test]
async fn rejected_commands_of_every_kind_leave_the_log_unchanged() {
    let mut w = World::new().await;
    let round = w.open_round(100_000).await;
    w.register().await;
    let draft = w.draft(&round.round_id, World::content(200_000)).await;
    let id = draft.application_id.clone();
    let officer = w.officer.clone();
    let reviewer = w.reviewer.clone();
    let partner = w.partner.clone();
    let c = &mut w.client;
    let mut codes = Vec::new();
    let mut bad_round = pb::OpenRoundRequest { request_id: request_id(), ..Default::default() };
    bad_round.budget_ceiling = usd(-1);
    codes.push(c.open_round(authed(bad_round, &officer)).await.map(drop));
    let close = pb::CloseRoundRequest {
        request_id: request_id(),
        round_id: uuid::Uuid::new_v4().to_string(),
        reason: String::new(),
    };
    codes.push(c.close_round(authed(close, &officer)).await.map(drop));
    let register = pb::RegisterOrganisationRequest {
        request_id: request_id(),
        organisation_id: w.organisation_id.clone(),
        legal_name: "Again".into(),
        country: "KH".into(),
        organisation_type: pb::OrganisationType::NationalNgo as i32,
        registration_number: "other".into(),
        contact_person: Some(pb::ContactPerson {
            full_name: "C".into(),
            email: "c@example.org".into(),
            phone: String::new(),
        }),
    };
    codes.push(c.register_organisation(authed(register, &officer)).await.map(drop));
    let edit = pb::EditApplicationRequest {
        request_id: request_id(),
        application_id: id.clone(),
        expected_version: Some(7),
        content: None,
    };
    codes.push(c.edit_application(authed(edit, &partner)).await.map(drop));
    let submit =
        pb::SubmitApplicationRequest { request_id: request_id(), application_id: id.clone(), expected_version: None };
    codes.push(c.submit_application(authed(submit, &partner)).await.map(drop));
    let assign = pb::AssignReviewerRequest {
        request_id: request_id(),
        application_id: id.clone(),
        reviewer_subject: "reviewer-1".into(),
    };
    codes.push(c.assign_reviewer(authed(assign, &officer)).await.map(drop));
    let declare = pb::DeclareConflictOfInterestRequest {
        request_id: request_id(),
        application_id: id.clone(),
        has_conflict: false,
        statement: String::new(),
    };
    codes.push(c.declare_conflict_of_interest(authed(declare, &reviewer)).await.map(drop));
    let review = pb::RecordReviewRequest { request_id: request_id(), application_id: id.clone(), ..Default::default() };
    codes.push(c.record_review(authed(review, &reviewer)).await.map(drop));
    let approve = pb::ApproveApplicationRequest {
        request_id: request_id(),
        application_id: id.clone(),
        approved_amount: usd(1),
        reasons: vec![],
    };
    codes.push(c.approve_application(authed(approve, &officer)).await.map(drop));
    let reject = pb::RejectApplicationRequest {
        request_id: request_id(),
        application_id: id.clone(),
        reasons: vec!["no".into()],
    };
    codes.push(c.reject_application(authed(reject, &officer)).await.map(drop));
    let withdraw = pb::WithdrawApplicationRequest {
        request_id: "not-a-uuid".into(),
        application_id: id.clone(),
        reason: String::new(),
    };
    codes.push(c.withdraw_application(authed(withdraw, &partner)).await.map(drop));
    let codes: Vec<Code> = codes.into_iter().map(|r| r.expect_err("every command is rejected").code()).collect();
    use Code::*;
    assert_eq!(
        codes,
        [
            InvalidArgument,
            NotFound,
            AlreadyExists,
            Aborted,
            FailedPrecondition,
            FailedPrecondition,
            NotFound,
            NotFound,
            FailedPrecondition,
            FailedPrecondition,
            InvalidArgument
        ]
    );
    let dir = w.server.stop().await;
    let log = EventLog::open(applications::service::log_dir(&dir.path().join("applications"))).unwrap();
    let kinds: Vec<String> = log.read_all(0).map(|e| e.unwrap().event_type).collect();
    assert_eq!(kinds, ["RoundOpened", "OrganisationRegistered", "ApplicationDrafted"]);
}
