//! The demonstration program's data: the people who act in it, the partner organisations with their
//! applications and reports, which grant is followed and which falls overdue, and the ids and amounts
//! every step is written with.

use anyhow::Context;
use contracts::applications::v1::{self as apps, OrganisationType as Org, ServiceType as Svc};
use contracts::common::v1::{Date, Money};

/// Namespace of the demo's request and organisation ids (UUID v5 of the step's name).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d1f_7a52_93c4_4e0b_8a7d_2f5e_c1b3_9a40);
const CURRENCY: &str = "AUD";
pub(crate) const OFFICER: &str = "program-officer-1";
pub(crate) const REVIEWERS: [&str; 2] = ["reviewer-1", "reviewer-2"];
pub(crate) const FINANCE: &str = "finance-officer-1";

/// What the program officer decides on a partner's application.
pub(crate) enum Decision {
    /// Approved amount in AUD cents.
    Approve(i64),
    Reject(&'static str),
}

/// A partner organisation, its application and the narrative of its first progress report.
pub(crate) struct Partner {
    pub(super) key: &'static str,
    pub(super) legal_name: &'static str,
    pub(super) country: &'static str,
    pub(super) kind: Org,
    pub(crate) registration_number: &'static str,
    pub(super) title: &'static str,
    pub(super) summary: &'static str,
    pub(super) countries: &'static [&'static str],
    pub(super) services: &'static [Svc],
    pub(super) target_groups: &'static [&'static str],
    /// Requested amount in AUD cents.
    pub(super) requested: i64,
    pub(crate) decision: Decision,
    pub(super) narrative: &'static str,
}

