//! A consumer's record of what it has handled from one source log. Handlers commit it atomically with
//! their effect, so "applied" and "recorded as applied" can never disagree.

use std::collections::BTreeSet;

use event_log::Hash;

use crate::error::BusError;

/// What a consumer has handled from one source service's log.
///
/// Every position below `next_position` has been handled: applied, ignored by the handler, or
/// dead-lettered. Dead-lettered positions are kept in `skipped` so that a replayed dead letter is applied
/// exactly once, while an ordinary redelivery of it is still recognised as a duplicate.
///
/// `last_hash` is the hash of the event at `next_position - 1` when the consumer applied that one itself
/// (not when it was dead-lettered): the next event must link to it. One that does not comes from a source
/// log that is no longer the one this consumer followed (restored from a backup that lacked events the
/// consumer had already applied): see [`Checkpoint::diverges`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub source: String,
    pub next_position: u64,
    pub skipped: BTreeSet<u64>,
    pub last_hash: Option<Hash>,
}

/// What the consumer should do with a message at some position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Already handled: acknowledge without effect.
    Duplicate,
    /// The next position: apply it.
    Next,
    /// A dead-lettered position sent back by an operator: apply it once.
    Replay,
    /// Positions `next_position..position` are missing: fill them first.
    AheadOfGap,
}

impl Checkpoint {
    /// Nothing handled yet from `source`.
    pub fn start(source: impl Into<String>) -> Checkpoint {
        Checkpoint { source: source.into(), next_position: 0, skipped: BTreeSet::new(), last_hash: None }
    }

    /// The last position handled, `None` when nothing was.
    pub fn last_handled(&self) -> Option<u64> {
        self.next_position.checked_sub(1)
    }

    /// The key or marker name under which a consumer stores this checkpoint.
    pub fn key(&self) -> String {
        Checkpoint::key_for(&self.source)
    }

    pub fn key_for(source: &str) -> String {
        format!("event-bus.checkpoint.{source}")
    }

    pub(crate) fn verdict(&self, position: u64, replayed: bool) -> Verdict {
        if position < self.next_position {
            if replayed && self.skipped.contains(&position) { Verdict::Replay } else { Verdict::Duplicate }
        } else if position == self.next_position {
            Verdict::Next
        } else {
            Verdict::AheadOfGap
        }
    }

    /// The checkpoint after handling `position` (which is the next one, or a replayed skipped one). The
    /// hash of a new last position is not known here: nothing is checked against it.
    pub fn handled(&self, position: u64) -> Checkpoint {
        let mut next = self.clone();
        if position >= next.next_position {
            next.next_position = position + 1;
            next.last_hash = None;
        }
        next.skipped.remove(&position);
        next
    }

    /// The checkpoint after applying the event at `position` whose hash is `hash` (the next one, or a
    /// replayed skipped one): as [`Checkpoint::handled`], and the next event must link to it.
    pub fn applied(&self, position: u64, hash: Hash) -> Checkpoint {
        let mut next = self.handled(position);
        if next.next_position == position + 1 {
            next.last_hash = Some(hash);
        }
        next
    }

    /// Whether the event at `position` whose previous hash is `prev_hash`, the next position, does not link
    /// to the event applied before it: the source log diverged from the one this consumer followed (a
    /// service restored from a backup that lacked events the consumer had applied). Applying it would build
    /// on events the source no longer has, and positions before it that were taken as duplicates may be
    /// events this consumer never saw.
    pub fn diverges(&self, position: u64, prev_hash: &Hash) -> bool {
        position == self.next_position && self.last_hash.is_some_and(|hash| hash != *prev_hash)
    }

    /// The checkpoint after dead-lettering `position`.
    pub fn dead_lettered(&self, position: u64) -> Checkpoint {
        let mut next = self.handled(position);
        next.skipped.insert(position);
        next
    }

