//! Answers from read models (any [`View`]: the active generation, or an as-of replay in memory) in the
//! wire shapes of `grants.projector.v1`. Joins across sources happen here (see [`crate::projection`]).
//! Indicator counts leave only through [`program_summary`], suppressed and perturbed.

use std::collections::{BTreeMap, BTreeSet};

use contracts::applications::v1::ServiceType;
use contracts::common::v1::{Date, Money};
use contracts::projector::v1 as pb;

use crate::disclosure::Disclosure;
use crate::perturbation::{CellKey, PerturbationTable, RecordKeys};
use crate::projection::{
    AppRec, AwardRec, Day, IndRec, IndicatorCounts, OblRec, OblStatus, OrgRec, RoundRec, Stage, TimelineRec, app_key,
    award_id_for, award_key, obl_key, org_key, parse_cell_key, read, round_key, timeline_prefix,
};
use crate::store::{StoreError, View};
use crate::suppression::{Mark, ThreeWay};

fn get<T: serde::de::DeserializeOwned>(view: &impl View, key: &str) -> Result<Option<T>, StoreError> {
    view.get(key)?.map(|bytes| read(&bytes, key)).transpose()
}

fn all<T: serde::de::DeserializeOwned>(view: &impl View, prefix: &str) -> Result<Vec<(String, T)>, StoreError> {
    view.scan(prefix, None)?
        .into_iter()
        .map(|(key, bytes)| {
            let value = read(&bytes, &key)?;
            Ok((key[prefix.len()..].to_owned(), value))
        })
        .collect()
}

fn money(minor_units: i64, currency: &str) -> Option<Money> {
    Some(Money { minor_units, currency: currency.to_owned() })
}

pub fn date_of(day: Day) -> Option<Date> {
    let day = i32::try_from(day).ok()?;
    Some(Date { year: day / 10_000, month: day / 100 % 100, day: day % 100 })
}

fn days_between(from: Day, to: Day) -> u32 {
    let to_date = |d: Day| {
        let d = i32::try_from(d).unwrap_or(0);
        time::Month::try_from(u8::try_from(d / 100 % 100).unwrap_or(1))
            .ok()
            .and_then(|m| time::Date::from_calendar_date(d / 10_000, m, u8::try_from(d % 100).unwrap_or(1)).ok())
    };
    match (to_date(from), to_date(to)) {
        (Some(a), Some(b)) => u32::try_from((b - a).whole_days()).unwrap_or(0),
        _ => 0,
    }
}

// ---- Round pipeline ----------------------------------------------------------------------------------------

fn stage_of(stage: Stage) -> pb::ApplicationStage {
    match stage {
        Stage::Draft => pb::ApplicationStage::Draft,
        Stage::Submitted => pb::ApplicationStage::Submitted,
        Stage::UnderReview => pb::ApplicationStage::UnderReview,
        Stage::Approved => pb::ApplicationStage::Approved,
        Stage::Rejected => pb::ApplicationStage::Rejected,
        Stage::Withdrawn => pb::ApplicationStage::Withdrawn,
    }
}

fn pipeline(round_id: &str, round: &RoundRec, apps: &[(String, AppRec)]) -> pb::RoundPipeline {
    let mut by_stage: BTreeMap<Stage, u64> = BTreeMap::new();
    let (mut requested, mut approved) = (0i64, 0i64);
    let mut by_country: BTreeMap<String, (u64, i64, i64)> = BTreeMap::new();
    for (_, app) in apps.iter().filter(|(_, a)| a.round_id == round_id) {
        *by_stage.entry(app.stage).or_default() += 1;
        if matches!(app.stage, Stage::Draft | Stage::Withdrawn) {
            continue;
        }
        requested += app.requested;
        approved += app.approved;
        for country in &app.countries {
            let row = by_country.entry(country.clone()).or_default();
            row.0 += 1;
            row.1 += app.requested;
            row.2 += app.approved;
        }
    }
    let currency = round.currency.as_str();
    pb::RoundPipeline {
        round_id: round_id.to_owned(),
        title: round.title.clone(),
        status: if round.closed { "closed" } else { "open" }.into(),
        budget_ceiling: money(round.budget_ceiling, currency),
        by_stage: by_stage
            .into_iter()
            .map(|(stage, n)| pb::StageCount { stage: stage_of(stage) as i32, applications: n })
            .collect(),
        requested_total: money(requested, currency),
        approved_total: money(approved, currency),
        by_country: by_country
            .into_iter()
            .map(|(country, (n, req, appr))| pb::CountryPipeline {
                country,
                applications: n,
                requested: money(req, currency),
                approved: money(appr, currency),
            })
            .collect(),
    }
}

