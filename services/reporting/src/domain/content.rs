//! What a report says, checked: indicator values against the catalogue (counts only, totals that add
//! up), expenditure against the agreement's budget lines, and the variances computed from it. Every
//! free-text field goes through the [`identity_guard`](super::identity_guard) first.

use std::collections::{BTreeMap, BTreeSet};

use contracts::reporting::v1 as pb;
use contracts::values::WireValue;
use domain_kernel::{Currency, Money};

use super::catalogue::{Catalogue, Dimension};
use super::identity_guard::{self, GuardContext};
use super::report::{Cell, Financial, FinancialSummary, LineVariance, Progress};
use super::{Rejection, check_text};

/// Most characters of a narrative.
pub const MAX_NARRATIVE: usize = 8_000;
/// Most characters of a variance explanation.
pub const MAX_EXPLANATION: usize = 1_000;
/// Most indicator values in one report.
pub const MAX_INDICATORS: usize = 100;
/// A count above this is a typing error, not a number of people served in one period.
pub const MAX_COUNT: u64 = 10_000_000;

/// A line of the agreement's budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetLine {
    pub line_id: String,
    pub category: String,
    pub amount: Money,
}

impl BudgetLine {
    pub fn to_wire(&self) -> pb::BudgetLine {
        pb::BudgetLine {
            line_id: self.line_id.clone(),
            category: self.category.clone(),
            amount: Some(self.amount.to_wire()),
        }
    }
}

/// Checks the identity guard on free text (first, so that a refusal says why before anything else).
pub fn guard_progress(p: &Progress, ctx: GuardContext) -> Result<(), Rejection> {
    identity_guard::check("progress.narrative", &p.narrative, ctx)
}

pub fn guard_financial(f: &Financial, ctx: GuardContext) -> Result<(), Rejection> {
    for (i, line) in f.lines.iter().enumerate() {
        identity_guard::check(&format!("financial.lines[{i}].explanation"), &line.explanation, ctx)?;
    }
    Ok(())
}

/// The value of one dimension of a cell, as the contract numbers it (0 when unspecified).
fn dimension_value(dimension: Dimension, cell: &Cell) -> i32 {
    match dimension {
        Dimension::Sex => cell.sex.map_or(0, |v| v as i32),
        Dimension::AgeBand => cell.age_band.map_or(0, |v| v as i32),
        Dimension::Disability => cell.disability.map_or(0, |v| v as i32),
    }
}

/// Checks a progress report's narrative and indicator values: known indicators, each at most once; for
/// each cell exactly the indicator's dimensions set, no two cells alike; counts at most [`MAX_COUNT`];
/// the total equal to the sum of the cells (or, without dimensions, no cells).
pub fn check_progress(p: &Progress, catalogue: &Catalogue) -> Result<(), Rejection> {
    check_text("progress.narrative", &p.narrative, 1, MAX_NARRATIVE)?;
    if p.indicators.len() > MAX_INDICATORS {
        return Err(Rejection::invalid("progress.indicators", format!("must hold at most {MAX_INDICATORS} values")));
    }
    let mut seen = BTreeSet::new();
    for (i, value) in p.indicators.iter().enumerate() {
        let field = format!("progress.indicators[{i}]");
        let indicator = catalogue.get(&value.indicator_id).ok_or_else(|| {
            Rejection::invalid(
                format!("{field}.indicator_id"),
                format!("must be an indicator of the catalogue (version {})", catalogue.version),
            )
        })?;
        if !seen.insert(value.indicator_id.as_str()) {
            return Err(Rejection::invalid(format!("{field}.indicator_id"), "must not be repeated in one report"));
        }
        if value.total > MAX_COUNT {
            return Err(Rejection::invalid(format!("{field}.total"), format!("must be at most {MAX_COUNT}")));
        }
        if indicator.dimensions.is_empty() {
            if !value.cells.is_empty() {
                return Err(Rejection::invalid(
                    format!("{field}.cells"),
                    format!("must be empty: `{}` is not disaggregated", indicator.indicator_id),
                ));
            }
            continue;
        }
        let mut keys = BTreeSet::new();
        let mut sum: u64 = 0;
        for (j, cell) in value.cells.iter().enumerate() {
            let cell_field = format!("{field}.cells[{j}]");
            let mut key = [0i32; 3];
            for (k, dimension) in Dimension::ALL.into_iter().enumerate() {
                let v = dimension_value(dimension, cell);
                let applies = indicator.dimensions.contains(&dimension);
                if applies && v == 0 {
                    return Err(Rejection::invalid(
                        format!("{cell_field}.{}", dimension.name()),
                        format!("is required: `{}` is disaggregated by it", indicator.indicator_id),
                    ));
                }
                if !applies && v != 0 {
                    return Err(Rejection::invalid(
                        format!("{cell_field}.{}", dimension.name()),
                        format!("must be unspecified: `{}` is not disaggregated by it", indicator.indicator_id),
                    ));
                }
                key[k] = v;
            }
            if !keys.insert(key) {
                return Err(Rejection::invalid(cell_field, "repeats the dimensions of an earlier cell"));
            }
            if cell.count > MAX_COUNT {
                return Err(Rejection::invalid(format!("{cell_field}.count"), format!("must be at most {MAX_COUNT}")));
            }
            sum += cell.count;
        }
        if sum != value.total {
            return Err(Rejection::invalid(
                format!("{field}.total"),
                format!("must equal the sum of its cells ({sum}), not {}", value.total),
            ));
        }
    }
    Ok(())
}

