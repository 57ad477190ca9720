//! Funding the approved applications through the awards service: each award offered from the bus gets its
//! agreement, is signed and receives its initial tranche; the featured grant later receives its interim
//! tranche, once its report was accepted, and has its agreement extended by a variation.

use anyhow::Context;
use contracts::awards::v1::{self as aw, AwardsServiceClient};
use contracts::common::v1::Date;
use contracts::events::EventMessage;
use contracts::reporting::v1 as rp;
use tonic::transport::Channel;

use super::program::{FINANCE, OFFICER, Partner, aud, date, dollars, request_id};
use super::waiting::eventually;
use super::{Clients, Tokens};
use crate::endpoints::{authed, refused};
use crate::stdout::say;

/// The agreement of an award of `amount` AUD cents: July 2021 to the end of next year; an initial tranche,
/// an interim one gated by the first progress report (due 31 January 2022) and a final one gated by the
/// final report.
pub(crate) fn agreement(amount: i64, year: i32) -> aw::AgreementTerms {
    let end = year + 1;
    let (t1, t2) = (amount * 40 / 100, amount * 30 / 100);
    let services = amount * 70 / 100;
    let tranche = |id: &str, kind: aw::TrancheKind, amount, due, reports: &[&str]| aw::Tranche {
        tranche_id: id.into(),
        kind: kind as i32,
        amount: aud(amount),
        due_date: due,
        required_reports: reports.iter().map(|r| (*r).to_owned()).collect(),
    };
    aw::AgreementTerms {
        amount: aud(amount),
        period_start: date(2021, 7, 1),
        period_end: date(end, 12, 31),
        budget_lines: vec![
            aw::BudgetLine { line_id: "services".into(), category: "Direct services".into(), amount: aud(services) },
            aw::BudgetLine {
                line_id: "staff".into(),
                category: "Staff and coordination".into(),
                amount: aud(amount - services),
            },
        ],
        tranches: vec![
            tranche("t1", aw::TrancheKind::Initial, t1, date(2021, 7, 15), &[]),
            tranche("t2", aw::TrancheKind::Interim, t2, date(2022, 2, 15), &["progress-1"]),
            tranche("t3", aw::TrancheKind::Final, amount - t1 - t2, date(end, 12, 31), &["final-1"]),
        ],
        reports: vec![
            aw::ReportRequirement {
                report_ref: "progress-1".into(),
                kind: rp::ReportKind::Progress as i32,
                period_start: date(2021, 7, 1),
                period_end: date(2021, 12, 31),
                due_date: date(2022, 1, 31),
            },
            aw::ReportRequirement {
                report_ref: "final-1".into(),
                kind: rp::ReportKind::Final as i32,
                period_start: date(2021, 7, 1),
                period_end: date(end, 12, 31),
                due_date: date(end, 12, 31),
            },
        ],
        variance_threshold_percent: 10,
    }
}

/// The finance officer releases the tranche `(id, kind)` and pays `amount` AUD cents for it, with a payment
/// reference that names the partner and the tranche.
async fn release_tranche(
    clients: &mut Clients,
    tokens: &Tokens,
    partner: &Partner,
    award_id: &str,
    (tranche_id, kind): (&str, &str),
    amount: i64,
) -> anyhow::Result<()> {
    let release = release(partner.key, award_id, tranche_id, amount);
    let step = format!("releasing the {kind} tranche of {}", partner.legal_name);
    clients.awards.release_tranche(authed(release, &tokens.finance)?).await.map_err(refused(&step))?;
    Ok(())
}

/// The release of the grant's tranche `tranche_id` (the grant named by `key`), paying `amount` AUD cents
/// with a payment reference that names the grant and the tranche.
pub(crate) fn release(key: &str, award_id: &str, tranche_id: &str, amount: i64) -> aw::ReleaseTrancheRequest {
    let payment = aw::Payment {
        paid_amount: aud(amount),
        payment_reference: format!("DEMO-{key}-{tranche_id}").to_uppercase(),
        ..Default::default()
    };
    aw::ReleaseTrancheRequest {
        request_id: request_id(&format!("release/{key}/{tranche_id}")),
        award_id: award_id.into(),
        tranche_id: tranche_id.into(),
        payment: Some(payment),
    }
}

