//! The program as an IATI 2.03 `iati-activities` file, written with `quick-xml`.
//!
//! Each funding round is a parent activity (hierarchy 1) and each award a child activity (hierarchy 2),
//! linked both ways by `related-activity`. Identifiers are the reporting organisation's identifier and the
//! round's or award's id, so they are the same in every run. Amounts are exact decimals of the currency's
//! major unit, each `value` with its currency and value date. Results hang on the parent activity only:
//! the projector publishes indicator figures per round, not per partner (a filter by organisation is
//! refused to everyone but that organisation, by design), and only those published figures are used.
//!
//! The codes below are those of the IATI 2.03 codelists named beside each one; the validation in
//! `tests/open-data/validate.py` checks every code written against the codelists the IATI Secretariat
//! released for 2.03.

use anyhow::Context;
use contracts::applications::v1 as apps;
use contracts::projector::v1 as pj;
use contracts::reporting::v1 as rp;
use contracts::values::WireValue;
use domain_kernel::{Country, Money};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{Award, Party, Program, Round, Status, award_description, enum_words, even_percentages, iso_date};
use crate::decode::rfc3339;

type Xml = Writer<Vec<u8>>;
type Written = std::io::Result<()>;

/// IATI codelist OrganisationType (2.03): every code, to check `--reporting-org-type` against.
const ORGANISATION_TYPES: [&str; 16] =
    ["10", "11", "15", "21", "22", "23", "24", "30", "40", "60", "70", "71", "72", "73", "80", "90"];
/// IATI codelist OrganisationRole.
const ROLE_FUNDING: &str = "1";
const ROLE_EXTENDING: &str = "3";
const ROLE_IMPLEMENTING: &str = "4";
/// IATI codelist ActivityDateType.
const PLANNED_START: &str = "1";
const ACTUAL_START: &str = "2";
const PLANNED_END: &str = "3";
const ACTUAL_END: &str = "4";
/// IATI codelist TransactionType.
const OUTGOING_COMMITMENT: &str = "2";
const DISBURSEMENT: &str = "3";
/// IATI codelist RelatedActivityType.
const PARENT: &str = "1";
const CHILD: &str = "2";
/// IATI codelist SectorVocabulary: OECD DAC CRS purpose codes (5 digit).
const DAC_5_DIGIT: &str = "1";
/// IATI codelist Sector (DAC 5 digit) 15160 Human rights, whose description names "human rights
/// programming targeting specific groups, e.g. ... victims of trafficking": the program as a whole.
const PROGRAM_SECTOR: &str = "15160";
/// IATI codelist ResultType 1 Output; IndicatorMeasure 1 Unit.
const OUTPUT: &str = "1";
const UNIT: &str = "1";
/// IATI codelists FlowType 10 ODA, FinanceType 110 Standard grant, DescriptionType 1 General,
/// BudgetType 1 Original / 2 Revised, BudgetStatus 2 Committed.
const ODA: &str = "10";
const STANDARD_GRANT: &str = "110";
const GENERAL: &str = "1";
const ORIGINAL: &str = "1";
const REVISED: &str = "2";
const COMMITTED: &str = "2";

/// Who publishes, and for whom.
#[derive(Debug)]
pub struct Publisher {
    pub reporting_org: Party,
    pub reporting_org_type: &'static str,
    pub funder: Party,
}

/// `--reporting-org-type` checked against the IATI OrganisationType codelist.
pub fn organisation_type_code(code: &str) -> anyhow::Result<&'static str> {
    ORGANISATION_TYPES.iter().find(|c| **c == code.trim()).copied().with_context(|| {
        format!(
            "--reporting-org-type `{code}` must be a code of the IATI OrganisationType codelist: {}",
            ORGANISATION_TYPES.join(", ")
        )
    })
}

/// The DAC CRS purpose code (IATI codelist Sector, vocabulary 1) of each service a partner offers.
///
/// - shelter and reintegration: 16010 Social/welfare services (social services and schemes for people
///   in need of protection);
/// - medical care: 12220 Basic health care;
/// - mental health: 12191 Medical services, whose description includes mental health care;
/// - legal aid: 15130 Legal and judicial development, which names "legal aid and counsel";
/// - repatriation, research and policy: 15160 Human rights, which names programming for victims of
///   trafficking, reporting and advocacy.
pub fn sector_code(service: apps::ServiceType) -> &'static str {
    match service {
        apps::ServiceType::Shelter | apps::ServiceType::Reintegration => "16010",
        apps::ServiceType::Medical => "12220",
        apps::ServiceType::MentalHealth => "12191",
        apps::ServiceType::LegalAid => "15130",
        apps::ServiceType::Repatriation | apps::ServiceType::ResearchAndPolicy | apps::ServiceType::Unspecified => {
            PROGRAM_SECTOR
        }
    }
}