/// Checks a financial report against the budget: every line exactly once, amounts in the award's
/// currency and not negative, explanations at most [`MAX_EXPLANATION`] characters. Returns the spent
/// amount per line.
pub fn check_financial(
    f: &Financial,
    budget: &[BudgetLine],
    currency: Currency,
) -> Result<BTreeMap<String, Money>, Rejection> {
    let mut spent = BTreeMap::new();
    for (i, line) in f.lines.iter().enumerate() {
        let field = format!("financial.lines[{i}]");
        if !budget.iter().any(|b| b.line_id == line.line_id) {
            return Err(Rejection::precondition(
                format!("{field}.line_id"),
                format!("`{}` is not a budget line of the agreement", line.line_id),
            ));
        }
        let amount = line.spent;
        if amount.currency != currency {
            return Err(Rejection::precondition(
                format!("{field}.spent.currency"),
                format!("must be {currency}, the award's currency"),
            ));
        }
        if amount.minor_units < 0 {
            return Err(Rejection::invalid(format!("{field}.spent"), "must not be negative"));
        }
        check_text(&format!("{field}.explanation"), &line.explanation, 0, MAX_EXPLANATION)?;
        if spent.insert(line.line_id.clone(), amount).is_some() {
            return Err(Rejection::invalid(format!("{field}.line_id"), "must not be repeated"));
        }
    }
    if let Some(missing) = budget.iter().find(|b| !spent.contains_key(&b.line_id)) {
        return Err(Rejection::precondition(
            "financial.lines",
            format!("must state the expenditure of every budget line; `{}` is missing", missing.line_id),
        ));
    }
    Ok(spent)
}

/// `part` in basis points of `whole`, rounded toward zero; 0 when `whole` is 0.
pub fn basis_points(part: i64, whole: i64) -> i64 {
    if whole == 0 {
        return 0;
    }
    let bp = i128::from(part) * 10_000 / i128::from(whole);
    i64::try_from(bp).unwrap_or(if bp < 0 { i64::MIN } else { i64::MAX })
}

/// Sums that do not fit in minor units.
pub(crate) fn too_large() -> Rejection {
    Rejection::invalid("financial.lines", "the amounts are too large to add up")
}

/// The variances of a financial report: per line and in total, this period and cumulatively (with the
/// accepted reports of earlier periods, `spent_before`); for a final report, the unspent balance of what
/// was released.
pub fn summarise(
    budget: &[BudgetLine],
    spent: &BTreeMap<String, Money>,
    spent_before: &BTreeMap<String, Money>,
    released_total: Money,
    is_final: bool,
) -> Result<FinancialSummary, Rejection> {
    let zero = Money::zero(released_total.currency);
    let (mut total_budget, mut total_spent, mut total_cumulative) = (zero, zero, zero);
    let mut lines = Vec::with_capacity(budget.len());
    for line in budget {
        let now = spent.get(&line.line_id).copied().unwrap_or(zero);
        let before = spent_before.get(&line.line_id).copied().unwrap_or(zero);
        let cumulative = before.checked_add(now).ok_or_else(too_large)?;
        let variance = cumulative.minor_units.checked_sub(line.amount.minor_units).ok_or_else(too_large)?;
        total_budget = total_budget.checked_add(line.amount).ok_or_else(too_large)?;
        total_spent = total_spent.checked_add(now).ok_or_else(too_large)?;
        total_cumulative = total_cumulative.checked_add(cumulative).ok_or_else(too_large)?;
        lines.push(LineVariance {
            line_id: line.line_id.clone(),
            budget: line.amount,
            spent: now,
            cumulative_spent: cumulative,
            variance: Money::new(variance, zero.currency),
            variance_basis_points: basis_points(variance, line.amount.minor_units),
        });
    }
    let total_variance = total_cumulative.minor_units.checked_sub(total_budget.minor_units).ok_or_else(too_large)?;
    let unspent = if is_final {
        let balance = released_total.minor_units.checked_sub(total_cumulative.minor_units).ok_or_else(too_large)?;
        Some(Money::new(balance, zero.currency))
    } else {
        None
    };
    Ok(FinancialSummary {
        lines,
        total_budget,
        total_spent,
        total_cumulative_spent: total_cumulative,
        total_variance: Money::new(total_variance, zero.currency),
        total_variance_basis_points: basis_points(total_variance, total_budget.minor_units),
        released_total,
        unspent_balance: unspent,
    })
}
