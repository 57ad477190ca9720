//! Cell-key perturbation of published counts (the method of the Australian Bureau of Statistics for
//! tables built on demand: Fraser & Wooton 2005; Thompson, Broadfoot & Elazar 2013). Pure: no IO.
//!
//! # The method
//!
//! - Every contribution to a count (one accepted report's count for one indicator and one cell, or its
//!   total when the indicator has no cells) has a **record key** in `0..KEY_RANGE`: the first byte of
//!   HMAC-SHA256 under a per-installation secret over the report id, the indicator id and the cell. The
//!   key is fixed: a rebuild, an as-of replay or another replica sharing the secret derives the same one.
//! - A published count's **cell key** is the sum of the record keys of the contributions it counts,
//!   modulo `KEY_RANGE`. A margin or a total is a count in its own right: its key is the sum over every
//!   contribution it counts, so the same people counted the same way always carry the same key, however
//!   the table was asked.
//! - The **perturbation** is looked up in a table (data: `data/perturbation_tables.json`) by the exact
//!   count and the cell key, and added to the count. Each row of the table spreads the `KEY_RANGE` keys
//!   over perturbations in `-D..=D` with a mean of exactly zero, never below `-count`, so published
//!   values are never negative; count 0 is never perturbed.
//!
//! Without the secret, record keys look random, so nobody outside can tell a cell's perturbation; with
//! it, the same cell always shows the same value, so asking again does not average the noise away.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Record and cell keys lie in `0..KEY_RANGE`.
pub const KEY_RANGE: u32 = 256;

/// The smallest accepted secret, in bytes (as for the platform's token secret).
pub const MIN_SECRET_BYTES: usize = 32;

/// Secret for local runs and tests only: anyone can read it here, so it protects nothing.
pub const DEVELOPMENT_SECRET: &[u8] = b"grants-projector development perturbation secret: never in production";

/// Domain separation of record keys from any other use of the same secret.
const RECORD_KEY_LABEL: &[u8] = b"grants.projector.v1 record key";

/// The bundled perturbation tables.
const TABLES: &str = include_str!("../data/perturbation_tables.json");

/// The key of a published count: the sum of its contributions' record keys modulo [`KEY_RANGE`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey(u32);

impl CellKey {
    pub fn new(value: u32) -> CellKey {
        CellKey(value % KEY_RANGE)
    }

    pub fn value(self) -> u32 {
        self.0
    }

    /// The key of the union of two disjoint sets of contributions.
    #[must_use]
    pub fn plus(self, other: CellKey) -> CellKey {
        CellKey((self.0 + other.0) % KEY_RANGE)
    }
}

impl std::iter::Sum for CellKey {
    fn sum<I: Iterator<Item = CellKey>>(iter: I) -> CellKey {
        iter.fold(CellKey::default(), CellKey::plus)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PerturbationError {
    #[error("`perturbation_secret` must be at least {MIN_SECRET_BYTES} bytes, is {0}")]
    SecretTooShort(usize),
    #[error(
        "`perturbation_bound` must be one of {available:?} (the bounds the perturbation tables define), is {bound}"
    )]
    UnknownBound { bound: u32, available: Vec<u32> },
    #[error("perturbation table: {0}")]
    Table(String),
}

/// Derives record keys under a per-installation secret.
#[derive(Clone)]
pub struct RecordKeys {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for RecordKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKeys(<secret>)")
    }
}

impl RecordKeys {
    pub fn new(secret: &[u8]) -> Result<RecordKeys, PerturbationError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(PerturbationError::SecretTooShort(secret.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| PerturbationError::Table(e.to_string()))?;
        Ok(RecordKeys { mac })
    }

    /// Keys under the development secret: for local runs and tests, never for published figures.
    pub fn development() -> RecordKeys {
        RecordKeys::new(DEVELOPMENT_SECRET).unwrap_or_else(|_| unreachable!("the development secret is long enough"))
    }

    /// The record key of one contribution: `part` names the cell (`sex.age_band.disability` numbers) or
    /// `total` for a report's total of an indicator without cells.
    pub fn key(&self, report_id: &str, indicator_id: &str, part: &str) -> CellKey {
        let mut mac = self.mac.clone();
        // Unit separators keep the fields apart: no two different triples hash the same bytes.
        for field in [RECORD_KEY_LABEL, report_id.as_bytes(), indicator_id.as_bytes(), part.as_bytes()] {
            mac.update(field);
            mac.update(&[0x1f]);
        }
        let digest = mac.finalize().into_bytes();
        CellKey::new(u32::from(digest[0]))
    }
}