/// IATI codelist OrganisationType of a partner's registered type: international NGO 21, national NGO 22,
/// network (regional) 23, community-based (in the partner country) 24.
fn partner_type(kind: apps::OrganisationType) -> Option<&'static str> {
    match kind {
        apps::OrganisationType::InternationalNgo => Some("21"),
        apps::OrganisationType::NationalNgo => Some("22"),
        apps::OrganisationType::Network => Some("23"),
        apps::OrganisationType::CommunityBased => Some("24"),
        apps::OrganisationType::Unspecified => None,
    }
}

/// IATI codelist ActivityStatus of an award: pipeline 1, implementation 2, completion 3, cancelled 5
/// (terminated early), suspended 6.
fn activity_status(status: Status) -> &'static str {
    match status {
        Status::Offered => "1",
        Status::Active => "2",
        Status::Closed => "3",
        Status::Terminated => "5",
        Status::Suspended => "6",
    }
}

pub fn activity_id(publisher: &Publisher, id: &str) -> String {
    format!("{}-{id}", publisher.reporting_org.reference)
}

/// The partner's organisation identifier: its country of registration and registration number, as the
/// organisation registered them (the registration agency is not recorded, so no org-id.guide list prefix).
pub fn partner_ref(program: &Program, organisation_id: &str) -> Option<String> {
    let organisation = program.organisations.get(organisation_id)?;
    let number: String = organisation
        .registration_number
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') { c } else { '-' })
        .collect();
    let country = organisation.country.as_str();
    Some(if number.starts_with(&format!("{country}-")) { number } else { format!("{country}-{number}") })
}

/// The file's bytes.
pub fn write(program: &Program, publisher: &Publisher) -> anyhow::Result<Vec<u8>> {
    let mut xml = Writer::new_with_indent(Vec::new(), b' ', 2);
    xml.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let generated = rfc3339(program.last_recorded);
    xml.create_element("iati-activities")
        .with_attribute(("version", "2.03"))
        .with_attribute(("generated-datetime", generated.as_str()))
        .write_inner_content(|xml| {
            for round in program.rounds.values() {
                parent(xml, program, publisher, round)?;
                for award in program.awards_of(&round.round_id) {
                    child(xml, program, publisher, round, award)?;
                }
            }
            Ok(())
        })?;
    let mut bytes = xml.into_inner();
    bytes.push(b'\n');
    eprintln!("publish: {} IATI activities", program.rounds.len() + program.awards.len());
    Ok(bytes)
}

fn text(xml: &mut Xml, name: &str, text: &str) -> Written {
    xml.create_element(name).write_inner_content(|xml| narrative(xml, text))?;
    Ok(())
}

fn narrative(xml: &mut Xml, text: &str) -> Written {
    xml.create_element("narrative").write_text_content(BytesText::new(text))?;
    Ok(())
}

fn empty(xml: &mut Xml, name: &str, attributes: &[(&str, &str)]) -> Written {
    xml.create_element(name).with_attributes(attributes.iter().copied()).write_empty()?;
    Ok(())
}

fn value(xml: &mut Xml, money: &Money, value_date: time::Date) -> Written {
    let amount = money.decimal();
    xml.create_element("value")
        .with_attribute(("currency", money.currency.as_str()))
        .with_attribute(("value-date", iso_date(value_date).as_str()))
        .write_text_content(BytesText::new(&amount))?;
    Ok(())
}

fn organisation(xml: &mut Xml, role: &str, reference: Option<&str>, kind: Option<&str>, name: &str) -> Written {
    let mut element = xml.create_element("participating-org");
    if let Some(reference) = reference {
        element = element.with_attribute(("ref", reference));
    }
    element = element.with_attribute(("role", role));
    if let Some(kind) = kind {
        element = element.with_attribute(("type", kind));
    }
    element.write_inner_content(|xml| narrative(xml, name))?;
    Ok(())
}

