//! Streams (one per aggregate) and the expectations an append can place on them.

use std::fmt;

/// Identifies one stream: the aggregate's type (for example `application`) and its key within that type.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    stream_type: String,
    key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream id field `{field}` {rule}")]
pub struct InvalidStreamId {
    pub field: &'static str,
    pub rule: &'static str,
}

/// Longest stream type or key accepted, in bytes; stream ids are part of index keys.
pub const MAX_STREAM_PART_LEN: usize = 256;

impl StreamId {
    /// A stream id; both parts must be non-empty, at most [`MAX_STREAM_PART_LEN`] bytes, without control
    /// characters.
    pub fn new(stream_type: impl Into<String>, key: impl Into<String>) -> Result<StreamId, InvalidStreamId> {
        let (stream_type, key) = (stream_type.into(), key.into());
        for (field, value) in [("stream_type", &stream_type), ("stream_key", &key)] {
            if value.is_empty() {
                return Err(InvalidStreamId { field, rule: "must not be empty" });
            }
            if value.len() > MAX_STREAM_PART_LEN {
                return Err(InvalidStreamId { field, rule: "must be at most 256 bytes" });
            }
            if value.chars().any(char::is_control) {
                return Err(InvalidStreamId { field, rule: "must not contain control characters" });
            }
        }
        Ok(StreamId { stream_type, key })
    }

    pub fn stream_type(&self) -> &str {
        &self.stream_type
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stream_type, self.key)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({self})")
    }
}

/// What the writer believes about a stream's current version (the version of its last event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last event must have exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose last version is `current` (`None`: no stream) meets this expectation.
    pub fn is_met_by(self, current: Option<u64>) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current.is_none(),
            ExpectedVersion::StreamExists => current.is_some(),
            ExpectedVersion::Exact(n) => current == Some(n),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(n) => write!(f, "version {n}"),
        }
    }
}

/// A stream's current version for messages: `None` reads "no stream".
pub(crate) struct CurrentVersion(pub Option<u64>);

impl fmt::Display for CurrentVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("no stream"),
            Some(n) => write!(f, "version {n}"),
        }
    }
}
