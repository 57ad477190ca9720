//! The projection: how one recorded event of one source changes the read models. Pure and synchronous
//! over a [`Store`], so that the same code runs live (in a sled transaction with the checkpoint), in a
//! rebuild (into a fresh generation) and for as-of answers (in memory).
//!
//! # Entries and who writes them
//!
//! Events are ordered per source log, never across sources: the relays publish independently, and a
//! rebuild replays one log after another. So every entry is written by exactly one source, and joins
//! across sources (an award's services come from its application) are made by the queries. Live models
//! and rebuilt models are then equal entry for entry, whatever the interleaving.
//!
//! | Key | Written from | Holds |
//! |---|---|---|
//! | `round/<round_id>` | applications | title, ceiling, open/closed |
//! | `org/<organisation_id>` | applications | legal name, country (never the contact person) |
//! | `app/<application_id>` | applications | round, organisation, stage, amounts, countries, services |
//! | `award/<award_id>` | awards | application, round, organisation, status, offered/committed/released |
//! | `obl/<award_id>` | reporting | the award's obligations: kind, due date, status, first submission |
//! | `pending/<report_id>` | reporting | indicators of the last submitted version, until accepted |
//! | `ind/<award_id>/<indicator_id>` | reporting | accepted indicator values per report, with the time of acceptance |
//! | `tl/app/<application_id>/applications/<position>` | applications | timeline entries |
//! | `tl/award/<award_id>/<source>/<position>` | awards, reporting | timeline entries |
//!
//! Checkpoints (`cp/<source>`) live beside the models and are written by the handlers, not here.
//!
//! Each event is decoded once into its service's typed enum ([`contracts::events`]), and each source's
//! module matches every event type of its service: an event type added to a contract is a compile error
//! here until it is projected or listed as changing nothing.
//!
//! - [`records`]: the entries' values, JSON (so equal models are equal bytes and a digest can compare them).
//! - [`keys`]: the entries' keys.
//! - `applications`, `awards`, `reporting`: what each source's events change.
//! - `entries`, `timeline`, [`days`], `money`: reading and writing entries, timeline steps, days and amounts.

mod applications;
mod awards;
pub mod days;
mod entries;
pub mod keys;
mod money;
pub mod records;
mod reporting;
mod timeline;

use contracts::applications::v1::ApplicationsEvent;
use contracts::awards::v1::AwardsEvent;
use contracts::events::{ServiceEvents, UndecodableEvent};
use contracts::names::service;
use contracts::reporting::v1::ReportingEvent;
use event_log::RecordedEvent;

use crate::store::{Store, StoreError};

pub use days::{Day, day, day_of, day_of_micros};
pub use entries::read;
pub use keys::{
    app_key, award_id_for, award_key, checkpoint_key, ind_prefix, obl_key, org_key, round_key, timeline_prefix,
};
pub use records::{
    AppRec, AwardRec, Contribution, IndRec, IndicatorCounts, Obl, OblRec, OblStatus, OrgRec, PendingReport, RoundRec,
    Stage, TimelineRec, cell_key, parse_cell_key,
};

/// The source services the projector consumes, in the order a rebuild replays them.
pub const SOURCES: [&str; 3] = service::EVENT_SOURCES;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The event cannot be projected (it does not decode, or breaks the contract); it is dead-lettered
    /// with this reason.
    #[error("{0}")]
    Rejected(String),
}

/// Applies `event` of `source` to the read models in `store`. Events of types the read models do not use
/// change nothing; sources other than [`SOURCES`] change nothing.
pub fn project(store: &mut impl Store, source: &str, event: &RecordedEvent) -> Result<(), ProjectError> {
    match decode(source, event)? {
        Some(decoded) => apply(store, event, decoded),
        None => Ok(()),
    }
}

/// An event decoded by its source's contract, ready for [`apply`]: a rebuild decodes on the reading side,
/// ahead of the projection.
#[derive(Debug)]
pub enum Decoded {
    Applications(ApplicationsEvent),
    Awards(AwardsEvent),
    Reporting(ReportingEvent),
}

