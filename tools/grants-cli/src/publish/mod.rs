//! `grants publish`: the program's open data, as a donor publishes it: IATI 2.03 activities
//! ([`iati`]) and 360Giving grants ([`three_sixty_giving`]).
//!
//! Both are built from the same [`Program`], read here from the services' logs through `EventLogService`
//! (as `history` and `as-of` read them) at the current state or as of a past point, and from the
//! projector's published program summary for results. What is published is chosen field by field and
//! never includes free text, sealed or not: titles, amounts, dates, countries, services and organisations'
//! registered names are the only words, and descriptions are composed here from those. Contact persons are
//! never read. Indicator figures come only from `GetProgramSummary`, already suppressed and perturbed.

pub mod iati;
pub mod three_sixty_giving;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use contracts::applications::v1::{self as apps, ApplicationsEvent};
use contracts::awards::v1::{self as aw, AwardsEvent};
use contracts::events::ServiceEvents;
use contracts::names::service;
use contracts::projector::v1::{self as pj, ProjectorServiceClient};
use contracts::reporting::v1::{self as rp, ReportingEvent, ReportingServiceClient};
use contracts::values::WireValue;
use domain_kernel::{Country, Currency, Money};
use futures::StreamExt;

use crate::Outcome;
use crate::as_of::Point;
use crate::endpoints::{Connection, authed, refused};

/// `grants publish`: which standard, and what every standard shares.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(subcommand)]
    pub format: Format,
}

#[derive(Debug, clap::Subcommand)]
pub enum Format {
    /// An IATI 2.03 `iati-activities` file: each round as a parent activity, each award as its child.
    Iati(IatiArgs),
    /// A 360Giving 1.4 package: one grant per award.
    #[command(name = "360giving")]
    ThreeSixtyGiving(ThreeSixtyGivingArgs),
}

/// What both standards take.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// The state as of this day (UTC, YYYY-MM-DD, the whole day) or time (RFC 3339); without it, now.
    #[arg(long, value_name = "DATE|TIME")]
    pub as_of: Option<String>,
    /// Write to this file (replacing it) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The donor's organisation identifier (org-id.guide form, e.g. AU-5): the funding organisation.
    #[arg(long, value_name = "REF", env = "GRANTS_FUNDER_REF")]
    pub funder_ref: Option<String>,
    /// The donor's name, e.g. "Department of Foreign Affairs and Trade".
    #[arg(long, value_name = "NAME", env = "GRANTS_FUNDER_NAME")]
    pub funder_name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct IatiArgs {
    #[command(flatten)]
    pub common: Common,
    /// The publisher's IATI organisation identifier (reporting-org/@ref), which prefixes every activity's.
    #[arg(long, value_name = "REF", env = "GRANTS_IATI_REPORTING_ORG_REF")]
    pub reporting_org_ref: Option<String>,
    /// The publisher's name (reporting-org).
    #[arg(long, value_name = "NAME", env = "GRANTS_IATI_REPORTING_ORG_NAME")]
    pub reporting_org_name: Option<String>,
    /// The publisher's type, a code of the IATI OrganisationType codelist (10 government, 21 international
    /// NGO, ...).
    #[arg(long, value_name = "CODE", env = "GRANTS_IATI_REPORTING_ORG_TYPE", default_value = "10")]
    pub reporting_org_type: String,
}

#[derive(Debug, clap::Args)]
pub struct ThreeSixtyGivingArgs {
    #[command(flatten)]
    pub common: Common,
    /// The publisher's 360Giving prefix (360G-...), which starts every grant's and organisation's identifier.
    #[arg(long, value_name = "PREFIX", env = "GRANTS_360GIVING_PREFIX")]
    pub prefix: Option<String>,
}

/// An organisation as a publication names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    pub reference: String,
    pub name: String,
}

