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

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use contracts::applications::v1::{self as apps, ApplicationsServiceClient};
use contracts::awards::v1::{self as aw, AwardsServiceClient};
use contracts::common::v1::{Date, Money};
use contracts::names::service;
use contracts::reporting::v1::{self as rp, ReportingServiceClient};
use domain_kernel::Role;
use tonic::transport::Channel;

use crate::Outcome;
use crate::endpoints::{Connection, authed, refused};
use crate::stdout::say;

/// Namespace of the demo's request and organisation ids (UUID v5 of the step's name).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d1f_7a52_93c4_4e0b_8a7d_2f5e_c1b3_9a40);
const CURRENCY: &str = "AUD";
const OFFICER: &str = "program-officer-1";
const REVIEWERS: [&str; 2] = ["reviewer-1", "reviewer-2"];
const FINANCE: &str = "finance-officer-1";
/// How long to wait for what the services learn from each other over the bus.
const BUS_TIMEOUT: Duration = Duration::from_secs(60);

enum Decision {
    /// Approved amount in AUD cents.
    Approve(i64),
    Reject(&'static str),
}

struct Partner {
    key: &'static str,
    legal_name: &'static str,
    country: &'static str,
    kind: apps::OrganisationType,
    registration_number: &'static str,
    title: &'static str,
    summary: &'static str,
    countries: &'static [&'static str],
    services: &'static [apps::ServiceType],
    target_groups: &'static [&'static str],
    /// Requested amount in AUD cents.
    requested: i64,
    decision: Decision,
    narrative: &'static str,
}

use apps::OrganisationType as Org;
use apps::ServiceType as Svc;

