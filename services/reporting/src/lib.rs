//! The reporting service: reporting obligations scheduled from signed agreements, victim-safe progress
//! reports with aggregate indicators, financial reports (acquittals) with computed variances,
//! attestations, and the review loop whose acceptances unlock tranches in the awards service (contract:
//! `proto/grants/reporting/v1`).
//!
//! People served by partners are victims of trafficking: the contract has no field for a person, counts
//! are disaggregated only by sex, age band and disability, and every free-text field passes the
//! [`domain::identity_guard`] before anything is decided or stored.
//!
//! - [`domain`]: the pure schedule aggregate (one per award: obligations and reports with versions), what
//!   a report says as domain values, the indicator catalogue, content checks and the identity guard.
//! - [`events`]: how domain events are stored in the event log (protobuf payloads named by type).
//! - [`inbound`]: the bus consumer's reactions to the awards service's events.
//! - [`index`]: the in-memory index of reports and of reports awaiting review.
//! - [`grpc`]: handlers that only decode, call the domain through the runtime's command helper, encode.
//! - [`service`]: assembling and running the server, the relay and the consumer.

pub mod access;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod inbound;
pub mod index;
pub mod service;