pub async fn run(connection: &Connection, args: &PublishArgs) -> anyhow::Result<Outcome> {
    match &args.format {
        Format::Iati(args) => {
            let publisher = iati::Publisher {
                reporting_org: party(
                    "--reporting-org-ref",
                    args.reporting_org_ref.as_deref(),
                    "--reporting-org-name",
                    args.reporting_org_name.as_deref(),
                )?,
                reporting_org_type: iati::organisation_type_code(&args.reporting_org_type)?,
                funder: funder(&args.common)?,
            };
            let point = point(args.common.as_of.as_deref())?;
            let mut program = Program::read(connection, point).await?;
            if program.rounds.is_empty() {
                bail!("nothing to publish: no funding round was recorded{}", at(args.common.as_of.as_deref()));
            }
            // Results are IATI's alone.
            program.read_published_figures(connection, point).await?;
            write_output(args.common.output.as_deref(), &iati::write(&program, &publisher)?)
        }
        Format::ThreeSixtyGiving(args) => {
            let prefix = three_sixty_giving::prefix(args.prefix.as_deref())?;
            let funder = funder(&args.common)?;
            let point = point(args.common.as_of.as_deref())?;
            let program = Program::read(connection, point).await?;
            if program.awards.is_empty() {
                bail!("nothing to publish: no award was recorded{}", at(args.common.as_of.as_deref()));
            }
            write_output(args.common.output.as_deref(), &three_sixty_giving::write(&program, &prefix, &funder)?)
        }
    }
}

fn at(as_of: Option<&str>) -> String {
    as_of.map(|point| format!(" as of {point}")).unwrap_or_default()
}

fn funder(common: &Common) -> anyhow::Result<Party> {
    party("--funder-ref", common.funder_ref.as_deref(), "--funder-name", common.funder_name.as_deref())
}

/// An organisation from its identifier and name flags, checked.
fn party(ref_flag: &str, reference: Option<&str>, name_flag: &str, name: Option<&str>) -> anyhow::Result<Party> {
    let env = |flag: &str| format!("GRANTS_{}", flag.trim_start_matches("--").replace('-', "_").to_uppercase());
    let Some(reference) = reference.map(str::trim).filter(|r| !r.is_empty()) else {
        bail!("{ref_flag} (or {}) is required: the organisation identifier, such as AU-5", env(ref_flag))
    };
    organisation_identifier(ref_flag, reference)?;
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        bail!("{name_flag} (or {}) is required: the organisation's name", env(name_flag))
    };
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        bail!("{name_flag} must be a name of at most 200 characters on one line");
    }
    Ok(Party { reference: reference.to_owned(), name: name.to_owned() })
}

/// An organisation identifier as IATI and org-id.guide write them: a registration agency's prefix, a
/// hyphen and the identifier, without spaces or the characters IATI identifiers may not hold (/ & | ?).
pub fn organisation_identifier(flag: &str, value: &str) -> anyhow::Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    let Some((agency, id)) = value.split_once('-') else {
        bail!("{flag} `{value}` must be an organisation identifier: an agency prefix, '-', an identifier (e.g. AU-5)")
    };
    if agency.is_empty() || id.is_empty() || !value.chars().all(allowed) || value.len() > 100 {
        bail!(
            "{flag} `{value}` must be an organisation identifier: an agency prefix, '-', an identifier (e.g. AU-5), \
             at most 100 letters, digits and - _ . :"
        );
    }
    Ok(())
}

/// `--as-of` as a point: a day (the whole day, UTC) or an RFC 3339 time.
fn point(as_of: Option<&str>) -> anyhow::Result<Point> {
    let Some(text) = as_of else { return Ok(Point::Now) };
    let parsed =
        if text.contains('T') { Point::parse(Some(text), None, None) } else { Point::parse(None, Some(text), None) };
    parsed.map_err(|_| anyhow::anyhow!("`--as-of {text}` must be a day such as 2022-03-01 or an RFC 3339 time"))
}