pub(crate) const PARTNERS: [Partner; 9] = [
    Partner {
        key: "kh-survivor-support",
        legal_name: "Mekong Survivor Support Centre",
        country: "KH",
        kind: Org::NationalNgo,
        registration_number: "KH-MOI-2011-0457",
        title: "Safe shelter and legal aid for survivors in Phnom Penh and Battambang",
        summary: "Short-term shelter, medical referral and free legal aid for survivors of trafficking returning \
                  through the Thai border, with case support through prosecution.",
        countries: &["KH"],
        services: &[Svc::Shelter, Svc::Medical, Svc::LegalAid],
        target_groups: &["women and girls returning from abroad", "children in street situations"],
        requested: 72_000_000,
        decision: Decision::Approve(70_000_000),
        narrative: "Provided shelter and legal aid to survivors referred by partner agencies; supported \
                    prosecutions with case preparation and court accompaniment.",
    },
    Partner {
        key: "id-migrant-care",
        legal_name: "Lentera Migrant Care Foundation",
        country: "ID",
        kind: Org::NationalNgo,
        registration_number: "ID-AHU-0087.AH.01.04",
        title: "Case management and reintegration for returning migrant workers in West Java and NTT",
        summary: "Screening at ports of return, psychosocial support and livelihood grants for survivors of \
                  labour trafficking in the fishing and domestic work sectors.",
        countries: &["ID"],
        services: &[Svc::MentalHealth, Svc::Reintegration],
        target_groups: &["returning fishing crew", "returning domestic workers"],
        requested: 65_000_000,
        decision: Decision::Approve(65_000_000),
        narrative: "Screened returning workers at ports of arrival and provided psychosocial support and \
                    livelihood grants to survivors referred by district labour offices.",
    },
    Partner {
        key: "la-women-shelter",
        legal_name: "Lao Women's Safe Home Association",
        country: "LA",
        kind: Org::CommunityBased,
        registration_number: "LA-MOHA-0342",
        title: "Community shelter and family reintegration in Savannakhet",
        summary: "A community-run safe home with vocational training and family tracing for survivors \
                  returned from Thailand.",
        countries: &["LA"],
        services: &[Svc::Shelter, Svc::Reintegration],
        target_groups: &["young women returned from Thailand"],
        requested: 38_000_000,
        decision: Decision::Approve(38_000_000),
        narrative: "Provided safe accommodation, vocational training and family tracing to survivors \
                    returned through official channels.",
    },
    Partner {
        key: "mm-safe-return",
        legal_name: "Myanmar Safe Return Network",
        country: "MM",
        kind: Org::Network,
        registration_number: "MM-NGO-2015-1190",
        title: "Repatriation support and referral along the Myawaddy corridor",
        summary: "Reception, medical checks and onward referral for survivors repatriated from scam \
                  compounds and forced labour sites.",
        countries: &["MM"],
        services: &[Svc::Repatriation, Svc::Medical],
        target_groups: &["survivors repatriated from scam compounds"],
        requested: 54_000_000,
        decision: Decision::Approve(50_000_000),
        narrative: "Received repatriated survivors at the border and referred them to medical and \
                    psychosocial services.",
    },
    Partner {
        key: "ph-survivors-recovery",
        legal_name: "Visayas Survivors Recovery Centre",
        country: "PH",
        kind: Org::NationalNgo,
        registration_number: "PH-SEC-CN201512345",
        title: "Recovery and legal support for survivors of online sexual exploitation in Cebu",
        summary: "Trauma-informed counselling, shelter and legal accompaniment for children and young \
                  people rescued from online sexual exploitation.",
        countries: &["PH"],
        services: &[Svc::Shelter, Svc::MentalHealth, Svc::LegalAid],
        target_groups: &["children rescued from online exploitation"],
        requested: 60_000_000,
        decision: Decision::Approve(60_000_000),
        narrative: "Provided counselling, shelter and legal accompaniment to children referred by social \
                    welfare officers and the police.",
    },
    Partner {
        key: "th-legal-aid",
        legal_name: "Chiang Rai Legal Aid Foundation",
        country: "TH",
        kind: Org::NationalNgo,
        registration_number: "TH-0105-556-01234",
        title: "Free legal aid and compensation claims for trafficked migrant workers",
        summary: "Lawyers and paralegals supporting survivors through investigation, prosecution and \
                  compensation claims, with interpretation in Burmese, Khmer and Lao.",
        countries: &["TH"],
        services: &[Svc::LegalAid],
        target_groups: &["migrant workers in fishing and agriculture"],
        requested: 48_000_000,
        decision: Decision::Approve(48_000_000),
        narrative: "Represented survivors in investigations and prosecutions and filed compensation \
                    claims with interpretation support.",
    },
    Partner {
        key: "vn-reintegration",
        legal_name: "Viet Nam Reintegration Support Centre",
        country: "VN",
        kind: Org::NationalNgo,
        registration_number: "VN-0312-456-789",
        title: "Reintegration and vocational support for survivors in the northern provinces",
        summary: "Case management, vocational training and small business support for survivors returned \
                  from China and Europe.",
        countries: &["VN"],
        services: &[Svc::Reintegration, Svc::MentalHealth],
        target_groups: &["survivors returned from abroad"],
        requested: 45_000_000,
        decision: Decision::Approve(45_000_000),
        narrative: "Provided case management, vocational training and small business support to \
                    survivors referred by provincial social services.",
    },
    Partner {
        key: "my-migrant-rights",
        legal_name: "Suara Perlindungan Migran Malaysia",
        country: "MY",
        kind: Org::NationalNgo,
        registration_number: "MY-PPM-010-14-02062016",
        title: "Labour rights awareness for plantation workers in Sabah",
        summary: "Awareness sessions on labour rights for plantation workers and a study of recruitment \
                  fees in the palm oil sector.",
        countries: &["MY"],
        services: &[Svc::ResearchAndPolicy],
        target_groups: &["plantation workers"],
        requested: 30_000_000,
        decision: Decision::Reject(
            "The proposal centres on general labour awareness rather than services for victims of trafficking, \
             the priority of this round.",
        ),
        narrative: "",
    },
    Partner {
        key: "ph-migrant-forum-asia",
        legal_name: "Migrant Forum in Asia",
        country: "PH",
        kind: Org::Network,
        registration_number: "PH-SEC-A199-0212",
        title: "Regional evidence and referral network on trafficking of migrant workers",
        summary: "A regional network of member organisations producing evidence on recruitment-linked \
                  trafficking and maintaining cross-border referral pathways for survivors.",
        countries: &["PH", "ID", "MY", "TH", "KH"],
        services: &[Svc::ResearchAndPolicy, Svc::Repatriation],
        target_groups: &["migrant workers and their families", "member organisations"],
        requested: 80_000_000,
        decision: Decision::Approve(75_000_000),
        narrative: "Delivered regional policy briefs on recruitment practices and coordinated cross-border \
                    referrals among member organisations.",
    },
];

