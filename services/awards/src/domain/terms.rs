//! The terms of an agreement (amount, period, budget lines, tranches, reporting requirements, variance
//! threshold), the rules they must keep, and the changes a variation or reallocation makes to them.

use std::collections::{BTreeMap, BTreeSet};

use contracts::awards::v1 as pb;
use contracts::reporting::v1::ReportKind;
use contracts::values::{WireError, WireValue};
use domain_kernel::{Date, Money};

use super::{Rejection, check_count, check_short_id, check_text, sum};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetLine {
    pub line_id: String,
    pub category: String,
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrancheTerms {
    pub tranche_id: String,
    pub kind: pb::TrancheKind,
    pub amount: Money,
    pub due_date: Date,
    pub required_reports: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub report_ref: String,
    pub kind: ReportKind,
    pub period_start: Date,
    pub period_end: Date,
    pub due_date: Date,
}

/// How far an agreement's terms have come, which decides what they may hold.
#[derive(Clone, Copy, Debug)]
pub enum TermsStage<'a> {
    /// Set before signature: at most the approved amount; every budget line and tranche positive.
    Agreement { approved: Money },
    /// After a variation or reallocation: any amount; budget lines may have been emptied, and `cancelled`
    /// tranches (only they) are zero.
    Varied { cancelled: &'a BTreeSet<String> },
}

/// The terms of an agreement, as decoded from the wire (format checked, rules not yet: see [`Terms::check`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    pub amount: Money,
    pub period_start: Date,
    pub period_end: Date,
    pub budget_lines: Vec<BudgetLine>,
    pub tranches: Vec<TrancheTerms>,
    pub reports: Vec<Requirement>,
    pub variance_threshold_percent: u32,
}

fn report_kind(field: &str, value: i32) -> Result<ReportKind, WireError> {
    match ReportKind::try_from(value) {
        Ok(ReportKind::Unspecified) | Err(_) => Err(WireError::new(field, "must be PROGRESS, FINANCIAL or FINAL")),
        Ok(kind) => Ok(kind),
    }
}

impl Terms {
    /// Reads terms; `field` is the path of the terms field (e.g. `terms`).
    pub fn from_wire(field: &str, t: Option<&pb::AgreementTerms>) -> Result<Terms, WireError> {
        let t = t.ok_or_else(|| WireError::new(field, "is required"))?;
        let mut budget_lines = Vec::with_capacity(t.budget_lines.len());
        for (i, line) in t.budget_lines.iter().enumerate() {
            budget_lines.push(BudgetLine {
                line_id: line.line_id.clone(),
                category: line.category.clone(),
                amount: Money::from_wire(&format!("{field}.budget_lines[{i}].amount"), line.amount.as_ref())?,
            });
        }
        let mut tranches = Vec::with_capacity(t.tranches.len());
        for (i, tranche) in t.tranches.iter().enumerate() {
            let path = format!("{field}.tranches[{i}]");
            let kind = match pb::TrancheKind::try_from(tranche.kind) {
                Ok(pb::TrancheKind::Unspecified) | Err(_) => {
                    return Err(WireError::new(format!("{path}.kind"), "must be INITIAL, INTERIM or FINAL"));
                }
                Ok(kind) => kind,
            };
            tranches.push(TrancheTerms {
                tranche_id: tranche.tranche_id.clone(),
                kind,
                amount: Money::from_wire(&format!("{path}.amount"), tranche.amount.as_ref())?,
                due_date: Date::from_wire(&format!("{path}.due_date"), tranche.due_date.as_ref())?,
                required_reports: tranche.required_reports.clone(),
            });
        }
        let mut reports = Vec::with_capacity(t.reports.len());
        for (i, r) in t.reports.iter().enumerate() {
            let path = format!("{field}.reports[{i}]");
            reports.push(Requirement {
                report_ref: r.report_ref.clone(),
                kind: report_kind(&format!("{path}.kind"), r.kind)?,
                period_start: Date::from_wire(&format!("{path}.period_start"), r.period_start.as_ref())?,
                period_end: Date::from_wire(&format!("{path}.period_end"), r.period_end.as_ref())?,
                due_date: Date::from_wire(&format!("{path}.due_date"), r.due_date.as_ref())?,
            });
        }
        Ok(Terms {
            amount: Money::from_wire(&format!("{field}.amount"), t.amount.as_ref())?,
            period_start: Date::from_wire(&format!("{field}.period_start"), t.period_start.as_ref())?,
            period_end: Date::from_wire(&format!("{field}.period_end"), t.period_end.as_ref())?,
            budget_lines,
            tranches,
            reports,
            variance_threshold_percent: t.variance_threshold_percent,
        })
    }

