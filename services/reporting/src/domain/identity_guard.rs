//! The identity guard: refuses free text that looks like it identifies a person.
//!
//! Partners report on victims of trafficking. Reports carry people only as counts, but narratives,
//! variance explanations and review reasons are free text, and free text is where a name, a phone number
//! or a passport number slips in. Every free-text field is checked with the rules below **before** anything
//! is decided; a match refuses the whole command with `INVALID_ARGUMENT` naming the field, the rule and
//! the character position, never the matched text, so the refused value is neither stored nor logged.
//!
//! The rules are deliberately simple and predictable (a partner must be able to see why a sentence was
//! refused and rephrase it); they favour refusing a doubtful sentence over storing an identity.
//!
//! | Rule | Refuses | Passes |
//! |---|---|---|
//! | `email-address` | `write to dara.k@gmail.com` | `the e-mail hotline` |
//! | `social-media-handle` | `@sokha_91`, `facebook.com/some.profile` | `@ 3 sites` |
//! | `phone-number` | `+855 12 345 678`, `(+66) 81-234-5678`, `081 234 5678`, `0812-3456-7890`, `mobile: 12 345 678` | `assisted 45 survivors in 2021`, `USD 12,500`, `2019 2020 2021`, `Rp 150000000` |
//! | `date-of-birth` | `DOB 12/03/2004`, `date of birth: ...`, `born on 4 May 2009`, `born in 2006`, a full date at least 5 years before the report's period (`on 12 March 2004`) | `training held on 12 March 2026`, `since the 2008 law` |
//! | `document-number` | `passport N1234567`, `case no. 2024/117`, `ID card 123456789`, a passport-shaped token `EC1234567`, a Thai ID `1-2345-67890-12-3`, a Myanmar NRC `12/MaYaKa(N)123456`, any run of 12 or more digits | `COVID-19`, `ISO 9001`, `12 cases`, `passports of 1200 migrants were returned` |
//! | `personal-name` | an honorific before a capitalised word (`Ms Sokha`, `Mrs. Nguyen`, `Khun Malee`, `Ibu Sari`, `Daw Aye`), or a name cue before one (`named Dara`, `name: Lina`, `her name is Mai`, `alias Boss`) | `Ms` alone, `the person named in the referral`, `ms response times` |
//!
//! Dates are read in numeric (`12/03/2004`, `12.03.2004`, `2004-03-12`) and written forms (`12 March 2004`,
//! `March 12, 2004`). Phone numbers start with `+` (8 to 15 digits) or with the trunk prefix `0` used by
//! every country of the region (9 to 15 digits), or follow a phone cue (`phone`, `tel`, `mobile`,
//! `WhatsApp`, `Viber`, `Line ID`, `hp`, 7 or more digits).
//!
//! Known limits: a name without a cue ("Sokha said ...") cannot be told from a place or an organisation by
//! rules and is not detected; program staff review every narrative before acceptance.

use std::sync::LazyLock;

use regex::Regex;

use super::Rejection;

/// A rule of the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    EmailAddress,
    SocialMediaHandle,
    PhoneNumber,
    DateOfBirth,
    DocumentNumber,
    PersonalName,
}

impl Rule {
    /// The rule's identifier, as named in errors.
    pub fn id(self) -> &'static str {
        match self {
            Rule::EmailAddress => "email-address",
            Rule::SocialMediaHandle => "social-media-handle",
            Rule::PhoneNumber => "phone-number",
            Rule::DateOfBirth => "date-of-birth",
            Rule::DocumentNumber => "document-number",
            Rule::PersonalName => "personal-name",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Rule::EmailAddress => "it contains an e-mail address",
            Rule::SocialMediaHandle => "it contains a social-media handle or profile link",
            Rule::PhoneNumber => "it contains what looks like a phone number",
            Rule::DateOfBirth => "it contains what looks like a date of birth",
            Rule::DocumentNumber => "it contains what looks like a passport, identity-document or case number",
            Rule::PersonalName => "it names a person (an honorific or a name cue before a capitalised word)",
        }
    }
}

/// Where a rule matched: the rule and the position (in characters) where the match starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub at: usize,
}

