//! A projector replica's name: what keeps its queues apart from every other replica's on the same broker.
//!
//! Replicas run side by side, each with its own data directory and its own queues bound to the same
//! exchanges, so each receives every event. The unnamed projector keeps the queues it always had
//! (`projector.inbox`, `projector.dead-letters`); replica `NAME` consumes `projector.NAME.inbox` and
//! dead-letters into `projector.NAME.dead-letters`.

use contracts::names::service;

/// The longest replica name.
pub const MAX_LEN: usize = 32;

/// A checked replica name: 1 to [`MAX_LEN`] lowercase ASCII letters, digits and `-`, beginning with a
/// letter or digit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaName(String);

/// A replica name that breaks a rule; the message names the flag, the value and the rule.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--replica (PROJECTOR_REPLICA) `{value}` {rule}")]
pub struct ReplicaNameError {
    pub value: String,
    pub rule: &'static str,
}

impl ReplicaName {
    pub fn parse(value: &str) -> Result<ReplicaName, ReplicaNameError> {
        let refuse = |rule| Err(ReplicaNameError { value: value.escape_debug().to_string(), rule });
        if value.is_empty() {
            return refuse("must not be empty: leave it unset for the default queues");
        }
        if value.len() > MAX_LEN {
            return refuse("must be at most 32 characters");
        }
        if !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return refuse("may hold only lowercase ASCII letters, digits and '-'");
        }
        if value.starts_with('-') {
            return refuse("must begin with a letter or a digit");
        }
        Ok(ReplicaName(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReplicaName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The consumer's name on the bus, which its queue names begin with: `projector` for the unnamed
/// projector, `projector.<replica>` for a replica.
pub fn consumer_name(replica: Option<&ReplicaName>) -> String {
    match replica {
        None => service::PROJECTOR.to_owned(),
        Some(replica) => format!("{}.{replica}", service::PROJECTOR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        for good in ["a", "blue", "replica-2", "0", "eu-west-1", &"x".repeat(MAX_LEN)] {
            assert_eq!(ReplicaName::parse(good).map(|n| n.to_string()), Ok(good.to_owned()));
        }
        let refused = |value: &str| ReplicaName::parse(value).unwrap_err().to_string();
        assert_eq!(
            refused(""),
            "--replica (PROJECTOR_REPLICA) `` must not be empty: leave it unset for the default queues"
        );
        assert_eq!(
            refused(&"x".repeat(MAX_LEN + 1)),
            format!("--replica (PROJECTOR_REPLICA) `{}` must be at most 32 characters", "x".repeat(MAX_LEN + 1))
        );
        for bad in ["Blue", "a.b", "a#", "a*", "a b", "a_b", "ré", "a\n"] {
            assert!(refused(bad).ends_with("may hold only lowercase ASCII letters, digits and '-'"), "{bad}");
        }
        assert!(refused("a\n").contains("`a\\n`"), "control characters are shown escaped");
        assert!(refused("-a").ends_with("must begin with a letter or a digit"));
    }

    #[test]
    fn the_unnamed_projector_keeps_its_queues() {
        assert_eq!(consumer_name(None), "projector");
        let blue = ReplicaName::parse("blue").unwrap();
        assert_eq!(consumer_name(Some(&blue)), "projector.blue");
        let queue = event_bus::ConsumerConfig::new(
            event_bus::BusConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            consumer_name(Some(&blue)),
            &["applications"],
        );
        assert_eq!(
            (queue.queue.as_str(), queue.dead_letter_queue.as_str()),
            ("projector.blue.inbox", "projector.blue.dead-letters")
        );
    }
}
