//! Choosing the grantees through the applications service: the round is opened, each partner is registered
//! and applies, two reviewers score each application and the program officer approves or rejects it.

use anyhow::Context;
use contracts::applications::v1 as apps;

use super::program::{
    Decision, Partner, REVIEWERS, application_content, aud, dollars, organisation_id, request_id, round,
};
use super::{Clients, Tokens};
use crate::endpoints::{authed, refused};
use crate::stdout::say;

/// Opens the program's round; returns the round id.
pub(super) async fn open_round(clients: &mut Clients, tokens: &Tokens, year: i32) -> anyhow::Result<String> {
    let response = clients
        .applications
        .open_round(authed(round(year)?, &tokens.officer)?)
        .await
        .map_err(refused("opening the round"))?
        .into_inner();
    Ok(response.round.context("the round was not returned")?.round_id)
}

/// Registers the partner and drafts and submits its application; returns the application id.
pub(super) async fn apply(
    clients: &mut Clients,
    tokens: &Tokens,
    partner_token: &str,
    round_id: &str,
    partner: &Partner,
) -> anyhow::Result<String> {
    register(clients, tokens, partner).await?;
    let draft = apps::DraftApplicationRequest {
        request_id: request_id(&format!("draft/{}", partner.key)),
        round_id: round_id.into(),
        content: Some(application_content(partner)),
    };
    let step = format!("drafting the application of {}", partner.legal_name);
    let application = clients
        .applications
        .draft_application(authed(draft, partner_token)?)
        .await
        .map_err(refused(&step))?
        .into_inner()
        .application
        .context("the application was not returned")?;
    let application_id = application.application_id;
    let submit = apps::SubmitApplicationRequest {
        request_id: request_id(&format!("submit/{}", partner.key)),
        application_id: application_id.clone(),
        expected_version: None,
    };
    let step = format!("submitting the application of {}", partner.legal_name);
    clients.applications.submit_application(authed(submit, partner_token)?).await.map_err(refused(&step))?;
    say!("  {} ({}) registered and applied: application {application_id}", partner.legal_name, partner.country);
    Ok(application_id)
}

/// The program officer registers the partner organisation, with its contact person.
async fn register(clients: &mut Clients, tokens: &Tokens, partner: &Partner) -> anyhow::Result<()> {
    let register = apps::RegisterOrganisationRequest {
        request_id: request_id(&format!("register/{}", partner.key)),
        organisation_id: organisation_id(partner),
        legal_name: partner.legal_name.into(),
        country: partner.country.into(),
        organisation_type: partner.kind as i32,
        registration_number: partner.registration_number.into(),
        contact_person: Some(apps::ContactPerson {
            full_name: "Grants Coordinator".into(),
            email: format!("grants@{}.example.org", partner.key),
            phone: String::new(),
        }),
    };
    let step = format!("registering {}", partner.legal_name);
    clients.applications.register_organisation(authed(register, &tokens.officer)?).await.map_err(refused(&step))?;
    Ok(())
}

/// Two reviews and the decision; returns whether the application was approved.
pub(super) async fn decide(
    clients: &mut Clients,
    tokens: &Tokens,
    partner: &Partner,
    application_id: &str,
) -> anyhow::Result<bool> {
    for reviewer in 0..REVIEWERS.len() {
        review(clients, tokens, partner, application_id, reviewer).await?;
    }
    let step = format!("deciding on {}", partner.legal_name);
    match partner.decision {
        Decision::Approve(amount) => {
            let approve = apps::ApproveApplicationRequest {
                request_id: request_id(&format!("approve/{}", partner.key)),
                application_id: application_id.into(),
                approved_amount: aud(amount),
                reasons: vec!["Strong fit with the round's priorities; reviewers recommend funding.".into()],
            };
            clients
                .applications
                .approve_application(authed(approve, &tokens.officer)?)
                .await
                .map_err(refused(&step))?;
            say!("    reviewed by {} and approved: AUD {}", REVIEWERS.join(" and "), dollars(amount));
            Ok(true)
        }
        Decision::Reject(reason) => {
            let reject = apps::RejectApplicationRequest {
                request_id: request_id(&format!("reject/{}", partner.key)),
                application_id: application_id.into(),
                reasons: vec![reason.into()],
            };
            clients.applications.reject_application(authed(reject, &tokens.officer)?).await.map_err(refused(&step))?;
            say!("    reviewed by {} and rejected", REVIEWERS.join(" and "));
            Ok(false)
        }
    }
}

/// The program officer assigns the `reviewer`th of [`REVIEWERS`], who declares no conflict of interest and
/// scores the application as the partner's decision deserves.
async fn review(
    clients: &mut Clients,
    tokens: &Tokens,
    partner: &Partner,
    application_id: &str,
    reviewer: usize,
) -> anyhow::Result<()> {
    let (subject, token) = (REVIEWERS[reviewer], &tokens.reviewers[reviewer]);
    let assign = apps::AssignReviewerRequest {
        request_id: request_id(&format!("assign/{}/{subject}", partner.key)),
        application_id: application_id.into(),
        reviewer_subject: subject.into(),
    };
    let step = format!("assigning {subject} to {}", partner.legal_name);
    clients.applications.assign_reviewer(authed(assign, &tokens.officer)?).await.map_err(refused(&step))?;
    let declare = apps::DeclareConflictOfInterestRequest {
        request_id: request_id(&format!("declare/{}/{subject}", partner.key)),
        application_id: application_id.into(),
        has_conflict: false,
        statement: String::new(),
    };
    let step = format!("{subject} declaring conflicts for {}", partner.legal_name);
    clients.applications.declare_conflict_of_interest(authed(declare, token)?).await.map_err(refused(&step))?;
    let fund = matches!(partner.decision, Decision::Approve(_));
    let base: u32 = if fund { 7 } else { 4 };
    let n = u32::try_from(reviewer).unwrap_or(0);
    let scores = [("relevance", base + 1 - n), ("capacity", base + n), ("value", base)]
        .map(|(id, score)| apps::CriterionScore { criterion_id: id.into(), score })
        .to_vec();
    let review = apps::RecordReviewRequest {
        request_id: request_id(&format!("review/{}/{subject}", partner.key)),
        application_id: application_id.into(),
        scores,
        recommendation: if fund { apps::Recommendation::Fund } else { apps::Recommendation::DoNotFund } as i32,
        comment: if fund {
            "Clear survivor-centred design and credible referral partners.".into()
        } else {
            "Weak link to direct services for victims of trafficking.".into()
        },
    };
    let step = format!("{subject} reviewing {}", partner.legal_name);
    clients.applications.record_review(authed(review, token)?).await.map_err(refused(&step))?;
    Ok(())
}
