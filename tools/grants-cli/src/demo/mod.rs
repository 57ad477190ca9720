//! `grants demo`: seeds a demonstration program through the services' public gRPC APIs only, acting as
//! the people who would do each step (a program officer, two reviewers, a finance officer, and each
//! partner organisation with its organisation in the token).
//!
//! The program: a 2021 round (budget in AUD) for organisations serving victims of trafficking in ASEAN
//! countries; nine partners, each applying; two reviews per application; eight approvals and one rejection;
//! the awards (offered by the awards service from the bus) get an agreement that started in July 2021, are
//! signed and receive their initial tranche; every partner but one has its first progress report accepted,
//! so that one obligation is overdue; on the first grant the interim tranche is released after its gating
//! report was accepted, and a variation extending the agreement is requested and approved.
//!
//! Every request id is derived from the step it performs, so that running the demo again (after an
//! interruption, say) replays the stored responses instead of recording anything twice.

pub(crate) mod funding;
pub(crate) mod program;
pub(crate) mod reports;
pub(crate) mod selection;
mod summary;
pub(crate) mod waiting;

use anyhow::Context;
use contracts::applications::v1::ApplicationsServiceClient;
use contracts::awards::v1::AwardsServiceClient;
use contracts::names::service;
use contracts::reporting::v1::{ObligationsResponse, ReportingServiceClient};
use domain_kernel::Role;
use tonic::transport::Channel;

use self::funding::{interim_release, start_award, variation, variation_end};
use self::program::{
    FEATURED, FINANCE, OFFICER, OVERDUE, PARTNERS, Partner, REVIEWERS, organisation_id, partner_subject,
};
use self::reports::{report, wait_for_obligations, wait_until_reporting_settled};
use self::selection::{apply, decide, open_round};
use self::summary::{Seeded, count_overdue, print_summary};
use crate::Outcome;
use crate::endpoints::Connection;
use crate::stdout::say;

/// A client of each service the demo acts on.
pub(crate) struct Clients {
    pub(crate) applications: ApplicationsServiceClient<Channel>,
    pub(crate) awards: AwardsServiceClient<Channel>,
    pub(crate) reporting: ReportingServiceClient<Channel>,
}

impl Clients {
    pub(crate) async fn connect(connection: &Connection) -> anyhow::Result<Clients> {
        Ok(Clients {
            applications: ApplicationsServiceClient::new(connection.channel(service::APPLICATIONS).await?),
            awards: AwardsServiceClient::new(connection.channel(service::AWARDS).await?),
            reporting: ReportingServiceClient::new(connection.channel(service::REPORTING).await?),
        })
    }
}

/// The tokens of the program's staff; partners' tokens are issued where they act.
pub(crate) struct Tokens {
    pub(crate) officer: String,
    pub(crate) reviewers: Vec<String>,
    pub(crate) finance: String,
    pub(crate) auditor: String,
}

impl Tokens {
    pub(crate) fn issue(connection: &Connection) -> anyhow::Result<Tokens> {
        Ok(Tokens {
            officer: connection.issue(Role::ProgramOfficer, OFFICER, None)?,
            reviewers: REVIEWERS
                .iter()
                .map(|r| connection.issue(Role::Reviewer, r, None))
                .collect::<anyhow::Result<_>>()?,
            finance: connection.issue(Role::FinanceOfficer, FINANCE, None)?,
            auditor: connection.issue(Role::Auditor, "demo-auditor", None)?,
        })
    }
}

/// A token of the partner's staff, with the partner's organisation in it.
fn partner_token(connection: &Connection, partner: &Partner) -> anyhow::Result<String> {
    connection.issue(Role::Partner, &partner_subject(partner.key), Some(&organisation_id(partner.key)))
}

pub async fn run(connection: &Connection) -> anyhow::Result<Outcome> {
    let tokens = Tokens::issue(connection)?;
    let mut clients = Clients::connect(connection).await?;
    let year = time::OffsetDateTime::now_utc().year();
    let mut seeded = Seeded::default();

    say!("Seeding the demo program through the services' gRPC APIs");
    // Before the summary, which a second run repeats exactly: each run has a trace of its own.
    say!("  every request in trace {}", crate::endpoints::run_trace().trace_id());
    select_grantees(connection, &mut clients, &tokens, year, &mut seeded).await?;
    for (index, application_id) in seeded.approved.clone() {
        let award_id = start_award(&mut clients, &tokens, &PARTNERS[index], &application_id, year).await?;
        seeded.releases += 1;
        seeded.awards.push((index, award_id));
    }
    report_progress(connection, &mut clients, &tokens, &seeded.awards).await?;
    let settled = follow_featured_grant(connection, &mut clients, &tokens, year, &mut seeded).await?;

    print_summary(&seeded, count_overdue(&settled));
    Ok(Outcome::Verified)
}

/// Opens the round; every partner applies and is reviewed and decided on.
async fn select_grantees(
    connection: &Connection,
    clients: &mut Clients,
    tokens: &Tokens,
    year: i32,
    seeded: &mut Seeded,
) -> anyhow::Result<()> {
    seeded.round_id = open_round(clients, tokens, year).await?;
    say!("  round {} opened (budget ceiling AUD 10,000,000)", seeded.round_id);
    for (index, partner) in PARTNERS.iter().enumerate() {
        let partner_token = partner_token(connection, partner)?;
        let application_id = apply(clients, tokens, &partner_token, &seeded.round_id, partner).await?;
        seeded.organisations += 1;
        match decide(clients, tokens, partner, &application_id).await? {
            true => seeded.approved.push((index, application_id)),
            false => seeded.rejected.push(application_id),
        }
    }
    Ok(())
}

/// Every partner but the [`OVERDUE`] one reports on its first period, once its obligations are scheduled.
async fn report_progress(
    connection: &Connection,
    clients: &mut Clients,
    tokens: &Tokens,
    awards: &[(usize, String)],
) -> anyhow::Result<()> {
    for (index, award_id) in awards {
        let partner = &PARTNERS[*index];
        wait_for_obligations(clients, tokens, award_id.clone()).await?;
        if *index == OVERDUE {
            say!("  {}: first progress report (due 2022-01-31) left unsubmitted: overdue", partner.legal_name);
            continue;
        }
        let partner_token = partner_token(connection, partner)?;
        report(clients, tokens, &partner_token, partner, award_id, *index).await?;
    }
    Ok(())
}

/// The [`FEATURED`] grant's interim tranche and variation; then waits until reporting has learnt of
/// everything and returns every award's obligations as they then stand.
async fn follow_featured_grant(
    connection: &Connection,
    clients: &mut Clients,
    tokens: &Tokens,
    year: i32,
    seeded: &mut Seeded,
) -> anyhow::Result<Vec<ObligationsResponse>> {
    let (featured_index, featured_award) =
        seeded.awards.iter().find(|(i, _)| *i == FEATURED).cloned().context("the featured grant was not approved")?;
    let featured = &PARTNERS[featured_index];
    let partner_token = partner_token(connection, featured)?;
    seeded.interim_release = interim_release(clients, tokens, featured, &featured_award).await?;
    seeded.releases += 1;
    variation(clients, tokens, &partner_token, featured, &featured_award, year).await?;
    wait_until_reporting_settled(clients, tokens, &seeded.awards, &featured_award, variation_end(year)).await
}
