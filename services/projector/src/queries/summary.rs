//! The program summary: award totals by currency, country and service type, and indicator tables
//! summed over accepted reports, each count suppressed on its exact value and then perturbed by its cell
//! key.

use std::collections::{BTreeMap, BTreeSet};

use contracts::applications::v1::ServiceType;
use contracts::projector::v1 as pb;

use super::award_totals::{Totals, currency_totals};
use super::{all, get, timestamp};
use crate::disclosure::Disclosure;
use crate::perturbation::{CellKey, PerturbationTable, RecordKeys};
use crate::projection::{AppRec, AwardRec, IndRec, IndicatorCounts, app_key, ind_prefix, parse_cell_key};
use crate::store::{StoreError, View};
use crate::suppression::{Mark, Published, ThreeWay};

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
    let awards = covered_awards(view, filter)?;
    let mut suppressed = SuppressionCounts::default();
    let indicators = indicator_tables(view, &awards, filter, &disclosure.keys)?
        .into_iter()
        .map(|(indicator_id, keyed)| {
            let (table, published) = suppress(&keyed, disclosure.k);
            suppressed.count(&published);
            perturb(indicator_id, &keyed, &table, &published, &disclosure.table)
        })
        .collect();
    Ok(pb::ProgramSummary {
        totals: currency_totals(&awards),
        by_country: totals_by_country(&awards),
        by_service_type: totals_by_service_type(view, &awards)?,
        indicators,
        suppression_k: disclosure.k,
        primary_suppressed: suppressed.primary,
        complementary_suppressed: suppressed.complementary,
        perturbation_bound: disclosure.table.bound(),
        indicators_as_of: filter.indicators_until.and_then(timestamp),
    })
}

/// The awards `filter` covers.
fn covered_awards(view: &impl View, filter: &SummaryFilter) -> Result<Vec<(String, AwardRec)>, StoreError> {
    Ok(all::<AwardRec>(view, "award/")?
        .into_iter()
        .filter(|(_, a)| filter.round_id.as_ref().is_none_or(|r| *r == a.round_id))
        .filter(|(_, a)| filter.organisation_id.as_ref().is_none_or(|o| *o == a.organisation_id))
        .collect())
}

/// Award totals per country the award serves and currency.
fn totals_by_country(awards: &[(String, AwardRec)]) -> Vec<pb::CountryTotals> {
    let mut by_country: BTreeMap<(String, String), Totals> = BTreeMap::new();
    for (_, award) in awards {
        for country in &award.countries {
            by_country.entry((country.clone(), award.currency.clone())).or_default().add(award);
        }
    }
    by_country
        .into_iter()
        .map(|((country, currency), t)| pb::CountryTotals {
            country,
            currency,
            awards: t.awards,
            committed_minor_units: t.committed,
            released_minor_units: t.released,
        })
        .collect()
}

/// Award totals per service type of the award's application and currency.
fn totals_by_service_type(
    view: &impl View,
    awards: &[(String, AwardRec)],
) -> Result<Vec<pb::ServiceTypeTotals>, StoreError> {
    let mut by_service: BTreeMap<(String, String), Totals> = BTreeMap::new();
    for (_, award) in awards {
        let services = get::<AppRec>(view, &app_key(&award.application_id))?.map(|a| a.services).unwrap_or_default();
        let services: BTreeSet<i32> = services.into_iter().collect();
        for service in services {
            by_service.entry((service_name(service), award.currency.clone())).or_default().add(award);
        }
    }
    Ok(by_service
        .into_iter()
        .map(|((service_type, currency), t)| pb::ServiceTypeTotals {
            service_type,
            currency,
            awards: t.awards,
            committed_minor_units: t.committed,
            released_minor_units: t.released,
        })
        .collect())
}

/// Each indicator's exact table, summed over the covered awards' reports accepted within `filter`.
fn indicator_tables(
    view: &impl View,
    awards: &[(String, AwardRec)],
    filter: &SummaryFilter,
    keys: &RecordKeys,
) -> Result<BTreeMap<String, KeyedTable>, StoreError> {
    let mut indicators: BTreeMap<String, KeyedTable> = BTreeMap::new();
    for (award_id, _) in awards {
        for (indicator, record) in all::<IndRec>(view, &ind_prefix(award_id))? {
            for (report_id, contribution) in &record.reports {
                if filter.indicators_until.is_some_and(|until| contribution.accepted_at_micros > until) {
                    continue;
                }
                let table = indicators.entry(indicator.clone()).or_default();
                table.add(keys, report_id, &indicator, &contribution.counts);
            }
        }
    }
    Ok(indicators)
}

/// One indicator's table with small counts withheld (threshold `k`, on the exact values).
fn suppress(keyed: &KeyedTable, k: u32) -> (ThreeWay, Published) {
    let table = ThreeWay::from_cells(keyed.cells.iter().map(|(cell, (count, _))| (*cell, *count)));
    let published = table.publish(keyed.total, u64::from(k));
    (table, published)
}

/// How many counts the summary withholds, by why.
#[derive(Default)]
struct SuppressionCounts {
    primary: u32,
    complementary: u32,
}

impl SuppressionCounts {
    fn count(&mut self, published: &Published) {
        let marks = std::iter::once(published.total.1)
            .chain(published.by_sex.iter().map(|e| e.2))
            .chain(published.by_age_band.iter().map(|e| e.2))
            .chain(published.by_disability.iter().map(|e| e.2))
            .chain(published.cells.iter().map(|e| e.2));
        for mark in marks {
            match mark {
                Mark::Primary => self.primary += 1,
                Mark::Complementary => self.complementary += 1,
                Mark::Shown => {}
            }
        }
    }
}

/// One indicator as published: every count `published` shows perturbed by its cell key.
fn perturb(
    indicator_id: String,
    keyed: &KeyedTable,
    table: &ThreeWay,
    published: &Published,
    ptable: &PerturbationTable,
) -> pb::IndicatorSummary {
    let cell_key = |cell: &(i32, i32, i32)| keyed.cells.get(cell).map(|(_, key)| *key).unwrap_or_default();
    pb::IndicatorSummary {
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
    }
}
