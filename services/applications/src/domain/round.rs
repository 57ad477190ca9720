//! Funding rounds: opened with their rules, closed early.

use std::collections::BTreeSet;

use contracts::applications::v1 as pb;
use contracts::values::{WireError, WireValue};
use domain_kernel::{Country, Currency, Money, Timestamp};

use super::{Rejection, RoundId, check_count, check_text};

/// A weighted review criterion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Criterion {
    pub id: String,
    pub name: String,
    pub guidance: String,
    pub weight: u32,
    pub max_score: u32,
}

impl Criterion {
    pub fn to_wire(&self) -> pb::Criterion {
        pb::Criterion {
            criterion_id: self.id.clone(),
            name: self.name.clone(),
            guidance: self.guidance.clone(),
            weight: self.weight,
            max_score: self.max_score,
        }
    }

    pub fn from_wire(c: &pb::Criterion) -> Criterion {
        Criterion {
            id: c.criterion_id.clone(),
            name: c.name.clone(),
            guidance: c.guidance.clone(),
            weight: c.weight,
            max_score: c.max_score,
        }
    }
}

/// Opens a round.
#[derive(Clone, Debug)]
pub struct OpenRound {
    pub round_id: RoundId,
    pub title: String,
    pub description: String,
    pub budget_ceiling: Money,
    pub eligible_countries: Vec<Country>,
    pub themes: Vec<String>,
    pub opens_at: Timestamp,
    pub closes_at: Timestamp,
    pub criteria: Vec<Criterion>,
    pub required_reviews: u32,
}

#[derive(Clone, Debug)]
pub enum RoundCommand {
    Open(OpenRound),
    Close { reason: String },
}

#[derive(Clone, Debug, PartialEq)]
pub enum RoundEvent {
    Opened(pb::RoundOpened),
    Closed(pb::RoundClosed),
}

/// What an opened round holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundData {
    pub id: RoundId,
    pub title: String,
    pub description: String,
    pub budget_ceiling: Money,
    pub eligible_countries: BTreeSet<Country>,
    pub themes: Vec<String>,
    pub opens_at: Timestamp,
    pub closes_at: Timestamp,
    pub criteria: Vec<Criterion>,
    pub required_reviews: u32,
    pub closed: bool,
    pub close_reason: String,
}

/// A round's state: `None` until opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round(pub Option<RoundData>);

impl RoundData {
    pub fn currency(&self) -> Currency {
        self.budget_ceiling.currency
    }

    /// Whether submissions are accepted at `now`: open, and within `[opens_at, closes_at)`.
    pub fn accepts_submissions(&self, now: Timestamp) -> bool {
        !self.closed && self.opens_at <= now && now < self.closes_at
    }

    pub fn criterion(&self, id: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.id == id)
    }
}

fn valid_criterion_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Decides a round command.
pub fn handle(state: &Round, command: RoundCommand) -> Result<Vec<RoundEvent>, Rejection> {
    match command {
        RoundCommand::Open(open) => {
            if state.0.is_some() {
                return Err(Rejection::duplicate("round", open.round_id.to_string()));
            }
            open_round(open)
        }
        RoundCommand::Close { reason } => {
            let round = state.0.as_ref().ok_or_else(|| Rejection::not_found("round", "?"))?;
            close_round(round, reason)
        }
    }
}

fn open_round(open: OpenRound) -> Result<Vec<RoundEvent>, Rejection> {
    check_text("title", &open.title, 1, 200)?;
    check_text("description", &open.description, 0, 10_000)?;
    if !open.budget_ceiling.is_positive() {
        return Err(Rejection::invalid("budget_ceiling.minor_units", "must be positive"));
    }
    let countries: BTreeSet<Country> = open.eligible_countries.iter().copied().collect();
    check_count("eligible_countries", countries.len(), 1, 50)?;
    check_count("themes", open.themes.len(), 0, 20)?;
    for (i, theme) in open.themes.iter().enumerate() {
        check_text(&format!("themes[{i}]"), theme, 1, 100)?;
    }
    if open.closes_at <= open.opens_at {
        return Err(Rejection::invalid("closes_at", "must be after `opens_at`"));
    }
    check_criteria(&open.criteria)?;
    if !(1..=10).contains(&open.required_reviews) {
        return Err(Rejection::invalid("required_reviews", "must be 1 to 10"));
    }
    Ok(vec![RoundEvent::Opened(pb::RoundOpened {
        round_id: open.round_id.to_string(),
        title: open.title,
        description: open.description,
        budget_ceiling: Some(open.budget_ceiling.to_wire()),
        eligible_countries: countries.iter().map(|c| c.as_str().to_owned()).collect(),
        themes: open.themes,
        opens_at: Some(open.opens_at.to_wire()),
        closes_at: Some(open.closes_at.to_wire()),
        criteria: open.criteria.iter().map(Criterion::to_wire).collect(),
        required_reviews: open.required_reviews,
    })])
}