/// The agreement of the grant named by `key`, for an award of `amount` AUD cents (see [`agreement`]).
pub(crate) fn agreement_request(key: &str, award_id: &str, amount: i64, year: i32) -> aw::SetAgreementRequest {
    aw::SetAgreementRequest {
        request_id: request_id(&format!("agreement/{key}")),
        award_id: award_id.into(),
        terms: Some(agreement(amount, year)),
        expected_version: None,
    }
}

pub(crate) fn signing(key: &str, award_id: &str) -> aw::SignAgreementRequest {
    aw::SignAgreementRequest {
        request_id: request_id(&format!("sign/{key}")),
        award_id: award_id.into(),
        expected_version: None,
    }
}

/// The id of the award the awards service offers for an approved application.
pub(crate) fn award_of(application_id: &str) -> anyhow::Result<String> {
    let application = uuid::Uuid::parse_str(application_id).context("the application id is not a UUID")?;
    Ok(awards::domain::AwardId::for_application(awards::domain::ApplicationId(application)).to_string())
}

/// The award's tranche `tranche_id` once its conditions are met (its gating reports accepted), or `None`.
pub(crate) fn unlocked(award: &aw::Award, tranche_id: &str) -> bool {
    award.tranches.iter().any(|t| t.tranche.as_ref().is_some_and(|t| t.tranche_id == tranche_id) && t.conditions_met)
}

/// The amount of the agreement's tranche `tranche_id`, in minor units.
pub(crate) fn tranche_amount(award: &aw::Award, tranche_id: &str) -> anyhow::Result<i64> {
    let tranche = award.terms.as_ref().and_then(|t| t.tranches.iter().find(|t| t.tranche_id == tranche_id));
    Ok(tranche
        .and_then(|t| t.amount.as_ref())
        .with_context(|| format!("the award has no tranche {tranche_id}"))?
        .minor_units)
}

/// The award as its service shows it, or `None` while it has not been offered yet.
pub(crate) async fn get_award(
    mut client: AwardsServiceClient<Channel>,
    token: &str,
    award_id: &str,
) -> anyhow::Result<Option<aw::Award>> {
    let request = aw::GetAwardRequest { award_id: award_id.into() };
    match client.get_award(authed(request, token)?).await {
        Ok(response) => Ok(response.into_inner().award),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
        Err(status) => Err(refused("reading an award")(status)),
    }
}

/// Waits for the award offered from the bus, sets and signs its agreement and releases the initial
/// tranche; returns the award id.
pub(super) async fn start_award(
    clients: &mut Clients,
    tokens: &Tokens,
    partner: &Partner,
    application_id: &str,
    year: i32,
) -> anyhow::Result<String> {
    let award_id = award_of(application_id)?;
    let what = format!("the award offer for {} (award {award_id})", partner.legal_name);
    let award = eventually(&what, || get_award(clients.awards.clone(), &tokens.auditor, &award_id)).await?;
    let amount = award.approved_amount.context("the award has no approved amount")?.minor_units;
    let set = agreement_request(partner.key, &award_id, amount, year);
    let step = format!("setting the agreement of {}", partner.legal_name);
    clients.awards.set_agreement(authed(set, &tokens.officer)?).await.map_err(refused(&step))?;
    let sign = signing(partner.key, &award_id);
    let step = format!("signing the agreement of {}", partner.legal_name);
    clients.awards.sign_agreement(authed(sign, &tokens.officer)?).await.map_err(refused(&step))?;
    let t1 = amount * 40 / 100;
    release_tranche(clients, tokens, partner, &award_id, ("t1", "initial"), t1).await?;
    say!(
        "  award {award_id} ({}): agreement signed, initial tranche of AUD {} released by {FINANCE}",
        partner.legal_name,
        dollars(t1)
    );
    Ok(award_id)
}