fn write_output(output: Option<&Path>, bytes: &[u8]) -> anyhow::Result<Outcome> {
    match output {
        Some(path) => {
            // Written whole next to the target, then renamed over it: a reader never sees half a file.
            let partial = path.with_extension("partial");
            std::fs::write(&partial, bytes).with_context(|| format!("cannot write {}", partial.display()))?;
            std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("publish: wrote {} ({} bytes)", path.display(), bytes.len());
        }
        None => {
            // Through the crate's one way to standard output: a reader gone ends the command with 141.
            let mut stdout = crate::stdout::Stdout;
            stdout.write_all(bytes).and_then(|()| stdout.flush()).context("cannot write to standard output")?;
        }
    }
    Ok(Outcome::Verified)
}

/// A funding round: the program's parent activity.
#[derive(Clone, Debug)]
pub struct Round {
    pub round_id: String,
    pub title: String,
    /// The round's description as the program officer published it (not free text: no personal data).
    pub description: String,
    pub budget_ceiling: Money,
    pub eligible_countries: Vec<Country>,
    pub opens_on: time::Date,
    pub closes_on: time::Date,
    pub last_recorded: i64,
}

/// A partner organisation as registered (its contact person is never read).
#[derive(Clone, Debug)]
pub struct Organisation {
    pub legal_name: String,
    pub country: Country,
    pub organisation_type: apps::OrganisationType,
    pub registration_number: String,
}

/// What an award's status is, as published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Offered,
    Active,
    Suspended,
    Terminated,
    Closed,
}

/// A change to what is committed to an award.
#[derive(Clone, Debug)]
pub struct Commitment {
    pub on: time::Date,
    pub amount: Money,
    /// What the change was: "agreement signed", "variation approved", "award terminated", ...
    pub cause: &'static str,
}

/// A released tranche.
#[derive(Clone, Debug)]
pub struct Release {
    pub tranche_id: String,
    pub kind: aw::TrancheKind,
    /// In the award's currency: what counts against the award.
    pub amount: Money,
    /// The day the finance officer released it (UTC).
    pub on: time::Date,
    pub paid_in_other_currency: Option<ForeignPayment>,
}

/// A payment made in another currency than the award's.
#[derive(Clone, Debug)]
pub struct ForeignPayment {
    pub paid: Money,
    /// Units of the paid currency per one unit of the award's, a decimal string.
    pub exchange_rate: String,
    pub rate_source: String,
    pub value_date: time::Date,
}

impl ForeignPayment {
    /// How `amount` (in the award's currency) was paid: "paid as 50575.00 THB at 36.1250 THB per USD
    /// (rate source, value date 2026-01-05)".
    pub fn describe(&self, amount: &Money) -> String {
        format!(
            "paid as {} {} at {} {} per {} ({}, value date {})",
            self.paid.decimal(),
            self.paid.currency,
            self.exchange_rate,
            self.paid.currency,
            amount.currency,
            self.rate_source,
            iso_date(self.value_date)
        )
    }
}

/// An award: a child activity, a grant.
#[derive(Clone, Debug)]
pub struct Award {
    pub award_id: String,
    pub round_id: String,
    pub organisation_id: String,
    pub title: String,
    pub approved: Money,
    pub requested: Option<Money>,
    /// The day the application was approved: the award decision.
    pub approved_on: time::Date,
    pub countries: Vec<Country>,
    pub services: Vec<apps::ServiceType>,
    /// The agreement's terms once signed, as varied since.
    pub terms: Option<aw::AgreementTerms>,
    pub varied: bool,
    pub cancelled_tranches: BTreeSet<String>,
    pub status: Status,
    pub ended_on: Option<time::Date>,
    pub commitments: Vec<Commitment>,
    pub releases: Vec<Release>,
    pub last_recorded: i64,
}

impl Award {
    pub fn currency(&self) -> Currency {
        self.approved.currency
    }

