//! The real service over gRPC on a loopback port, with its log on disk and no broker: offers are put in
//! place as the consumer would (`inbound::react`), then the agreement is set, signed, paid and varied over
//! the wire; rejections change nothing, retries with the same request id return the first answer, partners
//! see only their own awards, and a restart keeps everything.

mod common;

use std::collections::HashMap;

use common::{append, react_offline, start_awards};
use contracts::awards::v1::{self as pb, AwardsServiceClient};
use contracts::names::{service, stream};
use domain_kernel::Role;
use event_log::{EventLog, StreamId};
use prost::Message;
use test_support::fixtures::{agree_and_sign, agreement, approved, date, payment, usd};
use test_support::{authed, request_id, token};
use tonic::Code;
use tonic::transport::Channel;

type Client = AwardsServiceClient<Channel>;

fn assert_rejected<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, field: &str) {
    let status = result.expect_err("expected a rejection");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(field), "message `{}` should name `{field}`", status.message());
}

async fn get(client: &mut Client, award_id: &str, token: &str) -> Result<pb::Award, tonic::Status> {
    let request = pb::GetAwardRequest { award_id: award_id.into() };
    client.get_award(authed(request, token)).await.map(|r| r.into_inner().award.unwrap())
}

/// The service, started with one award offered from an approval (by the fixture's `officer-0`), a client,
/// and the award's id.
async fn start_with_one_offer() -> (test_support::Running, Client, String) {
    start_with_one_offer_and(|_, _| Vec::new()).await
}