fn header(xml: &mut Xml, publisher: &Publisher, id: &str, title: &str, description: &str) -> Written {
    xml.create_element("iati-identifier").write_text_content(BytesText::new(id))?;
    xml.create_element("reporting-org")
        .with_attribute(("ref", publisher.reporting_org.reference.as_str()))
        .with_attribute(("type", publisher.reporting_org_type))
        .write_inner_content(|xml| narrative(xml, &publisher.reporting_org.name))?;
    text(xml, "title", title)?;
    xml.create_element("description")
        .with_attribute(("type", GENERAL))
        .write_inner_content(|xml| narrative(xml, description))?;
    organisation(xml, ROLE_FUNDING, Some(&publisher.funder.reference), None, &publisher.funder.name)?;
    organisation(
        xml,
        ROLE_EXTENDING,
        Some(&publisher.reporting_org.reference),
        Some(publisher.reporting_org_type),
        &publisher.reporting_org.name,
    )
}

fn date(xml: &mut Xml, kind: &str, on: time::Date) -> Written {
    empty(xml, "activity-date", &[("type", kind), ("iso-date", &iso_date(on))])
}

fn countries(xml: &mut Xml, countries: &[Country]) -> Written {
    let scope = if countries.len() > 1 { "3" } else { "4" }; // ActivityScope: multi-national 3, national 4
    empty(xml, "activity-scope", &[("code", scope)])?;
    for (country, percentage) in countries.iter().zip(even_percentages(countries.len())) {
        xml.create_element("recipient-country")
            .with_attribute(("code", country.as_str()))
            .with_attribute(("percentage", percentage.to_string().as_str()))
            .write_inner_content(|xml| narrative(xml, &country.name()))?;
    }
    Ok(())
}

fn defaults(xml: &mut Xml) -> Written {
    empty(xml, "default-flow-type", &[("code", ODA)])?;
    empty(xml, "default-finance-type", &[("code", STANDARD_GRANT)])
}

/// A round: the program's parent activity.
fn parent(xml: &mut Xml, program: &Program, publisher: &Publisher, round: &Round) -> Written {
    let awards: Vec<&Award> = program.awards_of(&round.round_id).collect();
    let last = awards.iter().map(|a| a.last_recorded).chain([round.last_recorded]).max().unwrap_or_default();
    let periods: Vec<(time::Date, time::Date)> = awards.iter().filter_map(|a| a.period()).collect();
    let (start, end) = match (periods.iter().map(|p| p.0).min(), periods.iter().map(|p| p.1).max()) {
        (Some(start), Some(end)) => (start, end),
        _ => (round.opens_on, round.closes_on.max(round.opens_on)),
    };
    let status = if awards.is_empty() || periods.is_empty() {
        "1"
    } else if awards.iter().all(|a| matches!(a.status, Status::Closed | Status::Terminated)) {
        "3"
    } else {
        "2"
    };
    let mut places: Vec<Country> = awards.iter().flat_map(|a| a.countries.iter().copied()).collect();
    if places.is_empty() {
        places = round.eligible_countries.clone();
    }
    places.sort_unstable();
    places.dedup();
    let description =
        if round.description.trim().is_empty() { round.title.as_str() } else { round.description.as_str() };
    xml.create_element("iati-activity")
        .with_attribute(("last-updated-datetime", rfc3339(last).as_str()))
        .with_attribute(("xml:lang", "en"))
        .with_attribute(("default-currency", round.budget_ceiling.currency.as_str()))
        .with_attribute(("hierarchy", "1"))
        .write_inner_content(|xml| {
            header(xml, publisher, &activity_id(publisher, &round.round_id), &round.title, description)?;
            let mut partners: Vec<&str> = awards.iter().map(|a| a.organisation_id.as_str()).collect();
            partners.sort_unstable();
            partners.dedup();
            for organisation_id in partners {
                implementing(xml, program, organisation_id)?;
            }
            empty(xml, "activity-status", &[("code", status)])?;
            date(xml, PLANNED_START, start)?;
            if let Some(actual) =
                awards.iter().filter(|a| a.status != Status::Offered).filter_map(|a| a.period()).map(|p| p.0).min()
            {
                date(xml, ACTUAL_START, actual)?;
            }
            date(xml, PLANNED_END, end)?;
            countries(xml, &places)?;
            xml.create_element("sector")
                .with_attribute(("vocabulary", DAC_5_DIGIT))
                .with_attribute(("code", PROGRAM_SECTOR))
                .with_attribute(("percentage", "100"))
                .write_empty()?;
            defaults(xml)?;
            for award in &awards {
                empty(xml, "related-activity", &[("ref", &activity_id(publisher, &award.award_id)), ("type", CHILD)])?;
            }
            results(xml, program, round)
        })?;
    Ok(())
}

