//! Signed checkpoints (`proto/grants/eventlog/v1/checkpoint.proto`): a service signs its log's head with
//! Ed25519 and records the signature as a `CheckpointSigned` event in its own log; auditors verify it and
//! keep it elsewhere, to prove later that the log still extends it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use event_log::{
    Actor, AppendRequest, CheckedRecord, EventLog, EventMetadata, ExpectedVersion, Hash, Head, Marker, NewEvent,
    RecordedEvent, StreamId, Timestamp,
};
use prost::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::pb;

/// The event type of signed checkpoints.
pub const EVENT_TYPE: &str = "CheckpointSigned";
/// The stream type of signed checkpoints; the stream key is the service's name.
pub const STREAM_TYPE: &str = "checkpoint";
/// The marker written atomically with each checkpoint: the log position of that `CheckpointSigned` event
/// (8 bytes, big-endian), so that a service finds its last checkpoint at start even in a log cut short.
pub const LAST_CHECKPOINT_MARKER: &str = "checkpoint/last-event";

/// Which statement a checkpoint's signature covers; it is the `CheckpointSigned` event's schema version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementVersion {
    /// `grants-checkpoint/v1`: service, position and head hash, not when it was signed. Only found in logs
    /// written before v2; still verified, and reported as not covering its signing time. Its signer read the
    /// head and appended the checkpoint separately, so other events may stand between the two.
    V1,
    /// `grants-checkpoint/v2`: also `signed_at_micros`. What every checkpoint is signed with now.
    V2,
}

impl StatementVersion {
    pub fn from_schema_version(schema_version: u32) -> Result<StatementVersion, CheckpointError> {
        match schema_version {
            1 => Ok(StatementVersion::V1),
            2 => Ok(StatementVersion::V2),
            other => Err(CheckpointError::UnknownVersion { schema_version: other }),
        }
    }

    pub fn schema_version(self) -> u32 {
        match self {
            StatementVersion::V1 => 1,
            StatementVersion::V2 => 2,
        }
    }
}