/// As [`start_with_one_offer`], with the events `recorded` makes of the log and the award id appended to
/// the award's stream before the service starts, as an earlier version of the service would have.
async fn start_with_one_offer_and(
    recorded: impl FnOnce(&EventLog, &str) -> Vec<(&'static str, Vec<u8>)>,
) -> (test_support::Running, Client, String) {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let applications = EventLog::open(scratch.path().join(service::APPLICATIONS)).unwrap();
    let app = uuid::Uuid::new_v4().to_string();
    let approval = approved(&app, &uuid::Uuid::new_v4().to_string(), &uuid::Uuid::new_v4().to_string());
    let stream = StreamId::new(stream::APPLICATION, app.clone()).unwrap();
    let event = append(&applications, stream, "ApplicationApproved", approval.encode_to_vec()).await;
    assert!(react_offline(dir.path(), &event).await);
    drop(applications);
    let award_id =
        awards::domain::AwardId::for_application(awards::domain::ApplicationId::parse("", &app).unwrap()).to_string();
    let log = EventLog::open(awards::service::log_dir(&dir.path().join(service::AWARDS))).unwrap();
    for (event_type, payload) in recorded(&log, &award_id) {
        append(&log, StreamId::new(stream::AWARD, award_id.clone()).unwrap(), event_type, payload).await;
    }
    drop(log);
    let server = start_awards(dir, None, HashMap::new()).await;
    let client = server.client(AwardsServiceClient::new).await;
    (server, client, award_id)
}

async fn list(client: &mut Client, request: pb::ListAwardsRequest, token: &str) -> pb::ListAwardsResponse {
    client.list_awards(authed(request, token)).await.unwrap().into_inner()
}

#[tokio::test]
async fn an_offer_is_agreed_signed_paid_and_varied_over_grpc() {
    // Two organisations' applications approved in one round; the first approval also arrives twice under
    // different event ids, which must not open a second award.
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let applications = EventLog::open(scratch.path().join(service::APPLICATIONS)).unwrap();
    let (org_a, org_b, round) =
        (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    let (app_a, app_b) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    for (app, org) in [(&app_a, &org_a), (&app_b, &org_b), (&app_a, &org_a)] {
        let stream = StreamId::new(stream::APPLICATION, app.clone()).unwrap();
        let event =
            append(&applications, stream, "ApplicationApproved", approved(app, org, &round).encode_to_vec()).await;
        let appended = react_offline(dir.path(), &event).await;
        assert_eq!(appended, !(app == &app_a && event.position == 2), "position {}", event.position);
    }
    drop(applications);

    let server = start_awards(dir, None, HashMap::new()).await;
    let mut client = server.client(AwardsServiceClient::new).await;
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let finance = token(Role::FinanceOfficer, "finance-1", None);
    let auditor = token(Role::Auditor, "auditor-1", None);
    let partner_a = token(Role::Partner, "partner-a", Some(&org_a));
    let partner_b = token(Role::Partner, "partner-b", Some(&org_b));

    let all =
        list(&mut client, pb::ListAwardsRequest { round_id: round.clone(), ..Default::default() }, &auditor).await;
    assert_eq!(all.awards.len(), 2);
    let award_id = all.awards.iter().find(|a| a.organisation_id == org_a).unwrap().award_id.clone();

    // Terms that break a rule are refused, naming the field, and write nothing.
    let mut broken = agreement();
    broken.tranches[2].amount = usd(100_000);
    let set = |terms, expected_version| pb::SetAgreementRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        terms: Some(terms),
        expected_version,
    };
    assert_rejected(
        client.set_agreement(authed(set(broken, None), &officer)).await,
        Code::FailedPrecondition,
        "terms.tranches",
    );
    let mut malformed = agreement();
    malformed.tranches[0].kind = 0;
    assert_rejected(
        client.set_agreement(authed(set(malformed, None), &officer)).await,
        Code::InvalidArgument,
        "terms.tranches[0].kind",
    );
    let bad_id = pb::SetAgreementRequest { award_id: "nope".into(), ..set(agreement(), None) };
    assert_rejected(client.set_agreement(authed(bad_id, &officer)).await, Code::InvalidArgument, "award_id");
    assert_eq!(get(&mut client, &award_id, &auditor).await.unwrap().version, 1);

    let set_ok = client.set_agreement(authed(set(agreement(), Some(1)), &officer)).await.unwrap().into_inner();
    assert_eq!(set_ok.award.unwrap().version, 2);
    assert_rejected(
        client.set_agreement(authed(set(agreement(), Some(1)), &officer)).await,
        Code::Aborted,
        "expected_version",
    );

    // Signing, retried with the same request id, signs once and answers the same.
    let sign =
        pb::SignAgreementRequest { request_id: request_id(), award_id: award_id.clone(), expected_version: Some(2) };
    let first = client.sign_agreement(authed(sign.clone(), &officer)).await.unwrap().into_inner();
    let retry = client.sign_agreement(authed(sign.clone(), &officer)).await.unwrap().into_inner();
    assert_eq!(first, retry);
    let reused = pb::SignAgreementRequest { expected_version: None, ..sign };
    assert_rejected(client.sign_agreement(authed(reused, &officer)).await, Code::InvalidArgument, "request_id");
    assert_eq!(get(&mut client, &award_id, &auditor).await.unwrap().version, 3);

    // Releases: the ungated tranche in another currency with its rate; the gated one waits.
    let thb = pb::Payment {
        paid_amount: Some(contracts::common::v1::Money { minor_units: 5_057_500, currency: "THB".into() }),
        exchange_rate: "36.125".into(),
        rate_source: "Bank of Thailand reference rate".into(),
        rate_value_date: date(2026, 1, 14),
        payment_reference: "PAY-7".into(),
    };
    let release = |tranche: &str, payment| pb::ReleaseTrancheRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        tranche_id: tranche.into(),
        payment,
    };
    let no_rate = pb::Payment { exchange_rate: String::new(), ..thb.clone() };
    assert_rejected(
        client.release_tranche(authed(release("t1", Some(no_rate)), &finance)).await,
        Code::InvalidArgument,
        "payment.exchange_rate",
    );
    let paid =
        client.release_tranche(authed(release("t1", Some(thb)), &finance)).await.unwrap().into_inner().award.unwrap();
    assert_eq!(paid.released_total, usd(140_000));
    assert_eq!(paid.tranches[0].payment.as_ref().unwrap().exchange_rate, "36.125");
    assert_rejected(
        client.release_tranche(authed(release("t2", payment(105_000)), &finance)).await,
        Code::FailedPrecondition,
        "progress-1",
    );
    assert_rejected(client.release_tranche(authed(release("t9", payment(1)), &finance)).await, Code::NotFound, "t9");

    // Partners: their own award in full, another organisation's as unknown; lists only their own.
    assert_eq!(get(&mut client, &award_id, &partner_a).await.unwrap().award_id, award_id);
    assert_rejected(get(&mut client, &award_id, &partner_b).await, Code::NotFound, "award");
    let seen = list(&mut client, pb::ListAwardsRequest::default(), &partner_b).await;
    assert_eq!(seen.awards.len(), 1);
    assert_eq!(seen.awards[0].organisation_id, org_b);

    // A partner asks for a reallocation beyond the threshold; another officer cannot be the requester.
    let moves =
        vec![pb::BudgetMove { from_line_id: "shelter".into(), to_line_id: "legal".into(), amount: usd(70_000) }];
    let direct = pb::ReallocateBudgetRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        moves: moves.clone(),
        reason: "legal".into(),
    };
    assert_rejected(
        client.reallocate_budget(authed(direct, &officer)).await,
        Code::FailedPrecondition,
        "variance threshold",
    );
    let change = pb::VariationChange { change: Some(pb::Change::Reallocation(pb::Reallocation { moves })) };
    let request = pb::RequestVariationRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        change: Some(change),
        reason: "more legal cases".into(),
    };
    let requested =
        client.request_variation(authed(request.clone(), &partner_a)).await.unwrap().into_inner().award.unwrap();
    let variation_id = requested.variations[0].variation_id.clone();
    assert_rejected(
        client
            .request_variation(authed(pb::RequestVariationRequest { request_id: request_id(), ..request }, &partner_b))
            .await,
        Code::NotFound,
        "award",
    );
    let approve = pb::ApproveVariationRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        variation_id,
        comment: "justified".into(),
    };
    let varied = client.approve_variation(authed(approve, &officer)).await.unwrap().into_inner().award.unwrap();
    let lines = &varied.terms.as_ref().unwrap().budget_lines;
    assert_eq!((lines[0].amount.clone(), lines[1].amount.clone()), (usd(140_000), usd(210_000)));
    assert_eq!(varied.variations[0].status, pb::VariationStatus::Approved as i32);

    // Filters, pagination, and the history with who did what.
    let active = pb::ListAwardsRequest { status: pb::AwardStatus::Active as i32, ..Default::default() };
    assert_eq!(list(&mut client, active, &auditor).await.awards.len(), 1);
    let by_org = pb::ListAwardsRequest { organisation_id: org_b.clone(), ..Default::default() };
    assert_eq!(list(&mut client, by_org, &auditor).await.awards[0].status, pb::AwardStatus::Offered as i32);
    let page = |token: String| pb::ListAwardsRequest {
        page: Some(contracts::common::v1::PageRequest { page_size: 1, page_token: token }),
        ..Default::default()
    };
    let first_page = list(&mut client, page(String::new()), &auditor).await;
    assert_eq!(first_page.awards.len(), 1);
    let second_page = list(&mut client, page(first_page.next_page_token.clone()), &auditor).await;
    assert_eq!(second_page.awards.len(), 1);
    assert_ne!(first_page.awards[0].award_id, second_page.awards[0].award_id);
    assert!(second_page.next_page_token.is_empty());

    let award = get(&mut client, &award_id, &auditor).await.unwrap();
    let history: Vec<(String, String)> =
        award.history.iter().map(|h| (h.event_type.clone(), h.actor_subject.clone())).collect();
    let expected = [
        ("AwardOffered", "someone"),
        ("AgreementSet", "officer-1"),
        ("AgreementSigned", "officer-1"),
        ("TrancheReleased", "finance-1"),
        ("VariationRequested", "partner-a"),
        ("VariationApproved", "officer-1"),
    ];
    assert_eq!(history, expected.map(|(t, s)| (t.to_owned(), s.to_owned())));

    // A restart rebuilds everything from the log.
    let dir = server.stop().await;
    let server = start_awards(dir, None, HashMap::new()).await;
    let mut client = server.client(AwardsServiceClient::new).await;
    assert_eq!(get(&mut client, &award_id, &auditor).await.unwrap(), award);
    let all = list(&mut client, pb::ListAwardsRequest { round_id: round, ..Default::default() }, &auditor).await;
    assert_eq!(all.awards.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn suspension_termination_and_close_out_over_grpc() {
    let (server, mut client, award_id) = start_with_one_offer().await;
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let finance = token(Role::FinanceOfficer, "finance-1", None);

    let set = pb::SetAgreementRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        terms: Some(agreement()),
        expected_version: None,
    };
    client.set_agreement(authed(set, &officer)).await.unwrap();
    let close =
        || pb::CloseAwardRequest { request_id: request_id(), award_id: award_id.clone(), comment: String::new() };
    assert_rejected(client.close_award(authed(close(), &officer)).await, Code::FailedPrecondition, "status");
    let sign =
        pb::SignAgreementRequest { request_id: request_id(), award_id: award_id.clone(), expected_version: None };
    client.sign_agreement(authed(sign, &officer)).await.unwrap();
    assert_rejected(client.close_award(authed(close(), &officer)).await, Code::FailedPrecondition, "tranche `t1`");

    let suspend = pb::SuspendAwardRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        reason: "audit finding".into(),
    };
    let suspended = client.suspend_award(authed(suspend, &officer)).await.unwrap().into_inner().award.unwrap();
    assert_eq!(
        (suspended.status, suspended.status_reason.as_str()),
        (pb::AwardStatus::Suspended as i32, "audit finding")
    );
    let release = || pb::ReleaseTrancheRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        tranche_id: "t1".into(),
        payment: payment(140_000),
    };
    assert_rejected(client.release_tranche(authed(release(), &finance)).await, Code::FailedPrecondition, "SUSPENDED");
    let resume =
        pb::ResumeAwardRequest { request_id: request_id(), award_id: award_id.clone(), reason: "cleared".into() };
    client.resume_award(authed(resume, &officer)).await.unwrap();
    client.release_tranche(authed(release(), &finance)).await.unwrap();

    let no_reason =
        pb::TerminateAwardRequest { request_id: request_id(), award_id: award_id.clone(), reason: String::new() };
    assert_rejected(client.terminate_award(authed(no_reason, &officer)).await, Code::InvalidArgument, "reason");
    let terminate = pb::TerminateAwardRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        reason: "misuse of funds".into(),
    };
    let ended = client.terminate_award(authed(terminate, &officer)).await.unwrap().into_inner().award.unwrap();
    let statuses: Vec<i32> = ended.tranches.iter().map(|t| t.status).collect();
    let (released, cancelled) = (pb::TrancheStatus::Released as i32, pb::TrancheStatus::Cancelled as i32);
    assert_eq!(statuses, [released, cancelled, cancelled]);
    let late = pb::ReleaseTrancheRequest { tranche_id: "t2".into(), ..release() };
    assert_rejected(client.release_tranche(authed(late, &finance)).await, Code::FailedPrecondition, "TERMINATED");
    server.stop().await;
}

