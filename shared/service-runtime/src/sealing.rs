//! Free text on its way into and out of a service's own log (`proto/grants/common/v1/free_text.proto`).
//!
//! Into the log: the identity guard reads every free-text field of a decided event; then the text is moved
//! into one `FreeText`, sealed under the key of the event's scope (a report, an application, a variation)
//! and recorded in the event's `sealed_text`, the clear fields left empty. Out of the log, for the service's
//! own readers: sealed text is opened and put back; text whose key was destroyed, and text recorded in clear
//! before sealing whose scope was erased since, reads as `[erased]`. Which fields hold free text and what
//! their scope is comes from the contracts' annotations ([`contracts::free_text::FreeTextSchema`]).

use std::collections::{HashMap, HashSet};

use contracts::common::v1::{FreeText, SealedPersonalData};
use contracts::free_text::{FreeTextSchema, SEALED_TEXT_FIELD};
use personal_data::{KeyVault, Sealed};
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value};
use uuid::Uuid;

use domain_kernel::Rejection;
use identity_guard::GuardContext;

use crate::errors::ServiceError;

/// Seals and opens the free text of one service's events with the keys in its vault.
#[derive(Clone, Debug)]
pub struct TextSealer {
    vault: KeyVault,
    /// The service's protobuf package, e.g. `grants.reporting.v1`: event types are message names in it.
    package: &'static str,
}

/// An event payload after sealing, and the scope its text was sealed under, if it had any.
#[derive(Debug)]
pub struct SealedPayload {
    pub payload: Vec<u8>,
    pub scope: Option<Uuid>,
}

impl TextSealer {
    /// Seals the free text of `package`'s events with keys kept in `vault`, after the identity guard
    /// passed it.
    pub fn new(vault: KeyVault, package: &'static str) -> TextSealer {
        // Compiled now (about half a second) rather than in the first request that writes free text.
        let patterns = identity_guard::table().patterns().len();
        tracing::info!(patterns, "identity guard rule table compiled");
        TextSealer { vault, package }
    }

