//! `grants bus`: the message bus as an operator works on it. Today: a consumer's dead letters, listed,
//! shown in full (the decoded event, headers as text, times in RFC 3339) and replayed one by one.
//!
//! The broker is named as the services name it: `--amqp-url` or `GRANTS_AMQP_URL`.

use anyhow::Context;
use clap::Subcommand;
use event_bus::lapin::types::AMQPValue;
use event_bus::message::header;
use event_bus::{BusConfig, ConsumerConfig, DeadLetter, DeadLetters};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Outcome;
use crate::stdout::say;

/// The variable the bus's operator command read before it was named like the services' one.
const RETIRED_URL_VARIABLE: &str = "BUS_AMQP_URI";

/// Headers that hold microseconds since the Unix epoch.
const MICROSECOND_TIME_HEADERS: &[&str] = &[header::DEAD_LETTERED_AT];

#[derive(Debug, clap::Args)]
pub struct BusArgs {
    /// AMQP URL of the broker, as the services take it (a cluster's nodes separated by commas).
    #[arg(long, env = "GRANTS_AMQP_URL", alias = "amqp-uri", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// PEM CA certificates that sign the broker's certificate, for an amqps:// URL. A broker that asks for
    /// a client certificate is shown --tls-cert (with --tls-key).
    #[arg(long, value_name = "FILE", env = "GRANTS_AMQP_TLS_CA")]
    amqp_tls_ca: Option<std::path::PathBuf>,
    /// The consuming service whose queues to work on.
    #[arg(long, env = "BUS_CONSUMER")]
    consumer: String,
    /// The consumer queue, if not `<consumer>.inbox`.
    #[arg(long)]
    queue: Option<String>,
    /// The dead-letter queue, if not `<consumer>.dead-letters`.
    #[arg(long)]
    dead_letter_queue: Option<String>,
    #[command(subcommand)]
    command: BusCommand,
}

#[derive(Debug, Subcommand)]
enum BusCommand {
    /// A consumer's dead letters.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetterCommand),
}

#[derive(Debug, Subcommand)]
enum DeadLetterCommand {
    /// One line per dead letter: id, source and position, event type, reason.
    List,
    /// Everything about one dead letter, including the decoded event.
    Show { id: String },
    /// Sends one dead letter back to the consumer queue, where it is applied once.
    Replay { id: String },
}

pub async fn run(connection: &crate::endpoints::Connection, args: BusArgs) -> anyhow::Result<Outcome> {
    // Read silently, the old variable would be ignored and the default broker used instead.
    if std::env::var_os(RETIRED_URL_VARIABLE).is_some() {
        anyhow::bail!("{RETIRED_URL_VARIABLE} is no longer read: set GRANTS_AMQP_URL (or pass --amqp-url) instead");
    }
    let tls = match &args.amqp_tls_ca {
        Some(ca) => {
            let ca = tls::CaCertificates::load("--amqp-tls-ca", ca)?;
            let identity = connection.tls_identity()?;
            Some(event_bus::BrokerTls::from_pem(ca.pem(), identity.as_ref().map(|id| (id.cert_pem(), id.key_pem()))))
        }
        None => None,
    };
    let mut config = ConsumerConfig::new(BusConfig::new(args.amqp_url).with_tls(tls), args.consumer, &["any"]);
    if let Some(queue) = args.queue {
        config.queue = queue;
    }
    if let Some(queue) = args.dead_letter_queue {
        config.dead_letter_queue = queue;
    }
    let where_ = format!("dead-letter queue {} at {}", config.dead_letter_queue, config.bus.display_uri());
    let dead_letters = DeadLetters::new(config);
    match args.command {
        BusCommand::DeadLetters(DeadLetterCommand::List) => {
            let letters = dead_letters.list().await.with_context(|| format!("cannot list the {where_}"))?;
            for letter in &letters {
                say!("{}", summary(letter));
            }
            say!("{} dead letter(s)", letters.len());
        }
        BusCommand::DeadLetters(DeadLetterCommand::Show { id }) => {
            let letter = dead_letters.show(&id).await.with_context(|| format!("cannot read the {where_}"))?;
            say!("{}", details(&letter).trim_end_matches('\n'));
        }
        BusCommand::DeadLetters(DeadLetterCommand::Replay { id }) => {
            let letter = dead_letters.replay(&id).await.with_context(|| format!("cannot replay from the {where_}"))?;
            say!("replayed {}", summary(&letter));
        }
    }
    Ok(Outcome::Verified)
}