/// A checkpoint as recorded: which head, signed by which key, under which statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub service: String,
    pub position: u64,
    pub head_hash: Hash,
    pub signed_at: Timestamp,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
    pub version: StatementVersion,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint field `{field}` {rule}")]
    Malformed { field: &'static str, rule: &'static str },
    #[error("checkpoint has schema version {schema_version}; known versions are 1 and 2")]
    UnknownVersion { schema_version: u32 },
    #[error("checkpoint signature does not verify with the {which} public key")]
    BadSignature { which: &'static str },
    #[error("checkpoint was signed by key {signed_by}, not by the expected key {expected}")]
    UnexpectedKey { signed_by: String, expected: String },
    #[error("checkpoint is of the `{found}` log, not of `{expected}`")]
    WrongService { found: String, expected: String },
    #[error(
        "checkpoint recorded at position {event_position} signs position {signed_position}, not the head just \
         before it ({})",
        .event_position.wrapping_sub(1)
    )]
    NotAfterItsHead { event_position: u64, signed_position: u64 },
    #[error("v1 checkpoint recorded at position {event_position} signs position {signed_position}, not one before it")]
    NotBeforeIt { event_position: u64, signed_position: u64 },
    #[error(
        "v1 checkpoint recorded at position {event_position} signs position {signed_position}, more than \
         {V1_LOOKBACK} events before it, further back than checkpoints are checked"
    )]
    TooFarBehind { event_position: u64, signed_position: u64 },
    #[error("checkpoint signs hash {signed} at position {position}, but the chain holds {recomputed} there")]
    HeadMismatch { position: u64, signed: Hash, recomputed: Hash },
    #[error("the log ends before position {event_position}, where its last checkpoint was recorded")]
    LogEndsBefore { event_position: u64 },
    #[error("position {event_position}, named as the last checkpoint's, holds a {event_type} event")]
    NotACheckpoint { event_position: u64, event_type: String },
    #[error("the chain after the checkpoint breaks at position {position}: {reason}")]
    ChainBroken { position: u64, reason: String },
    #[error("the event the checkpoint signs, at position {position}, does not verify: {reason}")]
    SignedEventBroken { position: u64, reason: String },
    #[error("cannot record the checkpoint: {0}")]
    Append(#[from] event_log::AppendError),
    #[error("cannot read the log: {0}")]
    Storage(#[from] event_log::StorageError),
}

impl SignedCheckpoint {
    /// Decodes a `CheckpointSigned` payload recorded with `schema_version`.
    pub fn decode(payload: &[u8], schema_version: u32) -> Result<SignedCheckpoint, CheckpointError> {
        let version = StatementVersion::from_schema_version(schema_version)?;
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
            version,
        })
    }

    /// The checkpoint a `CheckpointSigned` event records.
    pub fn from_event(event: &RecordedEvent) -> Result<SignedCheckpoint, CheckpointError> {
        SignedCheckpoint::decode(&event.payload, event.schema_version)
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

    /// The text that is signed (see the contract).
    pub fn statement(&self) -> String {
        let (service, position, hash) = (&self.service, self.position, self.head_hash.to_hex());
        match self.version {
            StatementVersion::V1 => format!("grants-checkpoint/v1\n{service}\n{position}\n{hash}\n"),
            StatementVersion::V2 => {
                let signed_at = self.signed_at.as_micros();
                format!("grants-checkpoint/v2\n{service}\n{position}\n{hash}\n{signed_at}\n")
            }
        }
    }

    /// Whether the signature covers `signed_at` (a v1 checkpoint's time could have been changed).
    pub fn covers_signing_time(&self) -> bool {
        self.version == StatementVersion::V2
    }

    /// Signs the head `position`/`head_hash` of `service`'s log, now, with the current statement (v2).
    pub fn sign(key: &SigningKey, service: &str, position: u64, head_hash: Hash) -> SignedCheckpoint {
        let mut checkpoint = SignedCheckpoint {
            service: service.to_owned(),
            position,
            head_hash,
            signed_at: Timestamp::now(),
            public_key: key.verifying_key().to_bytes(),
            signature: [0; 64],
            version: StatementVersion::V2,
        };
        checkpoint.signature = key.sign(checkpoint.statement().as_bytes()).to_bytes();
        checkpoint
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
        key.verify(self.statement().as_bytes(), &Signature::from_bytes(&self.signature))
            .map_err(|_| CheckpointError::BadSignature { which })
    }

    /// Checks a checkpoint recorded at `event_position` of `service`'s log against the chain: its
    /// signature; that it signs the event just before it (v1: an event before it); and that `signed`, the
    /// event at the signed position as the chain recomputes it (`None` if unknown), has the signed hash.
    pub fn verify_recorded(
        &self,
        service: &str,
        expected_key: Option<&[u8; 32]>,
        event_position: u64,
        signed: Option<Head>,
    ) -> Result<(), CheckpointError> {
        if self.service != service {
            return Err(CheckpointError::WrongService { found: self.service.clone(), expected: service.to_owned() });
        }
        self.verify(expected_key)?;
        let signed_position = self.position;
        match self.version {
            StatementVersion::V2 if signed_position.checked_add(1) != Some(event_position) => {
                return Err(CheckpointError::NotAfterItsHead { event_position, signed_position });
            }
            StatementVersion::V1 if signed_position >= event_position => {
                return Err(CheckpointError::NotBeforeIt { event_position, signed_position });
            }
            _ => {}
        }
        let head = signed
            .filter(|head| head.position == signed_position)
            .ok_or(CheckpointError::TooFarBehind { event_position, signed_position })?;
        if head.hash != self.head_hash {
            return Err(CheckpointError::HeadMismatch {
                position: self.position,
                signed: self.head_hash,
                recomputed: head.hash,
            });
        }
        Ok(())
    }
}