pub fn round_pipeline(view: &impl View, round_id: &str) -> Result<Option<pb::RoundPipeline>, StoreError> {
    let Some(round) = get::<RoundRec>(view, &round_key(round_id))? else { return Ok(None) };
    let apps = all::<AppRec>(view, "app/")?;
    Ok(Some(pipeline(round_id, &round, &apps)))
}

/// Round pipelines after round id `after`, at most `limit`; the bool says whether more follow.
pub fn round_pipelines(
    view: &impl View,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<pb::RoundPipeline>, bool), StoreError> {
    let after_key = after.map(round_key);
    let rounds = view.scan_limit("round/", after_key.as_deref(), limit + 1)?;
    let more = rounds.len() > limit;
    let apps = all::<AppRec>(view, "app/")?;
    let mut out = Vec::new();
    for (key, bytes) in rounds.into_iter().take(limit) {
        let round: RoundRec = read(&bytes, &key)?;
        out.push(pipeline(&key["round/".len()..], &round, &apps));
    }
    Ok((out, more))
}

// ---- Obligations -----------------------------------------------------------------------------------------

/// Whether obligation `o` was overdue on `on` (see `ListOverdueObligationsRequest`).
fn overdue_on(record: &OblRec, due: Day, status: OblStatus, first_submitted_on: Option<Day>, on: Day) -> bool {
    let on_hold = record.suspended_on.is_some_and(|s| s <= on);
    let unsubmitted_then = first_submitted_on.is_none_or(|s| s > on);
    status != OblStatus::Cancelled && !on_hold && due != 0 && due < on && unsubmitted_then
}

fn obligation_due(
    award_id: &str,
    organisation_id: &str,
    report_ref: &str,
    kind: i32,
    due: Day,
    on: Day,
) -> pb::ObligationDue {
    pb::ObligationDue {
        award_id: award_id.to_owned(),
        organisation_id: organisation_id.to_owned(),
        report_ref: report_ref.to_owned(),
        kind,
        due_date: date_of(due),
        days_overdue: if due < on { days_between(due, on) } else { 0 },
    }
}

fn overdue_of(award_id: &str, record: &OblRec, on: Day) -> Vec<pb::ObligationDue> {
    record
        .obligations
        .iter()
        .filter(|(_, o)| overdue_on(record, o.due, o.status, o.first_submitted_on, on))
        .map(|(reference, o)| obligation_due(award_id, &record.organisation_id, reference, o.kind, o.due, on))
        .collect()
}

fn next_due_of(award_id: &str, record: &OblRec, on: Day) -> Option<pb::ObligationDue> {
    record
        .obligations
        .iter()
        .filter(|(_, o)| matches!(o.status, OblStatus::Open | OblStatus::RevisionRequested) && o.due != 0)
        .min_by_key(|(reference, o)| (o.due, (*reference).clone()))
        .map(|(reference, o)| obligation_due(award_id, &record.organisation_id, reference, o.kind, o.due, on))
}

