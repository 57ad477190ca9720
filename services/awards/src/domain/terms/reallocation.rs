//! Budget reallocations: moves between budget lines, what they leave each line holding, and whether they
//! need an approved variation.

use contracts::awards::v1 as pb;
use contracts::values::{WireError, WireValue};
use domain_kernel::Money;

use super::{BudgetLine, Terms};
use crate::domain::{Rejection, check_count};

impl Terms {
    /// The budget after `moves`, applied in order; checks that each names two different lines, moves a
    /// positive amount of the award's currency, and leaves no line below zero. Returns the moved total.
    pub fn reallocate(&self, field: &str, moves: &[Move]) -> Result<(Vec<BudgetLine>, Money), Rejection> {
        check_count(field, moves.len(), 1, 50)?;
        let currency = self.amount.currency;
        let mut lines = self.budget_lines.clone();
        let mut moved = Money::zero(currency);
        for (i, m) in moves.iter().enumerate() {
            let path = format!("{field}[{i}]");
            if m.from_line_id == m.to_line_id {
                return Err(Rejection::invalid(format!("{path}.to_line_id"), "must differ from `from_line_id`"));
            }
            if m.amount.currency != currency || !m.amount.is_positive() {
                return Err(Rejection::invalid(
                    format!("{path}.amount"),
                    format!("must be positive and in {currency}"),
                ));
            }
            let position = |id: &str, name: &str| {
                lines.iter().position(|l| l.line_id == id).ok_or_else(|| {
                    Rejection::precondition(
                        format!("{path}.{name}"),
                        format!("`{id}` is not a budget line of the agreement"),
                    )
                })
            };
            let (from, to) = (position(&m.from_line_id, "from_line_id")?, position(&m.to_line_id, "to_line_id")?);
            if lines[from].amount.minor_units < m.amount.minor_units {
                return Err(Rejection::precondition(
                    format!("{path}.amount"),
                    format!(
                        "must be at most what `{}` holds ({}), lines cannot go below zero",
                        m.from_line_id, lines[from].amount.minor_units
                    ),
                ));
            }
            lines[from].amount.minor_units -= m.amount.minor_units;
            lines[to].amount = lines[to]
                .amount
                .checked_add(m.amount)
                .ok_or_else(|| Rejection::precondition(format!("{path}.amount"), "overflows the line"))?;
            moved = moved.checked_add(m.amount).ok_or_else(|| Rejection::precondition(field, "sum overflows"))?;
        }
        Ok((lines, moved))
    }

    /// The moved total as basis points of the award amount (rounded up, so that a move just above the
    /// threshold is never rounded into it).
    pub fn basis_points_of_amount(&self, moved: Money) -> u32 {
        let amount = i128::from(self.amount.minor_units.max(1));
        let bp = (i128::from(moved.minor_units) * 10_000 + amount - 1) / amount;
        u32::try_from(bp).unwrap_or(u32::MAX)
    }

    /// Whether moving `moved` needs an approved variation: more than the threshold share of the amount.
    pub fn needs_variation(&self, moved: Money) -> bool {
        i128::from(moved.minor_units) * 100
            > i128::from(self.variance_threshold_percent) * i128::from(self.amount.minor_units)
    }
}

/// A move between budget lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub from_line_id: String,
    pub to_line_id: String,
    pub amount: Money,
}

impl Move {
    pub fn from_wire(field: &str, m: &pb::BudgetMove) -> Result<Move, WireError> {
        Ok(Move {
            from_line_id: m.from_line_id.clone(),
            to_line_id: m.to_line_id.clone(),
            amount: Money::from_wire(&format!("{field}.amount"), m.amount.as_ref())?,
        })
    }

    pub fn to_wire(&self) -> pb::BudgetMove {
        pb::BudgetMove {
            from_line_id: self.from_line_id.clone(),
            to_line_id: self.to_line_id.clone(),
            amount: Some(self.amount.to_wire()),
        }
    }

    pub fn many_from_wire(field: &str, moves: &[pb::BudgetMove]) -> Result<Vec<Move>, WireError> {
        moves.iter().enumerate().map(|(i, m)| Move::from_wire(&format!("{field}[{i}]"), m)).collect()
    }
}
