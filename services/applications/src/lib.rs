//! The applications service: funding rounds, partner organisations, grant applications, review and
//! decision (contract: `proto/grants/applications/v1`).
//!
//! - [`domain`]: pure aggregates (rounds, organisations, applications) with every rule.
//! - [`events`]: how domain events are stored in the event log (protobuf payloads named by type).
//! - [`index`]: the in-memory read index (applications per round, approved totals, registration
//!   numbers), rebuilt from the log at start-up and caught up after every append.
//! - [`grpc`]: handlers that only decode, call the domain through the runtime's command helper, encode.
//! - [`service`]: assembling and running the server.

pub mod access;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod index;
pub mod service;
