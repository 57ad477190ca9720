//! The guard's behaviour as the reporting service relied on it before the guard became a crate (the
//! same texts and assertions), and the refusal's shape.

use identity_guard::{Finding, GuardContext, Refusal, Rule, check, scan};

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
fn positions_are_in_characters_and_the_earliest_rule_wins() {
    let finding = scan("Lúc đó, Ms Lan called 0912 345 678.", CTX).unwrap();
    assert_eq!((finding.rule, finding.at), (Rule::PersonalName, 8));
}

#[test]
fn positions_count_the_callers_characters_in_every_script() {
    // Khmer digits, a zero-width space and a decomposed Vietnamese letter before the number.
    let text = "Chi\u{0323} \u{200B}ទូរស័ព្ទ ០១២ ៣៤៥ ៦៧៨";
    let finding = scan(text, CTX).unwrap();
    assert_eq!(finding.rule, Rule::PhoneNumber);
    assert_eq!(finding.at, 6, "where ទូរស័ព្ទ starts in the caller's text");
}

#[test]
fn the_refusal_names_field_rule_pattern_and_position_but_not_the_value() {
    let refusal = check("progress.narrative", "Reached on +855 12 345 678.", CTX).unwrap_err();
    assert_eq!(refusal.field, "progress.narrative");
    assert_eq!(refusal.rule, Rule::PhoneNumber);
    assert_eq!(refusal.pattern, "phone-international");
    assert_eq!(refusal.at, 11);
    let reason = refusal.reason();
    assert!(reason.contains("rule `phone-number`, at character 11; pattern `phone-international`"), "{reason}");
    assert!(!reason.contains("345"), "the refused value is not echoed: {reason}");
    assert!(refusal.to_string().starts_with("`progress.narrative` must not identify a person"), "{refusal}");
    assert!(check("progress.narrative", "We assisted 45 survivors in 2021.", CTX).is_ok());
    assert_eq!(scan("ឈ្មោះ សុខា", CTX), Some(Finding { rule: Rule::PersonalName, pattern: "name-honorific-km", at: 0 }));
}

#[test]
fn the_readme_example_holds() {
    let ctx = GuardContext { reference_year: 2025 };
    assert!(check("progress.narrative", "The shelter assisted 45 survivors.", ctx).is_ok());
    let refusal = check("progress.narrative", "เบอร์ ๐๘๑-๒๓๔-๕๖๗๘", ctx).unwrap_err();
    assert_eq!((refusal.rule, refusal.pattern, refusal.at), (Rule::PhoneNumber, "phone-cue", 0));
}

#[test]
fn the_rule_of_a_refusal_is_read_back_from_its_reason_and_from_nothing_else() {
    for (text, rule) in
        [("Write to a.b@example.org", Rule::EmailAddress), ("Reached on +855 12 345 678.", Rule::PhoneNumber)]
    {
        let reason = check("reasons[0]", text, CTX).unwrap_err().reason();
        assert_eq!(Refusal::rule_of_reason(&reason), Some(rule), "{reason}");
    }
    for other in
        ["must be at most 200 characters", "must not identify a person: (rule `nonsense`)", "(rule `phone-number`)"]
    {
        assert_eq!(Refusal::rule_of_reason(other), None, "{other}");
    }
}