    /// Stored form: next position, then each skipped position, 8 bytes big-endian each; then, when the
    /// last hash is known, its 32 bytes and the byte [`Checkpoint::LAST_HASH_TAG`] (so that the length is
    /// 1 more than a multiple of 8, which a checkpoint stored before the hash was kept never is).
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 * (1 + self.skipped.len()) + 33);
        bytes.extend_from_slice(&self.next_position.to_be_bytes());
        for position in &self.skipped {
            bytes.extend_from_slice(&position.to_be_bytes());
        }
        if let Some(hash) = &self.last_hash {
            bytes.extend_from_slice(hash.as_bytes());
            bytes.push(Checkpoint::LAST_HASH_TAG);
        }
        bytes
    }

    /// The last byte of a stored checkpoint that ends with the last hash.
    pub const LAST_HASH_TAG: u8 = b'H';

    pub fn decode(source: &str, bytes: &[u8]) -> Result<Checkpoint, BusError> {
        let corrupt = || BusError::Corrupt {
            key: Checkpoint::key_for(source),
            reason: format!("{} bytes is not a whole number of positions, with or without a last hash", bytes.len()),
        };
        let (bytes, last_hash) = match bytes.split_last() {
            Some((&Checkpoint::LAST_HASH_TAG, rest)) if rest.len() % 8 == 0 && rest.len() >= 40 => {
                let (positions, hash) = rest.split_at(rest.len() - 32);
                let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt())?;
                (positions, Some(Hash::from_bytes(hash)))
            }
            _ => (bytes, None),
        };
        if bytes.is_empty() || !bytes.len().is_multiple_of(8) {
            return Err(corrupt());
        }
        let mut numbers = bytes.chunks_exact(8).map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            u64::from_be_bytes(word)
        });
        let next_position = numbers.next().ok_or_else(corrupt)?;
        Ok(Checkpoint { source: source.to_owned(), next_position, skipped: numbers.collect(), last_hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_checkpoint() {
        let checkpoint = Checkpoint::start("applications").handled(0).handled(1).dead_lettered(2).handled(3);
        assert_eq!(checkpoint.next_position, 4);
        assert_eq!(checkpoint.verdict(1, false), Verdict::Duplicate);
        assert_eq!(checkpoint.verdict(2, false), Verdict::Duplicate);
        assert_eq!(checkpoint.verdict(2, true), Verdict::Replay);
        assert_eq!(checkpoint.verdict(1, true), Verdict::Duplicate);
        assert_eq!(checkpoint.verdict(4, false), Verdict::Next);
        assert_eq!(checkpoint.verdict(6, false), Verdict::AheadOfGap);
        let replayed = checkpoint.handled(2);
        assert!(replayed.skipped.is_empty());
        assert_eq!(replayed.next_position, 4);
        assert_eq!(replayed.verdict(2, true), Verdict::Duplicate);
    }

    #[test]
    fn checkpoints_survive_encoding() {
        let checkpoint = Checkpoint::start("awards").handled(0).dead_lettered(1).dead_lettered(2);
        let decoded = Checkpoint::decode("awards", &checkpoint.encode()).expect("decodes");
        assert_eq!(decoded, checkpoint);
        assert!(Checkpoint::decode("awards", &[1, 2, 3]).is_err());
        assert!(Checkpoint::decode("awards", &[]).is_err());

        let hashed = Checkpoint { last_hash: Some(Hash::from_bytes([7; 32])), ..checkpoint.clone() };
        let bytes = hashed.encode();
        assert_eq!(bytes.len() % 8, 1);
        assert_eq!(Checkpoint::decode("awards", &bytes).expect("decodes"), hashed);
        // A checkpoint stored before the last hash was kept reads as one without it.
        assert_eq!(Checkpoint::decode("awards", &checkpoint.encode()).expect("decodes").last_hash, None);
        // The tag alone, or with a hash cut short, is not a checkpoint.
        assert!(Checkpoint::decode("awards", &[Checkpoint::LAST_HASH_TAG]).is_err());
        assert!(Checkpoint::decode("awards", &bytes[bytes.len() - 9..]).is_err());
    }

    #[test]
    fn the_next_event_must_link_to_the_last_one_applied() {
        let hash = |n: u8| Hash::from_bytes([n; 32]);
        let start = Checkpoint::start("applications");
        assert!(!start.diverges(0, &hash(0)), "nothing to link to yet");
        let after_first = start.applied(0, hash(1));
        assert_eq!(after_first.last_hash, Some(hash(1)));
        assert!(!after_first.diverges(1, &hash(1)));
        assert!(after_first.diverges(1, &hash(9)), "links to another event");
        assert!(!after_first.diverges(3, &hash(9)), "not the next position: a gap, not a fork");
        // A dead-lettered position leaves no hash to check the next one against.
        let dead = after_first.dead_lettered(1);
        assert_eq!(dead.last_hash, None);
        assert!(!dead.diverges(2, &hash(9)));
        // A replayed dead letter applied late does not move the last hash.
        let replayed = after_first.applied(1, hash(2)).dead_lettered(2).applied(3, hash(4)).applied(2, hash(3));
        assert_eq!(replayed.next_position, 4);
        assert_eq!(replayed.last_hash, Some(hash(4)));
    }
}
