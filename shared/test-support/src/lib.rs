//! What the services' integration tests share, so that every suite drives the platform the same way.
//!
//! - [`broker`]: a RabbitMQ vhost of its own per test (127.0.0.1:5672, guest/guest), deleted when dropped,
//!   and publishing recorded events again as a relay would.
//! - [`services`]: a service started in this process on a loopback port, with its data in a temporary
//!   directory, until it is stopped; [`start_applications!`], [`start_awards!`], [`start_reporting!`] and
//!   [`start_sources!`] (the three wired to each other) start the platform's services that way;
//!   [`services::serve_log`] serves a log alone, read-only, as a service serves its own.
//! - [`identity`]: the tests' token settings, tokens for a role, and requests that carry them.
//! - [`fixtures`]: request ids, money and dates, the standard agreement, an application taken through the
//!   real applications service to approval, and an award signed and paid through the real awards service.
//! - [`polling`]: waiting for what happens asynchronously (over the bus) with a bound.
//! - [`authorization`]: a service's role table checked against its compiled contract and over the wire.
//! - [`decider`]: given/when/then for the services' pure deciders (the domains' unit tests).
//!
//! The crate depends on no service: every service takes it as a dev-dependency. The service starters are
//! macros, which name the service crates only where they expand, in suites that depend on them.

pub mod authorization;
pub mod broker;
pub mod decider;
pub mod disk;
pub mod fixtures;
pub mod identity;
pub mod polling;
pub mod services;

pub use broker::Vhost;
pub use fixtures::request_id;
pub use identity::{authed, jwt, token};
pub use polling::{eventually, eventually_within};
pub use services::Running;