/// What the guard needs to know about the report a text belongs to.
#[derive(Clone, Copy, Debug)]
pub struct GuardContext {
    /// Year of the start of the period reported on: full dates 5 or more years before it look like dates
    /// of birth.
    pub reference_year: i32,
}

/// How many years before the reporting period a full date must be to look like a date of birth.
const DATE_OF_BIRTH_YEARS: i32 = 5;

fn re(pattern: &str) -> Regex {
    // The patterns are constants of this module, compiled by its tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("identity guard pattern does not compile: {e}"))
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}"));
static HANDLE: LazyLock<Regex> = LazyLock::new(|| re(r"(?:^|[^\w@.])(@[A-Za-z0-9_][A-Za-z0-9_.]{1,29})"));
static PROFILE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:facebook\.com|fb\.com|m\.me|instagram\.com|tiktok\.com|twitter\.com|x\.com|t\.me|wa\.me|line\.me)/[^\s/]+",
    )
});
static PHONE_INTERNATIONAL: LazyLock<Regex> =
    LazyLock::new(|| re(r"\(?\+\s?\(?\d{1,4}\)?(?:[\s.\-]?\(?\d{1,5}\)?){1,6}"));
static PHONE_LOCAL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:^|[^\w.,/+\-])(\(?0\d{1,4}\)?(?:[\s.\-]?\d{2,5}){1,4})(?:$|[^\w,/\-]|[.,](?:\s|$))"));
static PHONE_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:phone|tel|telephone|mobile|cell|whatsapp|viber|line\s+id|hp|contact\s+(?:no|number))\b\.?[\s:#]{0,4}([\d\s().\-+]{7,})",
    )
});
static DOB_CUE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|birthday)(?:\W|$)[^.\n\d]{0,25}\d"));
static BORN_ON: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?i)\bborn\s+(?:on|in)\s+(?:the\s+)?(?:\d|{MONTHS}\b)")));
const MONTHS: &str = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
static DATE_DMY: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\b"));
static DATE_YMD: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})\b"));
static DATE_D_MONTH_Y: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?i)\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{MONTHS}\.?,?\s+(\d{{4}})\b")));
static DATE_MONTH_D_Y: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?i)\b{MONTHS}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b")));
static DOCUMENT_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:passports?|national\s+id|id\s*card|identity\s+card|id\s*(?:no|number|#)|nic|ktp|nik|citizen\s*id|birth\s+certificate|visa\s*(?:no|number)|work\s+permit|document\s*(?:no|number|#)|case\s*(?:no|number|#|id|ref(?:erence)?)|file\s*(?:no|number|#))\b((?:[^.\n]|\.\s|\.\d){0,28})",
    )
});
/// A token that may be a document number: letters, digits, '/' and '-'.
static TOKEN: LazyLock<Regex> = LazyLock::new(|| re(r"[A-Za-z0-9][A-Za-z0-9/\-]*"));
static PASSPORT_SHAPE: LazyLock<Regex> = LazyLock::new(|| re(r"\b[A-Z]{1,2}\d{6,9}\b"));
static THAI_ID: LazyLock<Regex> = LazyLock::new(|| re(r"\b\d-\d{4}-\d{5}-\d{2}-\d\b"));
static MYANMAR_NRC: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b\d{1,2}/[A-Za-z]{3,9}\s?\((?:N|E|P|A|F|Th|G)\)\s?\d{5,6}\b"));
static LONG_DIGITS: LazyLock<Regex> = LazyLock::new(|| re(r"\b\d{12,}\b"));
static HONORIFIC: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Mme|Madam|Mister|Khun|Ibu|Bapak|Daw|Nang)\.?\s+\p{Lu}\p{Ll}"));
static NAME_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:\b(?:named|names?\s*:|(?:his|her|their|whose)\s+names?\s+(?:is|was|are|were)|name\s+(?:is|was)|alias|a\.?k\.?a\.?))\s+\p{Lu}\p{Ll}",
    )
});