    pub fn to_wire(&self) -> pb::AgreementTerms {
        pb::AgreementTerms {
            amount: Some(self.amount.to_wire()),
            period_start: Some(self.period_start.to_wire()),
            period_end: Some(self.period_end.to_wire()),
            budget_lines: self
                .budget_lines
                .iter()
                .map(|l| pb::BudgetLine {
                    line_id: l.line_id.clone(),
                    category: l.category.clone(),
                    amount: Some(l.amount.to_wire()),
                })
                .collect(),
            tranches: self
                .tranches
                .iter()
                .map(|t| pb::Tranche {
                    tranche_id: t.tranche_id.clone(),
                    kind: t.kind as i32,
                    amount: Some(t.amount.to_wire()),
                    due_date: Some(t.due_date.to_wire()),
                    required_reports: t.required_reports.clone(),
                })
                .collect(),
            reports: self
                .reports
                .iter()
                .map(|r| pb::ReportRequirement {
                    report_ref: r.report_ref.clone(),
                    kind: r.kind as i32,
                    period_start: Some(r.period_start.to_wire()),
                    period_end: Some(r.period_end.to_wire()),
                    due_date: Some(r.due_date.to_wire()),
                })
                .collect(),
            variance_threshold_percent: self.variance_threshold_percent,
        }
    }

    pub fn tranche(&self, id: &str) -> Option<&TrancheTerms> {
        self.tranches.iter().find(|t| t.tranche_id == id)
    }

    pub fn requirement(&self, report_ref: &str) -> Option<&Requirement> {
        self.reports.iter().find(|r| r.report_ref == report_ref)
    }

