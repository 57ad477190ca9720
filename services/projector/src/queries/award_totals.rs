//! Money totals of a set of awards (offered, committed, released, remaining), per currency.

use std::collections::BTreeMap;

use contracts::projector::v1 as pb;

use crate::projection::AwardRec;

#[derive(Default)]
pub(super) struct Totals {
    pub awards: u64,
    pub offered: i64,
    pub committed: i64,
    pub released: i64,
}

impl Totals {
    pub(super) fn add(&mut self, award: &AwardRec) {
        self.awards += 1;
        self.offered += award.offered;
        self.committed += award.committed;
        self.released += award.released;
    }
}

pub(super) fn remaining(award: &AwardRec) -> i64 {
    if matches!(award.status.as_str(), "terminated" | "closed") { 0 } else { (award.committed - award.released).max(0) }
}

pub(super) fn currency_totals(awards: &[(String, AwardRec)]) -> Vec<pb::CurrencyTotals> {
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
