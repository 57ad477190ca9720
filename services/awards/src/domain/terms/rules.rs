//! The rules an agreement's terms must keep: amounts, periods, reports, budget lines and tranches, as the
//! stage of the agreement says they stand.

use std::collections::BTreeSet;

use contracts::awards::v1 as pb;
use contracts::reporting::v1::ReportKind;
use domain_kernel::Money;

use super::{Terms, TermsStage};
use crate::domain::{Rejection, check_count, check_short_id, check_text, sum};

/// A money or schedule rule of the terms at `field`, broken at `path` within them.
fn broken_rule(field: &str, path: &str, text: String) -> Rejection {
    Rejection::precondition(format!("{field}.{path}"), text)
}

/// Checks that a tranche's required reports (at `path`) are reports of the agreement, each listed once.
fn check_required_reports(path: &str, required: &[String], refs: &BTreeSet<&str>) -> Result<(), Rejection> {
    let mut seen = BTreeSet::new();
    for (j, r) in required.iter().enumerate() {
        if !refs.contains(r.as_str()) {
            return Err(Rejection::invalid(
                format!("{path}.required_reports[{j}]"),
                format!("`{r}` is not a `report_ref` of the agreement's reports"),
            ));
        }
        if !seen.insert(r.as_str()) {
            return Err(Rejection::invalid(format!("{path}.required_reports[{j}]"), "is listed twice"));
        }
    }
    Ok(())
}

impl Terms {
    /// Checks every rule of `AgreementTerms`, as `stage` says they stand. Format problems are
    /// `INVALID_ARGUMENT`; money and schedule rules `FAILED_PRECONDITION`.
    pub fn check(&self, field: &str, stage: TermsStage<'_>) -> Result<(), Rejection> {
        let (limit, cancelled, empty_lines_allowed) = match stage {
            TermsStage::Agreement { approved } => (Some(approved), &BTreeSet::new(), false),
            TermsStage::Varied { cancelled } => (None, cancelled, true),
        };
        let currency = limit.map_or(self.amount.currency, |l| l.currency);
        let rule = |path: &str, text: String| broken_rule(field, path, text);
        if self.amount.currency != currency {
            return Err(rule("amount.currency", format!("must be the approved amount's currency {currency}")));
        }
        if !self.amount.is_positive() {
            return Err(rule("amount", "must be positive".into()));
        }
        if let Some(limit) = limit
            && self.amount.minor_units > limit.minor_units
        {
            return Err(rule(
                "amount",
                format!(
                    "must be at most the approved amount {} without an approved variation, it is {}",
                    limit.minor_units, self.amount.minor_units
                ),
            ));
        }
        if self.period_start >= self.period_end {
            return Err(rule("period_end", "must be after `period_start`".into()));
        }
        if self.variance_threshold_percent > 100 {
            return Err(Rejection::invalid(format!("{field}.variance_threshold_percent"), "must be 0 to 100"));
        }
        // Reports first: tranches refer to them.
        let refs = self.check_reports(field)?;
        self.check_budget_lines(field, empty_lines_allowed)?;
        self.check_tranches(field, cancelled, &refs)
    }

    /// Checks the reporting requirements; returns their `report_ref`s.
    fn check_reports(&self, field: &str) -> Result<BTreeSet<&str>, Rejection> {
        check_count(&format!("{field}.reports"), self.reports.len(), 1, 50)?;
        let mut refs = BTreeSet::new();
        for (i, r) in self.reports.iter().enumerate() {
            let path = format!("{field}.reports[{i}]");
            check_short_id(&format!("{path}.report_ref"), &r.report_ref)?;
            if !refs.insert(r.report_ref.as_str()) {
                return Err(Rejection::invalid(format!("{path}.report_ref"), "must be unique within the agreement"));
            }
            let rule = |what: &str, text: &str| broken_rule(field, &format!("reports[{i}]{what}"), text.into());
            if r.period_start > r.period_end {
                return Err(rule(".period_end", "must not be before `period_start`"));
            }
            if r.period_start < self.period_start || r.period_end > self.period_end {
                return Err(rule("", "period must be within the agreement's period"));
            }
            if r.due_date < r.period_end {
                return Err(rule(".due_date", "must not be before `period_end`"));
            }
        }
        if !self.reports.iter().any(|r| r.kind == ReportKind::Final) {
            return Err(broken_rule(field, "reports", "must include a FINAL report".into()));
        }
        Ok(refs)
    }

    /// Checks the budget lines: unique, in the award's currency, summing to its amount. A line may be zero
    /// only when `empty_lines_allowed` (after a reallocation emptied it).
    fn check_budget_lines(&self, field: &str, empty_lines_allowed: bool) -> Result<(), Rejection> {
        let currency = self.amount.currency;
        check_count(&format!("{field}.budget_lines"), self.budget_lines.len(), 1, 50)?;
        let mut lines = BTreeSet::new();
        for (i, line) in self.budget_lines.iter().enumerate() {
            let path = format!("{field}.budget_lines[{i}]");
            check_short_id(&format!("{path}.line_id"), &line.line_id)?;
            if !lines.insert(line.line_id.as_str()) {
                return Err(Rejection::invalid(format!("{path}.line_id"), "must be unique within the agreement"));
            }
            check_text(&format!("{path}.category"), &line.category, 1, 200)?;
            let rule = |text: String| broken_rule(field, &format!("budget_lines[{i}].amount"), text);
            if line.amount.currency != currency || line.amount.minor_units < 0 {
                return Err(rule(format!("must be zero or positive in {currency}")));
            }
            if line.amount.minor_units == 0 && !empty_lines_allowed {
                return Err(rule("must be positive: a line may be 0 only after a reallocation emptied it".into()));
            }
        }
        self.check_sums_to_amount(field, "budget_lines", self.budget_lines.iter().map(|l| &l.amount))
    }

    /// Checks the tranches: unique, INITIAL first and FINAL last, positive (zero only when `cancelled`), due
    /// in order within the period, gated by known reports only, summing to the award's amount.
    fn check_tranches(
        &self,
        field: &str,
        cancelled: &BTreeSet<String>,
        refs: &BTreeSet<&str>,
    ) -> Result<(), Rejection> {
        let currency = self.amount.currency;
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
            let rule = |what: &str, text: String| broken_rule(field, &format!("tranches[{i}].{what}"), text);
            let zero_allowed = cancelled.contains(&t.tranche_id);
            if t.amount.currency != currency || t.amount.minor_units < 0 || (!zero_allowed && t.amount.minor_units == 0)
            {
                return Err(rule("amount", format!("must be positive and in {currency}")));
            }
            if t.due_date < self.period_start || t.due_date > self.period_end {
                return Err(rule("due_date", "must be within the agreement's period".into()));
            }
            if i > 0 && t.due_date < self.tranches[i - 1].due_date {
                return Err(rule("due_date", "must not be before the previous tranche's".into()));
            }
            check_required_reports(&path, &t.required_reports, refs)?;
        }
        self.check_sums_to_amount(field, "tranches", self.tranches.iter().map(|t| &t.amount))
    }

    fn check_sums_to_amount<'a>(
        &self,
        field: &str,
        list: &str,
        amounts: impl IntoIterator<Item = &'a Money>,
    ) -> Result<(), Rejection> {
        let total = sum(Money::zero(self.amount.currency), amounts)
            .ok_or_else(|| broken_rule(field, list, "sum overflows".into()))?;
        if total != self.amount {
            return Err(broken_rule(
                field,
                list,
                format!("must sum to the award amount {}, they sum to {}", self.amount.minor_units, total.minor_units),
            ));
        }
        Ok(())
    }
}