    /// The amount awarded: the agreement's, as varied, or the approved amount before signature.
    pub fn amount(&self) -> Money {
        self.terms.as_ref().and_then(|t| Money::from_wire("", t.amount.as_ref()).ok()).unwrap_or(self.approved)
    }

    pub fn period(&self) -> Option<(time::Date, time::Date)> {
        let terms = self.terms.as_ref()?;
        Some((wire_date(terms.period_start.as_ref())?, wire_date(terms.period_end.as_ref())?))
    }

    pub fn released(&self) -> i64 {
        self.releases.iter().map(|r| r.amount.minor_units).sum()
    }

    pub fn committed(&self) -> i64 {
        self.commitments.iter().map(|c| c.amount.minor_units).sum()
    }
}

/// A report accepted for an award: the periods results stand for.
#[derive(Clone, Debug)]
pub struct AcceptedReport {
    pub award_id: String,
    pub period_start: time::Date,
    pub period_end: time::Date,
    pub recorded_at: i64,
}

/// An application's approval, as far as its award's publication needs it.
#[derive(Debug)]
struct Approval {
    requested: Option<Money>,
    services: Vec<apps::ServiceType>,
    on: time::Date,
}

/// Everything a publication is made of, at one point.
#[derive(Debug, Default)]
pub struct Program {
    pub rounds: BTreeMap<String, Round>,
    pub organisations: BTreeMap<String, Organisation>,
    pub awards: BTreeMap<String, Award>,
    pub accepted_reports: Vec<AcceptedReport>,
    /// Each round's published program summary (suppressed and perturbed).
    pub summaries: BTreeMap<String, pj::ProgramSummary>,
    /// Indicator titles from the reporting service's catalogue.
    pub indicator_titles: BTreeMap<String, String>,
    /// When the last event read was recorded (microseconds since the epoch): the publication's time.
    pub last_recorded: i64,
    /// What an award takes from its application's approval, by application id; the approval's free text
    /// (its reasons) is never kept.
    approvals: BTreeMap<String, Approval>,
}

impl Program {
    /// Reads the three services' logs up to `point` (the projector's published figures are read apart, by
    /// [`Program::read_published_figures`], for the publications that show results).
    pub async fn read(connection: &Connection, point: Point) -> anyhow::Result<Program> {
        for needed in [service::APPLICATIONS, service::AWARDS, service::REPORTING, service::PROJECTOR] {
            connection.url_of(needed)?;
        }
        let mut program = Program::default();
        for source in service::EVENT_SOURCES {
            let mut client = connection.log_client(source).await?;
            let head = client.head().await.with_context(|| format!("{source}: cannot read the log's head"))?;
            let mut events = std::pin::pin!(client.read_all(0).await.with_context(|| source.to_owned())?);
            let mut read = 0u64;
            eprintln!("publish: reading {source} ({} events)", head.next_position);
            while let Some(event) = events.next().await {
                let event = event.with_context(|| format!("{source}: cannot read the log"))?;
                read += 1;
                if read.is_multiple_of(10_000) {
                    eprintln!("publish: {source} {read}/{}", head.next_position);
                }
                // A log records in commit order, its recorded times never decreasing: nothing after this one
                // is included either.
                if !point.includes(&event) {
                    break;
                }
                let recorded = event.recorded_at.as_micros();
                let occurred = day_of(event.metadata.occurred_at.as_micros());
                program.last_recorded = program.last_recorded.max(recorded);
                let undecodable = |e| anyhow::anyhow!("{source}: event at position {}: {e}", event.position);
                match source {
                    service::APPLICATIONS => {
                        if let Some(e) =
                            ApplicationsEvent::decode(&event.event_type, &event.payload).map_err(undecodable)?
                        {
                            program.apply_application(e, recorded)?;
                        }
                    }
                    service::AWARDS => {
                        if let Some(e) = AwardsEvent::decode(&event.event_type, &event.payload).map_err(undecodable)? {
                            program.apply_award(e, recorded, occurred)?;
                        }
                    }
                    _ => {
                        if let Some(ReportingEvent::ReportAccepted(accepted)) =
                            ReportingEvent::decode(&event.event_type, &event.payload).map_err(undecodable)?
                        {
                            program.accepted_reports.push(AcceptedReport {
                                award_id: accepted.award_id,
                                period_start: required_date("ReportAccepted.period_start", accepted.period_start)?,
                                period_end: required_date("ReportAccepted.period_end", accepted.period_end)?,
                                recorded_at: recorded,
                            });
                        }
                    }
                }
            }
        }
        eprintln!(
            "publish: {} rounds, {} awards, {} accepted reports",
            program.rounds.len(),
            program.awards.len(),
            program.accepted_reports.len()
        );
        Ok(program)
    }

