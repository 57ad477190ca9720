//! The platform's message bus on RabbitMQ: each service's event log is published by a [`Relay`], and
//! other services apply those events through a [`Consumer`], exactly once in effect, whatever the broker
//! and the network do.
//!
//! # Topology
//!
//! Declared idempotently at start-up from [`BusConfig`] and [`ConsumerConfig`]; no name is written
//! anywhere else.
//! - A durable topic exchange for events (default `grants.events`), routing key `<service>.<EventType>`.
//! - Per consumer, a durable quorum queue (default `<name>.inbox`) bound to `<source>.#` for each whole
//!   source service, with `x-delivery-limit`, a dead-letter exchange (default `grants.dead-letters`,
//!   direct, routing key = the queue's name), `x-dead-letter-strategy=at-least-once` and
//!   `x-overflow=reject-publish`; and a quorum dead-letter queue (default `<name>.dead-letters`).
//!
//! # Guarantees
//!
//! - **Nothing lost.** The log is the outbox. The relay publishes persistent, `mandatory` messages with
//!   publisher confirms from a cursor stored in the log, and moves the cursor only over a contiguous
//!   prefix of acks. Anything else (nack, return, timeout, lost connection) republishes from the first
//!   unconfirmed position. Consumers ack only after the effect is durable.
//! - **Nothing applied twice.** The handler commits a per-source [`Checkpoint`] atomically with the
//!   effect. Duplicates (redeliveries, republished messages, acks lost with a connection) are acked
//!   without effect.
//! - **In order per source.** A message ahead of a gap is applied only after the missing positions were
//!   read from the source ([`SourceReader`]) and applied.
//! - **Nothing dropped silently.** Undecodable messages and events a handler rejects go to the consumer's
//!   dead-letter queue with the reason; [`DeadLetters`] (and the `grants bus` command) lists, shows and
//!   replays them. Messages that fail over and over are dead-lettered by the broker at the delivery
//!   limit.
//!
//! The message body is the protobuf `EventEnvelope` of `grants.eventlog.v1`; headers are listed in
//! [`message::header`], among them `traceparent`, the W3C trace context the event was recorded in
//! ([`message::trace_context`] reads it). The consumer logs each consumed event once: applied, rejected or
//! dead-lettered, with its source, type, id and trace id.

mod broker;
mod checkpoint;
mod config;
mod consumer;
mod dead_letter;
mod error;
mod handler;
pub mod message;
mod outage;
mod relay;
mod source;

pub use broker::probe;
pub use checkpoint::Checkpoint;
pub use config::{BrokerAddress, BrokerTls, BusConfig, ConsumerConfig, RelayConfig};
pub use consumer::{Consumer, ConsumerProgress};
pub use dead_letter::{DeadLetter, DeadLetters, MAX_LISTED};
pub use error::{BusError, Cause, HandlerError, Rejection, SourceError};
pub use handler::{Handler, LogHandler, LogReaction, ReactionResult};
pub use relay::{Backlog, BacklogMonitor, Relay};
pub use source::SourceReader;

/// Re-exported so that services name the same versions.
pub use lapin;
pub use tokio_util::sync::CancellationToken;
