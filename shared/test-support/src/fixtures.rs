//! Values the suites build their requests and events from, and an application taken through the real
//! applications service to approval, the start of every grant the other services see.

use std::time::{SystemTime, UNIX_EPOCH};

use contracts::applications::v1 as apps;
use contracts::awards::v1::{self as aw, AwardsServiceClient};
use contracts::common::v1::{Date, Money};
use contracts::reporting::v1::ReportKind;
use domain_kernel::Role;
use tonic::transport::Channel;

use crate::identity::{authed, token};

/// A fresh request id, so that a request is never taken for a retry of another.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An amount in US dollar cents.
pub fn usd(minor_units: i64) -> Option<Money> {
    Some(Money { minor_units, currency: "USD".into() })
}

/// A calendar date.
pub fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// The time `offset_seconds` from now (in the past when negative), to whole seconds.
pub fn from_now(offset_seconds: i64) -> Option<prost_types::Timestamp> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    Some(prost_types::Timestamp { seconds: now + offset_seconds, nanos: 0 })
}

/// 350 000 USD cents: shelter 210 000 + legal 140 000; t1 140 000 (initial, ungated), t2 105 000 (gated
/// by `progress-1`), t3 105 000 (gated by `final-1`); variance threshold 10 %.
pub fn agreement() -> aw::AgreementTerms {
    let tranche = |id: &str, kind: aw::TrancheKind, amount, month, reports: &[&str]| aw::Tranche {
        tranche_id: id.into(),
        kind: kind as i32,
        amount: usd(amount),
        due_date: date(2026, month, 15),
        required_reports: reports.iter().map(|r| (*r).to_owned()).collect(),
    };
    aw::AgreementTerms {
        amount: usd(350_000),
        period_start: date(2026, 1, 1),
        period_end: date(2026, 12, 31),
        budget_lines: vec![
            aw::BudgetLine { line_id: "shelter".into(), category: "Shelter".into(), amount: usd(210_000) },
            aw::BudgetLine { line_id: "legal".into(), category: "Legal aid".into(), amount: usd(140_000) },
        ],
        tranches: vec![
            tranche("t1", aw::TrancheKind::Initial, 140_000, 1, &[]),
            tranche("t2", aw::TrancheKind::Interim, 105_000, 6, &["progress-1"]),
            tranche("t3", aw::TrancheKind::Final, 105_000, 12, &["final-1"]),
        ],
        reports: vec![
            aw::ReportRequirement {
                report_ref: "progress-1".into(),
                kind: ReportKind::Progress as i32,
                period_start: date(2026, 1, 1),
                period_end: date(2026, 5, 31),
                due_date: date(2026, 6, 10),
            },
            aw::ReportRequirement {
                report_ref: "final-1".into(),
                kind: ReportKind::Final as i32,
                period_start: date(2026, 1, 1),
                period_end: date(2026, 12, 31),
                due_date: date(2026, 12, 31),
            },
        ],
        variance_threshold_percent: 10,
    }
}

/// A payment of `amount` USD cents with reference `PAY-1`.
pub fn payment(amount: i64) -> Option<aw::Payment> {
    Some(aw::Payment { paid_amount: usd(amount), payment_reference: "PAY-1".into(), ..Default::default() })
}

/// Sets `terms` as the agreement of `award_id` and signs it, as program officer `officer-1`; returns the
/// signed award.
pub async fn agree_and_sign(
    client: &mut AwardsServiceClient<Channel>,
    award_id: &str,
    terms: aw::AgreementTerms,
) -> aw::Award {
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let set = aw::SetAgreementRequest {
        request_id: request_id(),
        award_id: award_id.into(),
        terms: Some(terms),
        expected_version: None,
    };
    client.set_agreement(authed(set, &officer)).await.unwrap();
    let sign = aw::SignAgreementRequest { request_id: request_id(), award_id: award_id.into(), expected_version: None };
    client.sign_agreement(authed(sign, &officer)).await.unwrap().into_inner().award.unwrap()
}

/// Releases `tranche` of `award_id` with a [`payment`] of `amount`, as finance officer `subject`; returns
/// the award after the release, or the refusal.
pub async fn release_tranche(
    client: &mut AwardsServiceClient<Channel>,
    award_id: &str,
    tranche: &str,
    amount: i64,
    subject: &str,
) -> Result<aw::Award, tonic::Status> {
    let request = aw::ReleaseTrancheRequest {
        request_id: request_id(),
        award_id: award_id.into(),
        tranche_id: tranche.into(),
        payment: payment(amount),
    };
    let finance = token(Role::FinanceOfficer, subject, None);
    client.release_tranche(authed(request, &finance)).await.map(|r| r.into_inner().award.unwrap())
}

