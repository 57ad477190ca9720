//! Reading and writing read-model entries through a [`Store`]: JSON records, created, changed, or changed
//! only when their creating event was projected.

use serde::{Serialize, de::DeserializeOwned};

use super::ProjectError;
use crate::store::{Store, StoreError};

pub fn read<T: DeserializeOwned>(bytes: &[u8], key: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError(format!("entry `{key}` does not decode: {e}")))
}

pub(super) fn load<T: DeserializeOwned>(store: &mut impl Store, key: &str) -> Result<Option<T>, StoreError> {
    store.get(key)?.map(|bytes| read(&bytes, key)).transpose()
}

pub(super) fn save<T: Serialize>(store: &mut impl Store, key: &str, value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(|e| StoreError(format!("entry `{key}` does not encode: {e}")))?;
    store.put(key, bytes)
}

/// Loads a record, lets `change` edit it (starting from the default when absent), saves it.
pub(super) fn update<T: DeserializeOwned + Serialize + Default>(
    store: &mut impl Store,
    key: &str,
    change: impl FnOnce(&mut T),
) -> Result<(), StoreError> {
    let mut value = load(store, key)?.unwrap_or_default();
    change(&mut value);
    save(store, key, &value)
}

/// Updates a record only when it exists: an event about something the projector never saw created is a
/// broken contract, not something to invent a record for.
pub(super) fn update_existing<T: DeserializeOwned + Serialize>(
    store: &mut impl Store,
    key: &str,
    change: impl FnOnce(&mut T),
) -> Result<(), ProjectError> {
    let Some(mut value) = load::<T>(store, key)? else {
        return Err(ProjectError::Rejected(format!("`{key}` is unknown: its creating event was never projected")));
    };
    change(&mut value);
    Ok(save(store, key, &value)?)
}