    fn apply_application(&mut self, event: ApplicationsEvent, recorded: i64) -> anyhow::Result<()> {
        match event {
            ApplicationsEvent::RoundOpened(round) => {
                let ceiling = Money::from_wire("RoundOpened.budget_ceiling", round.budget_ceiling.as_ref())?;
                let countries = round
                    .eligible_countries
                    .iter()
                    .map(|c| Country::parse("RoundOpened.eligible_countries", c))
                    .collect::<Result<Vec<_>, _>>()?;
                self.rounds.insert(
                    round.round_id.clone(),
                    Round {
                        round_id: round.round_id,
                        title: round.title,
                        description: round.description,
                        budget_ceiling: ceiling,
                        eligible_countries: countries,
                        opens_on: day_of(timestamp_micros(round.opens_at.as_ref())),
                        closes_on: day_of(timestamp_micros(round.closes_at.as_ref())),
                        last_recorded: recorded,
                    },
                );
            }
            ApplicationsEvent::OrganisationRegistered(organisation) => {
                self.organisations.insert(
                    organisation.organisation_id.clone(),
                    Organisation {
                        legal_name: organisation.legal_name,
                        country: Country::parse("OrganisationRegistered.country", &organisation.country)?,
                        organisation_type: apps::OrganisationType::try_from(organisation.organisation_type)
                            .unwrap_or(apps::OrganisationType::Unspecified),
                        registration_number: organisation.registration_number,
                    },
                );
            }
            ApplicationsEvent::ApplicationApproved(approved) => {
                let approval = Approval {
                    requested: Money::from_wire("", approved.requested_amount.as_ref()).ok(),
                    services: approved
                        .services_offered
                        .iter()
                        .filter_map(|s| apps::ServiceType::try_from(*s).ok())
                        .collect(),
                    on: day_of(recorded),
                };
                self.approvals.insert(approved.application_id, approval);
            }
            _ => {}
        }
        Ok(())
    }

