//! Points in time at the event log's resolution, microseconds since the Unix epoch (UTC).

use crate::InvalidValue;

/// A point in time in microseconds since the Unix epoch (UTC), the resolution of the event log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(pub i64);

/// Earliest and latest accepted instants: years 1900 to 9999, as for dates.
const MIN_SECONDS: i64 = -2_208_988_800;
const MAX_SECONDS: i64 = 253_402_300_799;

impl Timestamp {
    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// The wall clock's time, for the services' edges: domain code is given the time in its context instead
    /// (the kernel's tidy test refuses `Timestamp::now` in a domain module), so that a decision can be
    /// replayed and tested.
    pub fn now() -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(micros)
    }

    /// The instant `seconds` and `nanos` after the epoch of the field named `field` (the parts protobuf's
    /// `Timestamp` has), within the years 1900 to 9999; nanoseconds below a microsecond are dropped.
    pub fn from_unix_parts(field: &str, seconds: i64, nanos: i32) -> Result<Timestamp, InvalidValue> {
        if !(0..1_000_000_000).contains(&nanos) {
            return Err(InvalidValue::new(format!("{field}.nanos"), "must be 0 to 999999999"));
        }
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
            return Err(InvalidValue::new(format!("{field}.seconds"), "must be within the years 1900 to 9999"));
        }
        Ok(Timestamp(seconds * 1_000_000 + i64::from(nanos / 1_000)))
    }

    /// Seconds since the epoch and the nanoseconds within that second (never negative).
    pub fn to_unix_parts(self) -> (i64, i32) {
        let seconds = self.0.div_euclid(1_000_000);
        let nanos = i32::try_from(self.0.rem_euclid(1_000_000) * 1_000).unwrap_or(0);
        (seconds, nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_parts_round_trip_at_microsecond_resolution() {
        for micros in [0, 1, -1, 1_700_000_000_123_456, -2_000_000] {
            let t = Timestamp::from_micros(micros);
            let (seconds, nanos) = t.to_unix_parts();
            assert_eq!(Timestamp::from_unix_parts("t", seconds, nanos), Ok(t));
        }
        assert_eq!(Timestamp::from_micros(-1).to_unix_parts(), (-1, 999_999_000));
        assert_eq!(Timestamp::from_unix_parts("t", 0, 1_999), Ok(Timestamp(1)));
    }

    #[test]
    fn out_of_range_parts_name_the_part() {
        assert_eq!(Timestamp::from_unix_parts("t", 0, -1).unwrap_err().field, "t.nanos");
        assert_eq!(Timestamp::from_unix_parts("t", 0, 1_000_000_000).unwrap_err().field, "t.nanos");
        assert_eq!(Timestamp::from_unix_parts("t", MAX_SECONDS + 1, 0).unwrap_err().field, "t.seconds");
        assert_eq!(Timestamp::from_unix_parts("t", MIN_SECONDS - 1, 0).unwrap_err().field, "t.seconds");
        assert!(Timestamp::from_unix_parts("t", MIN_SECONDS, 0).is_ok());
    }
}