#[derive(Deserialize)]
struct TablesFile {
    key_range: u32,
    tables: Vec<TableData>,
}

#[derive(Deserialize)]
struct TableData {
    bound: u32,
    rows: Vec<RowData>,
}

#[derive(Deserialize)]
struct RowData {
    count: u64,
    /// `(perturbation, number of keys)` in ascending order of perturbation.
    slots: Vec<(i64, u32)>,
}

/// One row: the perturbation of each cell key for one count.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    count: u64,
    /// The perturbation of each key `0..KEY_RANGE`, in key order.
    by_key: Vec<i64>,
    /// `(perturbation, number of keys)` as designed.
    slots: Vec<(i64, u32)>,
}

/// A perturbation table for one bound `D`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerturbationTable {
    bound: u32,
    rows: Vec<Row>,
}

impl PerturbationTable {
    /// The bundled table for `bound`.
    pub fn bundled(bound: u32) -> Result<PerturbationTable, PerturbationError> {
        PerturbationTable::from_json(TABLES, bound)
    }

    /// The bounds the bundled tables define.
    pub fn bundled_bounds() -> Vec<u32> {
        serde_json::from_str::<TablesFile>(TABLES)
            .map(|f| f.tables.iter().map(|t| t.bound).collect())
            .unwrap_or_default()
    }

    /// The table for `bound` from `text` (the format of `data/perturbation_tables.json`), checked: every
    /// row's keys add up to [`KEY_RANGE`], its perturbations lie in `-bound..=bound`, ascend, have a mean
    /// of exactly zero and never take its count below zero; rows ascend from count 1, and the last row
    /// (which serves every larger count) is at least `bound`, so no larger count can go negative either.
    pub fn from_json(text: &str, bound: u32) -> Result<PerturbationTable, PerturbationError> {
        let file: TablesFile =
            serde_json::from_str(text).map_err(|e| PerturbationError::Table(format!("does not parse: {e}")))?;
        if file.key_range != KEY_RANGE {
            return Err(PerturbationError::Table(format!("`key_range` must be {KEY_RANGE}, is {}", file.key_range)));
        }
        let available: Vec<u32> = file.tables.iter().map(|t| t.bound).collect();
        let data = file
            .tables
            .into_iter()
            .find(|t| t.bound == bound)
            .ok_or(PerturbationError::UnknownBound { bound, available })?;
        let fail = |count: u64, rule: String| PerturbationError::Table(format!("bound {bound}, row {count}: {rule}"));
        let mut rows = Vec::new();
        for (index, row) in data.rows.into_iter().enumerate() {
            let expected_count = index as u64 + 1;
            if row.count != expected_count {
                return Err(fail(
                    row.count,
                    format!("rows must count 1, 2, 3, ... in order; expected {expected_count}"),
                ));
            }
            let keys: u64 = row.slots.iter().map(|(_, n)| u64::from(*n)).sum();
            if keys != u64::from(KEY_RANGE) {
                return Err(fail(row.count, format!("slots must cover {KEY_RANGE} keys, cover {keys}")));
            }
            if row.slots.windows(2).any(|w| w[0].0 >= w[1].0) || row.slots.iter().any(|(_, n)| *n == 0) {
                return Err(fail(row.count, "perturbations must ascend, each with at least one key".into()));
            }
            if let Some((p, _)) = row.slots.iter().find(|(p, _)| p.unsigned_abs() > u64::from(bound)) {
                return Err(fail(row.count, format!("perturbation {p} is beyond the bound")));
            }
            if let Some((p, _)) = row.slots.iter().find(|(p, _)| p.saturating_add_unsigned(row.count) < 0) {
                return Err(fail(row.count, format!("perturbation {p} would publish a negative count")));
            }
            let weighted: i64 = row.slots.iter().map(|(p, n)| p * i64::from(*n)).sum();
            if weighted != 0 {
                return Err(fail(row.count, format!("mean must be exactly 0, slots sum to {weighted}/{KEY_RANGE}")));
            }
            let by_key = row.slots.iter().flat_map(|(p, n)| std::iter::repeat_n(*p, *n as usize)).collect();
            rows.push(Row { count: row.count, by_key, slots: row.slots });
        }
        match rows.last() {
            Some(last) if last.count >= u64::from(bound) => Ok(PerturbationTable { bound, rows }),
            _ => Err(PerturbationError::Table(format!(
                "bound {bound}: the last row serves every larger count and must be at least the bound"
            ))),
        }
    }

