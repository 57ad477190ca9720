//! The labelled corpus: realistic sentences with fictional people in the program's eight languages.
//! `corpus/positives.tsv` must be refused (at least 95 % overall), `corpus/near_misses.tsv` must all
//! pass. The test prints recall per category and per language and every miss, so the figures in the
//! README can be measured again with `cargo test -p identity-guard --test corpus -- --nocapture`.

use std::collections::BTreeMap;

use identity_guard::{GuardContext, Rule, scan};

/// Dates five or more years before this year read as dates of birth.
const CTX: GuardContext = GuardContext { reference_year: 2025 };
const POSITIVES: &str = include_str!("corpus/positives.tsv");
const NEAR_MISSES: &str = include_str!("corpus/near_misses.tsv");
const CATEGORIES: [&str; 9] =
    ["name", "date-of-birth", "phone", "handle", "id-number", "passport", "case-number", "email", "address"];
const LANGUAGES: [&str; 8] = ["en", "km", "th", "lo", "my", "vi", "id-ms", "fil"];

/// The rule a category of the corpus belongs to.
fn rule_of_category(category: &str) -> Rule {
    match category {
        "name" => Rule::PersonalName,
        "date-of-birth" => Rule::DateOfBirth,
        "phone" => Rule::PhoneNumber,
        "handle" => Rule::SocialMediaHandle,
        "email" => Rule::EmailAddress,
        "address" => Rule::StreetAddress,
        _ => Rule::DocumentNumber,
    }
}

/// The rows of a TSV file, without comments and blank lines.
fn rows(tsv: &str, columns: usize) -> Vec<Vec<&str>> {
    tsv.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let row: Vec<&str> = line.split('\t').collect();
            assert_eq!(row.len(), columns, "a row of {columns} columns: {line:?}");
            row
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    refused: usize,
    total: usize,
}

impl Tally {
    fn add(&mut self, refused: bool) {
        self.total += 1;
        self.refused += usize::from(refused);
    }

    fn percent(&self) -> f64 {
        100.0 * self.refused as f64 / self.total.max(1) as f64
    }
}

#[test]
fn the_corpus_is_refused_and_no_near_miss_is() {
    let positives = rows(POSITIVES, 3);
    let near_misses = rows(NEAR_MISSES, 2);

    let mut overall = Tally::default();
    let mut by_category: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_language: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut by_another_rule = Vec::new();
    for row in &positives {
        let (category, language, text) = (row[0], row[1], row[2]);
        assert!(CATEGORIES.contains(&category), "unknown category {category:?}");
        assert!(LANGUAGES.contains(&language), "unknown language {language:?}");
        let finding = scan(text, CTX);
        let refused = finding.is_some();
        if let Some(finding) = finding.filter(|f| f.rule != rule_of_category(category)) {
            by_another_rule.push(format!("  {category:<13} {language:<5} {}: {text}", finding.pattern));
        }
        overall.add(refused);
        by_category.entry(category).or_default().add(refused);
        by_language.entry(language).or_default().add(refused);
        if !refused {
            misses.push(format!("  {category:<13} {language:<5} {text}"));
        }
    }

    let mut false_positives = Vec::new();
    let mut near_by_language: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &near_misses {
        let (language, text) = (row[0], row[1]);
        assert!(LANGUAGES.contains(&language), "unknown language {language:?}");
        *near_by_language.entry(language).or_default() += 1;
        if let Some(finding) = scan(text, CTX) {
            false_positives.push(format!("  {language:<5} {} at {}: {text}", finding.pattern, finding.at));
        }
    }

    println!("refused {}/{} ({:.1} %)", overall.refused, overall.total, overall.percent());
    println!("by category:");
    for (category, tally) in &by_category {
        println!("  {category:<13} {:>3}/{:<3} {:>5.1} %", tally.refused, tally.total, tally.percent());
    }
    println!("by language:");
    for (language, tally) in &by_language {
        println!("  {language:<13} {:>3}/{:<3} {:>5.1} %", tally.refused, tally.total, tally.percent());
    }
    println!("near misses refused: {}/{}", false_positives.len(), near_misses.len());
    println!("misses:\n{}", misses.join("\n"));
    println!(
        "refused by another rule than their category's (the earliest finding wins):\n{}",
        by_another_rule.join("\n")
    );
    println!("false positives:\n{}", false_positives.join("\n"));

    assert!(positives.len() >= 400, "at least 400 positive cases, {} given", positives.len());
    assert!(near_misses.len() >= 150, "at least 150 near misses, {} given", near_misses.len());
    for category in CATEGORIES {
        assert!(by_category.get(category).is_some_and(|t| t.total >= 10), "few cases of {category}");
    }
    for language in LANGUAGES {
        assert!(by_language.get(language).is_some_and(|t| t.total >= 40), "few cases in {language}");
        assert!(near_by_language.get(language).is_some_and(|&n| n >= 15), "few near misses in {language}");
    }
    assert!(false_positives.is_empty(), "near misses refused:\n{}", false_positives.join("\n"));
    assert!(overall.percent() >= 95.0, "refused only {:.1} % of the corpus", overall.percent());
}
