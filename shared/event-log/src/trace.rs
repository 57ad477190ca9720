//! W3C trace context (<https://www.w3.org/TR/trace-context/>): the `traceparent` that a request brings,
//! that each recorded event keeps (`EventRecord.traceparent`) and that the bus carries, so that a command
//! and every reaction it causes across the services share one trace id.
//!
//! A `traceparent` is `<version>-<trace id>-<parent id>-<flags>`: 2, 32, 16 and 2 lowercase hexadecimal
//! digits. This platform writes version `00` only. [`TraceContext::parse`] follows the standard's rule for
//! receivers: a value it cannot read is ignored (`None`), never an error, and the receiver starts a trace
//! of its own.

use std::fmt;

use uuid::Uuid;

/// One span's place in a trace: the trace id it shares with every span of the trace, its own span id
/// (the parent id of whatever it causes) and the trace flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

/// The flags of a trace this platform starts: `sampled` (every request and reaction is logged).
const SAMPLED: u8 = 0x01;
/// The length of a version-00 `traceparent`.
const LEN: usize = 55;

impl TraceContext {
    /// A new trace (random trace id) with its first span (random span id).
    pub fn start() -> TraceContext {
        let bytes = *Uuid::new_v4().as_bytes();
        TraceContext { trace_id: bytes, span_id: random_span_id(), flags: SAMPLED }
    }

    /// A new span of the same trace, caused by this one: same trace id and flags, a random span id.
    pub fn child(&self) -> TraceContext {
        TraceContext { span_id: random_span_id(), ..*self }
    }

    /// A new span of the same trace whose span id is derived from `seed` (the first 8 bytes that are not
    /// all zero): the same seed gives the same span, so that a step that is retried records the same
    /// trace context again.
    pub fn child_from(&self, seed: &Uuid) -> TraceContext {
        let bytes = seed.as_bytes();
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(&bytes[..8]);
        if span_id == [0; 8] {
            span_id.copy_from_slice(&bytes[8..]);
            span_id[7] |= 1;
        }
        TraceContext { span_id, ..*self }
    }

    /// Reads a `traceparent` header value. `None` when it is malformed (as the standard asks, the caller then
    /// ignores it): another length, uppercase or other characters, version `ff`, an all-zero trace or parent
    /// id. A version above `00` is read by its first four fields, as the standard asks too.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let value = value.trim_matches([' ', '\t']);
        let bytes = value.as_bytes();
        let version = hex_byte(bytes.get(0..2)?)?;
        let fits = match version {
            0xff => false,
            0x00 => bytes.len() == LEN,
            _ => bytes.len() == LEN || (bytes.len() > LEN && bytes[LEN] == b'-'),
        };
        if !fits || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let mut trace_id = [0u8; 16];
        hex_into(&bytes[3..35], &mut trace_id)?;
        let mut span_id = [0u8; 8];
        hex_into(&bytes[36..52], &mut span_id)?;
        let flags = hex_byte(&bytes[53..55])?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext { trace_id, span_id, flags })
    }

    /// The trace id, 32 lowercase hexadecimal digits.
    pub fn trace_id(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// This span's id (the parent id of what it causes), 16 lowercase hexadecimal digits.
    pub fn span_id(&self) -> String {
        hex::encode(self.span_id)
    }

    pub fn flags(&self) -> u8 {
        self.flags
    }
}

/// The `traceparent` header value: `00-<trace id>-<span id>-<flags>`.
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{:02x}", self.trace_id(), self.span_id(), self.flags)
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({self})")
    }
}

fn random_span_id() -> [u8; 8] {
    loop {
        let bytes = Uuid::new_v4();
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(&bytes.as_bytes()[8..]);
        if span_id != [0; 8] {
            return span_id;
        }
    }
}

/// Two lowercase hexadecimal digits.
fn hex_byte(digits: &[u8]) -> Option<u8> {
    let mut byte = [0u8; 1];
    hex_into(digits, &mut byte)?;
    Some(byte[0])
}

/// Lowercase hexadecimal digits into `out` (twice as many digits as bytes); uppercase is refused, as the
/// standard asks.
fn hex_into(digits: &[u8], out: &mut [u8]) -> Option<()> {
    if digits.len() != out.len() * 2 || !digits.iter().all(|d| matches!(d, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode_to_slice(digits, out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_reads_back_as_it_was_written() {
        let trace = TraceContext::parse(VALID).unwrap();
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace.span_id(), "00f067aa0ba902b7");
        assert_eq!(trace.flags(), 1);
        assert_eq!(trace.to_string(), VALID);
        assert_eq!(TraceContext::parse(&format!(" {VALID}\t")), Some(trace));
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        let malformed = [
            "",
            "00",
            "garbage",
            &VALID.to_uppercase(),
            &VALID.replace("4bf9", "4bfz"),
            &format!("{VALID}-extra"),
            &VALID[..54],
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra",
        ];
        for value in malformed {
            assert_eq!(TraceContext::parse(value), None, "{value}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert_eq!(TraceContext::parse(later).unwrap().to_string(), VALID);
    }

    #[test]
    fn children_keep_the_trace_and_get_a_span_of_their_own() {
        let root = TraceContext::start();
        assert_eq!(TraceContext::parse(&root.to_string()), Some(root));
        assert_ne!(TraceContext::start().trace_id(), root.trace_id());
        let child = root.child();
        assert_eq!((child.trace_id(), child.flags()), (root.trace_id(), root.flags()));
        assert_ne!(child.span_id(), root.span_id());
        let seed = Uuid::new_v4();
        assert_eq!(root.child_from(&seed), root.child_from(&seed));
        assert_ne!(root.child_from(&seed).span_id(), root.child_from(&Uuid::new_v4()).span_id());
        assert_eq!(root.child_from(&Uuid::nil()).span_id(), "0000000000000001");
    }
}
