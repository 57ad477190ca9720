//! `bus-admin`: operator commands for the message bus. Today: a consumer's dead letters.
//!
//!     bus-admin --consumer awards dead-letters list
//!     bus-admin --consumer awards dead-letters show <id>
//!     bus-admin --consumer awards dead-letters replay <id>

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use event_bus::{BusConfig, ConsumerConfig, DeadLetter, DeadLetters};

#[derive(Debug, Parser)]
#[command(name = "bus-admin", about = "Operator commands for the grants message bus")]
struct Cli {
    /// AMQP URI of the broker.
    #[arg(long, env = "BUS_AMQP_URI", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_uri: String,
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
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bus-admin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = ConsumerConfig::new(BusConfig::new(cli.amqp_uri), cli.consumer, &["any"]);
    if let Some(queue) = cli.queue {
        config.queue = queue;
    }
    if let Some(queue) = cli.dead_letter_queue {
        config.dead_letter_queue = queue;
    }
    let where_ = format!("dead-letter queue {} at {}", config.dead_letter_queue, config.bus.display_uri());
    let dead_letters = DeadLetters::new(config);
    match cli.command {
        Command::DeadLetters(DeadLetterCommand::List) => {
            let letters = dead_letters.list().await.with_context(|| format!("cannot list the {where_}"))?;
            for letter in &letters {
                println!("{}", summary(letter));
            }
            println!("{} dead letter(s)", letters.len());
        }
        Command::DeadLetters(DeadLetterCommand::Show { id }) => {
            let letter = dead_letters.show(&id).await.with_context(|| format!("cannot read the {where_}"))?;
            print!("{}", details(&letter));
        }
        Command::DeadLetters(DeadLetterCommand::Replay { id }) => {
            let letter = dead_letters.replay(&id).await.with_context(|| format!("cannot replay from the {where_}"))?;
            println!("replayed {}", summary(&letter));
        }
    }
    Ok(())
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
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<16}{value}\n"));
    line("id", letter.id.clone());
    line("reason", letter.reason.clone());
    line("source", letter.source.clone().unwrap_or_else(|| "-".into()));
    line("position", letter.position.map_or("-".into(), |p| p.to_string()));
    line("event type", letter.event_type.clone().unwrap_or_else(|| "-".into()));
    line("routing key", letter.routing_key.clone().unwrap_or_else(|| "-".into()));
    line("dead-lettered", letter.dead_lettered_at.map_or("-".into(), |t| format!("{} µs since epoch", t.as_micros())));
    line("body", format!("{} bytes", letter.body.len()));
    match letter.event() {
        Ok(event) => {
            line("stream", format!("{} version {}", event.stream, event.stream_version));
            line("event id", event.event_id.to_string());
            line("schema", event.schema_version.to_string());
            line("actor", format!("{} ({})", event.metadata.actor.subject, event.metadata.actor.role));
            line("correlation", event.metadata.correlation_id.to_string());
            line("hash", event.hash.to_string());
            line("payload", format!("{} bytes: {}", event.payload.len(), hex::encode(&event.payload)));
        }
        Err(e) => line("event", format!("does not decode: {e}")),
    }
    if let Some(headers) = letter.properties.headers() {
        for (key, value) in headers.inner() {
            line(&format!("header {key}"), format!("{value:?}"));
        }
    }
    out
}
