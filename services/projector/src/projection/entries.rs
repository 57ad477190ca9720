//! Reading and writing read-model entries through a [`Store`]: JSON records, created, changed, or changed
//! only when their creating event was projected.

use serde::{Serialize, de::DeserializeOwned};

use super::ProjectError;
use crate::store::{Store, StoreError};

pub fn read<T: DeserializeOwned>(bytes: &[u8], key: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::EntryDecode { key: key.to_owned(), source })
}

pub(super) fn load<T: DeserializeOwned>(store: &mut impl Store, key: &str) -> Result<Option<T>, StoreError> {
    store.get(key)?.map(|bytes| read(&bytes, key)).transpose()
}

pub(super) fn save<T: Serialize>(store: &mut impl Store, key: &str, value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(|source| StoreError::EntryEncode { key: key.to_owned(), source })?;
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_entry_that_does_not_decode_names_its_key_and_keeps_the_decoder_error() {
        let error = read::<u64>(b"not json", "round/1").expect_err("not JSON");
        let decoder_error = serde_json::from_slice::<u64>(b"not json").expect_err("not JSON");
        assert_eq!(
            error.to_string(),
            format!("read-model storage failed: entry `round/1` does not decode: {decoder_error}")
        );
        assert!(error.source().is_some_and(|cause| cause.is::<serde_json::Error>()), "{error:?}");
    }
}