/// Criteria: 1 to 20, each with a unique id, weights of 1 to 100 that sum to 100, a maximum score of 1 to 100.
fn check_criteria(criteria: &[Criterion]) -> Result<(), Rejection> {
    check_count("criteria", criteria.len(), 1, 20)?;
    let mut ids = BTreeSet::new();
    let mut total_weight = 0;
    for (i, c) in criteria.iter().enumerate() {
        if !valid_criterion_id(&c.id) {
            return Err(Rejection::invalid(
                format!("criteria[{i}].criterion_id"),
                "must be 1 to 64 characters of a-z, 0-9, '_' and '-'",
            ));
        }
        if !ids.insert(c.id.as_str()) {
            return Err(Rejection::invalid(format!("criteria[{i}].criterion_id"), "must be unique in the round"));
        }
        check_text(&format!("criteria[{i}].name"), &c.name, 1, 200)?;
        check_text(&format!("criteria[{i}].guidance"), &c.guidance, 0, 2_000)?;
        if !(1..=100).contains(&c.weight) {
            return Err(Rejection::invalid(format!("criteria[{i}].weight"), "must be 1 to 100"));
        }
        if !(1..=100).contains(&c.max_score) {
            return Err(Rejection::invalid(format!("criteria[{i}].max_score"), "must be 1 to 100"));
        }
        total_weight += c.weight;
    }
    if total_weight != 100 {
        return Err(Rejection::invalid(
            "criteria.weight",
            format!("weights must sum to 100, they sum to {total_weight}"),
        ));
    }
    Ok(())
}

fn close_round(round: &RoundData, reason: String) -> Result<Vec<RoundEvent>, Rejection> {
    if round.closed {
        return Err(Rejection::precondition("round_id", "round is closed already"));
    }
    check_text("reason", &reason, 0, 2_000)?;
    Ok(vec![RoundEvent::Closed(pb::RoundClosed { round_id: round.id.to_string(), reason })])
}

/// Folds an event into the round, reading its values into domain values once; an event whose values do
/// not read is an error naming the value, never skipped.
pub fn apply(state: Round, event: &RoundEvent) -> Result<Round, WireError> {
    match event {
        RoundEvent::Opened(e) => Ok(Round(Some(opened(e)?))),
        RoundEvent::Closed(e) => {
            let mut state = state;
            if let Some(round) = state.0.as_mut() {
                round.closed = true;
                round.close_reason = e.reason.clone();
            }
            Ok(state)
        }
    }
}