fn digits(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// A bare 4-digit year such as 2021.
fn is_year_list(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .all(|g| g.len() == 4 && (g.starts_with("19") || g.starts_with("20")))
}

/// Scans `text` with every rule; the earliest match wins.
pub fn scan(text: &str, ctx: GuardContext) -> Option<Finding> {
    let mut found: Vec<(usize, Rule)> = Vec::new();
    let mut note = |at: Option<usize>, rule: Rule| {
        if let Some(at) = at {
            found.push((at, rule));
        }
    };

    note(EMAIL.find(text).map(|m| m.start()), Rule::EmailAddress);
    let emails: Vec<_> = EMAIL.find_iter(text).map(|m| m.range()).collect();
    note(
        HANDLE
            .captures_iter(text)
            .filter_map(|c| c.get(1))
            .find(|m| !emails.iter().any(|e| e.contains(&m.start())))
            .map(|m| m.start()),
        Rule::SocialMediaHandle,
    );
    note(PROFILE.find(text).map(|m| m.start()), Rule::SocialMediaHandle);

    note(
        PHONE_INTERNATIONAL.find_iter(text).find(|m| (8..=15).contains(&digits(m.as_str()))).map(|m| m.start()),
        Rule::PhoneNumber,
    );
    note(
        PHONE_LOCAL
            .captures_iter(text)
            .filter_map(|c| c.get(1))
            .find(|m| (9..=15).contains(&digits(m.as_str())) && !looks_like_a_date(m.as_str()))
            .map(|m| m.start()),
        Rule::PhoneNumber,
    );
    note(
        PHONE_CUE
            .captures_iter(text)
            .filter_map(|c| c.get(1))
            .find(|m| digits(m.as_str()) >= 7 && !is_year_list(m.as_str()))
            .map(|m| m.start()),
        Rule::PhoneNumber,
    );

    note(DOB_CUE.find(text).map(|m| m.start()), Rule::DateOfBirth);
    note(BORN_ON.find(text).map(|m| m.start()), Rule::DateOfBirth);
    note(old_full_date(text, ctx.reference_year - DATE_OF_BIRTH_YEARS), Rule::DateOfBirth);

    note(
        DOCUMENT_CUE
            .captures_iter(text)
            .filter_map(|c| c.get(1))
            .find(|window| TOKEN.find_iter(window.as_str()).any(|t| is_document_token(t.as_str())))
            .map(|window| window.start()),
        Rule::DocumentNumber,
    );
    for pattern in [&*PASSPORT_SHAPE, &*THAI_ID, &*MYANMAR_NRC, &*LONG_DIGITS] {
        note(pattern.find(text).map(|m| m.start()), Rule::DocumentNumber);
    }

    note(HONORIFIC.find(text).map(|m| m.start()), Rule::PersonalName);
    note(NAME_CUE.find(text).map(|m| m.start()), Rule::PersonalName);

    found.into_iter().min_by_key(|(at, _)| *at).map(|(at, rule)| Finding { rule, at: text[..at].chars().count() })
}

/// After a document cue: 5 or more digits, or 3 or more with letters or a '/' ("A12345", "2024/117").
fn is_document_token(token: &str) -> bool {
    let d = digits(token);
    d >= 5 || (d >= 3 && (token.bytes().any(|b| b.is_ascii_alphabetic()) || token.contains('/')))
}

/// Numeric dates are not phone numbers ("01.02.2003", "05-06-2024").
fn looks_like_a_date(s: &str) -> bool {
    DATE_DMY.is_match(s) || DATE_YMD.is_match(s)
}

fn month_number(name: &str) -> u32 {
    let lower = name.to_ascii_lowercase();
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        .iter()
        .position(|m| lower.starts_with(m))
        .map_or(0, |i| i as u32 + 1)
}

/// The start of the first full calendar date (day, month and year) in a year before `before_year`.
fn old_full_date(text: &str, before_year: i32) -> Option<usize> {
    let old = |year: &str| year.parse::<i32>().is_ok_and(|y| (1900..=before_year).contains(&y));
    let valid = |day: u32, month: u32| (1..=31).contains(&day) && (1..=12).contains(&month);
    let num = |s: &str| s.parse::<u32>().unwrap_or(0);
    let mut starts = Vec::new();
    for c in DATE_DMY.captures_iter(text) {
        // Day and month may be in either order (12/03/2004 or 03/12/2004).
        let (a, b) = (num(&c[1]), num(&c[2]));
        if old(&c[3]) && (valid(a, b) || valid(b, a)) {
            starts.push(c.get(0).map_or(0, |m| m.start()));
        }
    }
    for c in DATE_YMD.captures_iter(text) {
        if old(&c[1]) && valid(num(&c[3]), num(&c[2])) {
            starts.push(c.get(0).map_or(0, |m| m.start()));
        }
    }
    for c in DATE_D_MONTH_Y.captures_iter(text) {
        if old(&c[3]) && valid(num(&c[1]), month_number(&c[2])) {
            starts.push(c.get(0).map_or(0, |m| m.start()));
        }
    }
    for c in DATE_MONTH_D_Y.captures_iter(text) {
        if old(&c[3]) && valid(num(&c[2]), month_number(&c[1])) {
            starts.push(c.get(0).map_or(0, |m| m.start()));
        }
    }
    starts.into_iter().min()
}

/// Checks one free-text field: the rejection names the field, the rule and where it matched, never the
/// matched text.
pub fn check(field: &str, text: &str, ctx: GuardContext) -> Result<(), Rejection> {
    match scan(text, ctx) {
        None => Ok(()),
        Some(Finding { rule, at }) => Err(Rejection::invalid(
            field,
            format!(
                "must not identify a person: {} (rule `{}`, at character {at}); describe the people served only \
                 in counts and roles, and leave out names, contact details, dates of birth and document numbers",
                rule.description(),
                rule.id()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: GuardContext = GuardContext { reference_year: 2026 };

    fn rule_of(text: &str) -> Option<&'static str> {
        scan(text, CTX).map(|f| f.rule.id())
    }

    #[track_caller]
    fn refused(rule: &str, texts: &[&str]) {
        for text in texts {
            assert_eq!(rule_of(text), Some(rule), "{text:?} should be refused by `{rule}`");
        }
    }

    #[test]
    fn every_pattern_compiles() {
        for pattern in [
            &*EMAIL,
            &*HANDLE,
            &*PROFILE,
            &*PHONE_INTERNATIONAL,
            &*PHONE_LOCAL,
            &*PHONE_CUE,
            &*DOB_CUE,
            &*BORN_ON,
            &*DATE_DMY,
            &*DATE_YMD,
            &*DATE_D_MONTH_Y,
            &*DATE_MONTH_D_Y,
            &*DOCUMENT_CUE,
            &*TOKEN,
            &*PASSPORT_SHAPE,
            &*THAI_ID,
            &*MYANMAR_NRC,
            &*LONG_DIGITS,
            &*HONORIFIC,
            &*NAME_CUE,
        ] {
            assert!(!pattern.as_str().is_empty());
        }
    }

    #[test]
    fn realistic_narratives_pass() {
        let texts = [
            "In the second quarter we assisted 45 survivors in 2021 terms, 32 of them women and girls.",
            "The shelter in Battambang hosted 18 residents; 6 were referred to the provincial hospital.",
            "Between 2019 2020 2021 the caseload rose from 120 to 450 people per year.",
            "Expenditure on legal aid was USD 12,500 against a budget of USD 14,000 (89%).",
            "Training for 35 labour inspectors was held on 12 March 2026 in Phnom Penh.",
            "We supported the drafting of the 2008 anti-trafficking law's implementing decree.",
            "Rp 150000000 was spent on reintegration grants for 25 households.",
            "Staff response times improved to 48 ms on the case management server.",
            "COVID-19 restrictions delayed two repatriations; ISO 9001 audit passed.",
            "12 cases reached prosecution; 3 cases reached judgment.",
            "Passports of 1200 migrants were returned after the employer was fined.",
            "The person named in the referral was not known to us.",
            "A women's network called Migrant Forum Asia co-hosted the dialogue.",
            "Ms and Mr are not used in this report.",
            "Our e-mail hotline answered 230 enquiries; the phone line is staffed 24/7.",
            "The period 01/04/2026 to 30/06/2026 covered 3 missions of 2-3 days.",
            "Hotline calls rose by 15% (from 1,250 to 1,440).",
            "Between 0 and 5 people per week, 10 000 leaflets in total.",
            "Two babies were born in the shelter in 2024; both mothers are in school again.",
            "The programme was born out of the 2019 regional dialogue.",
            "From 01.01.2026 to 31.03.2026 we ran 4 outreach visits (Q1 2026).",
            "Spending reached VND 25.000.000 and THB 1,250,000.00 on 2026-03-31.",
            "Rp 1.500.000.000 was disbursed to 120 households; 0.5% went to bank fees.",
            "Children aged 0 to 17 made up 38% of the 212 people assisted.",
        ];
        for text in texts {
            assert_eq!(scan(text, CTX), None, "{text:?} should pass");
        }
    }

    #[test]
    fn email_addresses_and_handles_are_refused() {
        refused("email-address", &["She can be reached at dara.k@gmail.com after discharge."]);
        refused(
            "social-media-handle",
            &["Her recruiter contacted her as @sokha_91 on a chat app.", "See facebook.com/some.profile for her page."],
        );
    }

    #[test]
    fn phone_numbers_are_refused() {
        refused(
            "phone-number",
            &[
                "The family can be called on +855 12 345 678.",
                "Call (+66) 81-234-5678 for the survivor.",
                "Her number is 081 234 5678.",
                "Contact via 0812-3456-7890 (Indonesia).",
                "Reached on 012 345 678 in Phnom Penh.",
                "Her Vietnamese number 0912 345 678 was given to the broker.",
                "Philippine contact +63 917 123 4567 belongs to the survivor's aunt.",
                "Text 0917-123-4567 for updates.",
                "mobile: 12 345 678",
                "WhatsApp 9876543",
            ],
        );
    }

    #[test]
    fn dates_of_birth_are_refused() {
        refused(
            "date-of-birth",
            &[
                "Client DOB 12/03/2004, admitted in May.",
                "The girl was born on 4 May 2009 in Kampot.",
                "A boy born in 2011 was placed in foster care.",
                "Date of birth: 2004-03-12.",
                "She arrived, aged 17, with papers dated 12 March 2004.",
                "Admitted; March 12, 1999 was given as her birthday.",
            ],
        );
    }

    #[test]
    fn document_and_case_numbers_are_refused() {
        refused(
            "document-number",
            &[
                "Her passport N1234567 was retained by the employer.",
                "Supported case no. 2024/117 through the appeal.",
                "ID card 123456789 was replaced.",
                "Holder of EC1234567 was repatriated.",
                "Thai ID 1-2345-67890-12-3 was verified.",
                "His NRC 12/MaYaKa(N)123456 was issued again.",
                "NIK 3174012345678901 recorded at intake.",
            ],
        );
    }

    #[test]
    fn personal_names_are_refused() {
        refused(
            "personal-name",
            &[
                "Ms Sokha was referred to the hospital.",
                "Mrs. Nguyen returned to her village.",
                "Khun Malee now runs a small shop.",
                "Ibu Sari testified in court.",
                "Daw Aye received legal aid.",
                "A 16-year-old girl named Dara was rescued.",
                "Survivor name: Lina, 16.",
                "Her name is Mai and she works in Bangkok.",
                "The broker, alias Boss, was arrested.",
            ],
        );
    }

    #[test]
    fn the_error_names_the_field_and_the_rule_but_not_the_value() {
        let error = check("progress.narrative", "Reached on +855 12 345 678.", CTX).unwrap_err();
        let Rejection::Invalid { field, rule } = &error else { panic!("{error:?}") };
        assert_eq!(field, "progress.narrative");
        assert!(rule.contains("rule `phone-number`, at character 11"), "{rule}");
        assert!(!rule.contains("345"), "the refused value is not echoed: {rule}");
        assert!(check("progress.narrative", "We assisted 45 survivors in 2021.", CTX).is_ok());
    }

    #[test]
    fn positions_are_in_characters_and_the_earliest_rule_wins() {
        let finding = scan("Lúc đó, Ms Lan called 0912 345 678.", CTX).unwrap();
        assert_eq!(finding, Finding { rule: Rule::PersonalName, at: 8 });
    }
}
