//! What a report says, as domain values: the progress section (narrative and indicator counts by sex,
//! age band and disability), the financial section (spending per budget line), the attestations, and
//! the financial summary the service computes. Read from the wire once (a request's content, or a
//! recorded `ReportSubmitted` when it is folded) and written back to it for events and readers; the
//! rules are checked in [`content`](super::content).
//!
//! The narrative and explanations are held as text: sealed text is opened (or shown as erased) before an
//! event is folded, so what is held here is what the service's readers see.

use contracts::reporting::v1 as pb;
use contracts::values::{OptionalWireValue, WireError, WireValue};
use domain_kernel::Money;

/// One cell of an indicator's disaggregation: a count of people, never a person. A dimension the
/// indicator is not disaggregated by is `None` (UNSPECIFIED on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub sex: Option<pb::Sex>,
    pub age_band: Option<pb::AgeBand>,
    pub disability: Option<pb::Disability>,
    pub count: u64,
}

/// The value of one catalogue indicator for the report's period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndicatorValue {
    pub indicator_id: String,
    pub total: u64,
    pub cells: Vec<Cell>,
}

/// What a progress (or final) report says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub narrative: String,
    pub indicators: Vec<IndicatorValue>,
}

/// The spending of one budget line in the report's period, as the partner states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineExpenditure {
    pub line_id: String,
    pub spent: Money,
    pub explanation: String,
}

/// What a financial (or final) report says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Financial {
    pub lines: Vec<LineExpenditure>,
}

/// What the partner attests with every report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attestations {
    pub consent_for_data_use: bool,
    pub safeguarding_and_child_protection: bool,
    pub fraud_and_anti_corruption: bool,
}

/// A report's content: the sections its kind asks for, and the attestations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportContent {
    pub progress: Option<Progress>,
    pub financial: Option<Financial>,
    pub attestations: Attestations,
}

/// The variance of one budget line, computed when the report was submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineVariance {
    pub line_id: String,
    pub budget: Money,
    pub spent: Money,
    pub cumulative_spent: Money,
    pub variance: Money,
    pub variance_basis_points: i64,
}

/// What the service computed from a financial report when it was submitted (kept with the version, so
/// that an auditor reads the figures the reviewer saw).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinancialSummary {
    pub lines: Vec<LineVariance>,
    pub total_budget: Money,
    pub total_spent: Money,
    pub total_cumulative_spent: Money,
    pub total_variance: Money,
    pub total_variance_basis_points: i64,
    pub released_total: Money,
    /// Final reports only.
    pub unspent_balance: Option<Money>,
}

/// A dimension of a cell: UNSPECIFIED is `None`, a value the contract does not define does not read.
fn dimension<E: TryFrom<i32>>(field: &str, value: i32) -> Result<Option<E>, WireError> {
    if value == 0 {
        return Ok(None);
    }
    E::try_from(value).map(Some).map_err(|_| WireError::new(field, "must be a known value"))
}

impl Cell {
    fn from_wire(field: &str, c: &pb::Cell) -> Result<Cell, WireError> {
        Ok(Cell {
            sex: dimension(&format!("{field}.sex"), c.sex)?,
            age_band: dimension(&format!("{field}.age_band"), c.age_band)?,
            disability: dimension(&format!("{field}.disability"), c.disability)?,
            count: c.count,
        })
    }

    fn to_wire(self) -> pb::Cell {
        pb::Cell {
            sex: self.sex.map_or(0, |v| v as i32),
            age_band: self.age_band.map_or(0, |v| v as i32),
            disability: self.disability.map_or(0, |v| v as i32),
            count: self.count,
        }
    }
}

impl Progress {
    /// Reads a progress section; `field` is its path (`progress`).
    pub fn from_wire(field: &str, p: &pb::ProgressContent) -> Result<Progress, WireError> {
        let mut indicators = Vec::with_capacity(p.indicators.len());
        for (i, value) in p.indicators.iter().enumerate() {
            let path = format!("{field}.indicators[{i}]");
            let cells = value
                .cells
                .iter()
                .enumerate()
                .map(|(j, c)| Cell::from_wire(&format!("{path}.cells[{j}]"), c))
                .collect::<Result<_, _>>()?;
            indicators.push(IndicatorValue { indicator_id: value.indicator_id.clone(), total: value.total, cells });
        }
        Ok(Progress { narrative: p.narrative.clone(), indicators })
    }

