//! What a variation changes (the amount with its tranches and budget lines, the end date, or a
//! reallocation), read from the wire, and the terms after it.

use std::collections::{BTreeMap, BTreeSet};

use contracts::awards::v1 as pb;
use contracts::values::{WireError, WireValue};
use domain_kernel::{Date, Money};

use super::{Move, Terms, TermsStage};
use crate::domain::{Rejection, sum};

/// What a variation changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Amount { new_amount: Money, tranche_amounts: Vec<(String, Money)>, line_amounts: Vec<(String, Money)> },
    EndDate(Date),
    Reallocation(Vec<Move>),
}

impl Change {
    pub fn from_wire(field: &str, c: Option<&pb::VariationChange>) -> Result<Change, WireError> {
        match c.and_then(|c| c.change.as_ref()) {
            None => Err(WireError::new(field, "is required: one of `amount`, `end_date`, `reallocation`")),
            Some(pb::Change::Amount(a)) => {
                let path = format!("{field}.amount");
                let mut tranche_amounts = Vec::new();
                for (i, t) in a.tranche_amounts.iter().enumerate() {
                    let amount = Money::from_wire(&format!("{path}.tranche_amounts[{i}].amount"), t.amount.as_ref())?;
                    tranche_amounts.push((t.tranche_id.clone(), amount));
                }
                let mut line_amounts = Vec::new();
                for (i, l) in a.budget_line_amounts.iter().enumerate() {
                    let amount =
                        Money::from_wire(&format!("{path}.budget_line_amounts[{i}].amount"), l.amount.as_ref())?;
                    line_amounts.push((l.line_id.clone(), amount));
                }
                Ok(Change::Amount {
                    new_amount: Money::from_wire(&format!("{path}.new_amount"), a.new_amount.as_ref())?,
                    tranche_amounts,
                    line_amounts,
                })
            }
            Some(pb::Change::EndDate(e)) => Ok(Change::EndDate(Date::from_wire(
                &format!("{field}.end_date.new_end_date"),
                e.new_end_date.as_ref(),
            )?)),
            Some(pb::Change::Reallocation(r)) => {
                Ok(Change::Reallocation(Move::many_from_wire(&format!("{field}.reallocation.moves"), &r.moves)?))
            }
        }
    }

    pub fn to_wire(&self) -> pb::VariationChange {
        let change = match self {
            Change::Amount { new_amount, tranche_amounts, line_amounts } => pb::Change::Amount(pb::AmountChange {
                new_amount: Some(new_amount.to_wire()),
                tranche_amounts: tranche_amounts
                    .iter()
                    .map(|(id, m)| pb::TrancheAmount { tranche_id: id.clone(), amount: Some(m.to_wire()) })
                    .collect(),
                budget_line_amounts: line_amounts
                    .iter()
                    .map(|(id, m)| pb::BudgetLineAmount { line_id: id.clone(), amount: Some(m.to_wire()) })
                    .collect(),
            }),
            Change::EndDate(d) => pb::Change::EndDate(pb::EndDateChange { new_end_date: Some(d.to_wire()) }),
            Change::Reallocation(moves) => {
                pb::Change::Reallocation(pb::Reallocation { moves: moves.iter().map(Move::to_wire).collect() })
            }
        };
        pb::VariationChange { change: Some(change) }
    }

