//! Signed checkpoints (`proto/grants/eventlog/v1/checkpoint.proto`): a service signs its log's head with
//! Ed25519 and records the signature as a `CheckpointSigned` event in its own log; auditors verify it and
//! keep it elsewhere, to prove later that the log still extends it.

use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, Hash, NewEvent, StreamId, Timestamp};
use prost::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::pb;

/// The event type of signed checkpoints.
pub const EVENT_TYPE: &str = "CheckpointSigned";
/// The stream type of signed checkpoints; the stream key is the service's name.
pub const STREAM_TYPE: &str = "checkpoint";

/// A checkpoint as recorded: which head, signed by which key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub service: String,
    pub position: u64,
    pub head_hash: Hash,
    pub signed_at: Timestamp,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint field `{field}` {rule}")]
    Malformed { field: &'static str, rule: &'static str },
    #[error("checkpoint signature does not verify with the {which} public key")]
    BadSignature { which: &'static str },
    #[error("checkpoint was signed by key {signed_by}, not by the expected key {expected}")]
    UnexpectedKey { signed_by: String, expected: String },
    #[error("cannot record the checkpoint: {0}")]
    Append(#[from] event_log::AppendError),
    #[error("cannot read the log head: {0}")]
    Storage(#[from] event_log::StorageError),
}

/// The text that is signed (see the contract).
pub fn statement(service: &str, position: u64, head_hash: &Hash) -> String {
    format!("grants-checkpoint/v1\n{service}\n{position}\n{}\n", head_hash.to_hex())
}

impl SignedCheckpoint {
    /// Decodes a `CheckpointSigned` payload.
    pub fn decode(payload: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        let m = pb::CheckpointSigned::decode(payload)
            .map_err(|_| CheckpointError::Malformed { field: "payload", rule: "must be a CheckpointSigned message" })?;
        Ok(SignedCheckpoint {
            service: m.service,
            position: m.position,
            head_hash: Hash::from_slice(&m.head_hash)
                .ok_or(CheckpointError::Malformed { field: "head_hash", rule: "must be 32 bytes" })?,
            signed_at: Timestamp::from_micros(m.signed_at_micros),
            public_key: m
                .public_key
                .as_slice()
                .try_into()
                .map_err(|_| CheckpointError::Malformed { field: "public_key", rule: "must be 32 bytes" })?,
            signature: m
                .signature
                .as_slice()
                .try_into()
                .map_err(|_| CheckpointError::Malformed { field: "signature", rule: "must be 64 bytes" })?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        pb::CheckpointSigned {
            service: self.service.clone(),
            position: self.position,
            head_hash: self.head_hash.as_bytes().to_vec(),
            signed_at_micros: self.signed_at.as_micros(),
            public_key: self.public_key.to_vec(),
            signature: self.signature.to_vec(),
        }
        .encode_to_vec()
    }

    /// Signs the head `position`/`head_hash` of `service`'s log.
    pub fn sign(key: &SigningKey, service: &str, position: u64, head_hash: Hash) -> SignedCheckpoint {
        let signature = key.sign(statement(service, position, &head_hash).as_bytes());
        SignedCheckpoint {
            service: service.to_owned(),
            position,
            head_hash,
            signed_at: Timestamp::now(),
            public_key: key.verifying_key().to_bytes(),
            signature: signature.to_bytes(),
        }
    }

    /// Checks the signature; with `expected`, also that it was made by that key (an auditor's trusted copy
    /// of the service's public key) rather than merely by the key the checkpoint names.
    pub fn verify(&self, expected: Option<&[u8; 32]>) -> Result<(), CheckpointError> {
        if let Some(expected) = expected
            && expected != &self.public_key
        {
            return Err(CheckpointError::UnexpectedKey {
                signed_by: hex::encode(self.public_key),
                expected: hex::encode(expected),
            });
        }
        let which = if expected.is_some() { "expected" } else { "recorded" };
        let key = VerifyingKey::from_bytes(&self.public_key).map_err(|_| CheckpointError::BadSignature { which })?;
        key.verify(
            statement(&self.service, self.position, &self.head_hash).as_bytes(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| CheckpointError::BadSignature { which })
    }
}

/// Parses a 32-byte Ed25519 key (private seed or public key) written as 64 hexadecimal digits.
pub fn key_from_hex(field: &'static str, text: &str) -> Result<[u8; 32], CheckpointError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| CheckpointError::Malformed { field, rule: "must be 64 hexadecimal digits" })?;
    Ok(bytes)
}

/// The public key that belongs to a private key seed.
pub fn public_key_of(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// Records signed checkpoints of one service's log.
#[derive(Debug)]
pub struct CheckpointSigner {
    log: EventLog,
    service: String,
    key: SigningKey,
}

impl CheckpointSigner {
    pub fn new(log: EventLog, service: impl Into<String>, seed: &[u8; 32]) -> CheckpointSigner {
        CheckpointSigner { log, service: service.into(), key: SigningKey::from_bytes(seed) }
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs the current head and records the checkpoint, unless the log is empty or its head is already a
    /// checkpoint (nothing happened since).
    pub async fn sign_now(&self) -> Result<Option<SignedCheckpoint>, CheckpointError> {
        let Some(position) = self.log.next_position().checked_sub(1) else { return Ok(None) };
        let Some(head) = self.log.event(position)? else { return Ok(None) };
        if head.event_type == EVENT_TYPE {
            return Ok(None);
        }
        let checkpoint = SignedCheckpoint::sign(&self.key, &self.service, position, head.hash);
        let stream = StreamId::new(STREAM_TYPE, self.service.clone())
            .map_err(|_| CheckpointError::Malformed { field: "service", rule: "must be a valid stream key" })?;
        let id = Uuid::new_v4();
        let event = NewEvent {
            event_id: id,
            event_type: EVENT_TYPE.into(),
            schema_version: 1,
            payload: checkpoint.encode(),
            metadata: EventMetadata {
                actor: Actor {
                    subject: format!("service:{}", self.service),
                    role: "service".into(),
                    organisation: String::new(),
                },
                correlation_id: id,
                causation_id: id,
                occurred_at: checkpoint.signed_at,
            },
        };
        self.log.append(stream, ExpectedVersion::Any, vec![event]).await?;
        Ok(Some(checkpoint))
    }

    /// Signs at start, every `interval` while new events arrive, and once more when `shutdown` is cancelled.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.sign_now().await {
                Ok(Some(c)) => tracing::info!(position = c.position, hash = %c.head_hash, "signed a log checkpoint"),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "could not sign a log checkpoint"),
            }
            if shutdown.is_cancelled() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
}