/// A checkpoint found in a log, and whether it holds.
#[derive(Debug)]
pub struct AuditedCheckpoint {
    /// Position of the `CheckpointSigned` event.
    pub event_position: u64,
    /// The checkpoint, if it decoded, and why it does not hold, if it does not.
    pub checkpoint: Option<SignedCheckpoint>,
    pub failure: Option<CheckpointError>,
}

/// How many events before a v1 checkpoint the event it signs may be: far more than could ever have come
/// between its signer reading the head and appending the checkpoint.
pub const V1_LOOKBACK: usize = 65_536;

/// Checks every checkpoint recorded in a log while its chain is verified, with
/// [`SignedCheckpoint::verify_recorded`]: shown each event that verified, in order, it holds the heads of
/// the last [`V1_LOOKBACK`] of them (the one just before a checkpoint, or for v1 an earlier one), so nothing
/// is read twice.
#[derive(Debug)]
pub struct CheckpointAudit {
    service: String,
    expected_key: Option<[u8; 32]>,
    /// The last events that verified, oldest first, at consecutive positions.
    recent: VecDeque<Head>,
    checkpoints: Vec<AuditedCheckpoint>,
}

impl CheckpointAudit {
    /// An audit of `service`'s log; with `expected_key`, every checkpoint must be signed by that key.
    pub fn new(service: impl Into<String>, expected_key: Option<[u8; 32]>) -> CheckpointAudit {
        CheckpointAudit { service: service.into(), expected_key, recent: VecDeque::new(), checkpoints: Vec::new() }
    }

    /// The verified event at `position`, if it is among the recent ones.
    fn recent_head(&self, position: u64) -> Option<Head> {
        let oldest = self.recent.front()?.position;
        let index = usize::try_from(position.checked_sub(oldest)?).ok()?;
        self.recent.get(index).copied().filter(|head| head.position == position)
    }

    /// Shows the audit the next event that verified in the chain.
    pub fn observe(&mut self, position: u64, hash: &Hash, record: &CheckedRecord) {
        if record.event_type == EVENT_TYPE && record.stream_type == STREAM_TYPE {
            let (checkpoint, failure) = match SignedCheckpoint::decode(&record.payload, record.schema_version) {
                Ok(checkpoint) => {
                    let expected_key = self.expected_key.as_ref();
                    let signed = self.recent_head(checkpoint.position);
                    let holds = checkpoint.verify_recorded(&self.service, expected_key, position, signed);
                    (Some(checkpoint), holds.err())
                }
                Err(error) => (None, Some(error)),
            };
            self.checkpoints.push(AuditedCheckpoint { event_position: position, checkpoint, failure });
        }
        if self.recent.len() == V1_LOOKBACK {
            self.recent.pop_front();
        }
        self.recent.push_back(Head { position, hash: *hash });
    }

    /// Every checkpoint seen, oldest first.
    pub fn checkpoints(&self) -> &[AuditedCheckpoint] {
        &self.checkpoints
    }

    /// The first checkpoint that does not hold.
    pub fn first_failure(&self) -> Option<(u64, &CheckpointError)> {
        self.checkpoints.iter().find_map(|c| c.failure.as_ref().map(|f| (c.event_position, f)))
    }