/// What the applications service publishes when it approves `application_id` for 350 000 of 400 000, for
/// tests that run without it.
pub fn approved(application_id: &str, organisation_id: &str, round_id: &str) -> apps::ApplicationApproved {
    apps::ApplicationApproved {
        application_id: application_id.into(),
        round_id: round_id.into(),
        organisation_id: organisation_id.into(),
        approved_amount: usd(350_000),
        requested_amount: usd(400_000),
        decided_by: "officer-0".into(),
        title: "Shelter in Phnom Penh".into(),
        ..Default::default()
    }
}

/// A round open from an hour ago for a day, with a USD ceiling, one criterion and one review per application.
pub fn open_round() -> apps::OpenRoundRequest {
    apps::OpenRoundRequest {
        request_id: request_id(),
        title: "Round 1".into(),
        description: "Services for survivors".into(),
        budget_ceiling: usd(1_000_000),
        eligible_countries: vec!["KH".into()],
        themes: vec!["shelter".into()],
        opens_at: from_now(-3600),
        closes_at: from_now(86_400),
        criteria: vec![apps::Criterion {
            criterion_id: "relevance".into(),
            name: "Relevance".into(),
            guidance: String::new(),
            weight: 100,
            max_score: 10,
        }],
        required_reviews: 1,
    }
}

/// The registration of `organisation_id` (a Cambodian NGO) with its contact person.
pub fn registration(organisation_id: &str) -> apps::RegisterOrganisationRequest {
    apps::RegisterOrganisationRequest {
        request_id: request_id(),
        organisation_id: organisation_id.into(),
        legal_name: "Safe Harbour Foundation".into(),
        country: "KH".into(),
        organisation_type: apps::OrganisationType::NationalNgo as i32,
        registration_number: format!("KH-{organisation_id}"),
        contact_person: Some(apps::ContactPerson {
            full_name: "Contact Person".into(),
            email: "c@example.org".into(),
            phone: String::new(),
        }),
    }
}

/// Takes an application of `organisation_id` through the real applications service behind `channel`, from
/// opening a round (1 000 000, Cambodia, one criterion, one review) to approval of 350 000 of 400 000
/// requested. Returns the approved application.
pub async fn approve_application(channel: Channel, organisation_id: &str) -> apps::Application {
    let mut client = apps::ApplicationsServiceClient::new(channel);
    let officer = token(Role::ProgramOfficer, "officer-0", None);
    let partner = token(Role::Partner, "partner-1", Some(organisation_id));
    let reviewer = token(Role::Reviewer, "reviewer-1", None);
    let round = client.open_round(authed(open_round(), &officer)).await.unwrap().into_inner().round.unwrap();
    client.register_organisation(authed(registration(organisation_id), &officer)).await.unwrap();
    let content = apps::ApplicationContent {
        title: "Shelter in Phnom Penh".into(),
        summary: "Safe shelter and legal aid".into(),
        requested_amount: usd(400_000),
        budget_lines: vec![apps::BudgetLine { description: "Shelter".into(), amount: usd(400_000) }],
        countries: vec!["KH".into()],
        services_offered: vec![apps::ServiceType::Shelter as i32],
        target_groups: vec!["women returning from abroad".into()],
    };
    let draft = apps::DraftApplicationRequest {
        request_id: request_id(),
        round_id: round.round_id.clone(),
        content: Some(content),
    };
    let app = client.draft_application(authed(draft, &partner)).await.unwrap().into_inner().application.unwrap();
    let id = app.application_id.clone();
    let submit =
        apps::SubmitApplicationRequest { request_id: request_id(), application_id: id.clone(), expected_version: None };
    client.submit_application(authed(submit, &partner)).await.unwrap();
    let assign = apps::AssignReviewerRequest {
        request_id: request_id(),
        application_id: id.clone(),
        reviewer_subject: "reviewer-1".into(),
    };
    client.assign_reviewer(authed(assign, &officer)).await.unwrap();
    let declare = apps::DeclareConflictOfInterestRequest {
        request_id: request_id(),
        application_id: id.clone(),
        has_conflict: false,
        statement: String::new(),
    };
    client.declare_conflict_of_interest(authed(declare, &reviewer)).await.unwrap();
    let review = apps::RecordReviewRequest {
        request_id: request_id(),
        application_id: id.clone(),
        scores: vec![apps::CriterionScore { criterion_id: "relevance".into(), score: 8 }],
        recommendation: apps::Recommendation::Fund as i32,
        comment: "Strong".into(),
    };
    client.record_review(authed(review, &reviewer)).await.unwrap();
    let approve = apps::ApproveApplicationRequest {
        request_id: request_id(),
        application_id: id,
        approved_amount: usd(350_000),
        reasons: vec!["Fits the round".into()],
    };
    client.approve_application(authed(approve, &officer)).await.unwrap().into_inner().application.unwrap()
}
