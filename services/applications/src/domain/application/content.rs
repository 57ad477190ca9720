//! What an applicant writes: read from the wire, its limits (which hold even for drafts), and the rules
//! it must meet to be submitted into a round.

use std::collections::BTreeSet;

use contracts::applications::v1 as pb;
use contracts::values::{OptionalWireValue, WireError, WireValue};
use domain_kernel::{Country, Money};

use crate::domain::round::RoundData;
use crate::domain::{Rejection, check_count, check_text};

/// What an applicant writes (all optional while drafting).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Content {
    pub title: String,
    pub summary: String,
    pub requested_amount: Option<Money>,
    pub budget_lines: Vec<(String, Money)>,
    pub countries: Vec<Country>,
    pub services_offered: Vec<pb::ServiceType>,
    pub target_groups: Vec<String>,
}

impl Content {
    /// Reads content from the wire; `field` is the path of the content field (e.g. `content`).
    pub fn from_wire(field: &str, c: Option<&pb::ApplicationContent>) -> Result<Content, WireError> {
        let Some(c) = c else { return Ok(Content::default()) };
        let mut budget_lines = Vec::with_capacity(c.budget_lines.len());
        for (i, line) in c.budget_lines.iter().enumerate() {
            let amount = Money::from_wire(&format!("{field}.budget_lines[{i}].amount"), line.amount.as_ref())?;
            budget_lines.push((line.description.clone(), amount));
        }
        let mut countries = Vec::with_capacity(c.countries.len());
        for (i, country) in c.countries.iter().enumerate() {
            countries.push(Country::parse(&format!("{field}.countries[{i}]"), country)?);
        }
        let mut services_offered = Vec::with_capacity(c.services_offered.len());
        for (i, s) in c.services_offered.iter().enumerate() {
            match pb::ServiceType::try_from(*s) {
                Ok(pb::ServiceType::Unspecified) | Err(_) => {
                    return Err(WireError::new(
                        format!("{field}.services_offered[{i}]"),
                        "must be a known service type",
                    ));
                }
                Ok(service) => services_offered.push(service),
            }
        }
        Ok(Content {
            title: c.title.clone(),
            summary: c.summary.clone(),
            requested_amount: Money::from_wire_optional(
                &format!("{field}.requested_amount"),
                c.requested_amount.as_ref(),
            )?,
            budget_lines,
            countries,
            services_offered,
            target_groups: c.target_groups.clone(),
        })
    }

    pub fn to_wire(&self) -> pb::ApplicationContent {
        pb::ApplicationContent {
            title: self.title.clone(),
            summary: self.summary.clone(),
            requested_amount: self.requested_amount.map(Money::to_wire),
            budget_lines: self
                .budget_lines
                .iter()
                .map(|(description, amount)| pb::BudgetLine {
                    description: description.clone(),
                    amount: Some(amount.to_wire()),
                })
                .collect(),
            countries: self.countries.iter().map(|c| c.as_str().to_owned()).collect(),
            services_offered: self.services_offered.iter().map(|s| *s as i32).collect(),
            target_groups: self.target_groups.clone(),
        }
    }

    /// Limits that hold even for drafts.
    pub(super) fn check_limits(&self) -> Result<(), Rejection> {
        check_text("content.title", &self.title, 0, 200)?;
        check_text("content.summary", &self.summary, 0, 10_000)?;
        check_count("content.budget_lines", self.budget_lines.len(), 0, 100)?;
        for (i, (description, _)) in self.budget_lines.iter().enumerate() {
            check_text(&format!("content.budget_lines[{i}].description"), description, 1, 200)?;
        }
        check_count("content.countries", self.countries.len(), 0, 30)?;
        let services: BTreeSet<i32> = self.services_offered.iter().map(|s| *s as i32).collect();
        if services.len() != self.services_offered.len() {
            return Err(Rejection::invalid("content.services_offered", "must not hold duplicates"));
        }
        check_count("content.target_groups", self.target_groups.len(), 0, 20)?;
        for (i, group) in self.target_groups.iter().enumerate() {
            check_text(&format!("content.target_groups[{i}]"), group, 1, 200)?;
        }
        Ok(())
    }

    /// Rules for submission into `round`. Missing or ineligible content is a precondition failure: the
    /// draft itself was valid, it is not ready.
    pub(super) fn check_complete(&self, round: &RoundData) -> Result<(), Rejection> {
        let missing = |field: &str| Rejection::precondition(field, "is required to submit");
        if self.title.is_empty() {
            return Err(missing("content.title"));
        }
        if self.summary.is_empty() {
            return Err(missing("content.summary"));
        }
        let amount = self.requested_amount.ok_or_else(|| missing("content.requested_amount"))?;
        if !amount.is_positive() {
            return Err(Rejection::precondition("content.requested_amount", "must be positive"));
        }
        if amount.currency != round.currency() {
            return Err(Rejection::precondition(
                "content.requested_amount.currency",
                format!("must be the round's currency {}", round.currency()),
            ));
        }
        if amount.minor_units > round.budget_ceiling.minor_units {
            return Err(Rejection::precondition(
                "content.requested_amount",
                format!("must be within the round's ceiling of {}", round.budget_ceiling.minor_units),
            ));
        }
        if self.budget_lines.is_empty() {
            return Err(missing("content.budget_lines"));
        }
        let mut sum = Money::zero(round.currency());
        for (i, (_, line)) in self.budget_lines.iter().enumerate() {
            if line.currency != round.currency() || !line.is_positive() {
                return Err(Rejection::precondition(
                    format!("content.budget_lines[{i}].amount"),
                    format!("must be positive and in {}", round.currency()),
                ));
            }
            sum = sum
                .checked_add(*line)
                .ok_or_else(|| Rejection::precondition("content.budget_lines", "sum overflows"))?;
        }
        if sum != amount {
            return Err(Rejection::precondition(
                "content.budget_lines",
                format!("must sum to the requested amount {}, they sum to {}", amount.minor_units, sum.minor_units),
            ));
        }
        if self.countries.is_empty() {
            return Err(missing("content.countries"));
        }
        if let Some((i, c)) = self.countries.iter().enumerate().find(|(_, c)| !round.eligible_countries.contains(c)) {
            return Err(Rejection::precondition(
                format!("content.countries[{i}]"),
                format!("{c} is not eligible in the round"),
            ));
        }
        if self.services_offered.is_empty() {
            return Err(missing("content.services_offered"));
        }
        if self.target_groups.is_empty() {
            return Err(missing("content.target_groups"));
        }
        Ok(())
    }
}
