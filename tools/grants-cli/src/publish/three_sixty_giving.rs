//! The program's awards as a 360Giving Data Standard 1.4 package: `{"grants": [...]}`, one grant per award.
//!
//! Identifiers are the publisher's 360Giving prefix and the award's id (organisations: the prefix, `ORG`
//! and the organisation's id), so they are the same in every run. Amounts are in the currency's major
//! unit; JSON numbers are printed from the exact decimal (an `f64` holds and prints back every amount of
//! fewer than 15 significant digits exactly, far above any grant).

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{Award, Party, Program, award_description, iso_date};
use crate::decode::rfc3339;

/// `--prefix`, checked: 360Giving prefixes start `360G-`, then letters, digits and hyphens.
pub fn prefix(value: Option<&str>) -> anyhow::Result<String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        bail!("--prefix (or GRANTS_360GIVING_PREFIX) is required: the publisher's 360Giving prefix, such as 360G-dfat")
    };
    let rest = value.strip_prefix("360G-").unwrap_or_default();
    if rest.is_empty() || rest.len() > 60 || !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        bail!("--prefix `{value}` must be a 360Giving prefix: `360G-` then 1 to 60 letters, digits or hyphens");
    }
    Ok(value.trim_end_matches('-').to_owned())
}

/// The package's bytes.
pub fn write(program: &Program, prefix: &str, funder: &Party) -> anyhow::Result<Vec<u8>> {
    let grants = program
        .awards
        .values()
        .map(|award| grant(program, prefix, funder, award))
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!("publish: {} 360Giving grants", grants.len());
    let package = json!({ "grants": grants, "version": "1.4" });
    let mut bytes = serde_json::to_vec_pretty(&package).context("cannot write the package")?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// An amount as a JSON number of major units.
fn amount(money: &domain_kernel::Money) -> anyhow::Result<Value> {
    let text = money.decimal();
    let number: f64 = text.parse().with_context(|| format!("{text} is not a number"))?;
    Ok(json!(number))
}

fn grant(program: &Program, prefix: &str, funder: &Party, award: &Award) -> anyhow::Result<Value> {
    let organisation = program.organisations.get(&award.organisation_id);
    let mut recipient = json!({
        "id": format!("{prefix}-ORG-{}", award.organisation_id),
        "name": organisation.map_or("Partner organisation", |o| o.legal_name.as_str()),
    });
    if let Some(organisation) = organisation {
        recipient["addressCountry"] = json!(organisation.country.name());
    }
    let mut grant = json!({
        "id": format!("{prefix}-{}", award.award_id),
        "title": award.title,
        "description": award_description(program, award),
        "currency": award.currency().as_str(),
        "amountAwarded": amount(&award.amount())?,
        "awardDate": iso_date(award.approved_on),
        "recipientOrganization": [recipient],
        "fundingOrganization": [{ "id": funder.reference, "name": funder.name }],
        "beneficiaryLocation": award.countries.iter().map(|c| json!({ "name": c.name(), "countryCode": c.as_str() })).collect::<Vec<_>>(),
        "amountDisbursed": amount(&domain_kernel::Money::new(award.released(), award.currency()))?,
        "dateModified": rfc3339(award.last_recorded),
    });
    if let Some(requested) = &award.requested {
        grant["amountAppliedFor"] = amount(requested)?;
    }
    if let Some((start, end)) = award.period() {
        grant["plannedDates"] = json!([{ "startDate": iso_date(start), "endDate": iso_date(end) }]);
        if let Some(ended) = award.ended_on {
            grant["actualDates"] = json!([{ "startDate": iso_date(start), "endDate": iso_date(ended) }]);
        }
    }
    if let Some(round) = program.rounds.get(&award.round_id) {
        grant["grantProgramme"] = json!([{ "code": round.round_id, "title": round.title }]);
    }
    let disbursements = award
        .releases
        .iter()
        .map(|release| {
            let mut description = format!("Release of tranche {}", release.tranche_id);
            if let Some(foreign) = &release.paid_in_other_currency {
                description.push_str(&format!(", {}", foreign.describe(&release.amount)));
            }
            Ok(json!({
                "id": format!("{prefix}-{}-{}", award.award_id, release.tranche_id),
                "transactionDate": iso_date(release.on),
                "currency": release.amount.currency.as_str(),
                "value": amount(&release.amount)?,
                "description": description,
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !disbursements.is_empty() {
        grant["disbursementTransaction"] = json!(disbursements);
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_checked_naming_the_flag_and_rule() {
        assert_eq!(prefix(Some("360G-dfat")).unwrap(), "360G-dfat");
        let error = prefix(Some("GB-CHC-1")).unwrap_err().to_string();
        assert!(error.starts_with("--prefix `GB-CHC-1` must be a 360Giving prefix: `360G-`"), "{error}");
        assert!(prefix(None).unwrap_err().to_string().contains("GRANTS_360GIVING_PREFIX"));
        assert!(prefix(Some("360G-")).is_err());
    }
}