    /// Checks every rule of `AgreementTerms`, as `stage` says they stand. Format problems are
    /// `INVALID_ARGUMENT`; money and schedule rules `FAILED_PRECONDITION`.
    pub fn check(&self, field: &str, stage: TermsStage<'_>) -> Result<(), Rejection> {
        let (limit, cancelled, empty_lines_allowed) = match stage {
            TermsStage::Agreement { approved } => (Some(approved), &BTreeSet::new(), false),
            TermsStage::Varied { cancelled } => (None, cancelled, true),
        };
        let currency = limit.map_or(self.amount.currency, |l| l.currency);
        let rule = |path: String, text: String| Rejection::precondition(format!("{field}.{path}"), text);
        if self.amount.currency != currency {
            return Err(rule("amount.currency".into(), format!("must be the approved amount's currency {currency}")));
        }
        if !self.amount.is_positive() {
            return Err(rule("amount".into(), "must be positive".into()));
        }
        if let Some(limit) = limit
            && self.amount.minor_units > limit.minor_units
        {
            return Err(rule(
                "amount".into(),
                format!(
                    "must be at most the approved amount {} without an approved variation, it is {}",
                    limit.minor_units, self.amount.minor_units
                ),
            ));
        }
        if self.period_start >= self.period_end {
            return Err(rule("period_end".into(), "must be after `period_start`".into()));
        }
        if self.variance_threshold_percent > 100 {
            return Err(Rejection::invalid(format!("{field}.variance_threshold_percent"), "must be 0 to 100"));
        }

        // Reports first: tranches refer to them.
        check_count(&format!("{field}.reports"), self.reports.len(), 1, 50)?;
        let mut refs = BTreeSet::new();
        for (i, r) in self.reports.iter().enumerate() {
            let path = format!("{field}.reports[{i}]");
            check_short_id(&format!("{path}.report_ref"), &r.report_ref)?;
            if !refs.insert(r.report_ref.as_str()) {
                return Err(Rejection::invalid(format!("{path}.report_ref"), "must be unique within the agreement"));
            }
            if r.period_start > r.period_end {
                return Err(rule(format!("reports[{i}].period_end"), "must not be before `period_start`".into()));
            }
            if r.period_start < self.period_start || r.period_end > self.period_end {
                return Err(rule(format!("reports[{i}]"), "period must be within the agreement's period".into()));
            }
            if r.due_date < r.period_end {
                return Err(rule(format!("reports[{i}].due_date"), "must not be before `period_end`".into()));
            }
        }
        if !self.reports.iter().any(|r| r.kind == ReportKind::Final) {
            return Err(rule("reports".into(), "must include a FINAL report".into()));
        }

        check_count(&format!("{field}.budget_lines"), self.budget_lines.len(), 1, 50)?;
        let mut lines = BTreeSet::new();
        for (i, line) in self.budget_lines.iter().enumerate() {
            let path = format!("{field}.budget_lines[{i}]");
            check_short_id(&format!("{path}.line_id"), &line.line_id)?;
            if !lines.insert(line.line_id.as_str()) {
                return Err(Rejection::invalid(format!("{path}.line_id"), "must be unique within the agreement"));
            }
            check_text(&format!("{path}.category"), &line.category, 1, 200)?;
            if line.amount.currency != currency || line.amount.minor_units < 0 {
                return Err(rule(
                    format!("budget_lines[{i}].amount"),
                    format!("must be zero or positive in {currency}"),
                ));
            }
            if line.amount.minor_units == 0 && !empty_lines_allowed {
                return Err(rule(
                    format!("budget_lines[{i}].amount"),
                    "must be positive: a line may be 0 only after a reallocation emptied it".into(),
                ));
            }
        }
        let lines_total = sum(Money::zero(currency), self.budget_lines.iter().map(|l| &l.amount))
            .ok_or_else(|| rule("budget_lines".into(), "sum overflows".into()))?;
        if lines_total != self.amount {
            return Err(rule(
                "budget_lines".into(),
                format!(
                    "must sum to the award amount {}, they sum to {}",
                    self.amount.minor_units, lines_total.minor_units
                ),
            ));
        }

        check_count(&format!("{field}.tranches"), self.tranches.len(), 1, 20)?;
        let mut ids = BTreeSet::new();
        let last = self.tranches.len() - 1;
        for (i, t) in self.tranches.iter().enumerate() {
            let path = format!("{field}.tranches[{i}]");
            check_short_id(&format!("{path}.tranche_id"), &t.tranche_id)?;
            if !ids.insert(t.tranche_id.as_str()) {
                return Err(Rejection::invalid(format!("{path}.tranche_id"), "must be unique within the agreement"));
            }
            let expected = match i {
                0 => pb::TrancheKind::Initial,
                i if i == last => pb::TrancheKind::Final,
                _ => pb::TrancheKind::Interim,
            };
            if t.kind != expected {
                return Err(Rejection::invalid(
                    format!("{path}.kind"),
                    "must be INITIAL for the first tranche, FINAL for the last of two or more, INTERIM between",
                ));
            }
            let zero_allowed = cancelled.contains(&t.tranche_id);
            if t.amount.currency != currency || t.amount.minor_units < 0 || (!zero_allowed && t.amount.minor_units == 0)
            {
                return Err(rule(format!("tranches[{i}].amount"), format!("must be positive and in {currency}")));
            }
            if t.due_date < self.period_start || t.due_date > self.period_end {
                return Err(rule(format!("tranches[{i}].due_date"), "must be within the agreement's period".into()));
            }
            if i > 0 && t.due_date < self.tranches[i - 1].due_date {
                return Err(rule(
                    format!("tranches[{i}].due_date"),
                    "must not be before the previous tranche's".into(),
                ));
            }
            let mut required = BTreeSet::new();
            for (j, r) in t.required_reports.iter().enumerate() {
                if !refs.contains(r.as_str()) {
                    return Err(Rejection::invalid(
                        format!("{path}.required_reports[{j}]"),
                        format!("`{r}` is not a `report_ref` of the agreement's reports"),
                    ));
                }
                if !required.insert(r.as_str()) {
                    return Err(Rejection::invalid(format!("{path}.required_reports[{j}]"), "is listed twice"));
                }
            }
        }
        let tranches_total = sum(Money::zero(currency), self.tranches.iter().map(|t| &t.amount))
            .ok_or_else(|| rule("tranches".into(), "sum overflows".into()))?;
        if tranches_total != self.amount {
            return Err(rule(
                "tranches".into(),
                format!(
                    "must sum to the award amount {}, they sum to {}",
                    self.amount.minor_units, tranches_total.minor_units
                ),
            ));
        }
        Ok(())
    }

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
        let currency = terms.amount.currency;
        match self {
            Change::Amount { new_amount, tranche_amounts, line_amounts } => {
                let field = "change.amount";
                if new_amount.currency != currency || !new_amount.is_positive() {
                    return Err(Rejection::invalid(
                        format!("{field}.new_amount"),
                        format!("must be positive and in {currency}"),
                    ));
                }
                let released_total = sum(Money::zero(currency), released.values()).unwrap_or(terms.amount);
                if new_amount.minor_units < released_total.minor_units {
                    return Err(Rejection::precondition(
                        format!("{field}.new_amount"),
                        format!("must be at least what was released already ({})", released_total.minor_units),
                    ));
                }
                next.amount = *new_amount;
                let mut seen = BTreeSet::new();
                for (i, (id, amount)) in tranche_amounts.iter().enumerate() {
                    let path = format!("{field}.tranche_amounts[{i}]");
                    if !seen.insert(id.as_str()) {
                        return Err(Rejection::invalid(format!("{path}.tranche_id"), "is listed twice"));
                    }
                    let tranche = next.tranches.iter_mut().find(|t| &t.tranche_id == id).ok_or_else(|| {
                        Rejection::precondition(
                            format!("{path}.tranche_id"),
                            format!("`{id}` is not a tranche of the award"),
                        )
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
