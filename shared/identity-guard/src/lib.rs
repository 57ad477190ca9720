//! The identity guard: refuses free text that looks like it identifies a person, as personal data is
//! really written in the program's countries and languages (English, Khmer, Thai, Lao, Burmese,
//! Vietnamese, Indonesian and Malay, Filipino).
//!
//! Partners report on victims of trafficking. Reports carry people only as counts, but narratives,
//! explanations, reasons, comments and target groups are free text, and free text is where a name, a
//! phone number or an identity-card number slips in. Every service checks every free-text field with
//! [`check`] before anything is decided; a [`Refusal`] names the field, the [`Rule`], the pattern of the
//! rule table that matched and the character position, never the matched text, so the refused value is
//! neither stored nor logged.
//!
//! The text is first normalised ([`normalise`]: NFC, the region's digits as ASCII, full-width forms,
//! invisible characters); then every pattern of the rule table (`rules.toml`, documented data with
//! examples and near misses for each pattern, compiled once) is tried, and the earliest finding wins.
//! The regular expressions are those of the `regex` crate, so a check takes time linear in the text.
//!
//! What rules cannot catch: a name written with no cue ("Sokha said ..."), which cannot be told from a
//! place or an organisation; that is why free text that could describe the people served is also sealed
//! under an erasable key.

mod checks;
mod normalise;
mod table;

use std::fmt;
use std::sync::LazyLock;

pub use checks::DATE_OF_BIRTH_YEARS;
pub use table::{LANGUAGES, Pattern, Table};

/// The rule table, as shipped with the crate.
pub const RULES_TOML: &str = include_str!("../rules.toml");

static TABLE: LazyLock<Table> = LazyLock::new(|| Table::load(RULES_TOML));

/// The compiled rule table (compiled on first use).
pub fn table() -> &'static Table {
    &TABLE
}

/// What kind of personal data a pattern finds. The ids are stable: refusals name them and clients may
/// rely on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    EmailAddress,
    SocialMediaHandle,
    PhoneNumber,
    DateOfBirth,
    DocumentNumber,
    PersonalName,
    StreetAddress,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 7] = [
        Rule::EmailAddress,
        Rule::SocialMediaHandle,
        Rule::PhoneNumber,
        Rule::DateOfBirth,
        Rule::DocumentNumber,
        Rule::PersonalName,
        Rule::StreetAddress,
    ];

    /// The rule's identifier, as named in refusals and in `rules.toml`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::EmailAddress => "email-address",
            Rule::SocialMediaHandle => "social-media-handle",
            Rule::PhoneNumber => "phone-number",
            Rule::DateOfBirth => "date-of-birth",
            Rule::DocumentNumber => "document-number",
            Rule::PersonalName => "personal-name",
            Rule::StreetAddress => "street-address",
        }
    }

    /// The rule with this identifier.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// Why a text is refused by this rule, in words for the person who wrote it.
    pub fn description(self) -> &'static str {
        match self {
            Rule::EmailAddress => "it contains an e-mail address",
            Rule::SocialMediaHandle => "it contains a social-media or messaging handle or profile link",
            Rule::PhoneNumber => "it contains what looks like a phone number",
            Rule::DateOfBirth => "it contains what looks like a date of birth",
            Rule::DocumentNumber => {
                "it contains what looks like a passport, identity-document, police, court or case number"
            }
            Rule::PersonalName => "it names a person (a name cue or an honorific before a name)",
            Rule::StreetAddress => "it contains what looks like a street or house address",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What the guard needs to know about the text's context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardContext {
    /// Year of the start of the period reported on (or the current year): full dates
    /// [`DATE_OF_BIRTH_YEARS`] or more years before it look like dates of birth.
    pub reference_year: i32,
}

/// Where the guard found something: the rule, the pattern of the table and the position (in characters
/// of the text as given) where the finding starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub pattern: &'static str,
    pub at: usize,
}

/// A free-text field refused by the guard. It never holds the matched text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub rule: Rule,
    pub pattern: &'static str,
    pub at: usize,
}

/// How every [`Refusal::reason`] starts.
const REASON_START: &str = "must not identify a person: ";

impl Refusal {
    /// The rule of a refusal, read back from its [`Refusal::reason`] (a service's rejection carries only
    /// that text); `None` for any other text. For counting refusals by rule, never for the text itself.
    pub fn rule_of_reason(reason: &str) -> Option<Rule> {
        let rest = reason.strip_prefix(REASON_START)?;
        let (_, after) = rest.split_once("(rule `")?;
        let (id, _) = after.split_once('`')?;
        Rule::from_id(id)
    }

    /// Why the field is refused, without the field's name (services prefix it in their own errors).
    /// [`Refusal::rule_of_reason`] reads the rule back.
    pub fn reason(&self) -> String {
        format!(
            "{REASON_START}{} (rule `{}`, at character {}; pattern `{}`); describe the people \
             served only in counts and roles, and leave out names, contact details, dates of birth, document \
             numbers and addresses",
            self.rule.description(),
            self.rule.id(),
            self.at,
            self.pattern
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.reason())
    }
}

impl std::error::Error for Refusal {}

/// Scans `text` with every pattern of the table; the earliest finding wins.
pub fn scan(text: &str, ctx: GuardContext) -> Option<Finding> {
    let normalised = normalise::normalise(text);
    table().first(&normalised.text, ctx).map(|(offset, pattern)| Finding {
        rule: pattern.rule,
        pattern: pattern.id.as_str(),
        at: normalised.original_position(offset),
    })
}

/// Checks one free-text field: the refusal names the field, the rule, the pattern and where it matched,
/// never the matched text.
pub fn check(field: &str, text: &str, ctx: GuardContext) -> Result<(), Refusal> {
    match scan(text, ctx) {
        None => Ok(()),
        Some(Finding { rule, pattern, at }) => Err(Refusal { field: field.to_owned(), rule, pattern, at }),
    }
}
