//! The indicator catalogue: which indicators a progress report may carry, in which unit, and which
//! dimensions (sex, age band, disability) each is disaggregated by. It is data, not code: the service
//! embeds `indicators.json` (at the crate's root) and may load another file at start-up; either is
//! validated before the service serves anything.

use std::collections::BTreeMap;

use contracts::reporting::v1 as pb;
use serde::Deserialize;

/// The dimensions a count of people can be disaggregated by, in their canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Sex,
    AgeBand,
    Disability,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [Dimension::Sex, Dimension::AgeBand, Dimension::Disability];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Sex => "sex",
            Dimension::AgeBand => "age_band",
            Dimension::Disability => "disability",
        }
    }

    fn parse(value: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == value)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Indicator {
    pub indicator_id: String,
    pub title: String,
    pub unit: String,
    pub group: String,
    pub dimensions: Vec<Dimension>,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalogue {
    pub version: String,
    indicators: BTreeMap<String, Indicator>,
    /// Ids in file order, for display.
    order: Vec<String>,
}

/// The embedded catalogue file.
pub const EMBEDDED: &str = include_str!("../../indicators.json");

#[derive(Debug, thiserror::Error)]
#[error("indicator catalogue: {0}")]
pub struct CatalogueError(String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: String,
    indicators: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    indicator_id: String,
    title: String,
    unit: String,
    group: String,
    dimensions: Vec<String>,
    #[serde(default)]
    description: String,
}

impl Catalogue {
    /// The catalogue embedded in the service.
    pub fn embedded() -> Result<Catalogue, CatalogueError> {
        Catalogue::from_json(EMBEDDED)
    }

    /// Reads and validates a catalogue: a version, 1 to 500 indicators with unique ids of a-z, 0-9 and
    /// '_', a title, unit and group, and dimensions among "sex", "age_band", "disability", each at most
    /// once and in that order.
    pub fn from_json(json: &str) -> Result<Catalogue, CatalogueError> {
        let file: File = serde_json::from_str(json).map_err(|e| CatalogueError(e.to_string()))?;
        let fail = |what: String| Err(CatalogueError(what));
        if file.version.trim().is_empty() || file.version.len() > 64 {
            return fail("`version` must be 1 to 64 characters".into());
        }
        if file.indicators.is_empty() || file.indicators.len() > 500 {
            return fail("`indicators` must hold 1 to 500 entries".into());
        }
        let mut indicators = BTreeMap::new();
        let mut order = Vec::new();
        for (i, e) in file.indicators.into_iter().enumerate() {
            let at = format!("`indicators[{i}]`");
            let id_ok = !e.indicator_id.is_empty()
                && e.indicator_id.len() <= 64
                && e.indicator_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !id_ok {
                return fail(format!("{at}.indicator_id must be 1 to 64 characters of a-z, 0-9 and '_'"));
            }
            for (name, value) in [("title", &e.title), ("unit", &e.unit), ("group", &e.group)] {
                if value.trim().is_empty() || value.chars().count() > 200 {
                    return fail(format!("{at}.{name} must be 1 to 200 characters"));
                }
            }
            let mut dimensions = Vec::new();
            for d in &e.dimensions {
                let Some(dimension) = Dimension::parse(d) else {
                    return fail(format!("{at}.dimensions: `{d}` is not one of sex, age_band, disability"));
                };
                if dimensions.last().is_some_and(|last| *last >= dimension) {
                    return fail(format!(
                        "{at}.dimensions must be distinct and in the order sex, age_band, disability"
                    ));
                }
                dimensions.push(dimension);
            }
            if indicators.contains_key(&e.indicator_id) {
                return fail(format!("{at}.indicator_id `{}` is repeated", e.indicator_id));
            }
            order.push(e.indicator_id.clone());
            indicators.insert(
                e.indicator_id.clone(),
                Indicator {
                    indicator_id: e.indicator_id,
                    title: e.title,
                    unit: e.unit,
                    group: e.group,
                    dimensions,
                    description: e.description,
                },
            );
        }
        Ok(Catalogue { version: file.version, indicators, order })
    }

    pub fn get(&self, indicator_id: &str) -> Option<&Indicator> {
        self.indicators.get(indicator_id)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn to_wire(&self) -> pb::IndicatorCatalogue {
        pb::IndicatorCatalogue {
            version: self.version.clone(),
            indicators: self
                .order
                .iter()
                .filter_map(|id| self.indicators.get(id))
                .map(|i| pb::IndicatorDefinition {
                    indicator_id: i.indicator_id.clone(),
                    title: i.title.clone(),
                    unit: i.unit.clone(),
                    group: i.group.clone(),
                    dimensions: i.dimensions.iter().map(|d| d.name().to_owned()).collect(),
                    description: i.description.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalogue_holds_the_core_victim_service_indicators() {
        let catalogue = Catalogue::embedded().unwrap();
        for id in [
            "persons_identified_or_screened",
            "persons_referred",
            "persons_assisted_shelter",
            "persons_assisted_medical",
            "persons_assisted_mental_health_psychosocial",
            "persons_assisted_legal_aid",
            "persons_assisted_reintegration_livelihood",
            "persons_assisted_repatriation",
            "legal_cases_investigation",
            "legal_cases_prosecution",
            "legal_cases_judgment",
            "policy_evidence_products",
        ] {
            assert!(catalogue.get(id).is_some(), "{id} is in the catalogue");
        }
        let persons = catalogue.get("persons_referred").unwrap();
        assert_eq!(persons.dimensions, Dimension::ALL);
        assert!(catalogue.get("legal_cases_trial").unwrap().dimensions.is_empty());
        assert_eq!(catalogue.to_wire().indicators.len(), catalogue.len());
    }

    #[test]
    fn a_bad_catalogue_is_refused_with_the_entry_and_the_rule() {
        let one = |entry: &str| format!(r#"{{"version": "t", "indicators": [{entry}]}}"#);
        let cases = [
            (
                one(r#"{"indicator_id": "Bad Id", "title": "t", "unit": "u", "group": "g", "dimensions": []}"#),
                "indicator_id",
            ),
            (one(r#"{"indicator_id": "a", "title": "", "unit": "u", "group": "g", "dimensions": []}"#), "title"),
            (
                one(r#"{"indicator_id": "a", "title": "t", "unit": "u", "group": "g", "dimensions": ["name"]}"#),
                "`name`",
            ),
            (
                one(
                    r#"{"indicator_id": "a", "title": "t", "unit": "u", "group": "g", "dimensions": ["disability", "sex"]}"#,
                ),
                "order",
            ),
            (
                one(
                    r#"{"indicator_id": "a", "title": "t", "unit": "u", "group": "g", "dimensions": [], "free_key": 1}"#,
                ),
                "unknown field",
            ),
            (r#"{"version": "t", "indicators": []}"#.to_owned(), "1 to 500"),
        ];
        for (json, expected) in cases {
            let error = Catalogue::from_json(&json).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} should mention {expected}");
        }
        let twice = r#"{"indicator_id": "a", "title": "t", "unit": "u", "group": "g", "dimensions": []}"#;
        let error = Catalogue::from_json(&one(&format!("{twice}, {twice}"))).unwrap_err().to_string();
        assert!(error.contains("repeated"), "{error}");
    }
}
