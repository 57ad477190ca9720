//! A consumer's record of what it has handled from one source log. Handlers commit it atomically with
//! their effect, so "applied" and "recorded as applied" can never disagree.

use std::collections::BTreeSet;

use crate::error::BusError;

/// What a consumer has handled from one source service's log.
///
/// Every position below `next_position` has been handled: applied, ignored by the handler, or
/// dead-lettered. Dead-lettered positions are kept in `skipped` so that a replayed dead letter is applied
/// exactly once, while an ordinary redelivery of it is still recognised as a duplicate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub source: String,
    pub next_position: u64,
    pub skipped: BTreeSet<u64>,
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
        Checkpoint { source: source.into(), next_position: 0, skipped: BTreeSet::new() }
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

    /// The checkpoint after handling `position` (which is the next one, or a replayed skipped one).
    pub fn handled(&self, position: u64) -> Checkpoint {
        let mut next = self.clone();
        if position >= next.next_position {
            next.next_position = position + 1;
        }
        next.skipped.remove(&position);
        next
    }

    /// The checkpoint after dead-lettering `position`.
    pub fn dead_lettered(&self, position: u64) -> Checkpoint {
        let mut next = self.handled(position);
        next.skipped.insert(position);
        next
    }

    /// Stored form: next position, then each skipped position, 8 bytes big-endian each.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 * (1 + self.skipped.len()));
        bytes.extend_from_slice(&self.next_position.to_be_bytes());
        for position in &self.skipped {
            bytes.extend_from_slice(&position.to_be_bytes());
        }
        bytes
    }

    pub fn decode(source: &str, bytes: &[u8]) -> Result<Checkpoint, BusError> {
        let corrupt = || BusError::Corrupt {
            key: Checkpoint::key_for(source),
            reason: format!("{} bytes is not a whole number of positions", bytes.len()),
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
        Ok(Checkpoint { source: source.to_owned(), next_position, skipped: numbers.collect() })
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
    }
}
