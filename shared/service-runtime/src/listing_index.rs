//! The generic core of a service's in-memory listing index: state derived only from the service's own
//! log, built at start-up by reading the whole log and caught up (every durable event not yet seen, in
//! position order) before a read that needs it, so a caller reads its own writes and sees what the bus
//! consumer appended. Each service supplies only what it indexes ([`Indexed`]).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use event_log::{EventLog, RecordedEvent};

use crate::command::DomainEvent;
use crate::errors::ServiceError;

/// What a service indexes: folded from its log's events in position order.
pub trait Indexed: Default + Send + 'static {
    /// Folds one recorded event in. An error stops the catch-up before this event, which the next
    /// catch-up reads again instead of skipping it for good.
    fn apply(&mut self, recorded: &RecordedEvent) -> Result<(), ServiceError>;
}

#[derive(Debug, Default)]
struct Progress<S> {
    /// The position of the first event not folded in yet.
    next_position: u64,
    state: S,
}

/// A listing index over a service's own log, shared by its handlers.
#[derive(Debug)]
pub struct ListingIndex<S> {
    progress: Arc<Mutex<Progress<S>>>,
}

impl<S> Clone for ListingIndex<S> {
    fn clone(&self) -> Self {
        ListingIndex { progress: self.progress.clone() }
    }
}

impl<S: Indexed> Default for ListingIndex<S> {
    fn default() -> Self {
        ListingIndex { progress: Arc::new(Mutex::new(Progress::default())) }
    }
}

impl<S: Indexed> ListingIndex<S> {
    /// Builds the index from everything in `log`.
    pub fn build(log: &EventLog) -> Result<ListingIndex<S>, ServiceError> {
        let index = ListingIndex::default();
        index.catch_up(log)?;
        Ok(index)
    }

    fn lock(&self) -> MutexGuard<'_, Progress<S>> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Folds in every durable event the index has not seen yet.
    pub fn catch_up(&self, log: &EventLog) -> Result<(), ServiceError> {
        let mut progress = self.lock();
        for recorded in log.read_all(progress.next_position) {
            let recorded = recorded?;
            progress.state.apply(&recorded)?;
            progress.next_position = recorded.position + 1;
        }
        Ok(())
    }

    /// Reads the indexed state (as far as the last catch-up).
    pub fn read<T>(&self, read: impl FnOnce(&S) -> T) -> T {
        read(&self.lock().state)
    }
}

/// Decodes a recorded event of the service's own log; a payload that does not decode is an internal
/// failure naming its position.
pub fn decode<E: DomainEvent>(recorded: &RecordedEvent) -> Result<E, ServiceError> {
    E::decode_payload(&recorded.event_type, &recorded.payload)
        .map_err(|e| ServiceError::internal_from(format!("position {}", recorded.position), e))
}

/// One page of a listing kept in log-position order: the entries after position `after` that pass
/// `keep`, at most `limit`, each with its position (the next page's token).
pub fn page_after<T: Clone>(
    by_position: &BTreeMap<u64, T>,
    after: Option<u64>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> Vec<(u64, T)> {
    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
    by_position
        .range((start, Bound::Unbounded))
        .filter(|(_, entry)| keep(entry))
        .take(limit)
        .map(|(position, entry)| (*position, entry.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use event_log::{EventMetadata, ExpectedVersion, NewEvent, StreamId};

    use super::*;

    /// The positions folded in; refuses events of type `Broken` until it accepts them.
    #[derive(Debug, Default)]
    struct Folded {
        positions: Vec<u64>,
        accept_broken: bool,
    }

    impl Indexed for Folded {
        fn apply(&mut self, recorded: &RecordedEvent) -> Result<(), ServiceError> {
            if recorded.event_type == "Broken" && !self.accept_broken {
                return Err(ServiceError::internal("cannot fold it yet"));
            }
            self.positions.push(recorded.position);
            Ok(())
        }
    }

    fn event(event_type: &str) -> NewEvent {
        NewEvent {
            event_id: uuid::Uuid::new_v4(),
            event_type: event_type.into(),
            schema_version: 1,
            payload: Vec::new(),
            metadata: EventMetadata {
                actor: event_log::Actor { subject: "s".into(), role: "r".into(), organisation: String::new() },
                correlation_id: uuid::Uuid::new_v4(),
                causation_id: uuid::Uuid::new_v4(),
                occurred_at: event_log::Timestamp::now(),
                trace: None,
            },
        }
    }

    #[tokio::test]
    async fn an_event_that_fails_is_read_again_by_the_next_catch_up() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let stream = StreamId::new("thing", "1").unwrap();
        log.append(stream.clone(), ExpectedVersion::Any, vec![event("Fine"), event("Broken")]).await.unwrap();
        let index = ListingIndex::<Folded>::default();
        assert!(index.catch_up(&log).is_err());
        assert_eq!(index.read(|f| f.positions.clone()), vec![0]);
        index.lock().state.accept_broken = true;
        index.catch_up(&log).unwrap();
        assert_eq!(index.read(|f| f.positions.clone()), vec![0, 1], "the event that failed is not skipped");
        log.append(stream, ExpectedVersion::Any, vec![event("Fine")]).await.unwrap();
        index.catch_up(&log).unwrap();
        assert_eq!(index.read(|f| f.positions.clone()), vec![0, 1, 2]);
    }

    #[test]
    fn a_page_starts_after_its_token_and_keeps_what_passes() {
        let entries = BTreeMap::from([(1, 'a'), (3, 'b'), (4, 'c'), (8, 'd')]);
        assert_eq!(page_after(&entries, None, 2, |_| true), vec![(1, 'a'), (3, 'b')]);
        assert_eq!(page_after(&entries, Some(3), 5, |e| *e != 'c'), vec![(8, 'd')]);
        assert_eq!(page_after(&entries, Some(8), 5, |_| true), vec![]);
    }
}
