//! The awards service: award offers opened from approved applications, agreements, tranches gated by
//! accepted reports, variations, suspension, termination and close-out (contract:
//! `proto/grants/awards/v1`; the reporting events it consumes: `proto/grants/reporting/v1/events.proto`).
//!
//! - [`domain`]: the pure award aggregate with every rule about money.
//! - [`events`]: how domain events are stored in the event log (protobuf payloads named by type).
//! - [`inbound`]: the bus consumer's reactions to `ApplicationApproved` and `ReportAccepted`.
//! - [`index`]: the in-memory listing index, rebuilt from the log and caught up before each listing.
//! - [`view`]: the award as readers see it, built once (the service's answers, `grants as-of`).
//! - [`grpc`]: handlers that only decode, call the domain through the runtime's command helper, encode.
//! - [`service`]: assembling and running the server, the relay and the consumer.

pub mod access;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod inbound;
pub mod index;
pub mod service;
pub mod view;
