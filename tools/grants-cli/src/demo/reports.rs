//! Reporting through the reporting service: the obligations scheduled from the bus, each partner's first
//! progress report submitted and accepted, and the wait until reporting has learnt everything the demo did.

use anyhow::Context;
use contracts::applications::v1::ServiceType as Svc;
use contracts::common::v1::Date;
use contracts::reporting::v1::{self as rp, ReportingServiceClient};
use tonic::transport::Channel;

use super::funding::get_award;
use super::program::{OFFICER, Partner, request_id};
use super::waiting::eventually;
use super::{Clients, Tokens};
use crate::endpoints::{authed, refused};
use crate::stdout::say;

/// The award's reporting schedule, or `None` while the reporting service has not learnt of the award.
pub(crate) async fn obligations(
    mut client: ReportingServiceClient<Channel>,
    token: &str,
    award_id: &str,
) -> anyhow::Result<Option<rp::ObligationsResponse>> {
    let request = rp::GetObligationsRequest { award_id: award_id.into(), as_of: None };
    match client.get_obligations(authed(request, token)?).await {
        Ok(response) => Ok(Some(response.into_inner())),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
        Err(status) => Err(refused("reading obligations")(status)),
    }
}

/// Waits until the reporting service scheduled the award's reports, which it does when it learns over the
/// bus that the agreement was signed.
pub(super) async fn wait_for_obligations(clients: &Clients, tokens: &Tokens, award_id: String) -> anyhow::Result<()> {
    let what = format!("the reporting obligations of award {award_id}");
    eventually(&what, || async {
        let found = obligations(clients.reporting.clone(), &tokens.auditor, &award_id).await?;
        Ok(found.filter(|o| !o.obligations.is_empty()).map(|_| ()))
    })
    .await
}

/// The partner's first progress report: people screened and referred, and people assisted by each of its
/// services, by sex, age band and disability; legal cases and policy products where it offers them.
pub(crate) fn progress(partner: &Partner, index: usize) -> rp::ProgressContent {
    let scale = u64::try_from(index).unwrap_or(0) + 1;
    let cell = |sex: rp::Sex, age: rp::AgeBand, disability: rp::Disability, count: u64| rp::Cell {
        sex: sex as i32,
        age_band: age as i32,
        disability: disability as i32,
        count,
    };
    let persons = |indicator: &str, base: u64| {
        let cells = vec![
            cell(rp::Sex::Female, rp::AgeBand::Years12To17, rp::Disability::WithoutDisability, base + 2 * scale),
            cell(rp::Sex::Female, rp::AgeBand::Years18To24, rp::Disability::WithoutDisability, base + 3 * scale),
            cell(rp::Sex::Female, rp::AgeBand::Years25To59, rp::Disability::WithDisability, base / 2 + scale),
            cell(rp::Sex::Male, rp::AgeBand::Years18To24, rp::Disability::NotAssessed, base + scale),
            cell(rp::Sex::Male, rp::AgeBand::Years25To59, rp::Disability::WithoutDisability, base + 2 * scale),
        ];
        rp::IndicatorValue { indicator_id: indicator.into(), total: cells.iter().map(|c| c.count).sum(), cells }
    };
    let mut indicators = vec![persons("persons_identified_or_screened", 20), persons("persons_referred", 12)];
    for service in partner.services {
        let indicator = match service {
            Svc::Shelter => "persons_assisted_shelter",
            Svc::Medical => "persons_assisted_medical",
            Svc::MentalHealth => "persons_assisted_mental_health_psychosocial",
            Svc::LegalAid => "persons_assisted_legal_aid",
            Svc::Reintegration => "persons_assisted_reintegration_livelihood",
            Svc::Repatriation => "persons_assisted_repatriation",
            Svc::ResearchAndPolicy | Svc::Unspecified => continue,
        };
        let mut assisted = persons(indicator, 8);
        if *service == Svc::Repatriation {
            // Children returned home are few: a count the summary must withhold rather than publish.
            assisted.cells.push(cell(rp::Sex::Male, rp::AgeBand::Years0To11, rp::Disability::WithoutDisability, 1));
            assisted.total = assisted.cells.iter().map(|c| c.count).sum();
        }
        indicators.push(assisted);
    }
    if partner.services.contains(&Svc::LegalAid) {
        indicators.push(rp::IndicatorValue {
            indicator_id: "legal_cases_prosecution".into(),
            total: 2 + scale,
            cells: vec![],
        });
    }
    if partner.services.contains(&Svc::ResearchAndPolicy) {
        indicators.push(rp::IndicatorValue {
            indicator_id: "policy_evidence_products".into(),
            total: 3,
            cells: vec![],
        });
    }
    rp::ProgressContent { narrative: partner.narrative.into(), indicators }
}

