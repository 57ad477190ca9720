//! The SHA-256 hash chain that makes each log tamper-evident.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::wire::CheckedRecord;

/// A SHA-256 digest: the hash of one event in the chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The `prev_hash` of the event at position 0.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// `SHA-256(prev || record_bytes)`: the hash of an event whose canonical bytes are `record_bytes`.
    pub fn chain(prev: &Hash, record_bytes: &[u8]) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(prev.0);
        hasher.update(record_bytes);
        Hash(hasher.finalize().into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }

    /// `None` unless `bytes` is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        bytes.try_into().ok().map(Hash)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Option<Hash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Hash(bytes))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// The last event of a log: where a reader or verifier expects the chain to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub position: u64,
    pub hash: Hash,
}

/// The outcome of recomputing the chain over a range of positions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events whose hash was recomputed and matched.
    pub verified: u64,
    /// The last event that verified, if any.
    pub last_verified: Option<Head>,
    /// The first position whose stored event does not match the chain, and why.
    pub first_mismatch: Option<Mismatch>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_mismatch.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub position: u64,
    pub reason: String,
}

/// Checks a sequence of stored events, in position order, against the chain. Incremental, so that clients
/// reading over a network and the log itself share one implementation.
///
/// Each event is checked as `event_record.proto` says, in this order: the stored hash is SHA-256 of the
/// previous hash and the record bytes; the record decodes; its `position` is the next one; its `prev_hash`
/// is the previous event's hash; and its bytes are the canonical encoding of what they decode to.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_position: u64,
    prev_hash: Hash,
    verified: u64,
    last_verified: Option<Head>,
    /// Re-encoding buffer, reused from one event to the next.
    scratch: Vec<u8>,
}

impl ChainVerifier {
    /// Verifies from the start of a log.
    pub fn from_genesis() -> ChainVerifier {
        ChainVerifier::resume(0, Hash::GENESIS)
    }

    /// Verifies from `position`, trusting `prev_hash` as the hash of the event before it.
    pub fn resume(position: u64, prev_hash: Hash) -> ChainVerifier {
        ChainVerifier { expected_position: position, prev_hash, verified: 0, last_verified: None, scratch: Vec::new() }
    }

    /// Checks the next event: its canonical bytes and the hash stored beside them, and returns what the
    /// record says. On a mismatch the verifier does not advance.
    pub fn check(&mut self, record_bytes: &[u8], stored_hash: &Hash) -> Result<CheckedRecord, Mismatch> {
        let position = self.expected_position;
        let mismatch = |reason: String| Mismatch { position, reason };
        let recomputed = Hash::chain(&self.prev_hash, record_bytes);
        if &recomputed != stored_hash {
            return Err(mismatch(format!(
                "stored hash {stored_hash} differs from recomputed SHA-256(prev_hash || record) {recomputed}"
            )));
        }
        let (record, canonical) = crate::wire::decode_for_chain(record_bytes, &mut self.scratch)
            .map_err(|e| mismatch(format!("record does not decode: {e}")))?;
        if record.position != position {
            return Err(mismatch(format!("record says position {}, expected {position}", record.position)));
        }
        if record.prev_hash != self.prev_hash {
            return Err(mismatch(format!(
                "prev_hash {} differs from the previous event's hash {}",
                record.prev_hash, self.prev_hash
            )));
        }
        if !canonical {
            return Err(mismatch(
                "record bytes are not in canonical encoding (fields once each in ascending field-number order, \
                 default values omitted, no unknown fields)"
                    .into(),
            ));
        }
        self.prev_hash = *stored_hash;
        self.expected_position += 1;
        self.verified += 1;
        self.last_verified = Some(Head { position, hash: *stored_hash });
        Ok(record)
    }

    /// The position the next event must have.
    pub fn next_position(&self) -> u64 {
        self.expected_position
    }

    pub fn report(self, first_mismatch: Option<Mismatch>) -> VerifyReport {
        VerifyReport { verified: self.verified, last_verified: self.last_verified, first_mismatch }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_sha256_of_prev_then_record() {
        // SHA-256 of 32 zero bytes followed by "abc", computed independently with `sha256sum`.
        let h = Hash::chain(&Hash::GENESIS, b"abc");
        assert_eq!(h.to_hex(), "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
    }
}
