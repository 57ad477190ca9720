//! The names the platform's parts are known by, spelled once: services (on the bus, in log addresses,
//! in consumer checkpoints and in tokens) and the stream types of their logs.

/// Service names: the first word of a service's routing keys (`awards.AgreementSigned`) and queues, the
/// key of its log address (`--source-log awards=...`), and the source a consumer's checkpoint is kept for.
pub mod service {
    pub const APPLICATIONS: &str = "applications";
    pub const AWARDS: &str = "awards";
    pub const REPORTING: &str = "reporting";
    /// Consumes every other service's events; records none of its own.
    pub const PROJECTOR: &str = "projector";

    /// The services that record domain events, in the order a grant flows through them (and the order a
    /// rebuild replays their logs in, so that references point back to something already seen).
    pub const EVENT_SOURCES: [&str; 3] = [APPLICATIONS, AWARDS, REPORTING];
}

/// Stream types: the first part of a stream id (`award/<award_id>`), one per aggregate. Which events each
/// stream holds is documented in the service's `events.proto`.
pub mod stream {
    /// `round/<round_id>` in the applications log.
    pub const ROUND: &str = "round";
    /// `organisation/<organisation_id>` in the applications log.
    pub const ORGANISATION: &str = "organisation";
    /// `application/<application_id>` in the applications log.
    pub const APPLICATION: &str = "application";
    /// `award/<award_id>` in the awards log.
    pub const AWARD: &str = "award";
    /// `obligations/<award_id>` in the reporting log: an award's reporting schedule and reports.
    pub const OBLIGATIONS: &str = "obligations";
}
