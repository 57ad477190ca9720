//! What every gRPC service of the grants platform shares, written once:
//!
//! - [`server`]: a tonic server with health and reflection, message-size and concurrency limits, request
//!   timeouts, and graceful shutdown on SIGTERM/ctrl-c ([`server::serve`], [`server::cancel_on_signals`]).
//! - [`identity`]: bearer tokens (JWT, HS256 pinned, `exp`/`iss`/`aud`/`sub` checked) verified into a
//!   `domain_kernel::Actor`; [`identity::issue_dev_token`] (behind `grants token`) issues development tokens.
//! - [`authorization`]: one [`AccessTable`] per service (RPC -> roles, deny by default), enforced for every
//!   request by [`AuthLayer`] before any handler runs.
//! - [`errors`]: domain rejections (`domain_kernel::Rejection`) and infrastructure failures as
//!   [`ServiceError`], mapped to gRPC status codes in one place.
//! - [`command`]: load an aggregate from its stream, decide, append with optimistic concurrency and the
//!   actor on every event, once per client request id ([`EventStore::execute`]); its twin for a consumed
//!   event, whose events are appended with the consumer's checkpoint ([`EventStore::react`]); both build
//!   their events in one place.
//! - [`config`]: flags and environment variables every service shares, and tracing (`--log-format text`
//!   or `json`, `GRANTS_LOG_FORMAT`: one JSON object per line).
//! - [`log_location`]: a service's log in `log/` of its data directory, moved there from the root once.
//! - [`log_sources`]: bus consumers fill gaps by reading source logs over gRPC ([`LogSources`]).
//! - [`message_limit`]: a message over the size limit answers `RESOURCE_EXHAUSTED`.
//! - [`request_log`]: one log event per gRPC request (service, RPC, trace id, actor, command ids,
//!   duration, outcome) and the request's W3C trace context from its `traceparent` metadata
//!   ([`request_log::RequestLogLayer`], [`request_log::current_trace`]).
//! - [`metrics`]: the service's Prometheus metrics, served over HTTP on an address of its own ([`Metrics`]).
//! - [`paging`]: page sizes and tokens of list answers ([`Page`]).
//! - [`sealing`]: free text of events guarded, sealed under its scope's key before it is appended, opened
//!   (or shown as erased) for the service's own readers ([`sealing::TextSealer`]).
//! - [`bus`]: a service's relay and consumer, started before serving and stopped after ([`ServiceBus`]), and
//!   how they stand ([`bus::BusWatch::status`], read by the metrics and by [`operations`]).
//! - [`operations`]: `grants.operations.v1.OperationsService`, every server's answer to how its bus stands.
//! - [`visible`]: an aggregate loaded for a caller who may see it, NOT_FOUND otherwise ([`Guarded`]).
//! - [`launch`]: one skeleton for every service's process and assembly ([`launch::service_main`],
//!   [`launch::Foundation`]).
//! - [`listing_index`]: the core of the services' in-memory listing indexes ([`listing_index::ListingIndex`]).
//! - [`rpc_path`]: `package.Service/Method` as a constant ([`rpc_path!`]).

pub mod authorization;
pub mod bus;
pub mod command;
pub mod config;
pub mod errors;
pub mod identity;
pub mod launch;
pub mod listing_index;
pub mod log_location;
pub mod log_sources;
pub mod message_limit;
pub mod metrics;
pub mod operations;
pub mod paging;
pub mod request_log;
pub mod rpc_path;
pub mod sealing;
pub mod server;
pub mod visible;

pub use authorization::{AccessTable, AuthLayer, actor_of, log_access_table, operations_access_table};
pub use bus::{BusWatch, ServiceBus};
pub use command::{Aggregate, CommandContext, DomainEvent, EventStore, Loaded};
pub use errors::{Reply, ServiceError, reply};
pub use identity::{JwtConfig, TokenIssuer, TokenVerifier};
pub use log_sources::LogSources;
pub use metrics::{Metrics, MetricsEndpoint};
pub use paging::Page;
pub use sealing::TextSealer;
pub use visible::Guarded;

/// For [`domain_event_codec!`], which expands in the services' crates.
#[doc(hidden)]
pub use prost as __prost;
pub use server::{CheckpointConfig, ServerConfig, Serving, serve};