/// The partner submits its first progress report; the program officer accepts it.
pub(super) async fn report(
    clients: &mut Clients,
    tokens: &Tokens,
    partner_token: &str,
    partner: &Partner,
    award_id: &str,
    index: usize,
) -> anyhow::Result<()> {
    let submit = progress_report(partner, partner.key, award_id, index);
    let step = format!("submitting the progress report of {}", partner.legal_name);
    clients.reporting.submit_report(authed(submit, partner_token)?).await.map_err(refused(&step))?;
    let accept = acceptance(partner.key, award_id);
    let step = format!("accepting the progress report of {}", partner.legal_name);
    clients.reporting.accept_report(authed(accept, &tokens.officer)?).await.map_err(refused(&step))?;
    say!("  {}: first progress report submitted and accepted by {OFFICER}", partner.legal_name);
    Ok(())
}

/// The first progress report of the grant named by `key`, with the partner's narrative and the counts of
/// its `index` (see [`progress`]).
pub(crate) fn progress_report(partner: &Partner, key: &str, award_id: &str, index: usize) -> rp::SubmitReportRequest {
    rp::SubmitReportRequest {
        request_id: request_id(&format!("report/{key}/progress-1")),
        award_id: award_id.into(),
        report_ref: "progress-1".into(),
        progress: Some(progress(partner, index)),
        financial: None,
        attestations: Some(rp::Attestations {
            consent_for_data_use: true,
            safeguarding_and_child_protection: true,
            fraud_and_anti_corruption: true,
        }),
        expected_version: None,
    }
}

/// The program officer's acceptance of the first progress report of the grant named by `key`.
pub(crate) fn acceptance(key: &str, award_id: &str) -> rp::AcceptReportRequest {
    rp::AcceptReportRequest {
        request_id: request_id(&format!("accept/{key}/progress-1")),
        award_id: award_id.into(),
        report_ref: "progress-1".into(),
        expected_version: None,
    }
}

/// Waits until the reporting service has recorded what it learns over the bus from the demo's last steps
/// (every release, and the variation of the featured grant), so that the program is whole when the
/// summary is printed and a second run finds nothing left to do; returns every award's obligations as
/// they then stand.
pub(super) async fn wait_until_reporting_settled(
    clients: &Clients,
    tokens: &Tokens,
    awards: &[(usize, String)],
    featured_award: &str,
    varied_end: Date,
) -> anyhow::Result<Vec<rp::ObligationsResponse>> {
    let mut settled = Vec::with_capacity(awards.len());
    for (_, award_id) in awards {
        let award =
            get_award(clients.awards.clone(), &tokens.auditor, award_id).await?.context("the award vanished")?;
        let what = format!("the reporting service to record the releases and variations of award {award_id}");
        let obligations = eventually(&what, || async {
            let found = obligations(clients.reporting.clone(), &tokens.auditor, award_id).await?;
            Ok(found.filter(|o| {
                o.released_total == award.released_total
                    && (award_id != featured_award || o.period_end == Some(varied_end))
            }))
        })
        .await?;
        settled.push(obligations);
    }
    Ok(settled)
}