/// Obligations overdue on `on`, ordered by award id and report ref, after `after` (`<award>/<ref>`).
pub fn overdue(
    view: &impl View,
    on: Day,
    organisation: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<pb::ObligationDue>, bool), StoreError> {
    let mut out = Vec::new();
    for (award_id, record) in all::<OblRec>(view, "obl/")? {
        if organisation.is_some_and(|org| org != record.organisation_id) {
            continue;
        }
        for item in overdue_of(&award_id, &record, on) {
            let token = format!("{}/{}", item.award_id, item.report_ref);
            if after.is_some_and(|after| token.as_str() <= after) {
                continue;
            }
            out.push(item);
            if out.len() > limit {
                out.truncate(limit);
                return Ok((out, true));
            }
        }
    }
    Ok((out, false))
}

// ---- Portfolio -------------------------------------------------------------------------------------------

#[derive(Default)]
struct Totals {
    awards: u64,
    offered: i64,
    committed: i64,
    released: i64,
}

impl Totals {
    fn add(&mut self, award: &AwardRec) {
        self.awards += 1;
        self.offered += award.offered;
        self.committed += award.committed;
        self.released += award.released;
    }
}

fn remaining(award: &AwardRec) -> i64 {
    if matches!(award.status.as_str(), "terminated" | "closed") { 0 } else { (award.committed - award.released).max(0) }
}

fn currency_totals(awards: &[(String, AwardRec)]) -> Vec<pb::CurrencyTotals> {
    let mut by_currency: BTreeMap<String, (Totals, i64)> = BTreeMap::new();
    for (_, award) in awards {
        let entry = by_currency.entry(award.currency.clone()).or_default();
        entry.0.add(award);
        entry.1 += remaining(award);
    }
    by_currency
        .into_iter()
        .map(|(currency, (t, rest))| pb::CurrencyTotals {
            currency,
            awards: t.awards,
            offered_minor_units: t.offered,
            committed_minor_units: t.committed,
            released_minor_units: t.released,
            remaining_minor_units: rest,
        })
        .collect()
}

fn portfolio_of(
    view: &impl View,
    organisation_id: &str,
    awards: Vec<(String, AwardRec)>,
    on: Day,
) -> Result<pb::PartnerPortfolio, StoreError> {
    let org = get::<OrgRec>(view, &org_key(organisation_id))?.unwrap_or_default();
    let mut positions = Vec::new();
    let mut next: Option<pb::ObligationDue> = None;
    let mut overdue_count = 0u32;
    for (award_id, award) in &awards {
        let obligations = get::<OblRec>(view, &obl_key(award_id))?;
        let overdue = obligations.as_ref().map(|r| overdue_of(award_id, r, on)).unwrap_or_default();
        let next_due = obligations.as_ref().and_then(|r| next_due_of(award_id, r, on));
        if let Some(candidate) = &next_due
            && next.as_ref().is_none_or(|n| day_key(candidate) < day_key(n))
        {
            next = Some(candidate.clone());
        }
        overdue_count += u32::try_from(overdue.len()).unwrap_or(u32::MAX);
        positions.push(pb::AwardPosition {
            award_id: award_id.clone(),
            application_id: award.application_id.clone(),
            round_id: award.round_id.clone(),
            title: award.title.clone(),
            status: award.status.clone(),
            committed: money(award.committed, &award.currency),
            released: money(award.released, &award.currency),
            remaining: money(remaining(award), &award.currency),
            next_report_due: next_due,
            overdue,
        });
    }
    Ok(pb::PartnerPortfolio {
        organisation_id: organisation_id.to_owned(),
        legal_name: org.legal_name,
        country: org.country,
        totals: currency_totals(&awards),
        awards: positions,
        next_report_due: next,
        overdue_count,
        as_of_date: date_of(on),
    })
}

fn day_key(o: &pb::ObligationDue) -> (i32, i32, i32, String) {
    let d = o.due_date.unwrap_or_default();
    (d.year, d.month, d.day, o.award_id.clone())
}

