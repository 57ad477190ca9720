//! A grant's timeline: the steps of its application and award across services, in causal order.

use contracts::projector::v1 as pb;

use super::{all, get, timestamp};
use crate::projection::{AppRec, AwardRec, TimelineRec, app_key, award_id_for, award_key, timeline_prefix};
use crate::store::{StoreError, View};

fn entries(view: &impl View, kind: &str, id: &str) -> Result<Vec<(i64, String, u64, pb::TimelineEntry)>, StoreError> {
    let prefix = timeline_prefix(kind, id);
    let mut out = Vec::new();
    for (rest, record) in all::<TimelineRec>(view, &prefix)? {
        let (source, position) = rest.split_once('/').unwrap_or((rest.as_str(), "0"));
        let position: u64 = position.parse().unwrap_or(0);
        out.push((
            record.recorded_at_micros,
            source.to_owned(),
            position,
            pb::TimelineEntry {
                source: source.to_owned(),
                position,
                event_type: record.event_type,
                step: record.step,
                actor_subject: record.actor_subject,
                actor_role: record.actor_role,
                occurred_at: timestamp(record.occurred_at_micros),
                recorded_at: timestamp(record.recorded_at_micros),
                summary: record.summary,
            },
        ));
    }
    Ok(out)
}

/// The timeline of the grant that started as `application_id` (or whose award is `award_id`); `None`
/// when the projector knows neither.
pub fn grant_timeline(
    view: &impl View,
    application_id: Option<&str>,
    award_id: Option<&str>,
) -> Result<Option<pb::GrantTimeline>, StoreError> {
    let application_id = match (application_id, award_id) {
        (Some(app), _) => app.to_owned(),
        (None, Some(award)) => match get::<AwardRec>(view, &award_key(award))? {
            Some(a) => a.application_id,
            None => return Ok(None),
        },
        (None, None) => return Ok(None),
    };
    let award_id = award_id_for(&application_id).unwrap_or_default();
    let app = get::<AppRec>(view, &app_key(&application_id))?;
    let award = get::<AwardRec>(view, &award_key(&award_id))?;
    if app.is_none() && award.is_none() {
        return Ok(None);
    }
    let organisation_id = app
        .as_ref()
        .map(|a| a.organisation_id.clone())
        .filter(|o| !o.is_empty())
        .or_else(|| award.as_ref().map(|a| a.organisation_id.clone()))
        .unwrap_or_default();
    let mut all_entries = entries(view, "app", &application_id)?;
    all_entries.extend(entries(view, "award", &award_id)?);
    // Services record in causal order (a reaction is recorded after what caused it), so recorded time
    // orders the cross-service history; source and position break ties.
    all_entries.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
    Ok(Some(pb::GrantTimeline {
        application_id,
        award_id: if award.is_some() { award_id } else { String::new() },
        organisation_id,
        entries: all_entries.into_iter().map(|e| e.3).collect(),
    }))
}