const PARTNERS: [Partner; 9] = [
    Partner {
        key: "kh-survivor-support",
        legal_name: "Mekong Survivor Support Centre",
        country: "KH",
        kind: Org::NationalNgo,
        registration_number: "KH-MOI-2011-0457",
        title: "Safe shelter and legal aid for survivors in Phnom Penh and Battambang",
        summary: "Short-term shelter, medical referral and free legal aid for survivors of trafficking returning \
                  through the Thai border, with case support through prosecution.",
        countries: &["KH"],
        services: &[Svc::Shelter, Svc::Medical, Svc::LegalAid],
        target_groups: &["women and girls returning from abroad", "children in street situations"],
        requested: 72_000_000,
        decision: Decision::Approve(70_000_000),
        narrative: "Provided shelter and legal aid to survivors referred by partner agencies; supported \
                    prosecutions with case preparation and court accompaniment.",
    },
    Partner {
        key: "id-migrant-care",
        legal_name: "Lentera Migrant Care Foundation",
        country: "ID",
        kind: Org::NationalNgo,
        registration_number: "ID-AHU-0087.AH.01.04",
        title: "Case management and reintegration for returning migrant workers in West Java and NTT",
        summary: "Screening at ports of return, psychosocial support and livelihood grants for survivors of \
                  labour trafficking in the fishing and domestic work sectors.",
        countries: &["ID"],
        services: &[Svc::MentalHealth, Svc::Reintegration],
        target_groups: &["returning fishing crew", "returning domestic workers"],
        requested: 65_000_000,
        decision: Decision::Approve(65_000_000),
        narrative: "Screened returning workers at ports of arrival and provided psychosocial support and \
                    livelihood grants to survivors referred by district labour offices.",
    },
    Partner {
        key: "la-women-shelter",
        legal_name: "Lao Women's Safe Home Association",
        country: "LA",
        kind: Org::CommunityBased,
        registration_number: "LA-MOHA-0342",
        title: "Community shelter and family reintegration in Savannakhet",
        summary: "A community-run safe home with vocational training and family tracing for survivors \
                  returned from Thailand.",
        countries: &["LA"],
        services: &[Svc::Shelter, Svc::Reintegration],
        target_groups: &["young women returned from Thailand"],
        requested: 38_000_000,
        decision: Decision::Approve(38_000_000),
        narrative: "Provided safe accommodation, vocational training and family tracing to survivors \
                    returned through official channels.",
    },
    Partner {
        key: "mm-safe-return",
        legal_name: "Myanmar Safe Return Network",
        country: "MM",
        kind: Org::Network,
        registration_number: "MM-NGO-2015-1190",
        title: "Repatriation support and referral along the Myawaddy corridor",
        summary: "Reception, medical checks and onward referral for survivors repatriated from scam \
                  compounds and forced labour sites.",
        countries: &["MM"],
        services: &[Svc::Repatriation, Svc::Medical],
        target_groups: &["survivors repatriated from scam compounds"],
        requested: 54_000_000,
        decision: Decision::Approve(50_000_000),
        narrative: "Received repatriated survivors at the border and referred them to medical and \
                    psychosocial services.",
    },
    Partner {
        key: "ph-survivors-recovery",
        legal_name: "Visayas Survivors Recovery Centre",
        country: "PH",
        kind: Org::NationalNgo,
        registration_number: "PH-SEC-CN201512345",
        title: "Recovery and legal support for survivors of online sexual exploitation in Cebu",
        summary: "Trauma-informed counselling, shelter and legal accompaniment for children and young \
                  people rescued from online sexual exploitation.",
        countries: &["PH"],
        services: &[Svc::Shelter, Svc::MentalHealth, Svc::LegalAid],
        target_groups: &["children rescued from online exploitation"],
        requested: 60_000_000,
        decision: Decision::Approve(60_000_000),
        narrative: "Provided counselling, shelter and legal accompaniment to children referred by social \
                    welfare officers and the police.",
    },
    Partner {
        key: "th-legal-aid",
        legal_name: "Chiang Rai Legal Aid Foundation",
        country: "TH",
        kind: Org::NationalNgo,
        registration_number: "TH-0105-556-01234",
        title: "Free legal aid and compensation claims for trafficked migrant workers",
        summary: "Lawyers and paralegals supporting survivors through investigation, prosecution and \
                  compensation claims, with interpretation in Burmese, Khmer and Lao.",
        countries: &["TH"],
        services: &[Svc::LegalAid],
        target_groups: &["migrant workers in fishing and agriculture"],
        requested: 48_000_000,
        decision: Decision::Approve(48_000_000),
        narrative: "Represented survivors in investigations and prosecutions and filed compensation \
                    claims with interpretation support.",
    },
    Partner {
        key: "vn-reintegration",
        legal_name: "Viet Nam Reintegration Support Centre",
        country: "VN",
        kind: Org::NationalNgo,
        registration_number: "VN-0312-456-789",
        title: "Reintegration and vocational support for survivors in the northern provinces",
        summary: "Case management, vocational training and small business support for survivors returned \
                  from China and Europe.",
        countries: &["VN"],
        services: &[Svc::Reintegration, Svc::MentalHealth],
        target_groups: &["survivors returned from abroad"],
        requested: 45_000_000,
        decision: Decision::Approve(45_000_000),
        narrative: "Provided case management, vocational training and small business support to \
                    survivors referred by provincial social services.",
    },
    Partner {
        key: "my-migrant-rights",
        legal_name: "Suara Perlindungan Migran Malaysia",
        country: "MY",
        kind: Org::NationalNgo,
        registration_number: "MY-PPM-010-14-02062016",
        title: "Labour rights awareness for plantation workers in Sabah",
        summary: "Awareness sessions on labour rights for plantation workers and a study of recruitment \
                  fees in the palm oil sector.",
        countries: &["MY"],
        services: &[Svc::ResearchAndPolicy],
        target_groups: &["plantation workers"],
        requested: 30_000_000,
        decision: Decision::Reject(
            "The proposal centres on general labour awareness rather than services for victims of trafficking, \
             the priority of this round.",
        ),
        narrative: "",
    },
    Partner {
        key: "ph-migrant-forum-asia",
        legal_name: "Migrant Forum in Asia",
        country: "PH",
        kind: Org::Network,
        registration_number: "PH-SEC-A199-0212",
        title: "Regional evidence and referral network on trafficking of migrant workers",
        summary: "A regional network of member organisations producing evidence on recruitment-linked \
                  trafficking and maintaining cross-border referral pathways for survivors.",
        countries: &["PH", "ID", "MY", "TH", "KH"],
        services: &[Svc::ResearchAndPolicy, Svc::Repatriation],
        target_groups: &["migrant workers and their families", "member organisations"],
        requested: 80_000_000,
        decision: Decision::Approve(75_000_000),
        narrative: "Delivered regional policy briefs on recruitment practices and coordinated cross-border \
                    referrals among member organisations.",
    },
];

/// The grant whose interim tranche is released and whose agreement is varied.
const FEATURED: usize = 0;
/// The grant whose first progress report is left unsubmitted, so that it is overdue.
const OVERDUE: usize = 3;