#[tokio::test]
async fn the_consumer_refuses_acceptances_that_match_no_requirement_and_ignores_other_events() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let source = EventLog::open(scratch.path().join("source")).unwrap();
    let app = uuid::Uuid::new_v4().to_string();
    let approval = approved(&app, &uuid::Uuid::new_v4().to_string(), &uuid::Uuid::new_v4().to_string());
    let stream = StreamId::new(stream::APPLICATION, app.clone()).unwrap();
    let event = append(&source, stream.clone(), "ApplicationApproved", approval.encode_to_vec()).await;
    assert!(react_offline(dir.path(), &event).await);

    let log = EventLog::open(awards::service::log_dir(&dir.path().join(service::AWARDS))).unwrap();
    let store = service_runtime::EventStore::new(log.clone());
    let award_id =
        awards::domain::AwardId::for_application(awards::domain::ApplicationId::parse("", &app).unwrap()).to_string();
    let accepted = contracts::reporting::v1::ReportAccepted {
        report_id: "r-1".into(),
        award_id,
        report_ref: "progress-1".into(),
        kind: contracts::reporting::v1::ReportKind::Progress as i32,
        accepted_by: "reviewer-9".into(),
        accepted_at: Some(prost_types::Timestamp { seconds: 1_780_000_000, nanos: 0 }),
        ..Default::default()
    };
    let report_stream = StreamId::new("report", "r-1").unwrap();
    let early = append(&source, report_stream, "ReportAccepted", accepted.encode_to_vec()).await;
    // The agreement is not signed: no report is required yet, so the event goes to the dead letters.
    let refused = awards::inbound::react(&store, service::REPORTING, &early).unwrap_err();
    assert!(refused.0.contains("not signed"), "{refused}");
    let other = append(&source, stream, "ApplicationEdited", Vec::new()).await;
    assert!(awards::inbound::react(&store, service::APPLICATIONS, &other).unwrap().is_none());
    let garbage =
        append(&source, StreamId::new(stream::APPLICATION, "x").unwrap(), "ApplicationApproved", vec![0xff]).await;
    assert!(awards::inbound::react(&store, service::APPLICATIONS, &garbage).is_err());
    assert_eq!(log.next_position(), 1, "nothing but the offer was written");
}

