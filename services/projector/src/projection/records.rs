//! The read-model records: what each entry holds, stored as JSON (serde, fields in declaration order, maps
//! ordered), so equal models are equal bytes and a digest can compare them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::days::Day;

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