    pub fn bound(&self) -> u32 {
        self.bound
    }

    fn row(&self, count: u64) -> Option<&Row> {
        if count == 0 {
            return None;
        }
        let index = usize::try_from(count - 1).unwrap_or(usize::MAX).min(self.rows.len() - 1);
        self.rows.get(index)
    }

    /// The perturbation of a count with this key; 0 for a count of 0.
    pub fn perturbation(&self, count: u64, key: CellKey) -> i64 {
        self.row(count).map_or(0, |row| row.by_key[key.value() as usize])
    }

    /// The published value of a count with this key: never negative, within the bound of the count.
    pub fn publish(&self, count: u64, key: CellKey) -> u64 {
        count.saturating_add_signed(self.perturbation(count, key))
    }

    /// The designed distribution of the perturbation of `count`: `(perturbation, number of keys)`.
    pub fn distribution(&self, count: u64) -> Vec<(i64, u32)> {
        self.row(count).map_or_else(|| vec![(0, KEY_RANGE)], |row| row.slots.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Vec<u32> {
        let bounds = PerturbationTable::bundled_bounds();
        assert_eq!(bounds, [2, 3], "the bundled tables");
        bounds
    }

    fn keys() -> impl Iterator<Item = CellKey> {
        (0..KEY_RANGE).map(CellKey::new)
    }

    #[test]
    fn every_bundled_row_has_an_exact_zero_mean_over_all_keys() {
        for bound in bounds() {
            let table = PerturbationTable::bundled(bound).unwrap();
            for count in 0..200u64 {
                let sum: i64 = keys().map(|k| table.perturbation(count, k)).sum();
                assert_eq!(sum, 0, "bound {bound}, count {count}");
            }
        }
    }

    #[test]
    fn published_values_stay_within_the_bound_and_never_go_negative() {
        for bound in bounds() {
            let table = PerturbationTable::bundled(bound).unwrap();
            for count in 0..200u64 {
                for key in keys() {
                    let published = table.publish(count, key);
                    assert!(published.abs_diff(count) <= u64::from(bound), "bound {bound}: {count} -> {published}");
                }
            }
            assert!(keys().all(|k| table.publish(0, k) == 0), "nobody counted stays zero");
            assert!(keys().any(|k| table.publish(1, k) == 0), "a single person can be hidden as zero");
        }
    }

    #[test]
    fn the_documented_variances_hold() {
        // Variance = sum(p^2 * keys) / KEY_RANGE, per (bound, count): what the README states.
        let variance = |table: &PerturbationTable, count: u64| {
            table.distribution(count).iter().map(|(p, n)| p * p * i64::from(*n)).sum::<i64>() as f64
                / f64::from(KEY_RANGE)
        };
        let two = PerturbationTable::bundled(2).unwrap();
        assert_eq!((variance(&two, 1), variance(&two, 2), variance(&two, 50)), (1.0, 1.0, 1.0));
        let three = PerturbationTable::bundled(3).unwrap();
        assert_eq!((variance(&three, 1), variance(&three, 2), variance(&three, 3)), (1.0, 1.5625, 2.0));
        assert_eq!(variance(&three, 1_000), 2.0);
    }

    #[test]
    fn the_same_contribution_always_gets_the_same_key_and_the_secret_changes_them() {
        let secret = [7u8; 32];
        let (a, b) = (RecordKeys::new(&secret).unwrap(), RecordKeys::new(&secret).unwrap());
        let other = RecordKeys::new(&[8u8; 32]).unwrap();
        let ids: Vec<String> = (0..64).map(|i| format!("report-{i}")).collect();
        for id in &ids {
            assert_eq!(a.key(id, "persons_assisted", "1.3.2"), b.key(id, "persons_assisted", "1.3.2"));
        }
        let differing = ids.iter().filter(|id| a.key(id, "x", "1.3.2") != other.key(id, "x", "1.3.2")).count();
        assert!(differing > 48, "another secret gives other keys: only {differing} of 64 differ");
        // The fields are kept apart: moving a character from one field to the next changes the key input.
        let moved = (0..64).filter(|i| a.key(&format!("r{i}a"), "b", "c") != a.key(&format!("r{i}"), "ab", "c"));
        assert!(moved.count() > 48);
    }

    #[test]
    fn record_keys_spread_evenly_over_the_key_range() {
        let keys = RecordKeys::development();
        let mut histogram = vec![0u32; KEY_RANGE as usize];
        let n = 256 * 200;
        for i in 0..n {
            histogram[keys.key(&format!("report-{i}"), "persons_assisted", "2.4.1").value() as usize] += 1;
        }
        // Chi-square with 255 degrees of freedom: mean 255, sd ~22.6; 400 is beyond 6 sd.
        let expected = f64::from(n) / f64::from(KEY_RANGE);
        let chi: f64 = histogram.iter().map(|&o| (f64::from(o) - expected).powi(2) / expected).sum();
        assert!(chi < 400.0, "chi-square {chi}");
    }

    #[test]
    fn a_cell_key_is_the_sum_of_its_contributions_modulo_the_range() {
        let parts = [CellKey::new(200), CellKey::new(100), CellKey::new(10)];
        assert_eq!(parts.iter().copied().sum::<CellKey>(), CellKey::new(54));
        assert_eq!(CellKey::new(300).value(), 44);
    }

    #[test]
    fn tables_that_break_a_rule_are_refused_naming_the_rule() {
        let table = |rows: &str| format!(r#"{{"key_range": 256, "tables": [{{"bound": 2, "rows": [{rows}]}}]}}"#);
        let refused = |rows: &str, rule: &str| {
            let error = PerturbationTable::from_json(&table(rows), 2).unwrap_err().to_string();
            assert!(error.contains(rule), "{error} should name {rule}");
        };
        refused(r#"{"count": 1, "slots": [[0, 128], [1, 128]]}, {"count": 2, "slots": [[0, 256]]}"#, "mean");
        refused(r#"{"count": 1, "slots": [[-2, 128], [2, 128]]}, {"count": 2, "slots": [[0, 256]]}"#, "negative");
        refused(r#"{"count": 1, "slots": [[0, 255]]}, {"count": 2, "slots": [[0, 256]]}"#, "cover 256");
        refused(r#"{"count": 1, "slots": [[0, 256]]}, {"count": 2, "slots": [[-3, 64], [1, 192]]}"#, "beyond");
        refused(r#"{"count": 1, "slots": [[0, 256]]}"#, "at least the bound");
        refused(r#"{"count": 2, "slots": [[0, 256]]}"#, "expected 1");
        let unknown = PerturbationTable::from_json(&table(r#"{"count": 1, "slots": [[0, 256]]}"#), 5).unwrap_err();
        assert_eq!(unknown, PerturbationError::UnknownBound { bound: 5, available: vec![2] });
        assert_eq!(RecordKeys::new(b"short").unwrap_err(), PerturbationError::SecretTooShort(5));
    }

    #[test]
    fn differencing_two_nested_counts_hits_the_exact_difference_only_at_the_tables_collision_rate() {
        // An attacker subtracts a published count B from a published count A that also holds the target's
        // contribution (x people). The result is exact only when both perturbations happen to be equal; with
        // independent keys that happens with probability sum_p P_A(p) P_B(p), and the attacker cannot tell
        // when. Simulated with record keys, against that probability.
        let table = PerturbationTable::bundled(2).unwrap();
        let keys = RecordKeys::development();
        let (base, target) = (40u64, 3u64);
        let trials = 20_000;
        let mut exact = 0;
        for i in 0..trials {
            let others = keys.key(&format!("others-{i}"), "persons_assisted", "1.3.2");
            let mine = keys.key(&format!("target-{i}"), "persons_assisted", "1.3.2");
            let with = table.publish(base + target, others.plus(mine));
            let without = table.publish(base, others);
            if with.abs_diff(without) == target && with >= without {
                exact += 1;
            }
        }
        let rate = f64::from(exact) / f64::from(trials);
        let collision: f64 = table.distribution(base).iter().map(|(_, n)| (f64::from(*n) / 256.0).powi(2)).sum();
        assert!((rate - collision).abs() < 0.015, "exact hits {rate}, collision probability {collision}");
        assert!(rate < 0.3, "{rate}");
    }
}