#[tokio::test]
async fn ids_money_budget_lines_and_segregation_of_duties_follow_the_contract_over_grpc() {
    // Approved by `officer-0` (the fixture's `decided_by`).
    let (server, mut client, award_id) = start_with_one_offer().await;
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let auditor = token(Role::Auditor, "auditor-1", None);
    let set = |terms| pb::SetAgreementRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        terms: Some(terms),
        expected_version: None,
    };

    // A budget line of 0 is what a reallocation may leave, never what an agreement starts with.
    let mut empty_line = agreement();
    empty_line.budget_lines[0].amount = usd(0);
    empty_line.budget_lines[1].amount = usd(350_000);
    assert_rejected(
        client.set_agreement(authed(set(empty_line), &officer)).await,
        Code::FailedPrecondition,
        "terms.budget_lines[0].amount",
    );
    // Ids have one spelling: upper case is malformed, for the object's id and for the request id alike.
    let upper_award = pb::SetAgreementRequest { award_id: award_id.to_uppercase(), ..set(agreement()) };
    assert_rejected(client.set_agreement(authed(upper_award, &officer)).await, Code::InvalidArgument, "award_id");
    let upper_request = pb::SetAgreementRequest { request_id: request_id().to_uppercase(), ..set(agreement()) };
    assert_rejected(client.set_agreement(authed(upper_request, &officer)).await, Code::InvalidArgument, "request_id");
    assert_eq!(get(&mut client, &award_id, &auditor).await.unwrap().version, 1, "nothing was recorded");

    // Signed by `officer-1`.
    agree_and_sign(&mut client, &award_id, agreement()).await;

    // A malformed variation id is invalid input, not an unknown variation.
    let approve = pb::ApproveVariationRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        variation_id: "v1".into(),
        comment: String::new(),
    };
    assert_rejected(client.approve_variation(authed(approve, &officer)).await, Code::InvalidArgument, "variation_id");
    let decline = pb::DeclineVariationRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        variation_id: uuid::Uuid::new_v4().to_string().to_uppercase(),
        reason: "no".into(),
    };
    assert_rejected(client.decline_variation(authed(decline, &officer)).await, Code::InvalidArgument, "variation_id");
    let unknown = pb::DeclineVariationRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        variation_id: uuid::Uuid::new_v4().to_string(),
        reason: "no".into(),
    };
    assert_rejected(client.decline_variation(authed(unknown, &officer)).await, Code::NotFound, "variation");

    // Whoever decided to pay may not also pay, whatever role their token names.
    let release = |payment| pb::ReleaseTrancheRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        tranche_id: "t1".into(),
        payment,
    };
    for (subject, deed) in [("officer-0", "approved the application"), ("officer-1", "signed the agreement")] {
        let as_finance = token(Role::FinanceOfficer, subject, None);
        assert_rejected(
            client.release_tranche(authed(release(payment(140_000)), &as_finance)).await,
            Code::FailedPrecondition,
            deed,
        );
    }
    // A payment in a code that is no currency is refused, however plausible its rate.
    let finance = token(Role::FinanceOfficer, "finance-1", None);
    let not_money = pb::Payment {
        paid_amount: Some(contracts::common::v1::Money { minor_units: 140_000, currency: "ZZZ".into() }),
        exchange_rate: "1".into(),
        rate_source: "made up".into(),
        rate_value_date: date(2026, 1, 14),
        payment_reference: "PAY-Z".into(),
    };
    assert_rejected(
        client.release_tranche(authed(release(Some(not_money)), &finance)).await,
        Code::InvalidArgument,
        "payment.paid_amount.currency",
    );
    let award = get(&mut client, &award_id, &auditor).await.unwrap();
    assert_eq!((award.version, award.released_total), (3, usd(0)), "no refused command recorded anything");
    let paid = client.release_tranche(authed(release(payment(140_000)), &finance)).await.unwrap().into_inner();
    assert_eq!(paid.award.unwrap().released_total, usd(140_000));
    server.stop().await;
}

