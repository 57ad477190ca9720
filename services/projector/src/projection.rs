//! The projection: how one recorded event of one source changes the read models. Pure and synchronous
//! over a [`Store`], so that the same code runs live (in a sled transaction with the checkpoint), in a
//! rebuild (into a fresh generation) and for as-of answers (in memory).
//!
//! # Entries and who writes them
//!
//! Events are ordered per source log, never across sources: the relays publish independently, and a
//! rebuild replays one log after another. So every entry is written by exactly one source, and joins
//! across sources (an award's services come from its application) are made by the queries. Live models
//! and rebuilt models are then equal entry for entry, whatever the interleaving.
//!
//! | Key | Written from | Holds |
//! |---|---|---|
//! | `round/<round_id>` | applications | title, ceiling, open/closed |
//! | `org/<organisation_id>` | applications | legal name, country (never the contact person) |
//! | `app/<application_id>` | applications | round, organisation, stage, amounts, countries, services |
//! | `award/<award_id>` | awards | application, round, organisation, status, offered/committed/released |
//! | `obl/<award_id>` | reporting | the award's obligations: kind, due date, status, first submission |
//! | `pending/<report_id>` | reporting | indicators of the last submitted version, until accepted |
//! | `ind/<award_id>/<indicator_id>` | reporting | accepted indicator values per report, with the time of acceptance |
//! | `tl/app/<application_id>/applications/<position>` | applications | timeline entries |
//! | `tl/award/<award_id>/<source>/<position>` | awards, reporting | timeline entries |
//!
//! Checkpoints (`cp/<source>`) live beside the models and are written by the handlers, not here.
//!
//! Values are JSON of the records below (serde, fields in declaration order, maps ordered), so equal
//! models are equal bytes and a digest can compare them.

use std::collections::BTreeMap;

use contracts::applications::v1 as apps;
use contracts::awards::v1 as awards;
use contracts::common::v1::{Date, Money};
use contracts::reporting::v1 as reporting;
use event_log::RecordedEvent;
use prost::Message;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::store::{Store, StoreError};

/// The source services the projector consumes, in the order a rebuild replays them.
pub const SOURCES: [&str; 3] = ["applications", "awards", "reporting"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The event cannot be projected (it does not decode, or breaks the contract); it is dead-lettered
    /// with this reason.
    #[error("{0}")]
    Rejected(String),
}

