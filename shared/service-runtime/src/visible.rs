//! Loading an aggregate for a caller who may only see some of them: one that exists but is not the
//! caller's to see answers NOT_FOUND exactly like one that does not exist, so that ids cannot be probed.

use crate::command::{Aggregate, EventStore};
use crate::errors::ServiceError;
use domain_kernel::{Actor, Rejection};

/// An aggregate whose state says who may see it.
pub trait Guarded: Aggregate {
    /// What a visible aggregate's state holds.
    type Data;
    /// What NOT_FOUND names, e.g. `award`.
    const WHAT: &'static str;
    /// The aggregate's data, if it exists and `actor` may see it.
    fn visible_to(self, actor: &Actor) -> Option<Self::Data>;
}

impl EventStore {
    /// Loads the aggregate `key`; returns its data and version if `actor` may see it, NOT_FOUND otherwise.
    pub fn load_visible<A: Guarded>(&self, actor: &Actor, key: &str) -> Result<(A::Data, u64), ServiceError> {
        let loaded = self.load::<A>(key)?;
        let version = loaded.version();
        match loaded.state.visible_to(actor) {
            Some(data) => Ok((data, version)),
            None => Err(Rejection::not_found(A::WHAT, key).into()),
        }
    }
}