fn summary(letter: &DeadLetter) -> String {
    let at = match (&letter.source, letter.position) {
        (Some(source), Some(position)) => format!("{source}@{position}"),
        (Some(source), None) => source.clone(),
        _ => "-".into(),
    };
    format!("{}  {}  {}  {}", letter.id, at, letter.event_type.as_deref().unwrap_or("-"), letter.reason)
}

fn details(letter: &DeadLetter) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<15} {value}\n"));
    line("id", letter.id.clone());
    line("reason", letter.reason.clone());
    line("source", letter.source.clone().unwrap_or_else(|| "-".into()));
    line("position", letter.position.map_or("-".into(), |p| p.to_string()));
    line("event type", letter.event_type.clone().unwrap_or_else(|| "-".into()));
    line("routing key", letter.routing_key.clone().unwrap_or_else(|| "-".into()));
    line("dead-lettered", letter.dead_lettered_at.map_or("-".into(), |t| micros_rfc3339(t.as_micros())));
    line("body", format!("{} bytes", letter.body.len()));
    match letter.event() {
        Ok(event) => {
            line("stream", format!("{} version {}", event.stream, event.stream_version));
            line("event id", event.event_id.to_string());
            line("schema", event.schema_version.to_string());
            line("actor", format!("{} ({})", event.metadata.actor.subject, event.metadata.actor.role));
            line("correlation", event.metadata.correlation_id.to_string());
            line("occurred", micros_rfc3339(event.metadata.occurred_at.as_micros()));
            line("recorded", micros_rfc3339(event.recorded_at.as_micros()));
            line("hash", event.hash.to_string());
            line("payload", format!("{} bytes: {}", event.payload.len(), hex::encode(&event.payload)));
        }
        Err(e) => line("event", format!("does not decode: {e}")),
    }
    if let Some(headers) = letter.properties.headers() {
        for (key, value) in headers.inner() {
            let text = match value {
                AMQPValue::LongLongInt(micros) if MICROSECOND_TIME_HEADERS.contains(&key.as_str()) => {
                    micros_rfc3339(*micros)
                }
                value => header_text(value),
            };
            line(&format!("header {key}"), text);
        }
    }
    out
}

/// A header value as an operator reads it: strings as text (hex where they are not UTF-8), numbers in
/// decimal, AMQP timestamps (seconds) in RFC 3339, arrays and tables spelt out with their strings quoted.
fn header_text(value: &AMQPValue) -> String {
    match value {
        AMQPValue::LongString(text) => bytes_text(text.as_bytes()),
        AMQPValue::ShortString(text) => text.as_str().to_owned(),
        nested => nested_text(nested),
    }
}

fn nested_text(value: &AMQPValue) -> String {
    match value {
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::DecimalValue(d) => format!("{}e-{}", d.value, d.scale),
        AMQPValue::ShortString(text) => format!("{:?}", text.as_str()),
        AMQPValue::LongString(text) => match std::str::from_utf8(text.as_bytes()) {
            Ok(text) => format!("{text:?}"),
            Err(_) => bytes_text(text.as_bytes()),
        },
        AMQPValue::ByteArray(bytes) => format!("0x{}", hex::encode(bytes.as_slice())),
        AMQPValue::Timestamp(seconds) => match i64::try_from(*seconds) {
            Ok(seconds) => seconds_rfc3339(seconds),
            Err(_) => format!("{seconds} s since the epoch"),
        },
        AMQPValue::FieldArray(values) => {
            let values: Vec<String> = values.as_slice().iter().map(nested_text).collect();
            format!("[{}]", values.join(", "))
        }
        AMQPValue::FieldTable(table) => {
            let entries: Vec<String> =
                table.inner().iter().map(|(key, value)| format!("{key}: {}", nested_text(value))).collect();
            format!("{{{}}}", entries.join(", "))
        }
        AMQPValue::Void => "(none)".into(),
    }
}

/// UTF-8 as it is, anything else as `0x` and hex.
fn bytes_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("0x{}", hex::encode(bytes)),
    }
}

