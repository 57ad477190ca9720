//! As-of answers: the read models as they stood at a past time or position, rebuilt in memory by
//! replaying each source log up to that point. The live models are never touched.

use std::collections::BTreeMap;

use event_log::Timestamp;
use futures::StreamExt;
use service_runtime::LogSources;

use crate::models::RebuildError;
use crate::projection::{ProjectError, SOURCES, project};
use crate::store::MemStore;

/// A past point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Point {
    /// Every source's events recorded at or before this time. The log records time in commit order, so
    /// the replay of a source stops at its first later event.
    RecordedAt(Timestamp),
    /// Per source, the events below the given next position; a source not named contributes none.
    Positions(BTreeMap<String, u64>),
}

/// The read models at a past point.
#[derive(Clone, Debug, Default)]
pub struct Replayed {
    pub store: MemStore,
    /// The recorded time of the latest event included, over every source; `None` when none was.
    pub latest_recorded_at: Option<Timestamp>,
}

/// Replays every configured source up to `point` into memory.
pub async fn replay(sources: &LogSources, point: &Point) -> Result<MemStore, RebuildError> {
    Ok(replay_to(sources, point).await?.store)
}

/// Replays every configured source up to `point` into memory, noting the latest time included.
pub async fn replay_to(sources: &LogSources, point: &Point) -> Result<Replayed, RebuildError> {
    let mut store = MemStore::default();
    let mut latest_recorded_at: Option<Timestamp> = None;
    for source in SOURCES {
        if !sources.has(source) {
            continue;
        }
        let until = match point {
            Point::Positions(positions) => match positions.get(source) {
                Some(&until) => Some(until),
                None => continue,
            },
            Point::RecordedAt(_) => None,
        };
        if until == Some(0) {
            continue;
        }
        let mut client = sources.connect(source).await?;
        let mut stream = Box::pin(client.read_all(0).await.map_err(RebuildError::reading(source))?);
        while let Some(event) = stream.next().await {
            let event = event.map_err(RebuildError::reading(source))?;
            let included = match point {
                Point::RecordedAt(at) => event.recorded_at <= *at,
                Point::Positions(_) => until.is_some_and(|until| event.position < until),
            };
            if !included {
                break;
            }
            latest_recorded_at = latest_recorded_at.max(Some(event.recorded_at));
            match project(&mut store, source, &event) {
                Ok(()) | Err(ProjectError::Rejected(_)) => {}
                Err(ProjectError::Store(e)) => return Err(e.into()),
            }
        }
    }
    Ok(Replayed { store, latest_recorded_at })
}
