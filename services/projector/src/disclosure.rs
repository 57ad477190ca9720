//! How victim counts are disclosed: the settings (k, the perturbation table, the record-key secret) and
//! the time rule that bounds which tables can be asked for. Pure: no IO.
//!
//! # Rules (also in `proto/grants/projector/v1/projector.proto` and the README)
//!
//! - Indicator counts are perturbed ([`crate::perturbation`]) and suppressed ([`crate::suppression`]):
//!   k applies to the **exact** count, so every count of 1..k-1 people is withheld whatever its noise,
//!   and the perturbation then goes on every count that is shown.
//! - **Month ends only.** In an answer as of a past point, indicator counts stand at the last month end
//!   (UTC) at or before that point ([`month_end_at_or_before`]): one table per month, however finely the
//!   point is chosen, so as-of points cannot slice the history report by report.
//! - **No organisation filter** for anyone but that organisation's own partners (checked by the query
//!   API): organisation is not a published dimension, and subtracting one organisation's table from the
//!   program's would publish everyone else's.

use crate::perturbation::{PerturbationError, PerturbationTable, RecordKeys};

/// What the summary's indicator counts are published with.
#[derive(Clone, Debug)]
pub struct Disclosure {
    /// Counts 1..k-1 are withheld.
    pub k: u32,
    pub table: PerturbationTable,
    pub keys: RecordKeys,
}

impl Disclosure {
    /// `bound` must be one the bundled tables define; `secret` at least 32 bytes.
    pub fn new(k: u32, bound: u32, secret: &[u8]) -> Result<Disclosure, PerturbationError> {
        Ok(Disclosure { k, table: PerturbationTable::bundled(bound)?, keys: RecordKeys::new(secret)? })
    }

    /// The development secret with bound 2: local runs and tests only.
    pub fn development(k: u32) -> Disclosure {
        Disclosure {
            k,
            table: PerturbationTable::bundled(DEFAULT_BOUND).unwrap_or_else(|e| unreachable!("bundled table: {e}")),
            keys: RecordKeys::development(),
        }
    }
}

/// The default perturbation bound D.
pub const DEFAULT_BOUND: u32 = 2;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// The last microsecond of a UTC calendar month at or before `micros` (Unix microseconds): `micros`
/// itself when it is one, else the last microsecond of the month before the one `micros` falls in.
pub fn month_end_at_or_before(micros: i64) -> i64 {
    let start_of_month = |micros: i64| {
        let at = time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(MICROS_PER_SECOND))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let first = at.date().replace_day(1).unwrap_or_else(|_| unreachable!("every month has a first day"));
        first.midnight().assume_utc().unix_timestamp() * MICROS_PER_SECOND
    };
    // One microsecond later starts a month exactly when `micros` ends one.
    let next = micros.saturating_add(1);
    if start_of_month(next) == next { micros } else { start_of_month(micros) - 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> i64 {
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
        i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap()
    }

    #[test]
    fn a_point_snaps_to_the_last_month_end_at_or_before_it() {
        let june_end = micros("2021-06-30T23:59:59.999999Z");
        assert_eq!(month_end_at_or_before(june_end), june_end, "a month end is its own");
        assert_eq!(month_end_at_or_before(micros("2021-07-01T00:00:00Z")), june_end);
        assert_eq!(month_end_at_or_before(micros("2021-07-18T10:30:00Z")), june_end);
        assert_eq!(month_end_at_or_before(micros("2021-07-31T23:59:59.999998Z")), june_end);
        assert_eq!(
            month_end_at_or_before(micros("2021-07-31T23:59:59.999999Z")),
            micros("2021-07-31T23:59:59.999999Z")
        );
        assert_eq!(month_end_at_or_before(micros("2024-03-01T00:00:00.5Z")), micros("2024-02-29T23:59:59.999999Z"));
        assert_eq!(month_end_at_or_before(micros("2022-01-15T00:00:00Z")), micros("2021-12-31T23:59:59.999999Z"));
    }

    #[test]
    fn settings_are_checked() {
        assert!(matches!(Disclosure::new(5, 4, &[0; 32]), Err(PerturbationError::UnknownBound { bound: 4, .. })));
        assert!(matches!(Disclosure::new(5, 2, &[0; 8]), Err(PerturbationError::SecretTooShort(8))));
        assert_eq!(Disclosure::new(5, 3, &[0; 32]).unwrap().table.bound(), 3);
        assert_eq!(Disclosure::development(5).table.bound(), DEFAULT_BOUND);
    }
}