    /// The terms after this change, and the tranches it cancels. `released` and `cancelled` are the
    /// tranches released or cancelled so far: those cannot change. The result keeps every rule of the
    /// terms (except the approved-amount limit, which an approved variation lifts).
    pub fn apply_to(
        &self,
        terms: &Terms,
        released: &BTreeMap<String, Money>,
        cancelled: &BTreeSet<String>,
    ) -> Result<(Terms, Vec<String>), Rejection> {
        let mut next = terms.clone();
        let mut newly_cancelled = Vec::new();
        match self {
            Change::Amount { new_amount, tranche_amounts, line_amounts } => {
                newly_cancelled =
                    change_amounts(&mut next, *new_amount, tranche_amounts, line_amounts, released, cancelled)?;
            }
            Change::EndDate(date) => {
                // Released tranches count too: a schedule never ends before a payment it records.
                if let Some(t) = next.tranches.iter().find(|t| t.due_date > *date) {
                    return Err(Rejection::precondition(
                        "change.end_date.new_end_date",
                        format!("must not be before the due date of tranche `{}`", t.tranche_id),
                    ));
                }
                next.period_end = *date;
            }
            Change::Reallocation(moves) => {
                next.budget_lines = terms.reallocate("change.reallocation.moves", moves)?.0;
            }
        }
        let mut all_cancelled = cancelled.clone();
        all_cancelled.extend(newly_cancelled.iter().cloned());
        next.check("change", TermsStage::Varied { cancelled: &all_cancelled })?;
        Ok((next, newly_cancelled))
    }
}

/// Applies an amount change to `next` (the terms before it); returns the tranches it cancels (set to zero).
fn change_amounts(
    next: &mut Terms,
    new_amount: Money,
    tranche_amounts: &[(String, Money)],
    line_amounts: &[(String, Money)],
    released: &BTreeMap<String, Money>,
    cancelled: &BTreeSet<String>,
) -> Result<Vec<String>, Rejection> {
    let mut newly_cancelled = Vec::new();
    let currency = next.amount.currency;
    let field = "change.amount";
    if new_amount.currency != currency || !new_amount.is_positive() {
        return Err(Rejection::invalid(format!("{field}.new_amount"), format!("must be positive and in {currency}")));
    }
    let released_total = sum(Money::zero(currency), released.values()).unwrap_or(next.amount);
    if new_amount.minor_units < released_total.minor_units {
        return Err(Rejection::precondition(
            format!("{field}.new_amount"),
            format!("must be at least what was released already ({})", released_total.minor_units),
        ));
    }
    next.amount = new_amount;
    let mut seen = BTreeSet::new();
    for (i, (id, amount)) in tranche_amounts.iter().enumerate() {
        let path = format!("{field}.tranche_amounts[{i}]");
        if !seen.insert(id.as_str()) {
            return Err(Rejection::invalid(format!("{path}.tranche_id"), "is listed twice"));
        }
        let tranche = next.tranches.iter_mut().find(|t| &t.tranche_id == id).ok_or_else(|| {
            Rejection::precondition(format!("{path}.tranche_id"), format!("`{id}` is not a tranche of the award"))
        })?;
        if released.contains_key(id) || cancelled.contains(id) {
            return Err(Rejection::precondition(
                format!("{path}.tranche_id"),
                format!("`{id}` is released or cancelled and cannot change"),
            ));
        }
        if amount.currency != currency || amount.minor_units < 0 {
            return Err(Rejection::invalid(
                format!("{path}.amount"),
                format!("must be zero (cancels the tranche) or positive, in {currency}"),
            ));
        }
        tranche.amount = *amount;
        if amount.minor_units == 0 {
            newly_cancelled.push(id.clone());
        }
    }
    let mut seen = BTreeSet::new();
    for (i, (id, amount)) in line_amounts.iter().enumerate() {
        let path = format!("{field}.budget_line_amounts[{i}]");
        if !seen.insert(id.as_str()) {
            return Err(Rejection::invalid(format!("{path}.line_id"), "is listed twice"));
        }
        let line = next.budget_lines.iter_mut().find(|l| &l.line_id == id).ok_or_else(|| {
            Rejection::precondition(format!("{path}.line_id"), format!("`{id}` is not a budget line"))
        })?;
        if amount.currency != currency || amount.minor_units < 0 {
            return Err(Rejection::invalid(
                format!("{path}.amount"),
                format!("must be zero or positive, in {currency}"),
            ));
        }
        line.amount = *amount;
    }
    Ok(newly_cancelled)
}
