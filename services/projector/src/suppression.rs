//! Small-cell suppression of published counts, applied on the way out: stored values stay exact.
//!
//! A table is a list of counts and the additive relations between them that are published together
//! (`total = part + part + ...`: a row total and its cells, a margin and the cells it sums, a grand total
//! and a margin's entries).
//!
//! # Rules
//!
//! 1. **Primary suppression.** A count `c` with `0 < c < k` is withheld. A count of 0 is shown: a true
//!    zero describes nobody, and withholding zeros would make every sparse table unreadable. Because
//!    zeros are never withheld, a withheld count is known to be non-zero; that reveals no count.
//! 2. **Complementary suppression.** No published relation may have exactly one withheld member, or the
//!    member could be derived by subtraction (total minus the shown parts, or the sum of the parts). In a
//!    relation with exactly one withheld member, the smallest shown non-zero part is withheld too; when no
//!    part qualifies (every other part is zero or withheld), the relation's total is withheld. Withholding
//!    a total may in turn break a relation the total is a part of, so the rule is applied across all
//!    relations until nothing changes (a fixed point: marks only ever get added, so it ends).
//!
//! With `k <= 1` nothing is withheld. The rule blocks derivation by subtraction within any published
//! relation; like every cell-suppression heuristic it does not claim to stop inference that combines
//! several relations with linear programming over bounds, nor differencing between two separately
//! filtered queries.

/// `counts[total] == sum(counts[parts])` is published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub total: usize,
    pub parts: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Shown,
    /// Below k.
    Primary,
    /// Withheld so that a primary (or another complementary) cell cannot be derived.
    Complementary,
}

impl Mark {
    pub fn is_suppressed(self) -> bool {
        self != Mark::Shown
    }
}

/// Decides which of `counts` are withheld under `relations`, for threshold `k`.
///
/// # Panics
///
/// Never for relations whose indices are within `counts`; an index outside is a programming error and
/// panics.
pub fn suppress(counts: &[u64], relations: &[Relation], k: u64) -> Vec<Mark> {
    let mut marks: Vec<Mark> =
        counts.iter().map(|&c| if c > 0 && c < k { Mark::Primary } else { Mark::Shown }).collect();
    loop {
        let mut changed = false;
        for relation in relations {
            let members = std::iter::once(relation.total).chain(relation.parts.iter().copied());
            let withheld = members.clone().filter(|&i| marks[i].is_suppressed()).count();
            if withheld != 1 {
                continue;
            }
            let complement = relation
                .parts
                .iter()
                .copied()
                .filter(|&i| !marks[i].is_suppressed() && counts[i] > 0)
                .min_by_key(|&i| (counts[i], i))
                .or_else(|| {
                    (!marks[relation.total].is_suppressed() && counts[relation.total] > 0).then_some(relation.total)
                });
            if let Some(i) = complement {
                marks[i] = Mark::Complementary;
                changed = true;
            }
        }
        if !changed {
            return marks;
        }
    }
}

/// A published three-way table: cells by `(sex, age band, disability)`, the three one-way margins and the
/// grand total, laid out as one list of counts with their relations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreeWay {
    /// Distinct keys of each dimension, in ascending order.
    pub sexes: Vec<i32>,
    pub age_bands: Vec<i32>,
    pub disabilities: Vec<i32>,
    /// Cells present in the data (absent cells are zero and not published).
    pub cells: Vec<((i32, i32, i32), u64)>,
}

/// The suppressed form of a [`ThreeWay`] table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub total: (u64, Mark),
    pub by_sex: Vec<(i32, u64, Mark)>,
    pub by_age_band: Vec<(i32, u64, Mark)>,
    pub by_disability: Vec<(i32, u64, Mark)>,
    pub cells: Vec<((i32, i32, i32), u64, Mark)>,
}

