//! The reading side of a full rebuild ([`crate::models::Models::rebuild`]): every source log read and
//! decoded ahead of the projection, each by a task of its own.
//!
//! ```text
//! reader per source ──► chunks (bounded) ──► projection into memory ──► batches ──► writer thread ──► tree
//! ```
//!
//! The sources are read at the same time and their chunks reach the projection interleaved. That changes
//! nothing in the models: every entry is written by exactly one source (see [`crate::projection`]), so
//! only the order within a source matters, and each reader keeps its log's order.

use event_log::RecordedEvent;
use futures::StreamExt;
use service_runtime::LogSources;
use tokio::sync::mpsc;

use crate::models::RebuildError;
use crate::projection::{Decoded, ProjectError, decode};

/// The most events a reader hands over at once: what the log service's batches (256 events) already
/// brought in, so a reader never waits to fill a chunk.
const CHUNK_EVENTS: usize = 256;

/// Chunks read ahead of the projection over every source: bounds the memory a reader faster than the
/// projection can take (about 64 × 256 events).
const CHUNKS_AHEAD: usize = 64;

/// One event as read, with its payload decoded by its source's contract (or why that failed).
#[derive(Debug)]
pub struct ReadEvent {
    pub event: RecordedEvent,
    pub decoded: Result<Option<Decoded>, ProjectError>,
}

/// What a reader hands to the projection.
#[derive(Debug)]
pub enum Delivery {
    /// The next events of the `source`th source, in log order.
    Events { source: usize, events: Vec<ReadEvent> },
    /// The `source`th source's log was read to its end (as it stood when the read started).
    End { source: usize },
}

/// Starts one reader per name in `names`, each reading its log from position 0 to its end; their
/// deliveries arrive on the returned channel, a failure as its last. A reader stops when the channel is
/// dropped.
pub fn read_ahead(sources: &LogSources, names: &[String]) -> mpsc::Receiver<Result<Delivery, RebuildError>> {
    let (sender, receiver) = mpsc::channel(CHUNKS_AHEAD);
    for (index, name) in names.iter().enumerate() {
        let (sources, name, sender) = (sources.clone(), name.clone(), sender.clone());
        tokio::spawn(async move {
            if let Err(e) = read_source(&sources, &name, index, &sender).await {
                // Nobody to tell when the projection already stopped.
                let _ = sender.send(Err(e)).await;
            }
        });
    }
    receiver
}

async fn read_source(
    sources: &LogSources,
    name: &str,
    index: usize,
    sender: &mpsc::Sender<Result<Delivery, RebuildError>>,
) -> Result<(), RebuildError> {
    let mut client = sources.connect(name).await?;
    let stream = client.read_all(0).await.map_err(RebuildError::reading(name))?;
    let mut chunks = std::pin::pin!(stream.ready_chunks(CHUNK_EVENTS));
    while let Some(chunk) = chunks.next().await {
        let mut events = Vec::with_capacity(chunk.len());
        for event in chunk {
            let event = event.map_err(RebuildError::reading(name))?;
            let decoded = decode(name, &event);
            events.push(ReadEvent { event, decoded });
        }
        if sender.send(Ok(Delivery::Events { source: index, events })).await.is_err() {
            return Ok(());
        }
    }
    let _ = sender.send(Ok(Delivery::End { source: index })).await;
    Ok(())
}
