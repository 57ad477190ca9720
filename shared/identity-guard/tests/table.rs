//! The rule table's own examples: every pattern refuses each text it lists under `refuses` (that pattern
//! alone, so an example proves its own pattern), and the whole guard passes every near miss listed
//! under `passes`.

use identity_guard::{GuardContext, LANGUAGES, Rule, scan, table};

const CTX: GuardContext = GuardContext { reference_year: 2025 };

#[test]
fn the_table_loads_and_names_known_rules_and_languages() {
    let patterns = table().patterns();
    assert!(patterns.len() >= 40, "{} patterns", patterns.len());
    for rule in Rule::ALL {
        assert!(patterns.iter().any(|p| p.rule == rule), "no pattern for `{rule}`");
    }
    for language in LANGUAGES {
        assert!(patterns.iter().any(|p| p.languages.iter().any(|l| l == language)), "no pattern for `{language}`");
    }
}

#[test]
fn every_pattern_refuses_its_examples() {
    let mut failures = Vec::new();
    for pattern in table().patterns() {
        for example in &pattern.refuses {
            if pattern.find(example, CTX).is_none() {
                failures.push(format!("{}: {example:?}", pattern.id));
            }
        }
    }
    assert!(failures.is_empty(), "not refused by their own pattern:\n{}", failures.join("\n"));
}

#[test]
fn the_guard_passes_every_near_miss_of_the_table() {
    let mut failures = Vec::new();
    for pattern in table().patterns() {
        for example in &pattern.passes {
            if let Some(finding) = scan(example, CTX) {
                failures.push(format!("{} lists {example:?}, refused by {}", pattern.id, finding.pattern));
            }
        }
    }
    assert!(failures.is_empty(), "near misses refused:\n{}", failures.join("\n"));
}