fn implementing(xml: &mut Xml, program: &Program, organisation_id: &str) -> Written {
    let registered = program.organisations.get(organisation_id);
    let name = registered.map_or("Partner organisation", |o| o.legal_name.as_str());
    let reference = partner_ref(program, organisation_id);
    let kind = registered.and_then(|o| partner_type(o.organisation_type));
    organisation(xml, ROLE_IMPLEMENTING, reference.as_deref(), kind, name)
}

/// An award: a child activity of its round.
fn child(xml: &mut Xml, program: &Program, publisher: &Publisher, round: &Round, award: &Award) -> Written {
    let currency = award.currency();
    let period = award.period();
    xml.create_element("iati-activity")
        .with_attribute(("last-updated-datetime", rfc3339(award.last_recorded).as_str()))
        .with_attribute(("xml:lang", "en"))
        .with_attribute(("default-currency", currency.as_str()))
        .with_attribute(("hierarchy", "2"))
        .write_inner_content(|xml| {
            let id = activity_id(publisher, &award.award_id);
            header(xml, publisher, &id, &award.title, &award_description(program, award))?;
            implementing(xml, program, &award.organisation_id)?;
            empty(xml, "activity-status", &[("code", activity_status(award.status))])?;
            match period {
                Some((start, end)) => {
                    date(xml, PLANNED_START, start)?;
                    if award.status != Status::Offered {
                        // The signed agreement's period began then.
                        date(xml, ACTUAL_START, start)?;
                    }
                    date(xml, PLANNED_END, end)?;
                }
                None => date(xml, PLANNED_START, award.approved_on)?,
            }
            if let Some(ended) = award.ended_on {
                date(xml, ACTUAL_END, ended)?;
            }
            countries(xml, &award.countries)?;
            let mut sectors: Vec<&str> = award.services.iter().map(|s| sector_code(*s)).collect();
            sectors.sort_unstable();
            sectors.dedup();
            if sectors.is_empty() {
                sectors.push(PROGRAM_SECTOR);
            }
            for (code, percentage) in sectors.iter().zip(even_percentages(sectors.len())) {
                xml.create_element("sector")
                    .with_attribute(("vocabulary", DAC_5_DIGIT))
                    .with_attribute(("code", *code))
                    .with_attribute(("percentage", percentage.to_string().as_str()))
                    .write_empty()?;
            }
            defaults(xml)?;
            budgets(xml, award)?;
            transactions(xml, program, publisher, round, award)?;
            empty(xml, "related-activity", &[("ref", &activity_id(publisher, &round.round_id)), ("type", PARENT)])
        })?;
    Ok(())
}

/// The agreement's budget, one `budget` per year of its period (IATI budgets span at most a year), each
/// the tranches due in it (tranches sum to the award; a tranche due outside the period counts in the
/// nearest year). Cancelled tranches are left out; a varied or ended agreement's budget is a revised one.
fn budgets(xml: &mut Xml, award: &Award) -> Written {
    let (Some(terms), Some((start, end))) = (award.terms.as_ref(), award.period()) else { return Ok(()) };
    let mut years: Vec<(time::Date, time::Date, i64)> = Vec::new();
    let mut from = start;
    while from <= end {
        let next = from.replace_year(from.year() + 1).unwrap_or(time::Date::MAX);
        let to = next.previous_day().unwrap_or(end).min(end);
        years.push((from, to, 0));
        match to.next_day() {
            Some(day) if to < end => from = day,
            _ => break,
        }
    }
    for tranche in terms.tranches.iter().filter(|t| !award.cancelled_tranches.contains(&t.tranche_id)) {
        let amount = Money::from_wire("", tranche.amount.as_ref()).map_or(0, |m| m.minor_units);
        let due = super::wire_date(tranche.due_date.as_ref()).unwrap_or(start);
        let index = years.iter().position(|(_, to, _)| due <= *to).unwrap_or(years.len().saturating_sub(1));
        if let Some(year) = years.get_mut(index) {
            year.2 += amount;
        }
    }
    let kind = if award.varied || award.ended_on.is_some() { REVISED } else { ORIGINAL };
    for (from, to, amount) in years {
        xml.create_element("budget")
            .with_attribute(("type", kind))
            .with_attribute(("status", COMMITTED))
            .write_inner_content(|xml| {
                empty(xml, "period-start", &[("iso-date", &iso_date(from))])?;
                empty(xml, "period-end", &[("iso-date", &iso_date(to))])?;
                value(xml, &Money::new(amount, award.currency()), from)
            })?;
    }
    Ok(())
}