    pub fn to_wire(&self) -> pb::ProgressContent {
        pb::ProgressContent {
            narrative: self.narrative.clone(),
            indicators: self
                .indicators
                .iter()
                .map(|v| pb::IndicatorValue {
                    indicator_id: v.indicator_id.clone(),
                    total: v.total,
                    cells: v.cells.iter().map(|c| c.to_wire()).collect(),
                })
                .collect(),
        }
    }
}

impl Financial {
    /// Reads a financial section; `field` is its path (`financial`).
    pub fn from_wire(field: &str, f: &pb::FinancialContent) -> Result<Financial, WireError> {
        let read = |(i, line): (usize, &pb::LineExpenditure)| {
            Ok(LineExpenditure {
                line_id: line.line_id.clone(),
                spent: Money::from_wire(&format!("{field}.lines[{i}].spent"), line.spent.as_ref())?,
                explanation: line.explanation.clone(),
            })
        };
        Ok(Financial { lines: f.lines.iter().enumerate().map(read).collect::<Result<_, WireError>>()? })
    }

    pub fn to_wire(&self) -> pb::FinancialContent {
        pb::FinancialContent {
            lines: self
                .lines
                .iter()
                .map(|l| pb::LineExpenditure {
                    line_id: l.line_id.clone(),
                    spent: Some(l.spent.to_wire()),
                    explanation: l.explanation.clone(),
                })
                .collect(),
        }
    }

    /// Spent per budget line, in the order the report lists them.
    pub fn spent(&self) -> impl Iterator<Item = (&str, Money)> {
        self.lines.iter().map(|l| (l.line_id.as_str(), l.spent))
    }
}

impl Attestations {
    /// Reads the attestations; absent, none is given.
    pub fn from_wire(a: Option<&pb::Attestations>) -> Attestations {
        let a = a.copied().unwrap_or_default();
        Attestations {
            consent_for_data_use: a.consent_for_data_use,
            safeguarding_and_child_protection: a.safeguarding_and_child_protection,
            fraud_and_anti_corruption: a.fraud_and_anti_corruption,
        }
    }

    pub fn to_wire(self) -> pb::Attestations {
        pb::Attestations {
            consent_for_data_use: self.consent_for_data_use,
            safeguarding_and_child_protection: self.safeguarding_and_child_protection,
            fraud_and_anti_corruption: self.fraud_and_anti_corruption,
        }
    }
}

impl ReportContent {
    /// Reads a report's content from its wire sections (of a request, or of a recorded submission).
    pub fn from_wire(
        progress: Option<&pb::ProgressContent>,
        financial: Option<&pb::FinancialContent>,
        attestations: Option<&pb::Attestations>,
    ) -> Result<ReportContent, WireError> {
        Ok(ReportContent {
            progress: progress.map(|p| Progress::from_wire("progress", p)).transpose()?,
            financial: financial.map(|f| Financial::from_wire("financial", f)).transpose()?,
            attestations: Attestations::from_wire(attestations),
        })
    }
}

impl LineVariance {
    fn from_wire(field: &str, l: &pb::LineVariance) -> Result<LineVariance, WireError> {
        let money =
            |name: &str, m: Option<&contracts::common::v1::Money>| Money::from_wire(&format!("{field}.{name}"), m);
        Ok(LineVariance {
            line_id: l.line_id.clone(),
            budget: money("budget", l.budget.as_ref())?,
            spent: money("spent", l.spent.as_ref())?,
            cumulative_spent: money("cumulative_spent", l.cumulative_spent.as_ref())?,
            variance: money("variance", l.variance.as_ref())?,
            variance_basis_points: l.variance_basis_points,
        })
    }

    fn to_wire(&self) -> pb::LineVariance {
        pb::LineVariance {
            line_id: self.line_id.clone(),
            budget: Some(self.budget.to_wire()),
            spent: Some(self.spent.to_wire()),
            cumulative_spent: Some(self.cumulative_spent.to_wire()),
            variance: Some(self.variance.to_wire()),
            variance_basis_points: self.variance_basis_points,
        }
    }
}

