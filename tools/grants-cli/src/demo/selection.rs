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
    let register = registration(partner, partner.key, partner.registration_number);
    let step = format!("registering {}", partner.legal_name);
    clients.applications.register_organisation(authed(register, &tokens.officer)?).await.map_err(refused(&step))?;
    let step = format!("drafting the application of {}", partner.legal_name);
    let application = clients
        .applications
        .draft_application(authed(draft(partner, partner.key, round_id), partner_token)?)
        .await
        .map_err(refused(&step))?
        .into_inner()
        .application
        .context("the application was not returned")?;
    let application_id = application.application_id;
    let step = format!("submitting the application of {}", partner.legal_name);
    let submit = submission(partner.key, &application_id);
    clients.applications.submit_application(authed(submit, partner_token)?).await.map_err(refused(&step))?;
    say!("  {} ({}) registered and applied: application {application_id}", partner.legal_name, partner.country);
    Ok(application_id)
}

/// The program officer's registration of `partner` as the organisation named by `key`, with its contact
/// person.
pub(crate) fn registration(
    partner: &Partner,
    key: &str,
    registration_number: &str,
) -> apps::RegisterOrganisationRequest {
    apps::RegisterOrganisationRequest {
        request_id: request_id(&format!("register/{key}")),
        organisation_id: organisation_id(key),
        legal_name: partner.legal_name.into(),
        country: partner.country.into(),
        organisation_type: partner.kind as i32,
        registration_number: registration_number.into(),
        contact_person: Some(apps::ContactPerson {
            full_name: "Grants Coordinator".into(),
            email: format!("grants@{key}.example.org"),
            phone: String::new(),
        }),
    }
}

/// The partner's draft of its application (the grant named by `key`) to the round.
pub(crate) fn draft(partner: &Partner, key: &str, round_id: &str) -> apps::DraftApplicationRequest {
    apps::DraftApplicationRequest {
        request_id: request_id(&format!("draft/{key}")),
        round_id: round_id.into(),
        content: Some(application_content(partner)),
    }
}

pub(crate) fn submission(key: &str, application_id: &str) -> apps::SubmitApplicationRequest {
    apps::SubmitApplicationRequest {
        request_id: request_id(&format!("submit/{key}")),
        application_id: application_id.into(),
        expected_version: None,
    }
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
            let approve = approval(partner.key, application_id, amount);
            clients
                .applications
                .approve_application(authed(approve, &tokens.officer)?)
                .await
                .map_err(refused(&step))?;
            say!("    reviewed by {} and approved: AUD {}", REVIEWERS.join(" and "), dollars(amount));
            Ok(true)
        }
        Decision::Reject(reason) => {
            let reject = rejection(partner.key, application_id, reason);
            clients.applications.reject_application(authed(reject, &tokens.officer)?).await.map_err(refused(&step))?;
            say!("    reviewed by {} and rejected", REVIEWERS.join(" and "));
            Ok(false)
        }
    }
}

/// The program officer's approval of the grant named by `key`, for `amount` AUD cents.
pub(crate) fn approval(key: &str, application_id: &str, amount: i64) -> apps::ApproveApplicationRequest {
    apps::ApproveApplicationRequest {
        request_id: request_id(&format!("approve/{key}")),
        application_id: application_id.into(),
        approved_amount: aud(amount),
        reasons: vec!["Strong fit with the round's priorities; reviewers recommend funding.".into()],
    }
}

pub(crate) fn rejection(key: &str, application_id: &str, reason: &str) -> apps::RejectApplicationRequest {
    apps::RejectApplicationRequest {
        request_id: request_id(&format!("reject/{key}")),
        application_id: application_id.into(),
        reasons: vec![reason.into()],
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
    let requests =
        ReviewRequests::new(partner.key, application_id, reviewer, matches!(partner.decision, Decision::Approve(_)));
    let step = format!("assigning {subject} to {}", partner.legal_name);
    clients.applications.assign_reviewer(authed(requests.assign, &tokens.officer)?).await.map_err(refused(&step))?;
    let step = format!("{subject} declaring conflicts for {}", partner.legal_name);
    let declare = authed(requests.declare, token)?;
    clients.applications.declare_conflict_of_interest(declare).await.map_err(refused(&step))?;
    let step = format!("{subject} reviewing {}", partner.legal_name);
    clients.applications.record_review(authed(requests.review, token)?).await.map_err(refused(&step))?;
    Ok(())
}

/// One review of the grant named by `key`: the program officer assigns the `reviewer`th of [`REVIEWERS`],
/// who declares no conflict of interest and scores the application, recommending to `fund` it or not.
pub(crate) struct ReviewRequests {
    pub(crate) assign: apps::AssignReviewerRequest,
    pub(crate) declare: apps::DeclareConflictOfInterestRequest,
    pub(crate) review: apps::RecordReviewRequest,
}

impl ReviewRequests {
    pub(crate) fn new(key: &str, application_id: &str, reviewer: usize, fund: bool) -> ReviewRequests {
        let subject = REVIEWERS[reviewer];
        let assign = apps::AssignReviewerRequest {
            request_id: request_id(&format!("assign/{key}/{subject}")),
            application_id: application_id.into(),
            reviewer_subject: subject.into(),
        };
        let declare = apps::DeclareConflictOfInterestRequest {
            request_id: request_id(&format!("declare/{key}/{subject}")),
            application_id: application_id.into(),
            has_conflict: false,
            statement: String::new(),
        };
        let base: u32 = if fund { 7 } else { 4 };
        let n = u32::try_from(reviewer).unwrap_or(0);
        let scores = [("relevance", base + 1 - n), ("capacity", base + n), ("value", base)]
            .map(|(id, score)| apps::CriterionScore { criterion_id: id.into(), score })
            .to_vec();
        let review = apps::RecordReviewRequest {
            request_id: request_id(&format!("review/{key}/{subject}")),
            application_id: application_id.into(),
            scores,
            recommendation: if fund { apps::Recommendation::Fund } else { apps::Recommendation::DoNotFund } as i32,
            comment: if fund {
                "Clear survivor-centred design and credible referral partners.".into()
            } else {
                "Weak link to direct services for victims of trafficking.".into()
            },
        };
        ReviewRequests { assign, declare, review }
    }
}