#[tokio::test]
async fn free_text_is_sealed_and_text_recorded_in_clear_before_sealing_reads_as_erased_after_an_erasure() {
    // An earlier version recorded a suspension's reason in clear.
    let legacy = "suspended while the shelter in Battambang is audited";
    let (server, mut client, award_id) = start_with_one_offer_and(|_, award_id| {
        let suspended = pb::AwardSuspended { award_id: award_id.into(), reason: legacy.into(), sealed_text: None };
        vec![("AwardSuspended", suspended.encode_to_vec())]
    })
    .await;
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let auditor = token(Role::Auditor, "auditor-1", None);
    assert_eq!(get(&mut client, &award_id, &auditor).await.unwrap().status_reason, legacy, "old logs keep working");

    // New text is sealed: the log holds only ciphertext, the service shows the text.
    let resumed = "audit closed without findings";
    let resume =
        pb::ResumeAwardRequest { request_id: request_id(), award_id: award_id.clone(), reason: resumed.into() };
    client.resume_award(authed(resume, &officer)).await.unwrap();
    assert_eq!(get(&mut client, &award_id, &auditor).await.unwrap().status_reason, resumed);
    // Text that identifies someone is refused by the guard before anything is recorded.
    let named = pb::SuspendAwardRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        reason: "call Ms. Sokha on +855 12 345 678".into(),
    };
    assert_rejected(client.suspend_award(authed(named, &officer)).await, Code::InvalidArgument, "reason");

    let erase = pb::EraseAwardTextRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        variation_id: String::new(),
        reason: contracts::common::v1::ErasureReason::SafeguardingIncident as i32,
    };
    let erased = client.erase_award_text(authed(erase, &officer)).await.unwrap().into_inner().award.unwrap();
    assert_eq!(erased.status_reason, contracts::free_text::ERASED_TEXT, "sealed text whose key is gone");
    let award = get(&mut client, &award_id, &auditor).await.unwrap();
    let types: Vec<&str> = award.history.iter().map(|h| h.event_type.as_str()).collect();
    assert_eq!(types, ["AwardOffered", "AwardSuspended", "AwardResumed", "AwardTextErased"]);

    // The legacy reason is redacted for every reader too: the history as of before the resumption.
    let dir = server.stop().await;
    let log = EventLog::open(awards::service::log_dir(&dir.path().join(service::AWARDS))).unwrap();
    let store = service_runtime::EventStore::with_sealer(
        log.clone(),
        service_runtime::TextSealer::new(
            personal_data::KeyVault::open(service_runtime::sealing::key_dir(&dir.path().join(service::AWARDS)))
                .unwrap(),
            "grants.awards.v1",
        ),
    );
    let events = store.read_opened(&StreamId::new(stream::AWARD, award_id.clone()).unwrap()).unwrap();
    let suspended = pb::AwardSuspended::decode(events[1].payload.as_slice()).unwrap();
    assert_eq!(suspended.reason, contracts::free_text::ERASED_TEXT);
    let raw: Vec<_> = log.read_all(0).map(|e| e.unwrap()).collect();
    let resumed_raw = raw.iter().find(|e| e.event_type == "AwardResumed").unwrap();
    assert!(!resumed_raw.record_bytes().windows(resumed.len()).any(|w| w == resumed.as_bytes()), "sealed in the log");
    assert!(log.verify(..).unwrap().is_intact());
}
