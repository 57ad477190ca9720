//! Serving a log: reads run on blocking threads (sled reads can touch the disk) and stream out in batches.

use std::pin::Pin;

use event_log::{EventLog, StorageError, StoredEvent, StreamId};
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::pb::event_log_service_server::{EventLogService, EventLogServiceServer};
use crate::pb::{
    EventBatch, EventEnvelope, GetHeadRequest, LogHead, ReadAllRequest, ReadStreamRequest, SubscribeRequest,
};
use crate::{BATCH_BYTES, EVENTS_PER_BATCH, envelope};

type BatchStream = Pin<Box<dyn Stream<Item = Result<EventBatch, Status>> + Send>>;

/// Batches in flight per call: a slow reader holds back its own call only.
const BATCHES_IN_FLIGHT: usize = 4;

/// The read-only log service of one service's log.
#[derive(Clone, Debug)]
pub struct LogService {
    log: EventLog,
    service: String,
}

impl LogService {
    /// `service` names the owner of the log in [`LogHead`] answers (for example `applications`).
    pub fn new(log: EventLog, service: impl Into<String>) -> LogService {
        LogService { log, service: service.into() }
    }

    pub fn into_server(self) -> EventLogServiceServer<LogService> {
        EventLogServiceServer::new(self)
    }
}

fn storage_status(error: StorageError) -> Status {
    match error {
        StorageError::Corrupt { .. } => Status::data_loss(error.to_string()),
        _ => Status::unavailable(error.to_string()),
    }
}

/// Sends `events` in batches of at most [`EVENTS_PER_BATCH`] events and [`BATCH_BYTES`] bytes (one larger
/// event goes alone) until they end, the client goes away, or a read fails.
fn send_batches<I>(events: I, tx: &mpsc::Sender<Result<EventBatch, Status>>) -> bool
where
    I: Iterator<Item = Result<EventEnvelope, StorageError>>,
{
    let send = |batch: Vec<EventEnvelope>| tx.blocking_send(Ok(EventBatch { events: batch })).is_ok();
    let mut batch = Vec::with_capacity(EVENTS_PER_BATCH);
    let mut batch_bytes = 0;
    for event in events {
        let envelope = match event {
            Ok(envelope) => envelope,
            Err(error) => {
                let _ = tx.blocking_send(Err(storage_status(error)));
                return false;
            }
        };
        let size = prost::Message::encoded_len(&envelope);
        if !batch.is_empty() && batch_bytes + size > BATCH_BYTES && !send(std::mem::take(&mut batch)) {
            return false;
        }
        if batch.is_empty() {
            batch_bytes = 0;
        }
        batch_bytes += size;
        batch.push(envelope);
        if batch.len() == EVENTS_PER_BATCH && !send(std::mem::take(&mut batch)) {
            return false;
        }
    }
    batch.is_empty() || send(batch)
}

fn stored_envelopes(
    log: &EventLog,
    from: u64,
    until: u64,
) -> impl Iterator<Item = Result<EventEnvelope, StorageError>> {
    log.read_range(from..until).stored().map(|stored| stored.map(|s: StoredEvent| envelope(&s)))
}

#[tonic::async_trait]
impl EventLogService for LogService {
    type ReadStreamStream = BatchStream;
    type ReadAllStream = BatchStream;
    type SubscribeStream = BatchStream;

    async fn read_stream(&self, request: Request<ReadStreamRequest>) -> Result<Response<BatchStream>, Status> {
        let request = request.into_inner();
        let stream = StreamId::new(request.stream_type, request.stream_key)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (tx, rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || {
            let events = log.read_stream(&stream, request.from_version).map(|event| {
                event.map(|e| EventEnvelope { record: e.record_bytes().to_vec(), hash: e.hash.as_bytes().to_vec() })
            });
            send_batches(events, &tx);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn read_all(&self, request: Request<ReadAllRequest>) -> Result<Response<BatchStream>, Status> {
        let request = request.into_inner();
        let from = request.from_position;
        let head = self.log.next_position();
        let until = match request.max_events {
            0 => head,
            max => from.saturating_add(max).min(head),
        };
        let (tx, rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || send_batches(stored_envelopes(&log, from, until), &tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn subscribe(&self, request: Request<SubscribeRequest>) -> Result<Response<BatchStream>, Status> {
        let from = request.into_inner().from_position;
        let (tx, rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        let log = self.log.clone();
        tokio::spawn(async move {
            // Catch up in large batches first, then follow one event at a time as they become durable.
            let head = log.next_position();
            let catch_up_tx = tx.clone();
            let catch_up_log = log.clone();
            let caught_up = tokio::task::spawn_blocking(move || {
                send_batches(stored_envelopes(&catch_up_log, from, head), &catch_up_tx)
            })
            .await
            .unwrap_or(false);
            if !caught_up {
                return;
            }
            let mut subscription = log.subscribe(head.max(from));
            while let Some(event) = subscription.next().await {
                let message = event
                    .map(|e| EventBatch {
                        events: vec![EventEnvelope {
                            record: e.record_bytes().to_vec(),
                            hash: e.hash.as_bytes().to_vec(),
                        }],
                    })
                    .map_err(storage_status);
                let failed = message.is_err();
                if tx.send(message).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_head(&self, _request: Request<GetHeadRequest>) -> Result<Response<LogHead>, Status> {
        let head = self.log.head().map_err(storage_status)?;
        Ok(Response::new(LogHead {
            service: self.service.clone(),
            next_position: head.map_or(0, |h| h.position + 1),
            head_hash: head.map(|h| h.hash.as_bytes().to_vec()).unwrap_or_default(),
        }))
    }
}