/// Commitments (signature, variations, what an early end released from commitment) and disbursements
/// (released tranches), from the reporting organisation to the partner.
fn transactions(xml: &mut Xml, program: &Program, publisher: &Publisher, round: &Round, award: &Award) -> Written {
    let partner =
        program.organisations.get(&award.organisation_id).map_or("Partner organisation", |o| o.legal_name.as_str());
    let partner_ref = partner_ref(program, &award.organisation_id);
    let activity = activity_id(publisher, &award.award_id);
    let parties = |xml: &mut Xml| -> Written {
        xml.create_element("provider-org")
            .with_attribute(("ref", publisher.reporting_org.reference.as_str()))
            .with_attribute(("provider-activity-id", activity_id(publisher, &round.round_id).as_str()))
            .write_inner_content(|xml| narrative(xml, &publisher.reporting_org.name))?;
        let mut receiver = xml.create_element("receiver-org");
        if let Some(reference) = &partner_ref {
            receiver = receiver.with_attribute(("ref", reference.as_str()));
        }
        receiver
            .with_attribute(("receiver-activity-id", activity.as_str()))
            .write_inner_content(|xml| narrative(xml, partner))?;
        Ok(())
    };
    for (index, commitment) in award.commitments.iter().enumerate() {
        xml.create_element("transaction")
            .with_attribute(("ref", format!("{}-commitment-{}", award.award_id, index + 1).as_str()))
            .write_inner_content(|xml| {
                empty(xml, "transaction-type", &[("code", OUTGOING_COMMITMENT)])?;
                empty(xml, "transaction-date", &[("iso-date", &iso_date(commitment.on))])?;
                value(xml, &commitment.amount, commitment.on)?;
                let words = format!("Commitment: {}", commitment.cause);
                text(xml, "description", &words)?;
                parties(xml)
            })?;
    }
    for release in &award.releases {
        let kind = enum_words(Ok::<_, ()>(release.kind.as_str_name()), "TRANCHE_KIND_");
        let mut words = format!("Disbursement of the {kind} tranche {}", release.tranche_id);
        let (paid, value_date) = match &release.paid_in_other_currency {
            None => (release.amount, release.on),
            Some(foreign) => {
                let paid = foreign.describe(&release.amount);
                words.push_str(&format!(": {} {} {paid}", release.amount.decimal(), release.amount.currency));
                (foreign.paid, foreign.value_date)
            }
        };
        xml.create_element("transaction")
            .with_attribute(("ref", format!("{}-{}", award.award_id, release.tranche_id).as_str()))
            .write_inner_content(|xml| {
                empty(xml, "transaction-type", &[("code", DISBURSEMENT)])?;
                empty(xml, "transaction-date", &[("iso-date", &iso_date(release.on))])?;
                value(xml, &paid, value_date)?;
                text(xml, "description", &words)?;
                parties(xml)
            })?;
    }
    Ok(())
}

/// The round's indicators as published by the projector (suppressed and perturbed), for the span of the
/// accepted reports' periods: each total, sex, age band and disability margin and each cell as an
/// `actual` with its IATI dimensions. A withheld total is marked with a comment and no value; withheld
/// margins and cells are left out.
fn results(xml: &mut Xml, program: &Program, round: &Round) -> Written {
    let Some(summary) = program.summaries.get(&round.round_id) else { return Ok(()) };
    let stands_at = summary.indicators_as_of.as_ref().map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000);
    let reports: Vec<_> = program
        .accepted_reports
        .iter()
        .filter(|r| program.awards.get(&r.award_id).is_some_and(|a| a.round_id == round.round_id))
        .filter(|r| stands_at.is_none_or(|at| r.recorded_at <= at))
        .collect();
    let (Some(start), Some(end)) =
        (reports.iter().map(|r| r.period_start).min(), reports.iter().map(|r| r.period_end).max())
    else {
        return Ok(());
    };
    let method = format!(
        "Counted in the partners' accepted progress reports and published as the program publishes them: \
         counts below {} and counts that would reveal them are withheld, and every shown count carries a \
         small deterministic perturbation of at most {} either way, so parts need not add up to totals.",
        summary.suppression_k, summary.perturbation_bound
    );
    for indicator in &summary.indicators {
        let title = program
            .indicator_titles
            .get(&indicator.indicator_id)
            .cloned()
            .unwrap_or_else(|| indicator.indicator_id.replace('_', " "));
        xml.create_element("result").with_attribute(("type", OUTPUT)).write_inner_content(|xml| {
            text(xml, "title", &title)?;
            text(xml, "description", &method)?;
            xml.create_element("indicator")
                .with_attribute(("measure", UNIT))
                .with_attribute(("ascending", "1"))
                .write_inner_content(|xml| {
                    text(xml, "title", &title)?;
                    xml.create_element("period").write_inner_content(|xml| {
                        empty(xml, "period-start", &[("iso-date", &iso_date(start))])?;
                        empty(xml, "period-end", &[("iso-date", &iso_date(end))])?;
                        actuals(xml, indicator)
                    })?;
                    Ok(())
                })?;
            Ok(())
        })?;
    }
    Ok(())
}

