//! The terms of an agreement (amount, period, budget lines, tranches, reporting requirements, variance
//! threshold), the rules they must keep, and the changes a variation or reallocation makes to them.
//!
//! The terms and their wire form are here; `rules` checks them, `reallocation` moves money between
//! budget lines, and `change` is what a variation changes.

mod change;
mod reallocation;
mod rules;

use std::collections::BTreeSet;

use contracts::awards::v1 as pb;
use contracts::reporting::v1::ReportKind;
use contracts::values::{WireError, WireValue};
use domain_kernel::{Date, Money};

pub use change::Change;
pub use reallocation::Move;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetLine {
    pub line_id: String,
    pub category: String,
    pub amount: Money,
}

impl BudgetLine {
    /// Reads budget lines; `field` is the path of the list (e.g. `terms.budget_lines`).
    pub fn many_from_wire(field: &str, lines: &[pb::BudgetLine]) -> Result<Vec<BudgetLine>, WireError> {
        let read = |(i, line): (usize, &pb::BudgetLine)| {
            Ok(BudgetLine {
                line_id: line.line_id.clone(),
                category: line.category.clone(),
                amount: Money::from_wire(&format!("{field}[{i}].amount"), line.amount.as_ref())?,
            })
        };
        lines.iter().enumerate().map(read).collect()
    }

    pub fn to_wire(&self) -> pb::BudgetLine {
        pb::BudgetLine {
            line_id: self.line_id.clone(),
            category: self.category.clone(),
            amount: Some(self.amount.to_wire()),
        }
    }
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
        let budget_lines = BudgetLine::many_from_wire(&format!("{field}.budget_lines"), &t.budget_lines)?;
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
            budget_lines: self.budget_lines.iter().map(BudgetLine::to_wire).collect(),
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
}