    fn apply_award(&mut self, event: AwardsEvent, recorded: i64, occurred: time::Date) -> anyhow::Result<()> {
        if let AwardsEvent::AwardOffered(offer) = event {
            let approval = self.approvals.remove(&offer.application_id);
            let award = Award {
                award_id: offer.award_id.clone(),
                round_id: offer.round_id,
                organisation_id: offer.organisation_id,
                title: offer.title,
                approved: Money::from_wire("AwardOffered.approved_amount", offer.approved_amount.as_ref())?,
                requested: approval.as_ref().and_then(|a| a.requested),
                approved_on: approval.as_ref().map_or(day_of(recorded), |a| a.on),
                countries: offer
                    .countries
                    .iter()
                    .map(|c| Country::parse("AwardOffered.countries", c))
                    .collect::<Result<Vec<_>, _>>()?,
                services: approval.map(|a| a.services).unwrap_or_default(),
                terms: None,
                varied: false,
                cancelled_tranches: BTreeSet::new(),
                status: Status::Offered,
                ended_on: None,
                commitments: Vec::new(),
                releases: Vec::new(),
                last_recorded: recorded,
            };
            self.awards.insert(offer.award_id, award);
            return Ok(());
        }
        let award_id = award_id_of(&event);
        let Some(award) = award_id.and_then(|id| self.awards.get_mut(id)) else { return Ok(()) };
        award.last_recorded = recorded;
        let currency = award.currency();
        match event {
            AwardsEvent::AgreementSigned(signed) => {
                let terms = signed.terms.context("AgreementSigned without terms")?;
                let amount = Money::from_wire("AgreementSigned.terms.amount", terms.amount.as_ref())?;
                let on = day_of(timestamp_micros(signed.signed_at.as_ref()));
                award.commitments.push(Commitment { on, amount, cause: "agreement signed" });
                award.terms = Some(terms);
                award.status = Status::Active;
            }
            AwardsEvent::VariationApproved(approved) => {
                let terms = approved.terms.context("VariationApproved without terms")?;
                let before = award.amount();
                let after = Money::from_wire("VariationApproved.terms.amount", terms.amount.as_ref())?;
                if after.minor_units != before.minor_units {
                    let change = Money::new(after.minor_units - before.minor_units, currency);
                    award.commitments.push(Commitment { on: occurred, amount: change, cause: "variation approved" });
                }
                award.cancelled_tranches.extend(approved.cancelled_tranche_ids);
                award.terms = Some(terms);
                award.varied = true;
            }
            AwardsEvent::TrancheReleased(released) => {
                let amount = Money::from_wire("TrancheReleased.amount", released.amount.as_ref())?;
                let payment = released.payment.unwrap_or_default();
                let paid = Money::from_wire("TrancheReleased.payment.paid_amount", payment.paid_amount.as_ref())?;
                let kind = award
                    .terms
                    .iter()
                    .flat_map(|t| &t.tranches)
                    .find(|t| t.tranche_id == released.tranche_id)
                    .and_then(|t| aw::TrancheKind::try_from(t.kind).ok())
                    .unwrap_or(aw::TrancheKind::Unspecified);
                let paid_in_other_currency = if paid.currency == currency {
                    None
                } else {
                    Some(ForeignPayment {
                        paid,
                        exchange_rate: payment.exchange_rate,
                        rate_source: payment.rate_source,
                        value_date: required_date("TrancheReleased.payment.rate_value_date", payment.rate_value_date)?,
                    })
                };
                award.releases.push(Release {
                    tranche_id: released.tranche_id,
                    kind,
                    amount,
                    on: occurred,
                    paid_in_other_currency,
                });
            }
            AwardsEvent::AwardSuspended(_) => award.status = Status::Suspended,
            AwardsEvent::AwardResumed(_) => award.status = Status::Active,
            AwardsEvent::AwardTerminated(terminated) => {
                award.cancelled_tranches.extend(terminated.cancelled_tranche_ids);
                end(award, Status::Terminated, occurred, "award terminated");
            }
            AwardsEvent::AwardClosed(_) => end(award, Status::Closed, occurred, "award closed"),
            _ => {}
        }
        Ok(())
    }

    /// Each round's program summary from the projector, as published (suppressed and perturbed), at the
    /// same point, and the indicators' titles.
    async fn read_published_figures(&mut self, connection: &Connection, point: Point) -> anyhow::Result<()> {
        let token = connection.token()?;
        let as_of = point.projector_as_of();
        let mut projector = ProjectorServiceClient::new(connection.channel(service::PROJECTOR).await?);
        for round_id in self.rounds.keys() {
            let request = pj::GetProgramSummaryRequest {
                round_id: round_id.clone(),
                organisation_id: String::new(),
                as_of: as_of.clone(),
            };
            let summary = projector
                .get_program_summary(authed(request, &token)?)
                .await
                .map_err(refused("projector: GetProgramSummary"))?
                .into_inner();
            self.summaries.insert(round_id.clone(), summary);
        }
        let mut reporting = ReportingServiceClient::new(connection.channel(service::REPORTING).await?);
        let catalogue = reporting
            .get_indicator_catalogue(authed(rp::GetIndicatorCatalogueRequest {}, &token)?)
            .await
            .map_err(refused("reporting: GetIndicatorCatalogue"))?
            .into_inner();
        self.indicator_titles = catalogue.indicators.into_iter().map(|i| (i.indicator_id, i.title)).collect();
        Ok(())
    }

