//! The rule table: `rules.toml` (embedded in the crate) read, checked and compiled once.
//!
//! Loading refuses a table with an unknown rule, language, fragment or check, a duplicated pattern id, a
//! regular expression that does not compile, a check without the groups it reads, or a pattern without an
//! example it refuses; the table is part of the crate, so the crate's tests catch any of these before a
//! service starts. That each pattern refuses its examples and passes its near misses is proved by the tests
//! (`tests/table.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use regex::{Captures, Regex, RegexBuilder};
use serde::Deserialize;

use crate::checks::Check;
use crate::{GuardContext, Rule};

/// The languages a pattern is written for (`any` for patterns that do not depend on a language).
pub const LANGUAGES: [&str; 9] = ["any", "en", "km", "th", "lo", "my", "vi", "id-ms", "fil"];

/// The lazy DFA cache of each pattern. Patterns over several scripts' letters have many states; with the
/// default cache (2 MiB) a long text of mixed scripts keeps clearing it and the search falls back to the
/// slower (still linear) NFA simulation.
const DFA_CACHE_BYTES: usize = 8 << 20;

/// How many characters before a match `unless_before` reads, and after it `unless_after` reads.
const CONTEXT_CHARS: usize = 96;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    fragments: BTreeMap<String, String>,
    month: Vec<MonthFile>,
    pattern: Vec<PatternFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonthFile {
    number: u32,
    names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternFile {
    id: String,
    rule: String,
    languages: Vec<String>,
    what: String,
    regex: String,
    #[serde(default)]
    digits: Option<[usize; 2]>,
    #[serde(default)]
    check: Option<String>,
    #[serde(default)]
    unless: Option<String>,
    #[serde(default)]
    unless_before: Option<String>,
    #[serde(default)]
    unless_after: Option<String>,
    refuses: Vec<String>,
    #[serde(default)]
    passes: Vec<String>,
}

/// One entry of the rule table.
#[derive(Debug)]
pub struct Pattern {
    /// Unique id, named in refusals.
    pub id: String,
    /// The rule it belongs to.
    pub rule: Rule,
    /// The languages it is written for.
    pub languages: Vec<String>,
    /// What it finds, in a few words.
    pub what: String,
    /// Texts it refuses.
    pub refuses: Vec<String>,
    /// Near misses the whole guard passes.
    pub passes: Vec<String>,
    regex: Regex,
    digits: Option<(usize, usize)>,
    check: Option<Check>,
    unless: Option<Regex>,
    unless_before: Option<Regex>,
    unless_after: Option<Regex>,
}

/// The compiled table.
#[derive(Debug)]
pub struct Table {
    patterns: Vec<Pattern>,
    /// Month names (lower case) and numbers.
    months: HashMap<String, u32>,
}

fn fail(what: &str, why: impl std::fmt::Display) -> ! {
    panic!("identity guard rule table: {what}: {why}")
}

/// Replaces `{fragment}` by its text (fragments may use other fragments).
fn expand(text: &str, fragments: &BTreeMap<String, String>, context: &str) -> String {
    static PLACEHOLDER: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"\{([a-z][a-z_]*)\}").unwrap_or_else(|e| fail("placeholder", e)));
    let mut text = text.to_owned();
    for _ in 0..4 {
        if !PLACEHOLDER.is_match(&text) {
            return text;
        }
        text = PLACEHOLDER
            .replace_all(&text, |c: &Captures<'_>| {
                fragments
                    .get(&c[1])
                    .cloned()
                    .unwrap_or_else(|| fail(context, format!("unknown fragment `{{{}}}`", &c[1])))
            })
            .into_owned();
    }
    fail(context, "fragments nest deeper than four levels")
}

/// Compiles a pattern of the table. `\b` is an ASCII word boundary there: the lazy DFA cannot decide
/// Unicode word boundaries on text outside ASCII and would leave every Khmer, Thai, Lao, Burmese or
/// Vietnamese text to the NFA simulation, about fifty times slower (still linear).
fn compile(pattern: &str, context: &str) -> Regex {
    let pattern = pattern.replace(r"\b", r"(?-u:\b)");
    RegexBuilder::new(&pattern).dfa_size_limit(DFA_CACHE_BYTES).build().unwrap_or_else(|e| fail(context, e))
}