/// Microseconds since the Unix epoch as RFC 3339 in UTC, or the number where it is no date.
fn micros_rfc3339(micros: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{micros} µs since the epoch"))
}

fn seconds_rfc3339(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{seconds} s since the epoch"))
}

#[cfg(test)]
mod tests {
    use event_bus::lapin::BasicProperties;
    use event_bus::lapin::types::{ByteArray, FieldArray, FieldTable, LongString, ShortString};
    use event_log::Timestamp;

    use super::*;

    fn long(text: &[u8]) -> AMQPValue {
        AMQPValue::LongString(LongString::from(text.to_vec()))
    }

    #[test]
    fn strings_are_text_and_other_bytes_hex() {
        assert_eq!(header_text(&long(b"application/app-1")), "application/app-1");
        assert_eq!(header_text(&long("Phnom Penh ភ្នំពេញ".as_bytes())), "Phnom Penh ភ្នំពេញ");
        assert_eq!(header_text(&long(&[0xff, 0x00, 0x41])), "0xff0041");
        assert_eq!(header_text(&AMQPValue::ShortString(ShortString::from("awards"))), "awards");
        assert_eq!(header_text(&AMQPValue::ByteArray(ByteArray::from(vec![1u8, 2]))), "0x0102");
        assert_eq!(header_text(&AMQPValue::LongLongInt(42)), "42");
        assert_eq!(header_text(&AMQPValue::Boolean(true)), "true");
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(micros_rfc3339(1_625_097_600_123_456), "2021-07-01T00:00:00.123456Z");
        assert_eq!(micros_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(header_text(&AMQPValue::Timestamp(1_625_097_600)), "2021-07-01T00:00:00Z");
        assert_eq!(micros_rfc3339(i64::MAX), format!("{} µs since the epoch", i64::MAX));
    }

    #[test]
    fn a_broker_death_record_is_spelt_out() {
        let mut death = FieldTable::default();
        death.insert(ShortString::from("count"), AMQPValue::LongLongInt(20));
        death.insert(ShortString::from("queue"), long(b"projector.inbox"));
        death.insert(ShortString::from("reason"), long(b"delivery_limit"));
        death.insert(
            ShortString::from("routing-keys"),
            AMQPValue::FieldArray(FieldArray::from(vec![long(b"applications.ApplicationApproved")])),
        );
        death.insert(ShortString::from("time"), AMQPValue::Timestamp(1_625_097_600));
        let deaths = AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(death)]));
        assert_eq!(
            header_text(&deaths),
            "[{count: 20, queue: \"projector.inbox\", reason: \"delivery_limit\", \
             routing-keys: [\"applications.ApplicationApproved\"], time: 2021-07-01T00:00:00Z}]"
        );
    }

    #[test]
    fn details_show_headers_as_text_and_times_in_rfc3339() {
        let mut headers = FieldTable::default();
        headers.insert(ShortString::from(header::STREAM_ID), long(b"application/app-7"));
        headers.insert(ShortString::from(header::DEAD_LETTER_REASON), long(b"rejected: poison is refused"));
        headers.insert(ShortString::from(header::DEAD_LETTERED_AT), AMQPValue::LongLongInt(1_625_097_600_000_001));
        headers.insert(ShortString::from("x-opaque"), long(&[0xff, 0xfe]));
        let letter = DeadLetter {
            id: "e1".into(),
            source: Some("applications".into()),
            position: Some(7),
            event_type: Some("Poison".into()),
            routing_key: Some("applications.Poison".into()),
            reason: "rejected: poison is refused".into(),
            dead_lettered_at: Some(Timestamp::from_micros(1_625_097_600_000_001)),
            body: b"not an envelope".to_vec(),
            properties: BasicProperties::default().with_headers(headers),
        };
        let shown = details(&letter);
        let lines: Vec<&str> = shown.lines().collect();
        assert!(lines.contains(&"dead-lettered   2021-07-01T00:00:00.000001Z"), "{shown}");
        assert!(lines.contains(&"header stream-id application/app-7"), "{shown}");
        assert!(lines.contains(&"header x-dead-lettered-at 2021-07-01T00:00:00.000001Z"), "{shown}");
        assert!(lines.contains(&"header x-opaque 0xfffe"), "{shown}");
        assert!(!shown.contains("LongString") && !shown.contains("µs"), "{shown}");
    }
}