    /// The awards of `round_id`, by award id.
    pub fn awards_of<'a>(&'a self, round_id: &'a str) -> impl Iterator<Item = &'a Award> + 'a {
        self.awards.values().filter(move |a| a.round_id == round_id)
    }
}

/// Ends an award: what was committed and not released is no longer committed.
fn end(award: &mut Award, status: Status, on: time::Date, cause: &'static str) {
    award.status = status;
    award.ended_on = Some(on);
    let unreleased = award.committed() - award.released();
    if unreleased != 0 && !award.commitments.is_empty() {
        award.commitments.push(Commitment { on, amount: Money::new(-unreleased, award.currency()), cause });
    }
}

fn award_id_of(event: &AwardsEvent) -> Option<&str> {
    Some(match event {
        AwardsEvent::AgreementSigned(e) => &e.award_id,
        AwardsEvent::VariationApproved(e) => &e.award_id,
        AwardsEvent::TrancheReleased(e) => &e.award_id,
        AwardsEvent::AwardSuspended(e) => &e.award_id,
        AwardsEvent::AwardResumed(e) => &e.award_id,
        AwardsEvent::AwardTerminated(e) => &e.award_id,
        AwardsEvent::AwardClosed(e) => &e.award_id,
        _ => return None,
    })
}

/// The UTC day of a time in microseconds since the epoch.
pub fn day_of(micros: i64) -> time::Date {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_or(time::Date::MIN, time::OffsetDateTime::date)
}

fn timestamp_micros(t: Option<&prost_types::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
}

/// A contract date as a calendar date; `None` when absent or impossible.
pub fn wire_date(d: Option<&contracts::common::v1::Date>) -> Option<time::Date> {
    let d = d?;
    let month = time::Month::try_from(u8::try_from(d.month).ok()?).ok()?;
    time::Date::from_calendar_date(d.year, month, u8::try_from(d.day).ok()?).ok()
}

fn required_date(field: &str, d: Option<contracts::common::v1::Date>) -> anyhow::Result<time::Date> {
    wire_date(d.as_ref()).with_context(|| format!("{field} is not a date"))
}

/// YYYY-MM-DD.
pub fn iso_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A service type's name as published ("legal aid").
pub fn service_name(service: apps::ServiceType) -> String {
    enum_words(Ok::<_, ()>(service.as_str_name()), "SERVICE_TYPE_")
}

/// A contract enum's value name without its prefix, as lowercase words: `SERVICE_TYPE_LEGAL_AID` is
/// "legal aid", `AGE_BAND_YEARS_0_TO_11` "years 0 to 11".
pub fn enum_words<E>(name: Result<&'static str, E>, prefix: &str) -> String {
    crate::as_of::enum_name(name, prefix).replace('_', " ").to_lowercase()
}

/// The words describing an award, composed only from what the platform holds in clear and is not personal:
/// the partner's registered name and country, the services and countries, the agreement's period.
pub fn award_description(program: &Program, award: &Award) -> String {
    let partner = program
        .organisations
        .get(&award.organisation_id)
        .map_or_else(|| "a partner organisation".to_owned(), |o| format!("{} ({})", o.legal_name, o.country.name()));
    let services: Vec<String> = award.services.iter().map(|s| service_name(*s)).collect();
    let countries: Vec<String> = award.countries.iter().map(Country::name).collect();
    let mut text = format!("Grant to {partner}");
    if !services.is_empty() {
        text.push_str(&format!(" for {}", services.join(", ")));
    }
    if !countries.is_empty() {
        text.push_str(&format!(" in {}", countries.join(", ")));
    }
    if let Some((start, end)) = award.period() {
        text.push_str(&format!(", {} to {}", iso_date(start), iso_date(end)));
    }
    text.push('.');
    text
}