impl ThreeWay {
    pub fn from_cells(cells: impl IntoIterator<Item = ((i32, i32, i32), u64)>) -> ThreeWay {
        let mut map = std::collections::BTreeMap::new();
        for (key, count) in cells {
            *map.entry(key).or_insert(0u64) += count;
        }
        let cells: Vec<_> = map.into_iter().collect();
        let distinct = |pick: fn(&(i32, i32, i32)) -> i32| {
            let mut keys: Vec<i32> = cells.iter().map(|(k, _)| pick(k)).collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        };
        ThreeWay { sexes: distinct(|k| k.0), age_bands: distinct(|k| k.1), disabilities: distinct(|k| k.2), cells }
    }

    /// Withholds what rules 1 and 2 require. `total` is the published grand total.
    pub fn publish(&self, total: u64, k: u64) -> Published {
        // Layout: 0 = total, then sex margins, age margins, disability margins, then cells.
        let mut counts = vec![total];
        let sex0 = counts.len();
        let margin = |dim: &[i32], pick: fn(&(i32, i32, i32)) -> i32| -> Vec<u64> {
            dim.iter().map(|v| self.cells.iter().filter(|(k, _)| pick(k) == *v).map(|(_, c)| c).sum()).collect()
        };
        counts.extend(margin(&self.sexes, |k| k.0));
        let age0 = counts.len();
        counts.extend(margin(&self.age_bands, |k| k.1));
        let dis0 = counts.len();
        counts.extend(margin(&self.disabilities, |k| k.2));
        let cell0 = counts.len();
        counts.extend(self.cells.iter().map(|(_, c)| *c));

        let mut relations = vec![
            Relation { total: 0, parts: (sex0..age0).collect() },
            Relation { total: 0, parts: (age0..dis0).collect() },
            Relation { total: 0, parts: (dis0..cell0).collect() },
        ];
        let by = |dim: &[i32], first: usize, pick: fn(&(i32, i32, i32)) -> i32| -> Vec<Relation> {
            dim.iter()
                .enumerate()
                .map(|(i, v)| Relation {
                    total: first + i,
                    parts: self
                        .cells
                        .iter()
                        .enumerate()
                        .filter(|(_, (k, _))| pick(k) == *v)
                        .map(|(j, _)| cell0 + j)
                        .collect(),
                })
                .collect()
        };
        relations.extend(by(&self.sexes, sex0, |k| k.0));
        relations.extend(by(&self.age_bands, age0, |k| k.1));
        relations.extend(by(&self.disabilities, dis0, |k| k.2));

        let marks = suppress(&counts, &relations, k);
        let entries = |dim: &[i32], first: usize| -> Vec<(i32, u64, Mark)> {
            dim.iter().enumerate().map(|(i, v)| (*v, counts[first + i], marks[first + i])).collect()
        };
        Published {
            total: (total, marks[0]),
            by_sex: entries(&self.sexes, sex0),
            by_age_band: entries(&self.age_bands, age0),
            by_disability: entries(&self.disabilities, dis0),
            cells: self.cells.iter().enumerate().map(|(j, (key, c))| (*key, *c, marks[cell0 + j])).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(total: usize, parts: std::ops::Range<usize>) -> Relation {
        Relation { total, parts: parts.collect() }
    }

    /// No relation has exactly one withheld member, and every count 1..k-1 is withheld.
    fn assert_safe(counts: &[u64], relations: &[Relation], marks: &[Mark], k: u64) {
        for (i, (&c, m)) in counts.iter().zip(marks).enumerate() {
            if c > 0 && c < k {
                assert_eq!(*m, Mark::Primary, "count {i} ({c}) is below k");
            }
            if c == 0 {
                assert_eq!(*m, Mark::Shown, "zero at {i} is shown");
            }
        }
        for relation in relations {
            let withheld = std::iter::once(relation.total)
                .chain(relation.parts.iter().copied())
                .filter(|&i| marks[i].is_suppressed())
                .count();
            assert_ne!(withheld, 1, "relation {relation:?} would give its withheld member away: {marks:?}");
        }
    }

    #[test]
    fn counts_below_k_are_withheld_and_zero_and_k_are_shown() {
        let counts = [0, 1, 4, 5, 9];
        let marks = suppress(&counts, &[], 5);
        assert_eq!(marks, [Mark::Shown, Mark::Primary, Mark::Primary, Mark::Shown, Mark::Shown]);
    }

    #[test]
    fn a_lone_withheld_cell_in_a_row_with_a_published_total_takes_the_next_smallest_with_it() {
        // total 30 = 3 + 12 + 15: with only 3 withheld, 30 - 12 - 15 = 3 gives it away.
        let counts = [30, 3, 12, 15];
        let relations = [row(0, 1..4)];
        let marks = suppress(&counts, &relations, 5);
        assert_eq!(marks, [Mark::Shown, Mark::Primary, Mark::Complementary, Mark::Shown]);
        assert_safe(&counts, &relations, &marks, 5);
    }

    #[test]
    fn when_every_other_part_is_zero_the_total_is_withheld() {
        // 12 = 0 + 12 + 0 where 12 was withheld as a complement elsewhere would be derivable from the total.
        let counts = [12, 0, 12, 0, 20, 8];
        // Row A: 12 = parts 1..4; row B: 20 = 2 (the 12) + 5 (the 8).
        let relations = [row(0, 1..4), Relation { total: 4, parts: vec![2, 5] }];
        let marks = suppress(&counts, &relations, 10);
        // 8 is primary; row B then withholds 12 (smallest shown part); row A then has only 12 withheld and
        // no shown non-zero part, so its total 12 goes too.
        assert_eq!(marks[5], Mark::Primary);
        assert_eq!(marks[2], Mark::Complementary);
        assert_eq!(marks[0], Mark::Complementary);
        assert_eq!(marks[1], Mark::Shown);
        assert_safe(&counts, &relations, &marks, 10);
    }

    #[test]
    fn two_way_table_reaches_a_fixed_point_across_rows_columns_and_totals() {
        // 2x3 table with row totals, column totals and a grand total.
        //        c0  c1  c2 | row
        //   r0:   2  10  20 | 32
        //   r1:  11  12  30 | 53
        //  col:  13  22  50 | 85
        let counts = [2, 10, 20, 11, 12, 30, 32, 53, 13, 22, 50, 85];
        let relations = [
            Relation { total: 6, parts: vec![0, 1, 2] },
            Relation { total: 7, parts: vec![3, 4, 5] },
            Relation { total: 8, parts: vec![0, 3] },
            Relation { total: 9, parts: vec![1, 4] },
            Relation { total: 10, parts: vec![2, 5] },
            Relation { total: 11, parts: vec![6, 7] },
            Relation { total: 11, parts: vec![8, 9, 10] },
        ];
        let marks = suppress(&counts, &relations, 5);
        assert_eq!(marks[0], Mark::Primary);
        // Row 0 takes 10, column 0 takes 11, column 1 (10 withheld) takes 12; row 1 then has two withheld.
        assert_eq!(marks[1], Mark::Complementary);
        assert_eq!(marks[3], Mark::Complementary);
        assert_eq!(marks[4], Mark::Complementary);
        assert!(!marks[6].is_suppressed() && !marks[11].is_suppressed(), "totals stay shown: {marks:?}");
        assert_safe(&counts, &relations, &marks, 5);
    }

    #[test]
    fn nothing_is_withheld_with_k_of_one() {
        let counts = [3, 1, 2];
        let marks = suppress(&counts, &[row(0, 1..3)], 1);
        assert!(marks.iter().all(|m| *m == Mark::Shown));
    }

    #[test]
    fn three_way_tables_withhold_small_cells_and_block_subtraction_from_every_margin() {
        // Female/male x two age bands x without disability; one cell of 2.
        let table = ThreeWay::from_cells([((1, 3, 2), 2), ((1, 4, 2), 40), ((2, 3, 2), 30), ((2, 4, 2), 50)]);
        let published = table.publish(122, 5);
        let cell = |key| published.cells.iter().find(|(k, _, _)| *k == key).unwrap().2;
        assert_eq!(cell((1, 3, 2)), Mark::Primary);
        // Its sex margin (female 42) and age margin (18-24: 32) would give it away: each relation needs a
        // second withheld member.
        let withheld_cells = published.cells.iter().filter(|(_, _, m)| m.is_suppressed()).count();
        assert!(withheld_cells >= 3, "{published:?}");
        assert_eq!(published.total, (122, Mark::Shown));
        // Disability has one category: its margin equals the total and its only part is shown.
        assert_eq!(published.by_disability, vec![(2, 122, Mark::Shown)]);
    }

    #[test]
    fn a_total_below_k_is_withheld_with_everything_derived_from_it() {
        let table = ThreeWay::from_cells([((1, 3, 2), 2), ((2, 3, 2), 1)]);
        let published = table.publish(3, 5);
        assert!(published.total.1.is_suppressed());
        assert!(published.cells.iter().all(|(_, _, m)| m.is_suppressed()));
        assert!(published.by_sex.iter().all(|(_, _, m)| m.is_suppressed()));
        assert!(published.by_age_band.iter().all(|(_, _, m)| m.is_suppressed()));
    }

    #[test]
    fn random_tables_never_leave_a_lone_withheld_member() {
        // A small deterministic generator: the property must hold for every table, not just examples.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for _ in 0..500 {
            let n = 1 + next(12) as usize;
            let cells: Vec<_> = (0..n)
                .map(|_| {
                    let key = (1 + next(3) as i32, 1 + next(6) as i32, 1 + next(3) as i32);
                    let count = if next(4) == 0 { next(5) } else { next(40) };
                    (key, count)
                })
                .collect();
            let table = ThreeWay::from_cells(cells);
            let total: u64 = table.cells.iter().map(|(_, c)| c).sum();
            let k = 2 + next(9);
            let published = table.publish(total, k);
            // Rebuild the relations from the published view and check them.
            let mut counts = vec![published.total.1];
            let mut values = vec![published.total.0];
            let mut relations = Vec::new();
            let mut push = |value: u64, mark: Mark, counts: &mut Vec<Mark>| {
                counts.push(mark);
                values.push(value);
                counts.len() - 1
            };
            let sexes: Vec<_> = published.by_sex.iter().map(|(_, v, m)| push(*v, *m, &mut counts)).collect();
            let ages: Vec<_> = published.by_age_band.iter().map(|(_, v, m)| push(*v, *m, &mut counts)).collect();
            let dis: Vec<_> = published.by_disability.iter().map(|(_, v, m)| push(*v, *m, &mut counts)).collect();
            let cells: Vec<_> = published.cells.iter().map(|(_, v, m)| push(*v, *m, &mut counts)).collect();
            relations.push(Relation { total: 0, parts: sexes.clone() });
            relations.push(Relation { total: 0, parts: ages.clone() });
            relations.push(Relation { total: 0, parts: dis.clone() });
            for (margin, entries, pick) in [
                (&sexes, &published.by_sex, 0),
                (&ages, &published.by_age_band, 1),
                (&dis, &published.by_disability, 2),
            ] {
                for (index, (key, _, _)) in margin.iter().zip(entries.iter()) {
                    let parts = published
                        .cells
                        .iter()
                        .zip(&cells)
                        .filter(|(((s, a, d), _, _), _)| [*s, *a, *d][pick] == *key)
                        .map(|(_, i)| *i)
                        .collect();
                    relations.push(Relation { total: *index, parts });
                }
            }
            assert_safe(&values, &relations, &counts, k);
        }
    }
}
