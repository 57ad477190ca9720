//! Round pipelines: each round's applications by stage and country, with requested and approved totals.

use std::collections::BTreeMap;

use contracts::projector::v1 as pb;

use super::{all, get, money};
use crate::projection::{AppRec, RoundRec, Stage, read, round_key};
use crate::store::{StoreError, View};

fn stage_of(stage: Stage) -> pb::ApplicationStage {
    match stage {
        Stage::Draft => pb::ApplicationStage::Draft,
        Stage::Submitted => pb::ApplicationStage::Submitted,
        Stage::UnderReview => pb::ApplicationStage::UnderReview,
        Stage::Approved => pb::ApplicationStage::Approved,
        Stage::Rejected => pb::ApplicationStage::Rejected,
        Stage::Withdrawn => pb::ApplicationStage::Withdrawn,
    }
}

fn pipeline(round_id: &str, round: &RoundRec, apps: &[(String, AppRec)]) -> pb::RoundPipeline {
    let mut by_stage: BTreeMap<Stage, u64> = BTreeMap::new();
    let (mut requested, mut approved) = (0i64, 0i64);
    let mut by_country: BTreeMap<String, (u64, i64, i64)> = BTreeMap::new();
    for (_, app) in apps.iter().filter(|(_, a)| a.round_id == round_id) {
        *by_stage.entry(app.stage).or_default() += 1;
        if matches!(app.stage, Stage::Draft | Stage::Withdrawn) {
            continue;
        }
        requested += app.requested;
        approved += app.approved;
        for country in &app.countries {
            let row = by_country.entry(country.clone()).or_default();
            row.0 += 1;
            row.1 += app.requested;
            row.2 += app.approved;
        }
    }
    let currency = round.currency.as_str();
    pb::RoundPipeline {
        round_id: round_id.to_owned(),
        title: round.title.clone(),
        status: if round.closed { "closed" } else { "open" }.into(),
        budget_ceiling: money(round.budget_ceiling, currency),
        by_stage: by_stage
            .into_iter()
            .map(|(stage, n)| pb::StageCount { stage: stage_of(stage) as i32, applications: n })
            .collect(),
        requested_total: money(requested, currency),
        approved_total: money(approved, currency),
        by_country: by_country
            .into_iter()
            .map(|(country, (n, req, appr))| pb::CountryPipeline {
                country,
                applications: n,
                requested: money(req, currency),
                approved: money(appr, currency),
            })
            .collect(),
    }
}

pub fn round_pipeline(view: &impl View, round_id: &str) -> Result<Option<pb::RoundPipeline>, StoreError> {
    let Some(round) = get::<RoundRec>(view, &round_key(round_id))? else { return Ok(None) };
    let apps = all::<AppRec>(view, "app/")?;
    Ok(Some(pipeline(round_id, &round, &apps)))
}

/// Round pipelines after round id `after`, at most `limit`; the bool says whether more follow.
pub fn round_pipelines(
    view: &impl View,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<pb::RoundPipeline>, bool), StoreError> {
    let after_key = after.map(round_key);
    let rounds = view.scan_limit("round/", after_key.as_deref(), limit + 1)?;
    let more = rounds.len() > limit;
    let apps = all::<AppRec>(view, "app/")?;
    let mut out = Vec::new();
    for (key, bytes) in rounds.into_iter().take(limit) {
        let round: RoundRec = read(&bytes, &key)?;
        out.push(pipeline(&key["round/".len()..], &round, &apps));
    }
    Ok((out, more))
}