/// The grant whose interim tranche is released and whose agreement is varied.
pub(super) const FEATURED: usize = 0;
/// The grant whose first progress report is left unsubmitted, so that it is overdue.
pub(super) const OVERDUE: usize = 3;

/// The request id of a step, the same on every run, so that a second run replays the stored response.
pub(crate) fn request_id(step: &str) -> String {
    uuid::Uuid::new_v5(&NAMESPACE, step.as_bytes()).to_string()
}

/// The id of the organisation named by `key` (a partner's key in the demo).
pub(crate) fn organisation_id(key: &str) -> String {
    uuid::Uuid::new_v5(&NAMESPACE, format!("organisation/{key}").as_bytes()).to_string()
}

/// The token subject of the staff of the organisation named by `key`.
pub(crate) fn partner_subject(key: &str) -> String {
    format!("partner-{key}")
}

pub(crate) fn aud(minor_units: i64) -> Option<Money> {
    Some(Money { minor_units, currency: CURRENCY.into() })
}

/// Whole dollars of an amount in cents, with thousands separators: `700,000`.
pub(super) fn dollars(cents: i64) -> String {
    let digits = (cents / 100).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// The round the partners apply to: opened 1 July 2021, closing at the start of the year after next.
pub(crate) fn round(year: i32) -> anyhow::Result<apps::OpenRoundRequest> {
    let closes = time::Date::from_calendar_date(year + 2, time::Month::January, 1)
        .context("no such date")?
        .midnight()
        .assume_utc()
        .unix_timestamp();
    let criterion = |id: &str, name: &str, weight| apps::Criterion {
        criterion_id: id.into(),
        name: name.into(),
        guidance: String::new(),
        weight,
        max_score: 10,
    };
    Ok(apps::OpenRoundRequest {
        request_id: request_id("round"),
        title: "2021 round: services for victims of trafficking in ASEAN countries".into(),
        description: "Grants for non-government, civil-society and community organisations that provide safe \
                      shelter, health and mental-health services, free legal aid and reintegration to victims of \
                      trafficking, and that produce evidence to inform policy."
            .into(),
        budget_ceiling: aud(1_000_000_000),
        eligible_countries: ["KH", "ID", "LA", "MM", "PH", "TH", "VN", "MY", "BN", "SG"].map(String::from).to_vec(),
        themes: ["shelter", "health", "legal aid", "reintegration", "evidence and policy"].map(String::from).to_vec(),
        // 1 July 2021, 00:00 UTC.
        opens_at: Some(prost_types::Timestamp { seconds: 1_625_097_600, nanos: 0 }),
        closes_at: Some(prost_types::Timestamp { seconds: closes, nanos: 0 }),
        criteria: vec![
            criterion("relevance", "Relevance to victims' needs", 40),
            criterion("capacity", "Organisational capacity and safeguarding", 30),
            criterion("value", "Value for money", 30),
        ],
        required_reviews: 2,
    })
}

/// What the partner applies for: its texts and a budget of services and staff.
pub(super) fn application_content(partner: &Partner) -> apps::ApplicationContent {
    let services_share = partner.requested * 70 / 100;
    apps::ApplicationContent {
        title: partner.title.into(),
        summary: partner.summary.into(),
        requested_amount: aud(partner.requested),
        budget_lines: vec![
            apps::BudgetLine { description: "Direct services to survivors".into(), amount: aud(services_share) },
            apps::BudgetLine {
                description: "Staff, coordination and monitoring".into(),
                amount: aud(partner.requested - services_share),
            },
        ],
        countries: partner.countries.iter().map(|c| (*c).to_owned()).collect(),
        services_offered: partner.services.iter().map(|s| *s as i32).collect(),
        target_groups: partner.target_groups.iter().map(|t| (*t).to_owned()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_dollars_with_separators() {
        assert_eq!(dollars(70_000_000), "700,000");
        assert_eq!(dollars(12_345_678_900), "123,456,789");
        assert_eq!(dollars(99_00), "99");
    }
}