fn request_id(step: &str) -> String {
    uuid::Uuid::new_v5(&NAMESPACE, step.as_bytes()).to_string()
}

fn organisation_id(partner: &Partner) -> String {
    uuid::Uuid::new_v5(&NAMESPACE, format!("organisation/{}", partner.key).as_bytes()).to_string()
}

fn aud(minor_units: i64) -> Option<Money> {
    Some(Money { minor_units, currency: CURRENCY.into() })
}

/// Whole dollars of an amount in cents, with thousands separators: `700,000`.
fn dollars(cents: i64) -> String {
    let digits = (cents / 100).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// Polls `check` until it returns `Some`, for at most [`BUS_TIMEOUT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + BUS_TIMEOUT;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {} s waiting for {what}: are the services connected to the same RabbitMQ?",
                BUS_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Clients {
    applications: ApplicationsServiceClient<Channel>,
    awards: AwardsServiceClient<Channel>,
    reporting: ReportingServiceClient<Channel>,
}

struct Tokens {
    officer: String,
    reviewers: Vec<String>,
    finance: String,
    auditor: String,
}

/// What the demo made, for the summary.
#[derive(Default)]
struct Seeded {
    round_id: String,
    organisations: usize,
    approved: Vec<(usize, String)>,
    rejected: Vec<String>,
    awards: Vec<(usize, String)>,
    releases: usize,
    /// Position of the interim release in the awards log.
    interim_release: u64,
}

pub async fn run(connection: &Connection) -> anyhow::Result<Outcome> {
    let tokens = Tokens {
        officer: connection.issue(Role::ProgramOfficer, OFFICER, None)?,
        reviewers: REVIEWERS
            .iter()
            .map(|r| connection.issue(Role::Reviewer, r, None))
            .collect::<anyhow::Result<_>>()?,
        finance: connection.issue(Role::FinanceOfficer, FINANCE, None)?,
        auditor: connection.issue(Role::Auditor, "demo-auditor", None)?,
    };
    let mut clients = Clients {
        applications: ApplicationsServiceClient::new(connection.channel(service::APPLICATIONS).await?),
        awards: AwardsServiceClient::new(connection.channel(service::AWARDS).await?),
        reporting: ReportingServiceClient::new(connection.channel(service::REPORTING).await?),
    };
    let year = time::OffsetDateTime::now_utc().year();
    let mut seeded = Seeded::default();

    say!("Seeding the demo program through the services' gRPC APIs");
    seeded.round_id = open_round(&mut clients, &tokens, year).await?;
    say!("  round {} opened (budget ceiling AUD 10,000,000)", seeded.round_id);
    for (index, partner) in PARTNERS.iter().enumerate() {
        let application_id = apply(connection, &mut clients, &tokens, &seeded.round_id, partner).await?;
        seeded.organisations += 1;
        match decide(&mut clients, &tokens, partner, &application_id).await? {
            true => seeded.approved.push((index, application_id)),
            false => seeded.rejected.push(application_id),
        }
    }

    for (index, application_id) in seeded.approved.clone() {
        let partner = &PARTNERS[index];
        let award_id = start_award(&mut clients, &tokens, partner, &application_id, year).await?;
        seeded.releases += 1;
        seeded.awards.push((index, award_id));
    }

    for (index, award_id) in seeded.awards.clone() {
        let partner = &PARTNERS[index];
        wait_for_obligations(&clients, &tokens, award_id.clone()).await?;
        if index == OVERDUE {
            say!("  {}: first progress report (due 2022-01-31) left unsubmitted: overdue", partner.legal_name);
            continue;
        }
        let partner_token =
            connection.issue(Role::Partner, &partner_subject(partner), Some(&organisation_id(partner)))?;
        report(&mut clients, &tokens, &partner_token, partner, &award_id, index).await?;
    }

    let (featured_index, featured_award) =
        seeded.awards.iter().find(|(i, _)| *i == FEATURED).cloned().context("the featured grant was not approved")?;
    let featured = &PARTNERS[featured_index];
    let partner_token =
        connection.issue(Role::Partner, &partner_subject(featured), Some(&organisation_id(featured)))?;
    seeded.interim_release = interim_release(&mut clients, &tokens, featured, &featured_award).await?;
    seeded.releases += 1;
    variation(&mut clients, &tokens, &partner_token, featured, &featured_award, year).await?;
    let settled =
        wait_until_reporting_settled(&clients, &tokens, &seeded.awards, &featured_award, variation_end(year)).await?;

    print_summary(&seeded, count_overdue(&settled));
    Ok(Outcome::Verified)
}

fn partner_subject(partner: &Partner) -> String {
    format!("partner-{}", partner.key)
}

async fn open_round(clients: &mut Clients, tokens: &Tokens, year: i32) -> anyhow::Result<String> {
    let closes = time::Date::from_calendar_date(year + 2, time::Month::January, 1)
        .context("no such date")?
        .midnight()
        .assume_utc()
        .unix_timestamp();
    let criterion = |id: &str, name: &str, weight| apps::Criterion {
        criterion_id: id.into(),
        name: name.into(),
        guidance: String::new(),
        weight,
        max_score: 10,
    };
    let open = apps::OpenRoundRequest {
        request_id: request_id("round"),
        title: "2021 round: services for victims of trafficking in ASEAN countries".into(),
        description: "Grants for non-government, civil-society and community organisations that provide safe \
                      shelter, health and mental-health services, free legal aid and reintegration to victims of \
                      trafficking, and that produce evidence to inform policy."
            .into(),
        budget_ceiling: aud(1_000_000_000),
        eligible_countries: ["KH", "ID", "LA", "MM", "PH", "TH", "VN", "MY", "BN", "SG"].map(String::from).to_vec(),
        themes: ["shelter", "health", "legal aid", "reintegration", "evidence and policy"].map(String::from).to_vec(),
        // 1 July 2021, 00:00 UTC.
        opens_at: Some(prost_types::Timestamp { seconds: 1_625_097_600, nanos: 0 }),
        closes_at: Some(prost_types::Timestamp { seconds: closes, nanos: 0 }),
        criteria: vec![
            criterion("relevance", "Relevance to victims' needs", 40),
            criterion("capacity", "Organisational capacity and safeguarding", 30),
            criterion("value", "Value for money", 30),
        ],
        required_reviews: 2,
    };
    let response = clients
        .applications
        .open_round(authed(open, &tokens.officer)?)
        .await
        .map_err(refused("opening the round"))?
        .into_inner();
    Ok(response.round.context("the round was not returned")?.round_id)
}

/// Registers the partner and drafts and submits its application; returns the application id.
async fn apply(
    connection: &Connection,
    clients: &mut Clients,
    tokens: &Tokens,
    round_id: &str,
    partner: &Partner,
) -> anyhow::Result<String> {
    let organisation_id = organisation_id(partner);
    let register = apps::RegisterOrganisationRequest {
        request_id: request_id(&format!("register/{}", partner.key)),
        organisation_id: organisation_id.clone(),
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

    let partner_token = connection.issue(Role::Partner, &partner_subject(partner), Some(&organisation_id))?;
    let services_share = partner.requested * 70 / 100;
    let content = apps::ApplicationContent {
        title: partner.title.into(),
        summary: partner.summary.into(),
        requested_amount: aud(partner.requested),
        budget_lines: vec![
            apps::BudgetLine { description: "Direct services to survivors".into(), amount: aud(services_share) },
            apps::BudgetLine {
                description: "Staff, coordination and monitoring".into(),
                amount: aud(partner.requested - services_share),
            },
        ],
        countries: partner.countries.iter().map(|c| (*c).to_owned()).collect(),
        services_offered: partner.services.iter().map(|s| *s as i32).collect(),
        target_groups: partner.target_groups.iter().map(|t| (*t).to_owned()).collect(),
    };
    let draft = apps::DraftApplicationRequest {
        request_id: request_id(&format!("draft/{}", partner.key)),
        round_id: round_id.into(),
        content: Some(content),
    };
    let step = format!("drafting the application of {}", partner.legal_name);
    let application = clients
        .applications
        .draft_application(authed(draft, &partner_token)?)
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
    clients.applications.submit_application(authed(submit, &partner_token)?).await.map_err(refused(&step))?;
    say!("  {} ({}) registered and applied: application {application_id}", partner.legal_name, partner.country);
    Ok(application_id)
}

/// Two reviews and the decision; returns whether the application was approved.
async fn decide(
    clients: &mut Clients,
    tokens: &Tokens,
    partner: &Partner,
    application_id: &str,
) -> anyhow::Result<bool> {
    for (n, (subject, token)) in REVIEWERS.iter().zip(&tokens.reviewers).enumerate() {
        let assign = apps::AssignReviewerRequest {
            request_id: request_id(&format!("assign/{}/{subject}", partner.key)),
            application_id: application_id.into(),
            reviewer_subject: (*subject).into(),
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
        let n = u32::try_from(n).unwrap_or(0);
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

/// The agreement of an award of `amount` AUD cents: July 2021 to the end of next year; an initial tranche,
/// an interim one gated by the first progress report (due 31 January 2022) and a final one gated by the
/// final report.
fn agreement(amount: i64, year: i32) -> aw::AgreementTerms {
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

fn payment(partner: &Partner, tranche: &str, amount: i64) -> Option<aw::Payment> {
    Some(aw::Payment {
        paid_amount: aud(amount),
        payment_reference: format!("DEMO-{}-{tranche}", partner.key).to_uppercase(),
        ..Default::default()
    })
}

async fn get_award(
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
async fn start_award(
    clients: &mut Clients,
    tokens: &Tokens,
    partner: &Partner,
    application_id: &str,
    year: i32,
) -> anyhow::Result<String> {
    let application = uuid::Uuid::parse_str(application_id).context("the application id is not a UUID")?;
    let award_id = awards::domain::AwardId::for_application(awards::domain::ApplicationId(application)).to_string();
    let what = format!("the award offer for {} (award {award_id})", partner.legal_name);
    let award = eventually(&what, || get_award(clients.awards.clone(), &tokens.auditor, &award_id)).await?;
    let amount = award.approved_amount.context("the award has no approved amount")?.minor_units;
    let set = aw::SetAgreementRequest {
        request_id: request_id(&format!("agreement/{}", partner.key)),
        award_id: award_id.clone(),
        terms: Some(agreement(amount, year)),
        expected_version: None,
    };
    let step = format!("setting the agreement of {}", partner.legal_name);
    clients.awards.set_agreement(authed(set, &tokens.officer)?).await.map_err(refused(&step))?;
    let sign = aw::SignAgreementRequest {
        request_id: request_id(&format!("sign/{}", partner.key)),
        award_id: award_id.clone(),
        expected_version: None,
    };
    let step = format!("signing the agreement of {}", partner.legal_name);
    clients.awards.sign_agreement(authed(sign, &tokens.officer)?).await.map_err(refused(&step))?;
    let t1 = amount * 40 / 100;
    let release = aw::ReleaseTrancheRequest {
        request_id: request_id(&format!("release/{}/t1", partner.key)),
        award_id: award_id.clone(),
        tranche_id: "t1".into(),
        payment: payment(partner, "t1", t1),
    };
    let step = format!("releasing the initial tranche of {}", partner.legal_name);
    clients.awards.release_tranche(authed(release, &tokens.finance)?).await.map_err(refused(&step))?;
    say!(
        "  award {award_id} ({}): agreement signed, initial tranche of AUD {} released by {FINANCE}",
        partner.legal_name,
        dollars(t1)
    );
    Ok(award_id)
}

async fn obligations(
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

async fn wait_for_obligations(clients: &Clients, tokens: &Tokens, award_id: String) -> anyhow::Result<()> {
    let what = format!("the reporting obligations of award {award_id}");
    eventually(&what, || async {
        let found = obligations(clients.reporting.clone(), &tokens.auditor, &award_id).await?;
        Ok(found.filter(|o| !o.obligations.is_empty()).map(|_| ()))
    })
    .await
}

fn progress(partner: &Partner, index: usize) -> rp::ProgressContent {
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
        indicators.push(persons(indicator, 8));
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
async fn report(
    clients: &mut Clients,
    tokens: &Tokens,
    partner_token: &str,
    partner: &Partner,
    award_id: &str,
    index: usize,
) -> anyhow::Result<()> {
    let submit = rp::SubmitReportRequest {
        request_id: request_id(&format!("report/{}/progress-1", partner.key)),
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
    };
    let step = format!("submitting the progress report of {}", partner.legal_name);
    clients.reporting.submit_report(authed(submit, partner_token)?).await.map_err(refused(&step))?;
    let accept = rp::AcceptReportRequest {
        request_id: request_id(&format!("accept/{}/progress-1", partner.key)),
        award_id: award_id.into(),
        report_ref: "progress-1".into(),
        expected_version: None,
    };
    let step = format!("accepting the progress report of {}", partner.legal_name);
    clients.reporting.accept_report(authed(accept, &tokens.officer)?).await.map_err(refused(&step))?;
    say!("  {}: first progress report submitted and accepted by {OFFICER}", partner.legal_name);
    Ok(())
}

/// Waits until the awards service learnt of the accepted report, then releases the interim tranche (by a
/// finance officer, who did not accept the report). Returns the release's position in the awards log.
async fn interim_release(
    clients: &mut Clients,
    tokens: &Tokens,
    partner: &Partner,
    award_id: &str,
) -> anyhow::Result<u64> {
    let what = format!("the accepted progress report to unlock the interim tranche of award {award_id}");
    let award = eventually(&what, || async {
        let award = get_award(clients.awards.clone(), &tokens.auditor, award_id).await?;
        Ok(award.filter(|a| {
            a.tranches.iter().any(|t| t.tranche.as_ref().is_some_and(|t| t.tranche_id == "t2") && t.conditions_met)
        }))
    })
    .await?;
    let amount = award
        .terms
        .as_ref()
        .and_then(|t| t.tranches.iter().find(|t| t.tranche_id == "t2"))
        .and_then(|t| t.amount.as_ref())
        .context("the award has no interim tranche")?
        .minor_units;
    let release = aw::ReleaseTrancheRequest {
        request_id: request_id(&format!("release/{}/t2", partner.key)),
        award_id: award_id.into(),
        tranche_id: "t2".into(),
        payment: payment(partner, "t2", amount),
    };
    let step = format!("releasing the interim tranche of {}", partner.legal_name);
    clients.awards.release_tranche(authed(release, &tokens.finance)?).await.map_err(refused(&step))?;
    say!(
        "  {}: interim tranche of AUD {} released by {FINANCE} once its report was accepted",
        partner.legal_name,
        dollars(amount)
    );
    let award = get_award(clients.awards.clone(), &tokens.auditor, award_id).await?.context("the award vanished")?;
    let released = award.history.iter().filter(|h| h.event_type == "TrancheReleased").nth(1);
    Ok(released.context("the interim release is not in the award's history")?.log_position)
}

/// The partner asks for six more months; the program officer approves.
async fn variation(
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
fn variation_end(year: i32) -> Date {
    Date { year: year + 2, month: 6, day: 30 }
}

/// Waits until the reporting service has recorded what it learns over the bus from the demo's last steps
/// (every release, and the variation of the featured grant), so that the program is whole when the
/// summary is printed and a second run finds nothing left to do; returns every award's obligations as
/// they then stand.
async fn wait_until_reporting_settled(
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

fn count_overdue(obligations: &[rp::ObligationsResponse]) -> usize {
    let overdue = |o: &&rp::ObligationView| o.status == rp::ObligationStatus::Overdue as i32;
    obligations.iter().map(|response| response.obligations.iter().filter(overdue).count()).sum()
}

fn print_summary(seeded: &Seeded, overdue: usize) {
    let featured = seeded.approved.iter().find(|(i, _)| *i == FEATURED).map(|(_, id)| id.as_str()).unwrap_or_default();
    let featured_award =
        seeded.awards.iter().find(|(i, _)| *i == FEATURED).map(|(_, id)| id.as_str()).unwrap_or_default();
    say!();
    say!("Demo program seeded:");
    say!("  round                  {}", seeded.round_id);
    say!("  organisations          {}", seeded.organisations);
    say!("  applications           {} approved, {} rejected", seeded.approved.len(), seeded.rejected.len());
    say!("  awards                 {} signed", seeded.awards.len());
    say!("  tranche releases       {}", seeded.releases);
    say!("  variations approved    1");
    say!("  overdue obligations    {overdue}");
    say!();
    say!("A grant to follow ({}):", PARTNERS[FEATURED].legal_name);
    say!("  application            {featured}");
    say!("  award                  {featured_award}");
    say!("  grants history --application {featured}");
    let position = seeded.interim_release;
    say!("  grants as-of --award {featured_award} --position {position}     (before the interim release)");
    say!("  grants as-of --award {featured_award} --position {}     (after it)", position + 1);
    say!("  grants verify --all");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_dollars_with_separators() {
        assert_eq!(dollars(70_000_000), "700,000");
        assert_eq!(dollars(12_345_678_900), "123,456,789");
        assert_eq!(dollars(99_00), "99");
    }

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
