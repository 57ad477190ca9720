//! The projector: the platform's only writer of read models (contract: `proto/grants/projector/v1`).
//!
//! It consumes every domain event of the applications, awards and reporting services from the bus
//! (idempotent, in order per source log, checkpoint per source in the same sled transaction as the
//! read-model change, gaps filled from the owning service's log), and answers queries over gRPC.
//! Everything it holds can be dropped and rebuilt from the services' logs, and answered as of a past
//! point without touching the live models.
//!
//! - [`projection`]: the pure projection `project(store, source, event)` and the read-model records.
//! - [`store`]: the storage interface it writes through: sled transaction, rebuild batches, memory.
//! - [`suppression`]: small-cell suppression of indicator counts on the way out.
//! - [`perturbation`]: cell-key perturbation of every shown indicator count (the table is data).
//! - [`disclosure`]: the settings both are published with, and the month-end rule for as-of answers.
//! - [`queries`]: read-model answers in the wire shapes, from any view.
//! - [`models`]: generations on sled, the live bus handler, rebuilds, digests.
//! - [`rebuild`]: a rebuild's readers, each source read and decoded ahead of the projection.
//! - [`as_of`]: in-memory replays up to a time or position.
//! - [`replica`]: a replica's name, which names its queues when several projectors run side by side.
//! - [`grpc`], [`access`], [`service`]: the query API, who may call it, and the running process.

pub mod access;
pub mod as_of;
pub mod disclosure;
pub mod grpc;
pub mod models;
pub mod perturbation;
pub mod projection;
pub mod queries;
pub mod rebuild;
pub mod replica;
pub mod service;
pub mod store;
pub mod suppression;
