//! `grants.operations.v1.OperationsService`, served by every service process next to its log: how its
//! relay and consumer stand, read as the metrics read them ([`BusWatch::status`]).

use contracts::operations::v1 as pb;
use tonic::{Request, Response, Status};

use crate::bus::{BusStatus, BusWatch, ConsumerStatus, SourceStatus};
use crate::errors::ServiceError;

/// Answers `GetBusStatus` from a service's [`BusWatch`].
#[derive(Clone, Debug)]
pub struct Operations {
    bus: BusWatch,
}

impl Operations {
    pub fn new(bus: BusWatch) -> Operations {
        Operations { bus }
    }

    /// As a gRPC service.
    pub fn into_server(self) -> pb::OperationsServiceServer<Operations> {
        pb::OperationsServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl pb::OperationsService for Operations {
    async fn get_bus_status(
        &self,
        _request: Request<pb::GetBusStatusRequest>,
    ) -> Result<Response<pb::BusStatus>, Status> {
        Ok(Response::new(wire(self.bus.status().await)?))
    }
}

/// The answer to `GetBusStatus`; INTERNAL when the relay's backlog could not be read from the log.
fn wire(status: BusStatus) -> Result<pb::BusStatus, ServiceError> {
    let relay = match status.relay {
        Some(Ok(backlog)) => Some(pb::RelayStatus {
            connected: backlog.connected,
            published_next_position: backlog.published_up_to,
            log_next_position: backlog.head,
            backlog_events: backlog.depth,
            // Only an age beyond `i64::MAX` seconds does not convert.
            oldest_unpublished_age: backlog.oldest_unpublished_age.and_then(|age| age.try_into().ok()),
        }),
        Some(Err(error)) => {
            return Err(ServiceError::internal_from("cannot read the relay's backlog from the log", error));
        }
        None => None,
    };
    Ok(pb::BusStatus {
        service: status.service,
        with_bus: status.with_bus,
        relay,
        consumer: status.consumer.map(consumer_wire),
    })
}

fn consumer_wire(consumer: ConsumerStatus) -> pb::ConsumerStatus {
    pb::ConsumerStatus {
        connected: consumer.progress.connected,
        sources: consumer.sources.into_iter().map(source_wire).collect(),
    }
}

fn source_wire(source: SourceStatus) -> pb::SourceStatus {
    let behind = source.behind();
    let (head_next_position, error) = match source.head {
        Ok(head) => (Some(head), String::new()),
        Err(error) => (None, error),
    };
    pb::SourceStatus { source: source.source, applied_next_position: source.applied, head_next_position, behind, error }
}