    /// How many checkpoints do not hold.
    pub fn failures(&self) -> usize {
        self.checkpoints.iter().filter(|c| c.failure.is_some()).count()
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

/// The append that records `checkpoint` as the event at `event_position`, with the marker naming it.
fn checkpoint_append(stream: StreamId, checkpoint: &SignedCheckpoint, event_position: u64) -> AppendRequest {
    let id = Uuid::new_v4();
    let service = &checkpoint.service;
    let event = NewEvent {
        event_id: id,
        event_type: EVENT_TYPE.into(),
        schema_version: checkpoint.version.schema_version(),
        payload: checkpoint.encode(),
        metadata: EventMetadata {
            actor: Actor { subject: format!("service:{service}"), role: "service".into(), organisation: String::new() },
            correlation_id: id,
            causation_id: id,
            occurred_at: checkpoint.signed_at,
            trace: None,
        },
    };
    AppendRequest {
        stream,
        expected: ExpectedVersion::Any,
        events: vec![event],
        marker: Some(Marker { name: LAST_CHECKPOINT_MARKER.into(), value: event_position.to_be_bytes().to_vec() }),
    }
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

    fn stream(&self) -> Result<StreamId, CheckpointError> {
        StreamId::new(STREAM_TYPE, self.service.clone())
            .map_err(|_| CheckpointError::Malformed { field: "service", rule: "must be a valid stream key" })
    }

    /// Where the last checkpoint was recorded: the marker written with it, or, in a log written before
    /// there was one, the last event of the checkpoint stream.
    fn last_checkpoint_position(&self) -> Result<Option<u64>, CheckpointError> {
        if let Some(value) = self.log.marker(LAST_CHECKPOINT_MARKER)? {
            let bytes: [u8; 8] = value.as_slice().try_into().map_err(|_| CheckpointError::Malformed {
                field: LAST_CHECKPOINT_MARKER,
                rule: "must be an 8-byte position",
            })?;
            return Ok(Some(u64::from_be_bytes(bytes)));
        }
        let last = self.log.read_stream(&self.stream()?, 0).last().transpose()?;
        Ok(last.map(|event| event.position))
    }

    /// Checks, before anything is signed, that the log still extends the last checkpoint recorded in it:
    /// the checkpoint is signed with this signer's key (or one of `previous_keys`, after a change of key)
    /// and signs the head just before it (v1: an event before it); the chain recomputed from the signed
    /// event to the log's head links back to the signed hash; and the signed event, recomputed from the one
    /// before it, has that hash. A log cut short before that checkpoint, or rewritten from the event it signs
    /// on, fails; an event before the signed one is trusted through its stored hash, as only a full
    /// verification checks it. `Ok(None)` when no checkpoint was recorded yet.
    pub fn check_log_extends_last_checkpoint(
        &self,
        previous_keys: &[[u8; 32]],
    ) -> Result<Option<SignedCheckpoint>, CheckpointError> {
        let Some(event_position) = self.last_checkpoint_position()? else { return Ok(None) };
        if event_position >= self.log.next_position() {
            return Err(CheckpointError::LogEndsBefore { event_position });
        }
        let event = self.log.event(event_position)?.ok_or(CheckpointError::LogEndsBefore { event_position })?;
        if event.event_type != EVENT_TYPE {
            return Err(CheckpointError::NotACheckpoint { event_position, event_type: event.event_type });
        }
        let checkpoint = SignedCheckpoint::from_event(&event)?;
        let own = self.public_key();
        let key = if previous_keys.contains(&checkpoint.public_key) { checkpoint.public_key } else { own };
        // Every event after the signed one must link back to the signed hash...
        let signed_head = Head { position: checkpoint.position, hash: checkpoint.head_hash };
        let after = self.log.verify_after(signed_head)?;
        if let Some(mismatch) = after.first_mismatch {
            return Err(CheckpointError::ChainBroken { position: mismatch.position, reason: mismatch.reason });
        }
        // ...and the signed event itself, recomputed as the log holds it, must have that hash.
        let signed = self.log.verify(checkpoint.position..=checkpoint.position)?;
        if let Some(mismatch) = signed.first_mismatch {
            return Err(CheckpointError::SignedEventBroken { position: mismatch.position, reason: mismatch.reason });
        }
        checkpoint.verify_recorded(&self.service, Some(&key), event_position, signed.last_verified)?;
        Ok(Some(checkpoint))
    }

    /// Signs the current head and records the checkpoint right after it, unless the log is empty or its
    /// head is already a checkpoint (nothing happened since). The head is taken, and signed, as the log's
    /// writer commits the checkpoint, so a checkpoint always signs the event just before it.
    pub async fn sign_now(&self) -> Result<Option<SignedCheckpoint>, CheckpointError> {
        let Some(position) = self.log.next_position().checked_sub(1) else { return Ok(None) };
        let seen = match self.log.event(position)? {
            Some(head) if head.event_type != EVENT_TYPE => Head { position, hash: head.hash },
            _ => return Ok(None),
        };
        let (stream, key, service) = (self.stream()?, self.key.clone(), self.service.clone());
        let signed = Arc::new(Mutex::new(None));
        let keep = signed.clone();
        let make = move |head: Option<Head>| {
            // The log held `seen` and only grows: the writer's head is `seen` or one after it.
            let head = head.unwrap_or(seen);
            let checkpoint = SignedCheckpoint::sign(&key, &service, head.position, head.hash);
            let request = checkpoint_append(stream, &checkpoint, head.position + 1);
            *keep.lock().unwrap_or_else(PoisonError::into_inner) = Some(checkpoint);
            request
        };
        self.log.append_after_head(make).await?;
        let checkpoint = signed.lock().unwrap_or_else(PoisonError::into_inner).take();
        Ok(checkpoint)
    }

    /// Signs at start, every `interval` while new events arrive, and once more when `shutdown` is cancelled.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        self.sign_and_log().await;
        self.follow(interval, shutdown).await;
    }

    /// As [`CheckpointSigner::run`] without signing at start: for a server that signed its head before it
    /// began to serve, so that what the first requests record waits for the interval or the shutdown.
    pub async fn follow(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = shutdown.cancelled() => {}
            }
            self.sign_and_log().await;
            if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// Signs the head if new events arrived since the last checkpoint, and logs what it did.
    pub async fn sign_and_log(&self) {
        match self.sign_now().await {
            Ok(Some(c)) => tracing::info!(position = c.position, hash = %c.head_hash, "signed a log checkpoint"),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "could not sign a log checkpoint"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the chain verifier shows the audit of event `position`: a checkpoint, or any other event.
    fn record(position: u64, checkpoint: Option<&SignedCheckpoint>) -> CheckedRecord {
        let (stream_type, event_type) = match checkpoint {
            Some(_) => (STREAM_TYPE, EVENT_TYPE),
            None => ("award", "TrancheReleased"),
        };
        CheckedRecord {
            position,
            stream_type: stream_type.into(),
            stream_key: "awards".into(),
            event_type: event_type.into(),
            schema_version: checkpoint.map_or(1, |c| c.version.schema_version()),
            payload: checkpoint.map(SignedCheckpoint::encode).unwrap_or_default(),
            prev_hash: Hash::default(),
        }
    }

    fn hash_of(position: u64) -> Hash {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&position.to_be_bytes());
        Hash::from_bytes(bytes)
    }

    #[test]
    fn a_v1_checkpoint_is_checked_against_any_of_the_last_lookback_events_before_it() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let v1 = |position: u64| {
            let mut checkpoint = SignedCheckpoint::sign(&key, "awards", position, hash_of(position));
            checkpoint.version = StatementVersion::V1;
            checkpoint.signature = key.sign(checkpoint.statement().as_bytes()).to_bytes();
            checkpoint
        };
        let mut audit = CheckpointAudit::new("awards", Some(key.verifying_key().to_bytes()));
        let first_checkpoint = V1_LOOKBACK as u64 + 10;
        for position in 0..first_checkpoint {
            audit.observe(position, &hash_of(position), &record(position, None));
        }
        let oldest_remembered = first_checkpoint - V1_LOOKBACK as u64;
        for (at, signs) in [(first_checkpoint, oldest_remembered), (first_checkpoint + 1, oldest_remembered)] {
            audit.observe(at, &hash_of(at), &record(at, Some(&v1(signs))));
        }
        let checked = audit.checkpoints();
        assert!(checked[0].failure.is_none(), "{:?}", checked[0].failure);
        let too_far = checked[1].failure.as_ref().expect("the event it signs is no longer remembered");
        assert!(
            matches!(too_far, CheckpointError::TooFarBehind { signed_position, .. } if *signed_position == oldest_remembered)
        );
    }
}