// ---- Records ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRec {
    pub title: String,
    pub currency: String,
    pub budget_ceiling: i64,
    pub closed: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRec {
    pub legal_name: String,
    pub country: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    #[default]
    Draft,
    Submitted,
    UnderReview,
    Approved,
    Rejected,
    Withdrawn,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRec {
    pub round_id: String,
    pub organisation_id: String,
    pub title: String,
    pub stage: Stage,
    pub currency: String,
    pub requested: i64,
    pub approved: i64,
    pub countries: Vec<String>,
    /// `grants.applications.v1.ServiceType` numbers.
    pub services: Vec<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwardRec {
    pub application_id: String,
    pub round_id: String,
    pub organisation_id: String,
    pub title: String,
    /// "offered", "active", "suspended", "terminated", "closed".
    pub status: String,
    pub currency: String,
    pub offered: i64,
    pub committed: i64,
    pub released: i64,
    pub countries: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OblStatus {
    #[default]
    Open,
    Submitted,
    RevisionRequested,
    Accepted,
    Cancelled,
}

/// A calendar day as `yyyymmdd`: ordered like dates, readable in a dump.
pub type Day = u32;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obl {
    /// `grants.reporting.v1.ReportKind` number.
    pub kind: i32,
    pub due: Day,
    pub status: OblStatus,
    pub first_submitted_on: Option<Day>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OblRec {
    pub organisation_id: String,
    /// On hold from this day (a suspension) until resumed.
    pub suspended_on: Option<Day>,
    pub obligations: BTreeMap<String, Obl>,
}

/// One indicator's disaggregated counts: cell key ([`cell_key`]: sex, age band and disability numbers) to
/// count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorCounts {
    pub total: u64,
    pub cells: BTreeMap<String, u64>,
}

/// The key of a disaggregation cell: `<sex>.<age band>.<disability>` as enum numbers.
pub fn cell_key(sex: i32, age_band: i32, disability: i32) -> String {
    format!("{sex}.{age_band}.{disability}")
}

/// The enum numbers of a cell key; `None` for a key not written by [`cell_key`].
pub fn parse_cell_key(key: &str) -> Option<(i32, i32, i32)> {
    let mut parts = key.split('.').map(str::parse::<i32>);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Ok(s)), Some(Ok(a)), Some(Ok(d)), None) => Some((s, a, d)),
        _ => None,
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReport {
    pub organisation_id: String,
    pub indicators: BTreeMap<String, IndicatorCounts>,
}

/// One accepted report's counts of one indicator: kept apart per report, because each report's counts
/// are contributions with record keys of their own (see [`crate::perturbation`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// When the acceptance was recorded in the reporting log (microseconds since the Unix epoch): as-of
    /// answers count only reports accepted by a month end.
    pub accepted_at_micros: i64,
    pub counts: IndicatorCounts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndRec {
    pub organisation_id: String,
    /// By report id.
    pub reports: BTreeMap<String, Contribution>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineRec {
    pub event_type: String,
    pub step: String,
    pub actor_subject: String,
    pub actor_role: String,
    pub occurred_at_micros: i64,
    pub recorded_at_micros: i64,
    pub summary: String,
}

// ---- Keys ------------------------------------------------------------------------------------------------

pub fn round_key(id: &str) -> String {
    format!("round/{id}")
}
pub fn org_key(id: &str) -> String {
    format!("org/{id}")
}
pub fn app_key(id: &str) -> String {
    format!("app/{id}")
}
pub fn award_key(id: &str) -> String {
    format!("award/{id}")
}
pub fn obl_key(award_id: &str) -> String {
    format!("obl/{award_id}")
}
fn pending_key(report_id: &str) -> String {
    format!("pending/{report_id}")
}
pub fn ind_prefix(award_id: &str) -> String {
    format!("ind/{award_id}/")
}
pub fn checkpoint_key(source: &str) -> String {
    format!("cp/{source}")
}
/// Timeline entries of one grant part: `kind` is `app` (keyed by application id) or `award`.
pub fn timeline_prefix(kind: &str, id: &str) -> String {
    format!("tl/{kind}/{id}/")
}
fn timeline_key(kind: &str, id: &str, source: &str, position: u64) -> String {
    format!("tl/{kind}/{id}/{source}/{position:020}")
}

/// The namespace of award ids (see `proto/grants/awards/v1/events.proto`).
const AWARD_NAMESPACE: uuid::Uuid = uuid::uuid!("b50490f9-bbab-5315-a862-39862181f947");

/// The award id the awards service gives the award of `application_id` (UUID v5 of its 16 bytes).
pub fn award_id_for(application_id: &str) -> Option<String> {
    let application = uuid::Uuid::try_parse(application_id).ok()?;
    Some(uuid::Uuid::new_v5(&AWARD_NAMESPACE, application.as_bytes()).to_string())
}

// ---- Helpers ---------------------------------------------------------------------------------------------

pub fn read<T: DeserializeOwned>(bytes: &[u8], key: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError(format!("entry `{key}` does not decode: {e}")))
}

fn load<T: DeserializeOwned>(store: &mut impl Store, key: &str) -> Result<Option<T>, StoreError> {
    store.get(key)?.map(|bytes| read(&bytes, key)).transpose()
}

fn save<T: Serialize>(store: &mut impl Store, key: &str, value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(|e| StoreError(format!("entry `{key}` does not encode: {e}")))?;
    store.put(key, bytes)
}

/// Loads a record, lets `change` edit it (starting from the default when absent), saves it.
fn update<T: DeserializeOwned + Serialize + Default>(
    store: &mut impl Store,
    key: &str,
    change: impl FnOnce(&mut T),
) -> Result<(), StoreError> {
    let mut value = load(store, key)?.unwrap_or_default();
    change(&mut value);
    save(store, key, &value)
}

/// Updates a record only when it exists: an event about something the projector never saw created is a
/// broken contract, not something to invent a record for.
fn update_existing<T: DeserializeOwned + Serialize>(
    store: &mut impl Store,
    key: &str,
    change: impl FnOnce(&mut T),
) -> Result<(), ProjectError> {
    let Some(mut value) = load::<T>(store, key)? else {
        return Err(ProjectError::Rejected(format!("`{key}` is unknown: its creating event was never projected")));
    };
    change(&mut value);
    Ok(save(store, key, &value)?)
}

fn decode<M: Message + Default>(event: &RecordedEvent) -> Result<M, ProjectError> {
    if event.schema_version != 1 {
        return Err(ProjectError::Rejected(format!(
            "`schema_version` of {} must be 1, is {}",
            event.event_type, event.schema_version
        )));
    }
    M::decode(event.payload.as_slice())
        .map_err(|e| ProjectError::Rejected(format!("`payload` of {} does not decode: {e}", event.event_type)))
}

fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, ProjectError> {
    if value.is_empty() {
        return Err(ProjectError::Rejected(format!("`{field}` is required")));
    }
    Ok(value)
}

fn minor(money: Option<&Money>) -> i64 {
    money.map_or(0, |m| m.minor_units)
}

fn currency(money: Option<&Money>) -> String {
    money.map(|m| m.currency.clone()).unwrap_or_default()
}

fn money_text(money: Option<&Money>) -> String {
    money.map_or_else(|| "no amount".to_owned(), |m| format!("{} {} (minor units)", m.minor_units, m.currency))
}

pub fn day(date: Option<&Date>) -> Option<Day> {
    let d = date?;
    let (y, m, dd) = (u32::try_from(d.year).ok()?, u32::try_from(d.month).ok()?, u32::try_from(d.day).ok()?);
    Some(y * 10_000 + m * 100 + dd)
}

/// The UTC day of a protobuf timestamp.
fn day_of_timestamp(ts: Option<&prost_types::Timestamp>) -> Option<Day> {
    let ts = ts?;
    let dt = time::OffsetDateTime::from_unix_timestamp(ts.seconds).ok()?;
    Some(day_of(dt.date()))
}

pub fn day_of(date: time::Date) -> Day {
    let year = u32::try_from(date.year()).unwrap_or(0);
    year * 10_000 + u32::from(u8::from(date.month())) * 100 + u32::from(date.day())
}

/// The UTC day of a log time.
pub fn day_of_micros(micros: i64) -> Day {
    let dt = time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    day_of(dt.date())
}

fn counts_of(values: &[reporting::IndicatorValue]) -> BTreeMap<String, IndicatorCounts> {
    let mut out = BTreeMap::new();
    for value in values {
        let counts: &mut IndicatorCounts = out.entry(value.indicator_id.clone()).or_default();
        counts.total = counts.total.saturating_add(value.total);
        for cell in &value.cells {
            let slot = counts.cells.entry(cell_key(cell.sex, cell.age_band, cell.disability)).or_default();
            *slot = slot.saturating_add(cell.count);
        }
    }
    out
}

// ---- Projection ------------------------------------------------------------------------------------------

/// Applies `event` of `source` to the read models in `store`. Events of types the read models do not use
/// change nothing; sources other than [`SOURCES`] change nothing.
pub fn project(store: &mut impl Store, source: &str, event: &RecordedEvent) -> Result<(), ProjectError> {
    match source {
        "applications" => project_application_event(store, event),
        "awards" => project_award_event(store, event),
        "reporting" => project_reporting_event(store, event),
        _ => Ok(()),
    }
}

fn timeline(
    store: &mut impl Store,
    kind: &str,
    id: &str,
    source: &str,
    event: &RecordedEvent,
    step: &str,
    summary: String,
) -> Result<(), ProjectError> {
    let entry = TimelineRec {
        event_type: event.event_type.clone(),
        step: step.to_owned(),
        actor_subject: event.metadata.actor.subject.clone(),
        actor_role: event.metadata.actor.role.clone(),
        occurred_at_micros: event.metadata.occurred_at.as_micros(),
        recorded_at_micros: event.recorded_at.as_micros(),
        summary,
    };
    Ok(save(store, &timeline_key(kind, id, source, event.position), &entry)?)
}

fn project_application_event(store: &mut impl Store, event: &RecordedEvent) -> Result<(), ProjectError> {
    const SOURCE: &str = "applications";
    match event.event_type.as_str() {
        "RoundOpened" => {
            let e: apps::RoundOpened = decode(event)?;
            let id = required("round_id", &e.round_id)?;
            let round = RoundRec {
                title: e.title.clone(),
                currency: currency(e.budget_ceiling.as_ref()),
                budget_ceiling: minor(e.budget_ceiling.as_ref()),
                closed: false,
            };
            save(store, &round_key(id), &round)?;
        }
        "RoundClosed" => {
            let e: apps::RoundClosed = decode(event)?;
            update_existing(store, &round_key(required("round_id", &e.round_id)?), |r: &mut RoundRec| {
                r.closed = true;
            })?;
        }
        "OrganisationRegistered" => {
            let e: apps::OrganisationRegistered = decode(event)?;
            let org = OrgRec { legal_name: e.legal_name.clone(), country: e.country.clone() };
            save(store, &org_key(required("organisation_id", &e.organisation_id)?), &org)?;
        }
        "ApplicationDrafted" => {
            let e: apps::ApplicationDrafted = decode(event)?;
            let id = required("application_id", &e.application_id)?;
            let content = e.content.unwrap_or_default();
            let app = AppRec {
                round_id: e.round_id.clone(),
                organisation_id: e.organisation_id.clone(),
                title: content.title.clone(),
                stage: Stage::Draft,
                currency: currency(content.requested_amount.as_ref()),
                requested: minor(content.requested_amount.as_ref()),
                approved: 0,
                countries: content.countries.clone(),
                services: content.services_offered.clone(),
            };
            save(store, &app_key(id), &app)?;
            timeline(store, "app", id, SOURCE, event, "application", format!("drafted \"{}\"", content.title))?;
        }
        "ApplicationEdited" => {
            let e: apps::ApplicationEdited = decode(event)?;
            let id = required("application_id", &e.application_id)?;
            let content = e.content.unwrap_or_default();
            update_existing(store, &app_key(id), |a: &mut AppRec| {
                a.title = content.title.clone();
                a.currency = currency(content.requested_amount.as_ref());
                a.requested = minor(content.requested_amount.as_ref());
                a.countries = content.countries.clone();
                a.services = content.services_offered.clone();
            })?;
            timeline(store, "app", id, SOURCE, event, "application", "edited".into())?;
        }
        "ApplicationSubmitted" => {
            let e: apps::ApplicationSubmitted = decode(event)?;
            let id = required("application_id", &e.application_id)?;
            let content = e.content.unwrap_or_default();
            let requested = content.requested_amount.as_ref();
            update(store, &app_key(id), |a: &mut AppRec| {
                a.round_id = e.round_id.clone();
                a.organisation_id = e.organisation_id.clone();
                a.title = content.title.clone();
                a.stage = Stage::Submitted;
                a.currency = currency(requested);
                a.requested = minor(requested);
                a.countries = content.countries.clone();
                a.services = content.services_offered.clone();
            })?;
            timeline(
                store,
                "app",
                id,
                SOURCE,
                event,
                "application",
                format!("submitted, requesting {}", money_text(requested)),
            )?;
        }
        "ApplicationWithdrawn" => {
            let e: apps::ApplicationWithdrawn = decode(event)?;
            let id = required("application_id", &e.application_id)?;
            update_existing(store, &app_key(id), |a: &mut AppRec| a.stage = Stage::Withdrawn)?;
            timeline(store, "app", id, SOURCE, event, "application", "withdrawn".into())?;
        }
        "ReviewerAssigned" => {
            let e: apps::ReviewerAssigned = decode(event)?;
            let id = required("application_id", &e.application_id)?;
            update_existing(store, &app_key(id), |a: &mut AppRec| {
                if a.stage == Stage::Submitted {
                    a.stage = Stage::UnderReview;
                }
            })?;
            timeline(store, "app", id, SOURCE, event, "review", format!("reviewer {} assigned", e.reviewer_subject))?;
        }
        "ConflictOfInterestDeclared" => {
            let e: apps::ConflictOfInterestDeclared = decode(event)?;
            let id = required("application_id", &e.application_id)?;
            let summary =
                if e.has_conflict { "declared a conflict of interest" } else { "declared no conflict of interest" };
            timeline(store, "app", id, SOURCE, event, "review", format!("{} {summary}", e.reviewer_subject))?;
        }
        "ReviewRecorded" => {
            let e: apps::ReviewRecorded = decode(event)?;
            let id = required("application_id", &e.application_id)?;
            let summary = format!("review by {}: {} basis points", e.reviewer_subject, e.weighted_total_basis_points);
            timeline(store, "app", id, SOURCE, event, "review", summary)?;
        }
        "ApplicationApproved" => {
            let e: apps::ApplicationApproved = decode(event)?;
            let id = required("application_id", &e.application_id)?;
            let approved = e.approved_amount.as_ref();
            update(store, &app_key(id), |a: &mut AppRec| {
                a.round_id = e.round_id.clone();
                a.organisation_id = e.organisation_id.clone();
                a.stage = Stage::Approved;
                a.approved = minor(approved);
                if a.currency.is_empty() {
                    a.currency = currency(approved);
                }
                if !e.title.is_empty() {
                    a.title = e.title.clone();
                }
                if !e.countries.is_empty() {
                    a.countries = e.countries.clone();
                }
                if !e.services_offered.is_empty() {
                    a.services = e.services_offered.clone();
                }
            })?;
            timeline(store, "app", id, SOURCE, event, "decision", format!("approved {}", money_text(approved)))?;
        }
        "ApplicationRejected" => {
            let e: apps::ApplicationRejected = decode(event)?;
            let id = required("application_id", &e.application_id)?;
            update(store, &app_key(id), |a: &mut AppRec| {
                a.round_id = e.round_id.clone();
                a.organisation_id = e.organisation_id.clone();
                a.stage = Stage::Rejected;
            })?;
            timeline(store, "app", id, SOURCE, event, "decision", "rejected".into())?;
        }
        _ => {}
    }
    Ok(())
}

fn project_award_event(store: &mut impl Store, event: &RecordedEvent) -> Result<(), ProjectError> {
    const SOURCE: &str = "awards";
    let award_step = |store: &mut _, award_id: &str, step: &str, summary: String| {
        timeline(store, "award", award_id, SOURCE, event, step, summary)
    };
    match event.event_type.as_str() {
        "AwardOffered" => {
            let e: awards::AwardOffered = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let amount = e.approved_amount.as_ref();
            let award = AwardRec {
                application_id: e.application_id.clone(),
                round_id: e.round_id.clone(),
                organisation_id: e.organisation_id.clone(),
                title: e.title.clone(),
                status: "offered".into(),
                currency: currency(amount),
                offered: minor(amount),
                committed: 0,
                released: 0,
                countries: e.countries.clone(),
            };
            save(store, &award_key(id), &award)?;
            award_step(store, id, "award", format!("offered {}", money_text(amount)))?;
        }
        "AgreementSet" => {
            let e: awards::AgreementSet = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let amount = e.terms.as_ref().and_then(|t| t.amount.as_ref());
            award_step(store, id, "agreement", format!("terms set for {}", money_text(amount)))?;
        }
        "AgreementSigned" => {
            let e: awards::AgreementSigned = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let amount = e.terms.as_ref().and_then(|t| t.amount.as_ref());
            update_existing(store, &award_key(id), |a: &mut AwardRec| {
                a.status = "active".into();
                a.committed = minor(amount);
                if let Some(m) = amount {
                    a.currency = m.currency.clone();
                }
            })?;
            award_step(store, id, "agreement", format!("signed for {}", money_text(amount)))?;
        }
        "TrancheReleased" => {
            let e: awards::TrancheReleased = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let total = e.released_total.as_ref();
            update_existing(store, &award_key(id), |a: &mut AwardRec| a.released = minor(total))?;
            let summary = format!("tranche {} released: {}", e.tranche_id, money_text(e.amount.as_ref()));
            award_step(store, id, "release", summary)?;
        }
        "BudgetReallocated" => {
            let e: awards::BudgetReallocated = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            award_step(store, id, "variation", format!("budget reallocated ({} basis points)", e.moved_basis_points))?;
        }
        "VariationRequested" => {
            let e: awards::VariationRequested = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            award_step(store, id, "variation", format!("variation {} requested", e.variation_id))?;
        }
        "VariationApproved" => {
            let e: awards::VariationApproved = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let amount = e.terms.as_ref().and_then(|t| t.amount.as_ref());
            update_existing(store, &award_key(id), |a: &mut AwardRec| {
                if let Some(m) = amount {
                    a.committed = m.minor_units;
                }
            })?;
            award_step(store, id, "variation", format!("variation {} approved", e.variation_id))?;
        }
        "VariationDeclined" => {
            let e: awards::VariationDeclined = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            award_step(store, id, "variation", format!("variation {} declined", e.variation_id))?;
        }
        "ReportConditionMet" => {
            let e: awards::ReportConditionMet = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            award_step(store, id, "report", format!("report {} counts towards its tranches", e.report_ref))?;
        }
        "AwardSuspended" | "AwardResumed" => {
            let (id, status, summary) = if event.event_type == "AwardSuspended" {
                let e: awards::AwardSuspended = decode(event)?;
                (e.award_id, "suspended", "suspended")
            } else {
                let e: awards::AwardResumed = decode(event)?;
                (e.award_id, "active", "resumed")
            };
            let id = required("award_id", &id)?;
            update_existing(store, &award_key(id), |a: &mut AwardRec| a.status = status.into())?;
            award_step(store, id, "status", summary.into())?;
        }
        "AwardTerminated" => {
            let e: awards::AwardTerminated = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let total = minor(e.released_total.as_ref());
            update_existing(store, &award_key(id), |a: &mut AwardRec| {
                a.status = "terminated".into();
                a.released = total;
                // Nothing more will be paid: what was released is all that stays committed.
                a.committed = total;
            })?;
            award_step(store, id, "status", "terminated".into())?;
        }
        "AwardClosed" => {
            let e: awards::AwardClosed = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let total = minor(e.released_total.as_ref());
            update_existing(store, &award_key(id), |a: &mut AwardRec| {
                a.status = "closed".into();
                a.released = total;
            })?;
            award_step(store, id, "status", "closed out".into())?;
        }
        _ => {}
    }
    Ok(())
}

fn obligation_of(o: &reporting::Obligation) -> Obl {
    Obl { kind: o.kind, due: day(o.due_date.as_ref()).unwrap_or(0), status: OblStatus::Open, first_submitted_on: None }
}

fn project_reporting_event(store: &mut impl Store, event: &RecordedEvent) -> Result<(), ProjectError> {
    const SOURCE: &str = "reporting";
    let step = |store: &mut _, award_id: &str, step: &str, summary: String| {
        timeline(store, "award", award_id, SOURCE, event, step, summary)
    };
    match event.event_type.as_str() {
        "ObligationsScheduled" => {
            let e: reporting::ObligationsScheduled = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let record = OblRec {
                organisation_id: e.organisation_id.clone(),
                suspended_on: None,
                obligations: e.obligations.iter().map(|o| (o.report_ref.clone(), obligation_of(o))).collect(),
            };
            save(store, &obl_key(id), &record)?;
            step(store, id, "obligation", format!("{} reporting obligations scheduled", e.obligations.len()))?;
        }
        "ObligationsRescheduled" => {
            let e: reporting::ObligationsRescheduled = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            update_existing(store, &obl_key(id), |r: &mut OblRec| {
                for o in &e.obligations {
                    let fresh = obligation_of(o);
                    r.obligations
                        .entry(o.report_ref.clone())
                        .and_modify(|existing| {
                            if existing.status != OblStatus::Accepted {
                                existing.kind = fresh.kind;
                                existing.due = fresh.due;
                            }
                        })
                        .or_insert(fresh);
                }
                for reference in &e.cancelled_report_refs {
                    if let Some(o) = r.obligations.get_mut(reference)
                        && o.status != OblStatus::Accepted
                    {
                        o.status = OblStatus::Cancelled;
                    }
                }
            })?;
            step(store, id, "obligation", format!("obligations rescheduled ({})", e.cause))?;
        }
        "ObligationsSuspended" => {
            let e: reporting::ObligationsSuspended = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let on = day(e.suspended_on.as_ref()).unwrap_or_else(|| day_of_micros(event.recorded_at.as_micros()));
            update_existing(store, &obl_key(id), |r: &mut OblRec| r.suspended_on = Some(on))?;
            step(store, id, "obligation", "obligations on hold".into())?;
        }
        "ObligationsResumed" => {
            let e: reporting::ObligationsResumed = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            update_existing(store, &obl_key(id), |r: &mut OblRec| {
                r.suspended_on = None;
                for extension in &e.extensions {
                    if let (Some(o), Some(due)) =
                        (r.obligations.get_mut(&extension.report_ref), day(extension.due_date.as_ref()))
                    {
                        o.due = due;
                    }
                }
            })?;
            step(store, id, "obligation", format!("obligations resumed, {} due dates moved", e.extensions.len()))?;
        }
        "ObligationsCancelled" => {
            let e: reporting::ObligationsCancelled = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            update_existing(store, &obl_key(id), |r: &mut OblRec| {
                for reference in &e.cancelled_report_refs {
                    if let Some(o) = r.obligations.get_mut(reference)
                        && o.status != OblStatus::Accepted
                    {
                        o.status = OblStatus::Cancelled;
                    }
                }
            })?;
            step(store, id, "obligation", format!("{} obligations cancelled", e.cancelled_report_refs.len()))?;
        }
        "ReportSubmitted" => {
            let e: reporting::ReportSubmitted = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let report_id = required("report_id", &e.report_id)?;
            let on = day_of_timestamp(e.submitted_at.as_ref())
                .unwrap_or_else(|| day_of_micros(event.recorded_at.as_micros()));
            update_existing(store, &obl_key(id), |r: &mut OblRec| {
                if let Some(o) = r.obligations.get_mut(&e.report_ref) {
                    o.status = OblStatus::Submitted;
                    o.first_submitted_on.get_or_insert(on);
                }
            })?;
            // Only the last submitted version counts when the report is accepted.
            let indicators = e.progress.as_ref().map(|p| counts_of(&p.indicators)).unwrap_or_default();
            let pending = PendingReport { organisation_id: e.organisation_id.clone(), indicators };
            save(store, &pending_key(report_id), &pending)?;
            step(store, id, "report", format!("report {} version {} submitted", e.report_ref, e.version))?;
        }
        "RevisionRequested" => {
            let e: reporting::RevisionRequested = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            update_existing(store, &obl_key(id), |r: &mut OblRec| {
                if let Some(o) = r.obligations.get_mut(&e.report_ref) {
                    o.status = OblStatus::RevisionRequested;
                }
            })?;
            step(store, id, "report", format!("revision of report {} version {} requested", e.report_ref, e.version))?;
        }
        "ReportAccepted" => {
            let e: reporting::ReportAccepted = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            let report_id = required("report_id", &e.report_id)?;
            update_existing(store, &obl_key(id), |r: &mut OblRec| {
                if let Some(o) = r.obligations.get_mut(&e.report_ref) {
                    o.status = OblStatus::Accepted;
                }
            })?;
            if let Some(pending) = load::<PendingReport>(store, &pending_key(report_id))? {
                let accepted_at_micros = event.recorded_at.as_micros();
                for (indicator, counts) in pending.indicators {
                    let key = format!("{}{indicator}", ind_prefix(id));
                    update(store, &key, |r: &mut IndRec| {
                        r.organisation_id = pending.organisation_id.clone();
                        r.reports.insert(report_id.to_owned(), Contribution { accepted_at_micros, counts });
                    })?;
                }
                store.remove(&pending_key(report_id))?;
            }
            step(store, id, "report", format!("report {} accepted", e.report_ref))?;
        }
        "DisbursementRecorded" => {
            let e: reporting::DisbursementRecorded = decode(event)?;
            let id = required("award_id", &e.award_id)?;
            step(store, id, "release", format!("disbursement of tranche {} recorded", e.tranche_id))?;
        }
        _ => {}
    }
    Ok(())
}