/// Waits until the awards service learnt of the accepted report, then releases the interim tranche (by a
/// finance officer, who did not accept the report). Returns the release's position in the awards log.
pub(super) async fn interim_release(
    clients: &mut Clients,
    tokens: &Tokens,
    partner: &Partner,
    award_id: &str,
) -> anyhow::Result<u64> {
    let what = format!("the accepted progress report to unlock the interim tranche of award {award_id}");
    let award = eventually(&what, || async {
        let award = get_award(clients.awards.clone(), &tokens.auditor, award_id).await?;
        Ok(award.filter(|a| unlocked(a, "t2")))
    })
    .await?;
    let amount = tranche_amount(&award, "t2")?;
    release_tranche(clients, tokens, partner, award_id, ("t2", "interim"), amount).await?;
    say!(
        "  {}: interim tranche of AUD {} released by {FINANCE} once its report was accepted",
        partner.legal_name,
        dollars(amount)
    );
    let award = get_award(clients.awards.clone(), &tokens.auditor, award_id).await?.context("the award vanished")?;
    let released = award.history.iter().filter(|h| h.event_type == aw::TrancheReleased::EVENT_TYPE).nth(1);
    Ok(released.context("the interim release is not in the award's history")?.log_position)
}

/// The partner asks for six more months; the program officer approves.
pub(super) async fn variation(
    clients: &mut Clients,
    tokens: &Tokens,
    partner_token: &str,
    partner: &Partner,
    award_id: &str,
    year: i32,
) -> anyhow::Result<()> {
    let change = aw::VariationChange {
        change: Some(aw::Change::EndDate(aw::EndDateChange { new_end_date: Some(variation_end(year)) })),
    };
    let request = aw::RequestVariationRequest {
        request_id: request_id(&format!("variation/{}", partner.key)),
        award_id: award_id.into(),
        change: Some(change),
        reason: "Court hearings for supported cases were rescheduled; six more months are needed to accompany \
                 survivors through trial."
            .into(),
    };
    let step = format!("requesting a variation for {}", partner.legal_name);
    let award = clients
        .awards
        .request_variation(authed(request, partner_token)?)
        .await
        .map_err(refused(&step))?
        .into_inner()
        .award
        .context("the award was not returned")?;
    let variation_id = award.variations.last().context("the variation was not recorded")?.variation_id.clone();
    let approve = aw::ApproveVariationRequest {
        request_id: request_id(&format!("approve-variation/{}", partner.key)),
        award_id: award_id.into(),
        variation_id,
        comment: "Extension justified by the court calendar; no change to the amount.".into(),
    };
    let step = format!("approving the variation for {}", partner.legal_name);
    clients.awards.approve_variation(authed(approve, &tokens.officer)?).await.map_err(refused(&step))?;
    let end = variation_end(year);
    say!(
        "  {}: variation (end date to {:04}-{:02}-{:02}) requested by the partner, approved by {OFFICER}",
        partner.legal_name,
        end.year,
        end.month,
        end.day
    );
    Ok(())
}

/// The end date the featured grant's variation extends its agreement to.
pub(super) fn variation_end(year: i32) -> Date {
    Date { year: year + 2, month: 6, day: 30 }
}

#[cfg(test)]
mod tests {
    use contracts::common::v1::Money;

    use super::*;

    #[test]
    fn every_agreement_keeps_the_awards_rules() {
        for amount in [70_000_000, 38_000_001, 75_000_003] {
            let terms = agreement(amount, 2026);
            let sum =
                |amounts: Vec<&Option<Money>>| amounts.iter().map(|m| m.as_ref().unwrap().minor_units).sum::<i64>();
            assert_eq!(sum(terms.tranches.iter().map(|t| &t.amount).collect()), amount);
            assert_eq!(sum(terms.budget_lines.iter().map(|l| &l.amount).collect()), amount);
        }
    }
}
