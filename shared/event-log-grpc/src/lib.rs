//! The read-only gRPC service over a service's event log (`proto/grants/eventlog/v1/log_service.proto`), and
//! a client for it. Every service serves it beside its own API; auditors, the projector and the bus's gap
//! filling read through it.
//!
//! The server does no authentication or authorisation of its own: services mount it behind the shared
//! runtime's interceptor, whose table says which roles may call [`RPC_NAMES`].

pub mod checkpoint;
mod client;
mod server;

#[allow(clippy::all, dead_code, missing_debug_implementations, rust_2018_idioms)]
mod pb {
    tonic::include_proto!("grants.eventlog.v1");
}

pub use checkpoint::{CheckpointAudit, CheckpointSigner, SignedCheckpoint};
pub use client::{BearerToken, ClientError, LogClient, RemoteHead};
pub use pb::event_log_service_server::EventLogServiceServer;
pub use server::LogService;

/// Full gRPC name of the service, as it appears in paths, health checks and authorisation tables.
pub const SERVICE_NAME: &str = "grants.eventlog.v1.EventLogService";

/// Every RPC of the service, as `/package.Service/Method` paths.
pub const RPC_NAMES: [&str; 4] = [
    "/grants.eventlog.v1.EventLogService/ReadStream",
    "/grants.eventlog.v1.EventLogService/ReadAll",
    "/grants.eventlog.v1.EventLogService/Subscribe",
    "/grants.eventlog.v1.EventLogService/GetHead",
];

/// Encoded descriptors of the log contracts, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("event_log_descriptors");

/// Smallest encoding limit a server of this service should have: room for one event as large as any
/// service accepts, alone in its batch (see [`BATCH_BYTES`]).
pub const MIN_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Most envelopes sent per streamed message: enough to amortise per-message cost on replays of millions of
/// small events.
pub const EVENTS_PER_BATCH: usize = 256;

/// Most bytes of envelopes per streamed message, so that batches of large events stay far below any
/// message-size limit (gRPC's common default is 4 MiB); an event larger than this still goes, alone.
pub const BATCH_BYTES: usize = 1024 * 1024;

fn envelope(stored: &event_log::StoredEvent) -> pb::EventEnvelope {
    pb::EventEnvelope { record: stored.record.to_vec(), hash: stored.hash.as_bytes().to_vec() }
}
