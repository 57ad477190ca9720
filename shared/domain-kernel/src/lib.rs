//! The pure vocabulary every service's domain shares, with no IO and no wire format in it.
//!
//! - `rejection.rs`: [`Rejection`], why the rules refuse a command (the gRPC status it maps to is chosen
//!   by the service runtime, not here).
//! - `invalid_value.rs`: [`InvalidValue`], a value that breaks a rule, naming the field and the rule.
//! - `actor.rs`: [`Actor`] and [`Role`], who acts (tokens are verified into them by the service runtime).
//! - [`field_rules`]: the text, list and short-id rules every domain checks alike.
//! - `lifecycle.rs`: [`require_status`], the refusal of a command in a status that does not allow it.
//! - `ids.rs`: [`define_id!`] for typed UUID identifiers and [`parse_uuid`], their one spelling.
//! - `money.rs`: [`Money`] in integer minor units of a [`Currency`] in use (ISO 4217).
//! - `country.rs`: [`Country`], an assigned ISO 3166-1 alpha-2 code.
//! - `date.rs`: [`Date`], a calendar day.
//! - `timestamp.rs`: [`Timestamp`], microseconds since the Unix epoch.
//!
//! The wire forms of these values are converted in `contracts::values`; this crate knows nothing of them.

mod actor;
mod country;
mod date;
pub mod field_rules;
mod ids;
mod invalid_value;
mod lifecycle;
mod money;
mod rejection;
mod timestamp;

pub use actor::{Actor, Role};
pub use country::Country;
pub use date::Date;
pub use ids::parse_uuid;
pub use invalid_value::InvalidValue;
pub use lifecycle::{LifecycleStatus, require_status};
pub use money::{Currency, Money};
pub use rejection::Rejection;
pub use timestamp::Timestamp;
