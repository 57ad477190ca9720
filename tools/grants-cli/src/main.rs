//! `grants`: the command line of operators and auditors. It reads each service's event log through the
//! read-only `EventLogService`, so it needs nothing but network access and a token, and it trusts nothing
//! the services compute: hashes are recomputed here.
//!
//! Exit codes: 0 verified (or done), 1 tampered (a log does not match its chain or a kept checkpoint),
//! 2 could not check (unreachable service, refused token, bad input), 130 interrupted (export), 141
//! standard output closed early (`grants history | head`).

// Standard output only through `stdout::say!`, which ends quietly when the reader has gone.
#![deny(clippy::print_stdout)]

mod as_of;
mod checkpoint;
mod decode;
mod demo;
mod endpoints;
mod export;
mod history;
mod stdout;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::endpoints::Connection;

#[derive(Debug, Parser)]
#[command(
    name = "grants",
    about = "Verify, export and trace the grants platform's event history",
    long_about = "Verify, export and trace the grants platform's event history.\n\n\
        Every service keeps an append-only, hash-chained event log and serves it read-only. This tool reads \
        those logs over gRPC and recomputes everything itself: an auditor needs no access to the servers' \
        disks and no trust in their read models.\n\n\
        Exit codes: 0 verified or done, 1 tampered (any log, when several are checked), 2 could not check \
        (when nothing was tampered), 130 interrupted, 141 standard output closed before the end (as in \
        `grants history | head`).",
    after_help = "Examples:\n  \
        grants verify --all\n  \
        grants verify --service applications --record applications.checkpoint.json\n  \
        grants verify --service applications --against applications.checkpoint.json\n  \
        grants checkpoint --service awards --public-key <hex> --save awards.checkpoint.json\n  \
        grants history --application 6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab\n  \
        grants as-of --award 0b7e9c1a-3d2f-5e4b-9a8c-7d6e5f4a3b2c --date 2022-03-01\n  \
        grants as-of --program --at 2022-03-01T00:00:00Z\n  \
        grants demo\n  \
        grants export --service awards --from 1200 --output awards.jsonl"
)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Recompute the hash chain of one service's log, or of all, on this side.
    ///
    /// Reports the number of events, the head position and hash, and the first position that does not
    /// match, if any.
    Verify {
        /// The service whose log to verify (applications, awards, reporting, projector).
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        service: Option<String>,
        /// Verify every service given with --endpoint (without any, the platform's four), reporting each,
        /// also those that could not be checked.
        #[arg(long)]
        all: bool,
        /// A checkpoint kept elsewhere (written by --record): prove that the log still extends it.
        #[arg(long, value_name = "FILE", conflicts_with = "all")]
        against: Option<PathBuf>,
        /// The service's checkpoint public key (64 hexadecimal digits), obtained from its operator: a signed
        /// --against file and every checkpoint recorded in the log must be signed by it. Without it, their
        /// own keys are trusted (with a warning for a signed --against file).
        #[arg(long, value_name = "HEX", conflicts_with = "all")]
        public_key: Option<String>,
        /// Write the verified head as a checkpoint file to keep elsewhere.
        #[arg(long, value_name = "FILE", conflicts_with = "all")]
        record: Option<PathBuf>,
        /// Print the result as one JSON object per service instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The cross-service history of one grant, from its application on: application, reviews, decision,
    /// award, agreement, variations, reports, releases; read directly from the services' logs.
    History {
        /// The application the grant started from.
        #[arg(long, value_name = "ID")]
        application: uuid::Uuid,
        /// One JSON object per event (for tools) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The state of an application or an award at a past point (a time, a day or a log position),
    /// rebuilt from the owning service's log with the services' own aggregate code; or the projector's
    /// program summary as of a time. Printed as JSON.
    #[command(name = "as-of")]
    AsOf(as_of::AsOfArgs),
    /// Seed a demonstration program through the services' gRPC APIs: a 2021 round, nine partner
    /// organisations, reviews and decisions, awards with agreements and tranches, accepted reports, a
    /// release, a variation and an overdue report. Needs the services' development secret
    /// (--jwt-secret or GRANTS_JWT_SECRET) to act as each person.
    Demo,
    /// Fetch the service's latest signed checkpoint, verify its Ed25519 signature and that the log's
    /// verified chain holds the signed head; optionally save it to keep elsewhere (for `verify --against`).
    Checkpoint {
        /// The service whose checkpoint to fetch.
        #[arg(long)]
        service: String,
        /// The service's public key (64 hexadecimal digits), obtained from its operator. Without it the key
        /// named in the checkpoint is trusted, and shown so it can be compared.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// Save the verified checkpoint to this file.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
    /// Generate an Ed25519 key for a service to sign its checkpoints with (`--checkpoint-key-file`).
    Keygen {
        /// Where to write the private key seed (created with owner-only permissions; never overwritten).
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
    /// The full event history of one service or all, as JSON lines: envelope, hash and decoded payload.
    Export {
        /// The service whose log to export.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        service: Option<String>,
        /// Export every service given with --endpoint (without any, the platform's four), one after another.
        #[arg(long)]
        all: bool,
        /// First position to export: an export that stops says which to resume with.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Write to this file (appending) instead of standard output. It only ever ends with a whole line: a
        /// torn last line (left when the export was killed) is cut before appending.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// What a command found, as the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Verified,
    Tampered,
    /// Some service could not be checked (and none was found tampered); each was reported.
    CouldNotCheck,
    /// Stopped by ctrl-c or SIGTERM after saying how to resume.
    Interrupted,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return could_not_check(&anyhow::anyhow!(e)),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Verify { service, all, against, public_key, record, json } => {
                let (against, public_key) = (against.as_deref(), public_key.as_deref());
                verify::run(&cli.connection, service.as_deref(), all, against, public_key, record.as_deref(), json)
                    .await
            }
            Command::History { application, json } => history::run(&cli.connection, application, json).await,
            Command::Checkpoint { service, public_key, save } => {
                checkpoint::run(&cli.connection, &service, public_key.as_deref(), save.as_deref()).await
            }
            Command::AsOf(args) => as_of::run(&cli.connection, &args).await,
            Command::Demo => demo::run(&cli.connection).await,
            Command::Keygen { output } => checkpoint::keygen(&output),
            Command::Export { service, all, from, output } => {
                export::run(&cli.connection, service.as_deref(), all, from, output.as_deref()).await
            }
        }
    });
    match result {
        Ok(Outcome::Verified) => ExitCode::SUCCESS,
        Ok(Outcome::Tampered) => ExitCode::from(1),
        Ok(Outcome::CouldNotCheck) => ExitCode::from(2),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(error) => could_not_check(&error),
    }
}

/// Errors are one line: the context chain joined, no backtrace.
fn could_not_check(error: &anyhow::Error) -> ExitCode {
    eprintln!("grants: could not check: {error:#}");
    ExitCode::from(2)
}
