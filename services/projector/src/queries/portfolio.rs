//! Partner portfolios: an organisation's awards with their money, reports due and overdue.

use std::collections::BTreeMap;

use contracts::projector::v1 as pb;

use super::award_totals::{currency_totals, remaining};
use super::obligations::{next_due_of, overdue_of};
use super::{all, date_of, get, money};
use crate::projection::{AwardRec, Day, OblRec, OrgRec, obl_key, org_key};
use crate::store::{StoreError, View};

fn portfolio_of(
    view: &impl View,
    organisation_id: &str,
    awards: Vec<(String, AwardRec)>,
    on: Day,
) -> Result<pb::PartnerPortfolio, StoreError> {
    let org = get::<OrgRec>(view, &org_key(organisation_id))?.unwrap_or_default();
    let mut positions = Vec::new();
    let mut next: Option<pb::ObligationDue> = None;
    let mut overdue_count = 0u32;
    for (award_id, award) in &awards {
        let obligations = get::<OblRec>(view, &obl_key(award_id))?;
        let overdue = obligations.as_ref().map(|r| overdue_of(award_id, r, on)).unwrap_or_default();
        let next_due = obligations.as_ref().and_then(|r| next_due_of(award_id, r, on));
        if let Some(candidate) = &next_due
            && next.as_ref().is_none_or(|n| day_key(candidate) < day_key(n))
        {
            next = Some(candidate.clone());
        }
        overdue_count += u32::try_from(overdue.len()).unwrap_or(u32::MAX);
        positions.push(pb::AwardPosition {
            award_id: award_id.clone(),
            application_id: award.application_id.clone(),
            round_id: award.round_id.clone(),
            title: award.title.clone(),
            status: award.status.clone(),
            committed: money(award.committed, &award.currency),
            released: money(award.released, &award.currency),
            remaining: money(remaining(award), &award.currency),
            next_report_due: next_due,
            overdue,
        });
    }
    Ok(pb::PartnerPortfolio {
        organisation_id: organisation_id.to_owned(),
        legal_name: org.legal_name,
        country: org.country,
        totals: currency_totals(&awards),
        awards: positions,
        next_report_due: next,
        overdue_count,
        as_of_date: date_of(on),
    })
}

fn day_key(o: &pb::ObligationDue) -> (i32, i32, i32, String) {
    let d = o.due_date.unwrap_or_default();
    (d.year, d.month, d.day, o.award_id.clone())
}

/// One organisation's portfolio; `None` when the projector knows neither the organisation nor an award
/// of it.
pub fn portfolio(view: &impl View, organisation_id: &str, on: Day) -> Result<Option<pb::PartnerPortfolio>, StoreError> {
    let awards: Vec<_> =
        all::<AwardRec>(view, "award/")?.into_iter().filter(|(_, a)| a.organisation_id == organisation_id).collect();
    if awards.is_empty() && view.get(&org_key(organisation_id))?.is_none() {
        return Ok(None);
    }
    portfolio_of(view, organisation_id, awards, on).map(Some)
}

/// Portfolios of organisations with awards (in `round`, when given), after organisation id `after`.
pub fn portfolios(
    view: &impl View,
    round: Option<&str>,
    after: Option<&str>,
    limit: usize,
    on: Day,
) -> Result<(Vec<pb::PartnerPortfolio>, bool), StoreError> {
    let mut by_org: BTreeMap<String, Vec<(String, AwardRec)>> = BTreeMap::new();
    for (id, award) in all::<AwardRec>(view, "award/")? {
        by_org.entry(award.organisation_id.clone()).or_default().push((id, award));
    }
    let mut out = Vec::new();
    let mut more = false;
    for (org, awards) in by_org {
        if after.is_some_and(|after| org.as_str() <= after)
            || round.is_some_and(|r| awards.iter().all(|(_, a)| a.round_id != r))
        {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(portfolio_of(view, &org, awards, on)?);
    }
    Ok((out, more))
}