impl FinancialSummary {
    /// Reads a recorded summary; `field` is its path (`financial_summary`).
    pub fn from_wire(field: &str, s: &pb::FinancialSummary) -> Result<FinancialSummary, WireError> {
        let money =
            |name: &str, m: Option<&contracts::common::v1::Money>| Money::from_wire(&format!("{field}.{name}"), m);
        let lines = s
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| LineVariance::from_wire(&format!("{field}.lines[{i}]"), l))
            .collect::<Result<_, _>>()?;
        Ok(FinancialSummary {
            lines,
            total_budget: money("total_budget", s.total_budget.as_ref())?,
            total_spent: money("total_spent", s.total_spent.as_ref())?,
            total_cumulative_spent: money("total_cumulative_spent", s.total_cumulative_spent.as_ref())?,
            total_variance: money("total_variance", s.total_variance.as_ref())?,
            total_variance_basis_points: s.total_variance_basis_points,
            released_total: money("released_total", s.released_total.as_ref())?,
            unspent_balance: Money::from_wire_optional(
                &format!("{field}.unspent_balance"),
                s.unspent_balance.as_ref(),
            )?,
        })
    }

    pub fn to_wire(&self) -> pb::FinancialSummary {
        pb::FinancialSummary {
            lines: self.lines.iter().map(LineVariance::to_wire).collect(),
            total_budget: Some(self.total_budget.to_wire()),
            total_spent: Some(self.total_spent.to_wire()),
            total_cumulative_spent: Some(self.total_cumulative_spent.to_wire()),
            total_variance: Some(self.total_variance.to_wire()),
            total_variance_basis_points: self.total_variance_basis_points,
            released_total: Some(self.released_total.to_wire()),
            unspent_balance: self.unspent_balance.map(Money::to_wire),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(sex: i32, age_band: i32, disability: i32) -> pb::Cell {
        pb::Cell { sex, age_band, disability, count: 7 }
    }

    #[test]
    fn unspecified_dimensions_read_as_none_and_unknown_ones_name_their_field() {
        let read = |c: pb::Cell| Cell::from_wire("progress.indicators[0].cells[2]", &c);
        let female_unknown_age = read(cell(pb::Sex::Female as i32, 0, 0)).unwrap();
        assert_eq!(female_unknown_age, Cell { sex: Some(pb::Sex::Female), age_band: None, disability: None, count: 7 });
        assert_eq!(female_unknown_age.to_wire(), cell(pb::Sex::Female as i32, 0, 0));
        for (c, field) in [
            (cell(9, 0, 0), "progress.indicators[0].cells[2].sex"),
            (cell(0, 42, 0), "progress.indicators[0].cells[2].age_band"),
            (cell(0, 0, -1), "progress.indicators[0].cells[2].disability"),
        ] {
            let error = read(c).unwrap_err();
            assert_eq!((error.field.as_str(), error.rule.as_str()), (field, "must be a known value"));
        }
    }

    #[test]
    fn content_round_trips_and_spending_that_does_not_read_names_its_line() {
        let usd = |minor_units| Some(contracts::common::v1::Money { minor_units, currency: "USD".into() });
        let progress = pb::ProgressContent {
            narrative: "Counselling for 12 survivors.".into(),
            indicators: vec![pb::IndicatorValue {
                indicator_id: "persons_assisted_shelter".into(),
                total: 7,
                cells: vec![cell(pb::Sex::Male as i32, pb::AgeBand::Unknown as i32, 0)],
            }],
        };
        let financial = pb::FinancialContent {
            lines: vec![pb::LineExpenditure { line_id: "shelter".into(), spent: usd(-5), explanation: "x".into() }],
        };
        let attestations = pb::Attestations { consent_for_data_use: true, ..Default::default() };
        let content = ReportContent::from_wire(Some(&progress), Some(&financial), Some(&attestations)).unwrap();
        assert_eq!(content.progress.as_ref().map(Progress::to_wire), Some(progress.clone()));
        assert_eq!(content.financial.as_ref().map(Financial::to_wire), Some(financial.clone()));
        assert_eq!(content.attestations.to_wire(), attestations);
        assert_eq!(ReportContent::from_wire(None, None, None).unwrap(), ReportContent::default());

        let unread = pb::FinancialContent {
            lines: vec![financial.lines[0].clone(), pb::LineExpenditure { spent: None, ..financial.lines[0].clone() }],
        };
        let error = ReportContent::from_wire(Some(&progress), Some(&unread), None).unwrap_err();
        assert_eq!((error.field.as_str(), error.rule.as_str()), ("financial.lines[1].spent", "is required"));
    }
}
