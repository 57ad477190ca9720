//! `grants history`: one grant's cross-service history, read directly from the services' logs.
//!
//! A grant is followed by its identifiers: starting from the application id, an event belongs to the grant
//! when one of its linking fields (`application_id`, `award_id`, `obligation_id`, `report_id`,
//! `variation_id`) names an identifier already known, and its own linking fields then become known too.
//! Logs are read in the order grants flow through them (applications, awards, reporting), each in position
//! order, so every reference points back to something already seen.

use std::collections::HashSet;

use anyhow::bail;
use futures::StreamExt;
use serde_json::Value;

use event_log::RecordedEvent;

use crate::Outcome;
use crate::decode::{PayloadDecoder, rfc3339};
use crate::endpoints::Connection;
use crate::stdout::say;

const LINKING_FIELDS: [&str; 5] = ["application_id", "award_id", "obligation_id", "report_id", "variation_id"];
/// The services a grant flows through, in that order.
const GRANT_SERVICES: [&str; 3] = contracts::names::service::EVENT_SOURCES;

pub async fn run(connection: &Connection, application: uuid::Uuid, as_json: bool) -> anyhow::Result<Outcome> {
    let mut decoder = PayloadDecoder::new()?;
    let mut known: HashSet<String> = HashSet::from([application.to_string()]);
    let mut steps: Vec<(&str, RecordedEvent)> = Vec::new();
    // Every log it follows must have an address before any is read.
    for service in GRANT_SERVICES {
        connection.url_of(service)?;
    }
    for service in GRANT_SERVICES {
        let mut client = connection.log_client(service).await?;
        let mut events = std::pin::pin!(client.read_all(0).await?);
        while let Some(event) = events.next().await {
            let event = event?;
            decoder.note_erasure(service, &event.event_type, &event.payload);
            let payload = decoder.payload(service, &event.event_type, &event.payload);
            let links: Vec<String> = LINKING_FIELDS
                .iter()
                .filter_map(|field| payload.get(*field).and_then(Value::as_str))
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .collect();
            if links.iter().any(|id| known.contains(id)) {
                known.extend(links);
                steps.push((service, event));
            }
        }
    }
    // Shown once every erasure is known: an erasure hides what was written before it, too.
    let mut rows: Vec<(i64, Value)> =
        steps.iter().map(|(service, event)| (event.recorded_at.as_micros(), decoder.event(service, event))).collect();
    if rows.is_empty() {
        bail!("no service recorded anything about application {application}");
    }
    // One timeline across services: by the time each service recorded the step (stable within a log).
    rows.sort_by_key(|(recorded_at, _)| *recorded_at);
    if as_json {
        for (_, row) in &rows {
            say!("{row}");
        }
    } else {
        print_table(&rows);
    }
    Ok(Outcome::Verified)
}

fn print_table(rows: &[(i64, Value)]) {
    say!(
        "{:<27} {:<20} {:<28} {:<34} {:<8} {:<8} {:<8}",
        "recorded at (UTC)",
        "service@position",
        "event",
        "actor",
        "correl.",
        "cause",
        "trace"
    );
    for (recorded_at, row) in rows {
        let text =
            |path: &[&str]| path.iter().fold(row, |value, key| &value[*key]).as_str().unwrap_or_default().to_owned();
        let actor = format!("{} ({})", text(&["actor", "subject"]), text(&["actor", "role"]));
        say!(
            "{:<27} {:<20} {:<28} {:<34} {:<8} {:<8} {:<8}",
            rfc3339(*recorded_at),
            format!("{}@{}", text(&["service"]), row["position"]),
            text(&["event_type"]),
            actor,
            text(&["correlation_id"]).get(..8).unwrap_or_default(),
            text(&["causation_id"]).get(..8).unwrap_or_default(),
            text(&["trace_id"]).get(..8).unwrap_or_default(),
        );
    }
}