impl Table {
    /// Reads and checks a table (see the module documentation); panics naming the pattern at fault.
    pub(crate) fn load(source: &str) -> Table {
        let file: TableFile = toml::from_str(source).unwrap_or_else(|e| fail("rules.toml", e));
        let mut fragments = file.fragments;
        let mut months = HashMap::new();
        let mut month_names = Vec::new();
        for month in &file.month {
            if !(1..=12).contains(&month.number) {
                fail("month", format!("{} is not a month number", month.number));
            }
            for name in &month.names {
                months.insert(name.to_lowercase(), month.number);
                month_names.push(name.clone());
            }
        }
        // Longest first, so that `มี.ค.` is not read as a shorter name and `june` not as `jun`.
        month_names.sort_by_key(|name| std::cmp::Reverse(name.chars().count()));
        let month_names: Vec<String> = month_names.iter().map(|name| regex::escape(name)).collect();
        fragments.insert("month".into(), format!("(?:{})", month_names.join("|")));

        let mut seen = HashSet::new();
        let mut patterns = Vec::with_capacity(file.pattern.len());
        for p in file.pattern {
            let context = format!("pattern `{}`", p.id);
            if p.id.is_empty() || !p.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                fail(&context, "ids are lower-case words joined by `-`");
            }
            if !seen.insert(p.id.clone()) {
                fail(&context, "the id is used twice");
            }
            let rule = Rule::from_id(&p.rule).unwrap_or_else(|| fail(&context, format!("unknown rule `{}`", p.rule)));
            if p.languages.is_empty() {
                fail(&context, "names no language");
            }
            if let Some(unknown) = p.languages.iter().find(|l| !LANGUAGES.contains(&l.as_str())) {
                fail(&context, format!("unknown language `{unknown}`"));
            }
            if p.refuses.is_empty() {
                fail(&context, "has no example it refuses");
            }
            let regex = compile(&expand(&p.regex, &fragments, &context), &context);
            let check = p.check.as_deref().map(|name| {
                Check::from_name(name).unwrap_or_else(|| fail(&context, format!("unknown check `{name}`")))
            });
            let mut needs: Vec<&str> = check.map_or(vec![], |c| c.groups().to_vec());
            if p.digits.is_some() {
                needs.push("value");
            }
            if p.unless.is_some() {
                needs.push("value");
            }
            if let Some(missing) = needs.iter().find(|g| !regex.capture_names().flatten().any(|n| n == **g)) {
                fail(&context, format!("the regex has no group `{missing}`"));
            }
            if let Some([low, high]) = p.digits
                && low > high
            {
                fail(&context, "digits = [min, max] with min above max");
            }
            let optional = |r: &Option<String>| r.as_ref().map(|r| compile(&expand(r, &fragments, &context), &context));
            patterns.push(Pattern {
                id: p.id,
                rule,
                languages: p.languages,
                what: p.what,
                refuses: p.refuses,
                passes: p.passes,
                unless: optional(&p.unless),
                unless_before: optional(&p.unless_before),
                unless_after: optional(&p.unless_after),
                digits: p.digits.map(|[low, high]| (low, high)),
                check,
                regex,
            });
        }
        Table { patterns, months }
    }

    /// Every pattern, in the table's order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// The pattern with this id.
    pub fn pattern(&self, id: &str) -> Option<&Pattern> {
        self.patterns.iter().find(|p| p.id == id)
    }

    fn month(&self, name: &str) -> Option<u32> {
        name.parse().ok().or_else(|| self.months.get(&name.to_lowercase()).copied())
    }

    /// The earliest finding in the (normalised) text: byte offset and pattern. On the same offset the
    /// pattern listed first wins.
    pub(crate) fn first(&self, text: &str, ctx: GuardContext) -> Option<(usize, &Pattern)> {
        self.patterns
            .iter()
            .enumerate()
            .filter_map(|(i, pattern)| pattern.first_in(self, text, ctx).map(|at| (at, i)))
            .min()
            .map(|(at, i)| (at, &self.patterns[i]))
    }
}

/// Up to `CONTEXT_CHARS` characters before byte `at`.
fn before(text: &str, at: usize) -> &str {
    let start = text[..at].char_indices().rev().nth(CONTEXT_CHARS - 1).map_or(0, |(i, _)| i);
    &text[start..at]
}

/// Up to `CONTEXT_CHARS` characters from byte `at`.
fn after(text: &str, at: usize) -> &str {
    let end = text[at..].char_indices().nth(CONTEXT_CHARS).map_or(text.len(), |(i, _)| at + i);
    &text[at..end]
}

impl Pattern {
    /// The byte offset of this pattern's first finding in normalised `text`. A match its conditions
    /// discard is passed over and the search resumes one character after where it started, so a
    /// discarded cue does not hide a real one overlapping it.
    fn first_in(&self, table: &Table, text: &str, ctx: GuardContext) -> Option<usize> {
        let mut from = 0;
        while let Some(caps) = self.regex.captures_at(text, from) {
            let whole = caps.get(0)?;
            let at = caps.name("at").unwrap_or(whole).start();
            if self.holds(table, text, &caps, at, ctx) {
                return Some(at);
            }
            from = whole.start() + text[whole.start()..].chars().next().map_or(1, char::len_utf8);
            if from > text.len() {
                return None;
            }
        }
        None
    }

    fn holds(&self, table: &Table, text: &str, caps: &Captures<'_>, at: usize, ctx: GuardContext) -> bool {
        let Some(whole) = caps.get(0) else { return false };
        let value = caps.name("value").map_or("", |m| m.as_str());
        if let Some((low, high)) = self.digits {
            let digits = value.bytes().filter(u8::is_ascii_digit).count();
            if !(low..=high).contains(&digits) {
                return false;
            }
        }
        if self.unless.as_ref().is_some_and(|r| r.is_match(value)) {
            return false;
        }
        if self.unless_before.as_ref().is_some_and(|r| r.is_match(before(text, at))) {
            return false;
        }
        if self.unless_after.as_ref().is_some_and(|r| r.is_match(after(text, whole.end()))) {
            return false;
        }
        self.check.is_none_or(|check| check.holds(caps, ctx, &|name| table.month(name)))
    }

    /// Where this pattern alone finds something in `text` (in characters), or `None`.
    pub fn find(&self, text: &str, ctx: GuardContext) -> Option<usize> {
        let normalised = crate::normalise::normalise(text);
        self.first_in(crate::table(), &normalised.text, ctx).map(|at| normalised.original_position(at))
    }
}