/// The first half of [`project`]: `event` of `source` decoded, `None` when it changes nothing (a type
/// this version does not know, or a source other than [`SOURCES`]).
pub fn decode(source: &str, event: &RecordedEvent) -> Result<Option<Decoded>, ProjectError> {
    Ok(match source {
        service::APPLICATIONS => decoded(event)?.map(Decoded::Applications),
        service::AWARDS => decoded(event)?.map(Decoded::Awards),
        service::REPORTING => decoded(event)?.map(Decoded::Reporting),
        _ => None,
    })
}

/// The second half of [`project`]: what `decoded`, the decoded `event`, changes in `store`.
pub fn apply(store: &mut impl Store, event: &RecordedEvent, decoded: Decoded) -> Result<(), ProjectError> {
    match decoded {
        Decoded::Applications(e) => applications::project(store, event, e),
        Decoded::Awards(e) => awards::project(store, event, e),
        Decoded::Reporting(e) => reporting::project(store, event, e),
    }
}

/// The event as its service's typed event: `None` for a type this version of the contracts does not know
/// (it changes nothing); a known type must be at schema version 1 and decode.
fn decoded<E: ServiceEvents>(event: &RecordedEvent) -> Result<Option<E>, ProjectError> {
    let decoded = E::decode(&event.event_type, &event.payload);
    if matches!(decoded, Ok(None)) {
        return Ok(None);
    }
    if event.schema_version != 1 {
        return Err(ProjectError::Rejected(format!(
            "`schema_version` of {} must be 1, is {}",
            event.event_type, event.schema_version
        )));
    }
    decoded.map_err(|e: UndecodableEvent| ProjectError::Rejected(e.to_string()))
}

fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, ProjectError> {
    if value.is_empty() {
        return Err(ProjectError::Rejected(format!("`{field}` is required")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use contracts::events::EventMessage;
    use event_log::{EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId};
    use prost::Message;

    /// `events` (type, schema version, payload) recorded in a fresh log, as the projector reads them.
    async fn recorded(events: Vec<(&str, u32, Vec<u8>)>) -> Vec<RecordedEvent> {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let new = |(event_type, schema_version, payload): (&str, u32, Vec<u8>)| NewEvent {
            event_id: uuid::Uuid::new_v4(),
            event_type: event_type.to_owned(),
            schema_version,
            payload,
            metadata: EventMetadata {
                actor: event_log::Actor { subject: "s".into(), role: "staff".into(), organisation: String::new() },
                correlation_id: uuid::Uuid::new_v4(),
                causation_id: uuid::Uuid::new_v4(),
                occurred_at: event_log::Timestamp::now(),
                trace: None,
            },
        };
        let stream = StreamId::new(contracts::names::stream::ROUND, "r-1").unwrap();
        log.append(stream, ExpectedVersion::Any, events.into_iter().map(new).collect()).await.unwrap();
        log.read_all(0).map(Result::unwrap).collect()
    }

    #[tokio::test]
    async fn an_unknown_type_or_source_changes_nothing_and_a_known_type_of_another_schema_version_is_refused() {
        let opened = contracts::applications::v1::RoundOpened { round_id: "r-1".into(), ..Default::default() };
        let events = recorded(vec![
            ("RoundRenamed", 1, vec![0xff]),
            (contracts::applications::v1::RoundOpened::EVENT_TYPE, 2, opened.encode_to_vec()),
            (contracts::applications::v1::RoundOpened::EVENT_TYPE, 1, opened.encode_to_vec()),
        ])
        .await;
        let mut store = MemStore::default();
        project(&mut store, service::APPLICATIONS, &events[0]).unwrap();
        project(&mut store, "elsewhere", &events[2]).unwrap();
        assert!(store.entries.is_empty());
        match project(&mut store, service::APPLICATIONS, &events[1]) {
            Err(ProjectError::Rejected(reason)) => assert!(reason.contains("`schema_version`"), "{reason}"),
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(store.entries.is_empty());
        project(&mut store, service::APPLICATIONS, &events[2]).unwrap();
        assert!(store.entries.contains_key("round/r-1"));
    }
}