    fn schema() -> &'static FreeTextSchema {
        FreeTextSchema::contracts()
    }

    /// The message of `event_type`, when it holds free text or erases some.
    fn descriptor(&self, event_type: &str) -> Option<MessageDescriptor> {
        let descriptor = Self::schema().message(&format!("{}.{event_type}", self.package))?;
        (Self::schema().carries_free_text(&descriptor) || Self::schema().is_erasure(&descriptor)).then_some(descriptor)
    }

    fn decode(descriptor: MessageDescriptor, payload: &[u8]) -> Result<DynamicMessage, ServiceError> {
        DynamicMessage::decode(descriptor.clone(), payload)
            .map_err(|e| ServiceError::internal_from(format!("{} does not decode", descriptor.full_name()), e))
    }

    fn scope(message: &DynamicMessage) -> Result<Option<Uuid>, ServiceError> {
        Self::schema().scope(message).map_err(|e| ServiceError::internal_from("cannot read the text scope", e))
    }

    /// Guards the free text of a decided event and seals it; returns the payload to record. An event without
    /// free text is returned as it is.
    pub fn seal(&self, event_type: &str, payload: Vec<u8>) -> Result<SealedPayload, ServiceError> {
        self.seal_as(event_type, payload, true)
    }

    /// Seals the free text of an event a consumer decided in reaction to another service's event, without
    /// guarding it: text it carries over was guarded where it was written, and refusing it here would stop
    /// the reaction (the consumed fact happened whatever its wording).
    pub fn seal_reaction(&self, event_type: &str, payload: Vec<u8>) -> Result<SealedPayload, ServiceError> {
        self.seal_as(event_type, payload, false)
    }

    fn seal_as(&self, event_type: &str, payload: Vec<u8>, guarded: bool) -> Result<SealedPayload, ServiceError> {
        let Some(descriptor) = self.descriptor(event_type) else { return Ok(SealedPayload { payload, scope: None }) };
        let mut message = Self::decode(descriptor, &payload)?;
        let texts = Self::schema().take(&mut message);
        if texts.is_empty() {
            return Ok(SealedPayload { payload, scope: None });
        }
        if guarded {
            let context = GuardContext { reference_year: reference_year(&message) };
            for (path, text) in &texts {
                identity_guard::check(path, text, context)
                    .map_err(|refusal| Rejection::invalid(refusal.field.clone(), refusal.reason()))?;
            }
        }
        let scope = Self::scope(&message)?
            .ok_or_else(|| ServiceError::internal(format!("{event_type} holds free text but names no text scope")))?;
        let entries =
            texts.into_iter().map(|(path, text)| contracts::common::v1::FreeTextEntry { path, text }).collect();
        let plaintext = FreeText { entries }.encode_to_vec();
        let sealed = self.seal_bytes(scope, &plaintext)?;
        let field = message
            .descriptor()
            .get_field_by_name(SEALED_TEXT_FIELD)
            .ok_or_else(|| ServiceError::internal(format!("{event_type} has no `{SEALED_TEXT_FIELD}` field")))?;
        let Some(sealed_descriptor) = field.kind().as_message().cloned() else {
            return Err(ServiceError::internal(format!("{event_type}.{SEALED_TEXT_FIELD} is not a message")));
        };
        let sealed = DynamicMessage::decode(sealed_descriptor, sealed.encode_to_vec().as_slice())
            .map_err(|e| ServiceError::internal_from(format!("{event_type}.{SEALED_TEXT_FIELD} does not decode"), e))?;
        message.set_field(&field, Value::Message(sealed));
        Ok(SealedPayload { payload: message.encode_to_vec(), scope: Some(scope) })
    }

    /// An encoded response of the RPC at `rpc` with its free text left out, to be stored for retries when
    /// the text it shows is not the command's own (and so cannot be sealed under the command's scope).
    pub fn without_free_text(&self, rpc: &str, response: Vec<u8>) -> Result<Vec<u8>, ServiceError> {
        let Some(descriptor) = Self::schema().response_of(rpc) else { return Ok(response) };
        if !Self::schema().carries_free_text(&descriptor) {
            return Ok(response);
        }
        let mut message = Self::decode(descriptor, &response)?;
        Self::schema().take(&mut message);
        Ok(message.encode_to_vec())
    }

    /// Seals bytes under the key of `scope`.
    pub fn seal_bytes(&self, scope: Uuid, plaintext: &[u8]) -> Result<SealedPersonalData, ServiceError> {
        Ok(sealed_to_wire(self.vault.seal_in_scope(scope, plaintext).map_err(vault_error)?))
    }

    /// The plaintext of `sealed`, or `None` when its key was destroyed.
    pub fn open_bytes(&self, sealed: &SealedPersonalData) -> Result<Option<Vec<u8>>, ServiceError> {
        self.vault.unseal(&sealed_from_wire(sealed)?).map_err(vault_error)
    }

    /// The scope whose free text an event of this type erases, if it is an erasure.
    pub fn erased_scope(&self, event_type: &str, payload: &[u8]) -> Result<Option<Uuid>, ServiceError> {
        let Some(descriptor) = self.descriptor(event_type) else { return Ok(None) };
        if !Self::schema().is_erasure(&descriptor) {
            return Ok(None);
        }
        Self::scope(&Self::decode(descriptor, payload)?)
    }

    /// Destroys the keys of `scope`; returns the ids of the keys destroyed.
    pub fn erase(&self, scope: Uuid) -> Result<Vec<Uuid>, ServiceError> {
        self.vault.erase_scope(scope).map_err(vault_error)
    }

    /// The payload of a recorded event as the service's own readers see it: sealed text opened and put back
    /// in its fields, text of an `erased` scope (sealed under a destroyed key, or recorded in clear before
    /// free text was sealed) as `[erased]`.
    pub fn open(&self, event_type: &str, payload: &[u8], erased: &HashSet<Uuid>) -> Result<Vec<u8>, ServiceError> {
        let Some(descriptor) = self.descriptor(event_type) else { return Ok(payload.to_vec()) };
        if !Self::schema().carries_free_text(&descriptor) {
            return Ok(payload.to_vec());
        }
        let mut message = Self::decode(descriptor, payload)?;
        let sealed = match message.get_field_by_name(SEALED_TEXT_FIELD).as_deref() {
            Some(Value::Message(sealed)) => {
                Some(SealedPersonalData::decode(sealed.encode_to_vec().as_slice()).map_err(|e| {
                    ServiceError::internal_from(format!("{event_type}.{SEALED_TEXT_FIELD} does not decode"), e)
                })?)
            }
            _ => None,
        };
        match sealed {
            Some(sealed) if !sealed.key_id.is_empty() => {
                message.clear_field_by_name(SEALED_TEXT_FIELD);
                match self.open_bytes(&sealed)? {
                    Some(plaintext) => {
                        let text = FreeText::decode(plaintext.as_slice())
                            .map_err(|e| ServiceError::internal_from("sealed text does not decode", e))?;
                        let texts: HashMap<String, String> =
                            text.entries.into_iter().map(|entry| (entry.path, entry.text)).collect();
                        Self::schema().put(&mut message, &texts);
                    }
                    None => Self::schema().mark_erased(&mut message, true),
                }
            }
            // Recorded in clear, before free text was sealed: a redaction hides it; otherwise as recorded.
            _ => {
                if !Self::scope(&message)?.is_some_and(|scope| erased.contains(&scope)) {
                    return Ok(payload.to_vec());
                }
                Self::schema().mark_erased(&mut message, false);
            }
        }
        Ok(message.encode_to_vec())
    }
}

/// Sealed data as the contracts carry it.
fn sealed_to_wire(sealed: Sealed) -> SealedPersonalData {
    SealedPersonalData { key_id: sealed.key_id.to_string(), nonce: sealed.nonce, ciphertext: sealed.ciphertext }
}

/// Sealed data as the key vault opens it; a malformed key id is a broken record.
fn sealed_from_wire(sealed: &SealedPersonalData) -> Result<Sealed, ServiceError> {
    let key_id = Uuid::try_parse(&sealed.key_id).map_err(|e| {
        ServiceError::internal_from(format!("sealed data names a malformed key id {:?}", sealed.key_id), e)
    })?;
    Ok(Sealed { key_id, nonce: sealed.nonce.clone(), ciphertext: sealed.ciphertext.clone() })
}

/// Where a service keeps the keys of its sealed personal data and free text, inside its data directory.
pub fn key_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("personal-data-keys")
}

/// The year the guard measures old dates from: the start of the period an event reports on, when it has
/// one (`period_start`), otherwise the current year. A full date long before it reads as a date of birth.
fn reference_year(message: &DynamicMessage) -> i32 {
    let period_year = match message.get_field_by_name("period_start").as_deref() {
        Some(Value::Message(date)) => date.get_field_by_name("year").and_then(|year| year.as_i32()),
        _ => None,
    };
    period_year.filter(|year| *year > 0).unwrap_or_else(|| time::OffsetDateTime::now_utc().year())
}

fn vault_error(e: personal_data::VaultError) -> ServiceError {
    match e {
        personal_data::VaultError::Io { .. } => ServiceError::unavailable_from("the key vault failed", e),
        other => ServiceError::internal_from("the key vault refused", other),
    }
}