/// Whole percentages that share 100 among `n` parts as evenly as possible (the first ones take the rest).
pub fn even_percentages(n: usize) -> Vec<u32> {
    if n == 0 {
        return Vec::new();
    }
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    let (base, rest) = (100 / n32, 100 % n32);
    (0..n32).map(|i| base + u32::from(i < rest)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word a publication carries comes from one of these fields; none of them is free text (the
    /// contracts' `free_text` annotation), which is sealed, may be erased and may describe a person.
    #[test]
    fn no_field_the_publications_read_words_from_is_free_text() {
        use contracts::events::message_name;
        use contracts::free_text::FreeTextSchema;
        use prost::Message;
        let text = || "words".to_owned();
        let read: Vec<(String, Vec<u8>)> = vec![
            (
                message_name(service::APPLICATIONS, "RoundOpened"),
                apps::RoundOpened { title: text(), description: text(), ..Default::default() }.encode_to_vec(),
            ),
            (
                message_name(service::APPLICATIONS, "OrganisationRegistered"),
                apps::OrganisationRegistered { legal_name: text(), registration_number: text(), ..Default::default() }
                    .encode_to_vec(),
            ),
            (
                message_name(service::AWARDS, "AwardOffered"),
                aw::AwardOffered { title: text(), ..Default::default() }.encode_to_vec(),
            ),
            (
                message_name(service::AWARDS, "TrancheReleased"),
                aw::TrancheReleased {
                    tranche_id: text(),
                    payment: Some(aw::Payment { exchange_rate: text(), rate_source: text(), ..Default::default() }),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ];
        let schema = FreeTextSchema::contracts();
        for (name, bytes) in read {
            let descriptor = schema.message(&name).unwrap();
            let mut message = prost_reflect::DynamicMessage::decode(descriptor, bytes.as_slice()).unwrap();
            assert!(schema.take(&mut message).is_empty(), "{name} holds free text the publications would show");
        }
        // The check sees free text where there is some.
        let terminated = aw::AwardTerminated { reason: text(), ..Default::default() }.encode_to_vec();
        let descriptor = schema.message(&message_name(service::AWARDS, "AwardTerminated")).unwrap();
        let mut message = prost_reflect::DynamicMessage::decode(descriptor, terminated.as_slice()).unwrap();
        assert_eq!(schema.take(&mut message).len(), 1);
    }

    #[test]
    fn percentages_share_a_hundred() {
        assert_eq!(even_percentages(3), [34, 33, 33]);
        assert_eq!(even_percentages(1), [100]);
        assert!(even_percentages(0).is_empty());
    }

    #[test]
    fn identifiers_and_names_are_checked_naming_the_flag() {
        let error = party("--funder-ref", Some("AU 5"), "--funder-name", Some("DFAT")).unwrap_err().to_string();
        assert!(error.starts_with("--funder-ref `AU 5` must be an organisation identifier"), "{error}");
        let error = party("--funder-ref", None, "--funder-name", Some("DFAT")).unwrap_err().to_string();
        assert!(error.contains("GRANTS_FUNDER_REF") && error.contains("required"), "{error}");
        let error = party("--funder-ref", Some("AU-5"), "--funder-name", Some(" ")).unwrap_err().to_string();
        assert!(error.starts_with("--funder-name (or GRANTS_FUNDER_NAME) is required"), "{error}");
        assert_eq!(party("--funder-ref", Some("AU-5"), "--funder-name", Some("DFAT")).unwrap().reference, "AU-5");
        assert!(point(Some("1 March")).unwrap_err().to_string().starts_with("`--as-of 1 March` must be a day"));
    }
}