fn actuals(xml: &mut Xml, indicator: &pj::IndicatorSummary) -> Written {
    match indicator.total {
        Some(pj::ProtectedCount { suppressed: true, .. }) | None => {
            xml.create_element("actual").write_inner_content(|xml| {
                text(xml, "comment", "Withheld: small-cell suppression (the exact count is not published).")
            })?;
        }
        Some(pj::ProtectedCount { value, .. }) => actual(xml, value, &[])?,
    }
    let shown = |count: &Option<pj::ProtectedCount>| count.filter(|c| !c.suppressed).map(|c| c.value);
    for margin in &indicator.by_sex {
        if let Some(count) = shown(&margin.count) {
            actual(xml, count, &[("sex", sex(margin.sex))])?;
        }
    }
    for margin in &indicator.by_age_band {
        if let Some(count) = shown(&margin.count) {
            actual(xml, count, &[("age", age_band(margin.age_band))])?;
        }
    }
    for margin in &indicator.by_disability {
        if let Some(count) = shown(&margin.count) {
            actual(xml, count, &[("disability", disability(margin.disability))])?;
        }
    }
    for cell in &indicator.cells {
        if let Some(count) = shown(&cell.count) {
            let dimensions =
                [("sex", sex(cell.sex)), ("age", age_band(cell.age_band)), ("disability", disability(cell.disability))];
            actual(xml, count, &dimensions)?;
        }
    }
    Ok(())
}

fn actual(xml: &mut Xml, count: u64, dimensions: &[(&str, String)]) -> Written {
    let element = xml.create_element("actual").with_attribute(("value", count.to_string().as_str()));
    if dimensions.is_empty() {
        element.write_empty()?;
        return Ok(());
    }
    element.write_inner_content(|xml| {
        for (name, value) in dimensions {
            empty(xml, "dimension", &[("name", name), ("value", value)])?;
        }
        Ok(())
    })?;
    Ok(())
}

fn sex(value: i32) -> String {
    enum_words(rp::Sex::try_from(value).map(|s| s.as_str_name()), "SEX_")
}

fn age_band(value: i32) -> String {
    enum_words(rp::AgeBand::try_from(value).map(|s| s.as_str_name()), "AGE_BAND_")
}

fn disability(value: i32) -> String {
    enum_words(rp::Disability::try_from(value).map(|s| s.as_str_name()), "DISABILITY_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reporting_org_type_is_a_code_of_its_codelist() {
        assert_eq!(organisation_type_code("10").unwrap(), "10");
        let error = organisation_type_code("12").unwrap_err().to_string();
        assert!(error.starts_with("--reporting-org-type `12` must be a code of the IATI OrganisationType"), "{error}");
    }

    #[test]
    fn every_service_has_a_dac_purpose_code() {
        for service in [
            apps::ServiceType::Shelter,
            apps::ServiceType::Medical,
            apps::ServiceType::MentalHealth,
            apps::ServiceType::LegalAid,
            apps::ServiceType::Reintegration,
            apps::ServiceType::Repatriation,
            apps::ServiceType::ResearchAndPolicy,
        ] {
            let code = sector_code(service);
            assert!(code.len() == 5 && code.chars().all(|c| c.is_ascii_digit()), "{service:?}: {code}");
        }
    }

    #[test]
    fn dimensions_are_named_in_words() {
        assert_eq!(age_band(rp::AgeBand::Years0To11 as i32), "years 0 to 11");
        assert_eq!(sex(rp::Sex::Female as i32), "female");
        assert_eq!(disability(rp::Disability::WithDisability as i32), "with disability");
    }
}