/// One organisation's portfolio; `None` when the projector knows neither the organisation nor an award
/// of it.
pub fn portfolio(view: &impl View, organisation_id: &str, on: Day) -> Result<Option<pb::PartnerPortfolio>, StoreError> {
    let awards: Vec<_> =
        all::<AwardRec>(view, "award/")?.into_iter().filter(|(_, a)| a.organisation_id == organisation_id).collect();
    if awards.is_empty() && view.get(&org_key(organisation_id))?.is_none() {
        return Ok(None);
    }
    portfolio_of(view, organisation_id, awards, on).map(Some)
}

/// Portfolios of organisations with awards (in `round`, when given), after organisation id `after`.
pub fn portfolios(
    view: &impl View,
    round: Option<&str>,
    after: Option<&str>,
    limit: usize,
    on: Day,
) -> Result<(Vec<pb::PartnerPortfolio>, bool), StoreError> {
    let mut by_org: BTreeMap<String, Vec<(String, AwardRec)>> = BTreeMap::new();
    for (id, award) in all::<AwardRec>(view, "award/")? {
        by_org.entry(award.organisation_id.clone()).or_default().push((id, award));
    }
    let mut out = Vec::new();
    let mut more = false;
    for (org, awards) in by_org {
        if after.is_some_and(|after| org.as_str() <= after)
            || round.is_some_and(|r| awards.iter().all(|(_, a)| a.round_id != r))
        {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(portfolio_of(view, &org, awards, on)?);
    }
    Ok((out, more))
}

// ---- Program summary -------------------------------------------------------------------------------------

/// One indicator's table: exact counts with their cell keys.
#[derive(Default)]
struct KeyedTable {
    total: u64,
    total_key: CellKey,
    cells: BTreeMap<(i32, i32, i32), (u64, CellKey)>,
}

impl KeyedTable {
    /// Adds one accepted report's counts: each non-zero cell (or, without cells, the total) is one
    /// contribution with its own record key.
    fn add(&mut self, keys: &RecordKeys, report_id: &str, indicator_id: &str, counts: &IndicatorCounts) {
        self.total = self.total.saturating_add(counts.total);
        if counts.cells.is_empty() {
            if counts.total > 0 {
                self.total_key = self.total_key.plus(keys.key(report_id, indicator_id, "total"));
            }
            return;
        }
        for (cell, &count) in &counts.cells {
            let Some(numbers) = parse_cell_key(cell) else { continue };
            let entry = self.cells.entry(numbers).or_default();
            entry.0 = entry.0.saturating_add(count);
            if count > 0 {
                let key = keys.key(report_id, indicator_id, cell);
                entry.1 = entry.1.plus(key);
                self.total_key = self.total_key.plus(key);
            }
        }
    }

    /// The key of a margin: the sum of the keys of the cells it adds up.
    fn margin_key(&self, pick: impl Fn(&(i32, i32, i32)) -> bool) -> CellKey {
        self.cells.iter().filter(|(cell, _)| pick(cell)).map(|(_, (_, key))| *key).sum()
    }
}

/// Which awards a summary covers, and which of their accepted reports its indicator counts include.
#[derive(Clone, Debug, Default)]
pub struct SummaryFilter {
    pub round_id: Option<String>,
    pub organisation_id: Option<String>,
    /// Only reports accepted at or before this time (microseconds since the Unix epoch); `None`: all.
    pub indicators_until: Option<i64>,
}

fn service_name(number: i32) -> String {
    ServiceType::try_from(number)
        .map(|s| s.as_str_name().trim_start_matches("SERVICE_TYPE_").to_owned())
        .unwrap_or_else(|_| format!("UNKNOWN_{number}"))
}

/// A count as published: withheld, or perturbed by its key.
fn protected(table: &PerturbationTable, value: u64, key: CellKey, mark: Mark) -> Option<pb::ProtectedCount> {
    Some(if mark.is_suppressed() {
        pb::ProtectedCount { value: 0, suppressed: true }
    } else {
        pb::ProtectedCount { value: table.publish(value, key), suppressed: false }
    })
}

/// Program totals and indicators over the awards that pass `filter`; indicator counts suppressed
/// (on their exact values, threshold `disclosure.k`) and perturbed (every shown count, by its cell key).
pub fn program_summary(
    view: &impl View,
    filter: &SummaryFilter,
    disclosure: &Disclosure,
) -> Result<pb::ProgramSummary, StoreError> {
    let awards: Vec<(String, AwardRec)> = all::<AwardRec>(view, "award/")?
        .into_iter()
        .filter(|(_, a)| filter.round_id.as_ref().is_none_or(|r| *r == a.round_id))
        .filter(|(_, a)| filter.organisation_id.as_ref().is_none_or(|o| *o == a.organisation_id))
        .collect();
    let mut by_country: BTreeMap<(String, String), Totals> = BTreeMap::new();
    let mut by_service: BTreeMap<(String, String), Totals> = BTreeMap::new();
    for (_, award) in &awards {
        for country in &award.countries {
            by_country.entry((country.clone(), award.currency.clone())).or_default().add(award);
        }
        let services = get::<AppRec>(view, &app_key(&award.application_id))?.map(|a| a.services).unwrap_or_default();
        let services: BTreeSet<i32> = services.into_iter().collect();
        for service in services {
            by_service.entry((service_name(service), award.currency.clone())).or_default().add(award);
        }
    }

    // Indicators: summed over the covered awards' accepted reports, then suppressed and perturbed.
    let mut indicators: BTreeMap<String, KeyedTable> = BTreeMap::new();
    for (award_id, _) in &awards {
        let prefix = crate::projection::ind_prefix(award_id);
        for (indicator, record) in all::<IndRec>(view, &prefix)? {
            for (report_id, contribution) in &record.reports {
                if filter.indicators_until.is_some_and(|until| contribution.accepted_at_micros > until) {
                    continue;
                }
                let table = indicators.entry(indicator.clone()).or_default();
                table.add(&disclosure.keys, report_id, &indicator, &contribution.counts);
            }
        }
    }
    let (mut primary, mut complementary) = (0u32, 0u32);
    let mut count_marks = |marks: &mut dyn Iterator<Item = Mark>| {
        for mark in marks {
            match mark {
                Mark::Primary => primary += 1,
                Mark::Complementary => complementary += 1,
                Mark::Shown => {}
            }
        }
    };
    let ptable = &disclosure.table;
    let mut summaries = Vec::new();
    for (indicator_id, keyed) in indicators {
        let table = ThreeWay::from_cells(keyed.cells.iter().map(|(cell, (count, _))| (*cell, *count)));
        let published = table.publish(keyed.total, u64::from(disclosure.k));
        count_marks(
            &mut std::iter::once(published.total.1)
                .chain(published.by_sex.iter().map(|e| e.2))
                .chain(published.by_age_band.iter().map(|e| e.2))
                .chain(published.by_disability.iter().map(|e| e.2))
                .chain(published.cells.iter().map(|e| e.2)),
        );
        let cell_key = |cell: &(i32, i32, i32)| keyed.cells.get(cell).map(|(_, key)| *key).unwrap_or_default();
        summaries.push(pb::IndicatorSummary {
            indicator_id,
            total: protected(ptable, published.total.0, keyed.total_key, published.total.1),
            by_sex: published
                .by_sex
                .iter()
                .map(|(s, v, m)| pb::SexMargin {
                    sex: *s,
                    count: protected(ptable, *v, keyed.margin_key(|c| c.0 == *s), *m),
                })
                .collect(),
            by_age_band: published
                .by_age_band
                .iter()
                .map(|(a, v, m)| pb::AgeBandMargin {
                    age_band: *a,
                    count: protected(ptable, *v, keyed.margin_key(|c| c.1 == *a), *m),
                })
                .collect(),
            by_disability: published
                .by_disability
                .iter()
                .map(|(d, v, m)| pb::DisabilityMargin {
                    disability: *d,
                    count: protected(ptable, *v, keyed.margin_key(|c| c.2 == *d), *m),
                })
                .collect(),
            cells: published
                .cells
                .iter()
                .map(|(cell, v, m)| pb::IndicatorCell {
                    sex: cell.0,
                    age_band: cell.1,
                    disability: cell.2,
                    count: protected(ptable, *v, cell_key(cell), *m),
                })
                .collect(),
            disaggregated: !table.cells.is_empty(),
        });
    }
    let rows = |map: BTreeMap<(String, String), Totals>| map.into_iter().collect::<Vec<_>>();
    Ok(pb::ProgramSummary {
        totals: currency_totals(&awards),
        by_country: rows(by_country)
            .into_iter()
            .map(|((country, currency), t)| pb::CountryTotals {
                country,
                currency,
                awards: t.awards,
                committed_minor_units: t.committed,
                released_minor_units: t.released,
            })
            .collect(),
        by_service_type: rows(by_service)
            .into_iter()
            .map(|((service_type, currency), t)| pb::ServiceTypeTotals {
                service_type,
                currency,
                awards: t.awards,
                committed_minor_units: t.committed,
                released_minor_units: t.released,
            })
            .collect(),
        indicators: summaries,
        suppression_k: disclosure.k,
        primary_suppressed: primary,
        complementary_suppressed: complementary,
        perturbation_bound: ptable.bound(),
        indicators_as_of: filter.indicators_until.and_then(timestamp),
    })
}

// ---- Timeline --------------------------------------------------------------------------------------------

fn timestamp(micros: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    })
}