fn opened(e: &pb::RoundOpened) -> Result<RoundData, WireError> {
    let eligible_countries = e
        .eligible_countries
        .iter()
        .enumerate()
        .map(|(i, c)| Country::parse(&format!("eligible_countries[{i}]"), c))
        .collect::<Result<_, _>>()?;
    Ok(RoundData {
        id: RoundId::parse("round_id", &e.round_id)?,
        title: e.title.clone(),
        description: e.description.clone(),
        budget_ceiling: Money::from_wire("budget_ceiling", e.budget_ceiling.as_ref())?,
        eligible_countries,
        themes: e.themes.clone(),
        opens_at: Timestamp::from_wire("opens_at", e.opens_at.as_ref())?,
        closes_at: Timestamp::from_wire("closes_at", e.closes_at.as_ref())?,
        criteria: e.criteria.iter().map(Criterion::from_wire).collect(),
        required_reviews: e.required_reviews,
        closed: false,
        close_reason: String::new(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use test_support::decider::{given, given_state};

    use super::*;

    pub fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::parse("c", "USD").unwrap())
    }

    pub fn open_command() -> OpenRound {
        OpenRound {
            round_id: RoundId(uuid::Uuid::from_u128(1)),
            title: "Round 1".into(),
            description: "Shelter and legal aid".into(),
            budget_ceiling: usd(1_000_000),
            eligible_countries: vec![Country::parse("c", "KH").unwrap(), Country::parse("c", "TH").unwrap()],
            themes: vec!["shelter".into()],
            opens_at: Timestamp::from_micros(1_000),
            closes_at: Timestamp::from_micros(1_000_000_000),
            criteria: vec![
                Criterion {
                    id: "relevance".into(),
                    name: "Relevance".into(),
                    guidance: String::new(),
                    weight: 60,
                    max_score: 10,
                },
                Criterion {
                    id: "capacity".into(),
                    name: "Capacity".into(),
                    guidance: String::new(),
                    weight: 40,
                    max_score: 5,
                },
            ],
            required_reviews: 1,
        }
    }

    pub fn opened() -> Round {
        given([]).when(|round| handle(round, RoundCommand::Open(open_command()))).then_accept().0
    }

    fn rejected(state: &Round, command: RoundCommand) -> Rejection {
        match handle(state, command) {
            Ok(events) => panic!("expected a rejection, got {events:?}"),
            Err(r) => r,
        }
    }

    fn field_of(r: &Rejection) -> &str {
        match r {
            Rejection::Invalid { field, .. } | Rejection::Precondition { field, .. } => field,
            _ => "",
        }
    }

    #[test]
    fn opening_records_the_round() {
        let round = opened();
        let data = round.0.unwrap();
        assert_eq!(data.budget_ceiling, usd(1_000_000));
        assert_eq!(data.eligible_countries.len(), 2);
        assert!(data.accepts_submissions(Timestamp::from_micros(1_000)));
        assert!(!data.accepts_submissions(Timestamp::from_micros(999)));
        assert!(!data.accepts_submissions(Timestamp::from_micros(1_000_000_000)));
    }

    #[test]
    fn every_opening_rule_rejects_and_records_nothing() {
        type Change = fn(&mut OpenRound);
        let cases: [(Change, &str); 12] = [
            (|c| c.title.clear(), "title"),
            (|c| c.budget_ceiling = usd(0), "budget_ceiling.minor_units"),
            (|c| c.eligible_countries.clear(), "eligible_countries"),
            (|c| c.themes = vec![String::new()], "themes[0]"),
            (|c| c.closes_at = c.opens_at, "closes_at"),
            (|c| c.criteria.clear(), "criteria"),
            (|c| c.criteria[1].id = "relevance".into(), "criteria[1].criterion_id"),
            (|c| c.criteria[0].id = "Bad Id".into(), "criteria[0].criterion_id"),
            (|c| c.criteria[0].weight = 50, "criteria.weight"),
            (|c| c.criteria[0].max_score = 0, "criteria[0].max_score"),
            (|c| c.required_reviews = 0, "required_reviews"),
            (|c| c.criteria[0].weight = 0, "criteria[0].weight"),
        ];
        for (change, field) in cases {
            let mut command = open_command();
            change(&mut command);
            let r = rejected(&Round::default(), RoundCommand::Open(command));
            assert!(matches!(r, Rejection::Invalid { .. }), "{r:?}");
            assert_eq!(field_of(&r), field, "{r:?}");
        }
    }

    #[test]
    fn a_round_opens_once_and_closes_once() {
        let round = opened();
        assert!(matches!(rejected(&round, RoundCommand::Open(open_command())), Rejection::Duplicate { .. }));
        let close = RoundCommand::Close { reason: "budget used".into() };
        let closed = given_state(round).when(|round| handle(round, close)).then_accept().0;
        assert!(!closed.0.as_ref().unwrap().accepts_submissions(Timestamp::from_micros(5_000)));
        let r = rejected(&closed, RoundCommand::Close { reason: String::new() });
        assert!(matches!(r, Rejection::Precondition { .. }));
        assert!(matches!(
            rejected(&Round::default(), RoundCommand::Close { reason: String::new() }),
            Rejection::NotFound { .. }
        ));
    }
}