fn entries(view: &impl View, kind: &str, id: &str) -> Result<Vec<(i64, String, u64, pb::TimelineEntry)>, StoreError> {
    let prefix = timeline_prefix(kind, id);
    let mut out = Vec::new();
    for (rest, record) in all::<TimelineRec>(view, &prefix)? {
        let (source, position) = rest.split_once('/').unwrap_or((rest.as_str(), "0"));
        let position: u64 = position.parse().unwrap_or(0);
        out.push((
            record.recorded_at_micros,
            source.to_owned(),
            position,
            pb::TimelineEntry {
                source: source.to_owned(),
                position,
                event_type: record.event_type,
                step: record.step,
                actor_subject: record.actor_subject,
                actor_role: record.actor_role,
                occurred_at: timestamp(record.occurred_at_micros),
                recorded_at: timestamp(record.recorded_at_micros),
                summary: record.summary,
            },
        ));
    }
    Ok(out)
}

/// The timeline of the grant that started as `application_id` (or whose award is `award_id`); `None`
/// when the projector knows neither.
pub fn grant_timeline(
    view: &impl View,
    application_id: Option<&str>,
    award_id: Option<&str>,
) -> Result<Option<pb::GrantTimeline>, StoreError> {
    let application_id = match (application_id, award_id) {
        (Some(app), _) => app.to_owned(),
        (None, Some(award)) => match get::<AwardRec>(view, &award_key(award))? {
            Some(a) => a.application_id,
            None => return Ok(None),
        },
        (None, None) => return Ok(None),
    };
    let award_id = award_id_for(&application_id).unwrap_or_default();
    let app = get::<AppRec>(view, &app_key(&application_id))?;
    let award = get::<AwardRec>(view, &award_key(&award_id))?;
    if app.is_none() && award.is_none() {
        return Ok(None);
    }
    let organisation_id = app
        .as_ref()
        .map(|a| a.organisation_id.clone())
        .filter(|o| !o.is_empty())
        .or_else(|| award.as_ref().map(|a| a.organisation_id.clone()))
        .unwrap_or_default();
    let mut all_entries = entries(view, "app", &application_id)?;
    all_entries.extend(entries(view, "award", &award_id)?);
    // Services record in causal order (a reaction is recorded after what caused it), so recorded time
    // orders the cross-service history; source and position break ties.
    all_entries.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
    Ok(Some(pb::GrantTimeline {
        application_id,
        award_id: if award.is_some() { award_id } else { String::new() },
        organisation_id,
        entries: all_entries.into_iter().map(|e| e.3).collect(),
    }))
}
