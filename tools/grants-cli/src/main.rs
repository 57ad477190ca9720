//! `grants`: the command line of operators and auditors. Auditing commands read each service's event log
//! through the read-only `EventLogService`, so they need nothing but network access and a token, and trust
//! nothing the services compute: hashes are recomputed here. Platform commands seed a demonstration, issue
//! development tokens, work on the message bus's dead letters and rebuild the projector's read models.
//!
//! Exit codes: 0 verified (or done), 1 tampered (a log does not match its chain or a kept checkpoint),
//! 2 could not check or could not do it (unreachable service, refused token, bad input), 130 interrupted
//! (export), 141 standard output closed early (`grants history | head`).

// Standard output only through `stdout::say!`, which ends quietly when the reader has gone.
#![deny(clippy::print_stdout)]

mod as_of;
mod backup;
mod bus;
mod checkpoint;
mod decode;
mod demo;
mod endpoints;
mod export;
mod history;
mod load;
mod projector;
mod publish;
mod stdout;
mod token;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::endpoints::Connection;

#[derive(Debug, Parser)]
#[command(
    name = "grants",
    about = "Verify, export and trace the grants platform's event history, and operate the platform",
    long_about = "Verify, export and trace the grants platform's event history, and operate the platform.\n\n\
        Every service keeps an append-only, hash-chained event log and serves it read-only. The audit \
        commands read those logs over gRPC and recompute everything themselves: an auditor needs no access \
        to the servers' disks and no trust in their read models.\n\n\
        Exit codes: 0 verified or done, 1 tampered (any log, when several are checked), 2 could not check \
        or could not do it (when nothing was tampered), 130 interrupted, 141 standard output closed before \
        the end (as in `grants history | head`).",
    after_help = "Examples:\n  \
        grants verify --all\n  \
        grants verify --service applications --record applications.checkpoint.json\n  \
        grants verify --service applications --against applications.checkpoint.json\n  \
        grants checkpoint --service awards --public-key <hex> --save awards.checkpoint.json\n  \
        grants history --application 6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab\n  \
        grants as-of --award 0b7e9c1a-3d2f-5e4b-9a8c-7d6e5f4a3b2c --date 2022-03-01\n  \
        grants as-of --program --at 2022-03-01T00:00:00Z\n  \
        grants publish iati --reporting-org-ref AU-5 --reporting-org-name DFAT --funder-ref AU-5 --funder-name DFAT --output activities.xml\n  \
        grants publish 360giving --prefix 360G-dfat --funder-ref AU-5 --funder-name DFAT --as-of 2022-03-01\n  \
        grants export --service awards --from 1200 --output awards.jsonl\n  \
        grants backup --service applications --to backups/applications --follow\n  \
        grants demo\n  \
        grants load --clients 16 --duration 30s --rate 200\n  \
        TOKEN=$(grants token --role program_officer --subject po-1)\n  \
        grants bus --consumer awards dead-letters list\n  \
        grants projector rebuild"
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
    /// The cross-service history of one grant, read directly from the services' logs.
    ///
    /// From its application on: application, reviews, decision, award, agreement, variations, reports,
    /// releases.
    History {
        /// The application the grant started from.
        #[arg(long, value_name = "ID")]
        application: uuid::Uuid,
        /// One JSON object per event (for tools) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The state of an application, an award or the program summary at a past point, as JSON.
    ///
    /// The point is a time, a day or a log position. An application's or award's state is rebuilt from the
    /// owning service's log with the services' own aggregate code; the program summary is the projector's
    /// as of a time.
    #[command(name = "as-of")]
    AsOf(as_of::AsOfArgs),
    /// Write the program's open data: IATI 2.03 activities or 360Giving grants, from the logs.
    ///
    /// Read from the services' logs (as history and as-of read them) at the current state or --as-of a past
    /// day or time, with results only from the projector's published (suppressed and perturbed) figures.
    /// No free text (sealed or erased), contact person or other personal data is ever published. The
    /// publisher's identity comes from flags or their GRANTS_... environment variables. Progress goes to
    /// standard error.
    Publish(publish::PublishArgs),
    /// Seed a demonstration program through the services' gRPC APIs.
    ///
    /// A 2021 round, nine partner organisations, reviews and decisions, awards with agreements and
    /// tranches, accepted reports, a release, a variation and an overdue report. Needs the services'
    /// development secret (--jwt-secret or GRANTS_JWT_SECRET) to act as each person. Every request is sent
    /// in one W3C trace, the one the TRACEPARENT environment variable names or a new one; it prints
    /// its trace id first, which the services' logs and recorded events show.
    Demo,
    /// Issue a development bearer token for one role, signed with the services' secret.
    ///
    /// The secret, issuer and audience are the services' own: --jwt-secret (GRANTS_JWT_SECRET),
    /// --jwt-issuer (GRANTS_JWT_ISSUER, default grants-dev), --jwt-audience (GRANTS_JWT_AUDIENCE, default
    /// grants). The token is printed alone: `TOKEN=$(grants token --role auditor --subject a-1)`.
    Token(token::TokenArgs),
    /// List, show and replay a bus consumer's dead letters on the broker.
    Bus(bus::BusArgs),
    /// Drive the running platform with clients walking grants through their life cycle, and measure it.
    ///
    /// Each client opens rounds, registers organisations, drafts and submits applications, has them
    /// reviewed and decided, waits for the award offered over the bus, sets and signs the agreement,
    /// releases the initial tranche, submits and accepts a progress report, waits for the interim tranche
    /// to unlock and releases it. A progress line a second on standard error; at the end, on standard
    /// output: commands/s, p50/p99/max latency per RPC, the waits on the bus, the time from a command's
    /// answer to its effect in the projector, the projector's backlog at the end (GetLag per source: head
    /// minus applied) and how long it took to drain, and each local service's resident memory (VmRSS of
    /// the process of the service's name; "not local" for an endpoint on another machine).
    ///
    /// Command to projected: for one command in --sample-every, the source service's log head is read
    /// right after the answer (EventLogService.GetHead), and the projector's GetLag is polled every 10 ms
    /// until its applied position for that source has reached that head. Needs the services' development
    /// secret (--jwt-secret or GRANTS_JWT_SECRET). Ctrl-c ends the load early and still reports (exit code
    /// 130). Exit code 2 when a command failed, a sample was never projected or the backlog did not drain.
    Load(load::LoadArgs),
    /// Rebuild a running projector's read models, or print their digest.
    #[command(subcommand)]
    Projector(projector::ProjectorCommand),
    /// Fetch and verify a service's latest signed checkpoint.
    ///
    /// Verifies its Ed25519 signature and that the log's verified chain holds the signed head; optionally
    /// saves it to keep elsewhere (for `verify --against`).
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
    /// Copy a service's log, verified, into a log directory it can be restored from.
    ///
    /// Reads the log through EventLogService and writes each event byte for byte (record and hash, at its
    /// position), checking the chain as it goes. A directory holding an earlier backup of the same log is
    /// continued from its head; one holding a copy of another log is refused. With --follow it keeps the
    /// copy current until ctrl-c or SIGTERM, reconnecting while the service is away. To restore, stop the
    /// backup and copy its directory to the service's `<data dir>/log` (see deploy/local/RESTORE.md).
    Backup(backup::BackupArgs),
    /// Make a development CA and TLS certificates for the local platform (never for production).
    ///
    /// Writes ca.pem and, for each of applications, awards, reporting, projector, operator and rabbitmq,
    /// NAME.pem and NAME.key (owner-only), valid for localhost, 127.0.0.1 and ::1 as server and as client
    /// for a year. Existing files are never overwritten; the CA's key is not kept.
    DevCerts {
        /// The directory to write them into (made if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Generate an Ed25519 key for a service to sign its checkpoints with (`--checkpoint-key-file`).
    Keygen {
        /// Where to write the private key seed (created with owner-only permissions; never overwritten).
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
    /// The full event history of one service or all, as JSON lines.
    ///
    /// Each line holds an event's envelope, hash and decoded payload.
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

/// The groups `grants --help` lists the commands in, in this order; every command is in one (tested).
const COMMAND_GROUPS: [(&str, &[&str]); 3] = [
    ("Audit", &["verify", "checkpoint", "export", "history", "as-of"]),
    ("Open data", &["publish"]),
    ("Platform", &["demo", "load", "token", "bus", "projector", "backup", "keygen", "dev-certs"]),
];

/// The command line with its commands listed by group, each with its one-line description (clap lists
/// subcommands under one heading only).
fn command_line() -> clap::Command {
    let command = Cli::command();
    let width = COMMAND_GROUPS.iter().flat_map(|(_, names)| names.iter()).map(|name| name.len()).max().unwrap_or(0);
    let mut groups = String::new();
    for (group, names) in COMMAND_GROUPS {
        groups.push_str(&format!("{group} commands:\n"));
        for name in names {
            let about = command.find_subcommand(name).and_then(|c| c.get_about()).map(ToString::to_string);
            groups.push_str(&format!("  {name:<width$}  {}\n", about.unwrap_or_default()));
        }
        groups.push('\n');
    }
    command.help_template(format!(
        "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{groups}Options:\n{{options}}{{after-help}}"
    ))
}

/// The certificates `grants dev-certs` makes: one per service, one for operators (`grants`) and one for
/// the broker.
pub const DEV_CERT_NAMES: [&str; 6] = ["applications", "awards", "reporting", "projector", "operator", "rabbitmq"];

fn dev_certs(out: &std::path::Path) -> anyhow::Result<Outcome> {
    let written = tls::dev::write_dev_certs(out, &DEV_CERT_NAMES)?;
    for path in written {
        stdout::say!("{}", path.display());
    }
    Ok(Outcome::Verified)
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command_line().get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return failed("could not check", &anyhow::anyhow!(e)),
    };
    let failure = cli.command.failure();
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
            Command::Publish(args) => publish::run(&cli.connection, &args).await,
            Command::Demo => demo::run(&cli.connection).await,
            Command::Load(args) => load::run(&cli.connection, &args).await,
            Command::Keygen { output } => checkpoint::keygen(&output),
            Command::DevCerts { out } => dev_certs(&out),
            Command::Export { service, all, from, output } => {
                export::run(&cli.connection, service.as_deref(), all, from, output.as_deref()).await
            }
            Command::Token(args) => token::run(&cli.connection, &args),
            Command::Bus(args) => Box::pin(bus::run(&cli.connection, args)).await,
            Command::Projector(command) => projector::run(&cli.connection, &command).await,
            Command::Backup(args) => backup::run(&cli.connection, &args).await,
        }
    });
    match result {
        Ok(Outcome::Verified) => ExitCode::SUCCESS,
        Ok(Outcome::Tampered) => ExitCode::from(1),
        Ok(Outcome::CouldNotCheck) => ExitCode::from(2),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(error) => failed(failure, &error),
    }
}

impl Command {
    /// How a failure is reported: the commands that check say they could not; the operator's own name
    /// themselves, since a broken bus or projector is not a failed check.
    fn failure(&self) -> &'static str {
        match self {
            Command::Token(_) => "token",
            Command::Bus(_) => "bus",
            Command::Projector(_) => "projector",
            Command::Load(_) => "load",
            Command::Backup(_) => "backup",
            Command::Publish(_) => "publish",
            _ => "could not check",
        }
    }
}

/// Errors are one line: `grants: <failure>: ` and the context chain joined, no backtrace; exit code 2.
fn failed(failure: &str, error: &anyhow::Error) -> ExitCode {
    eprintln!("grants: {failure}: {error:#}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_listed_in_one_group() {
        let command = Cli::command();
        let mut listed: Vec<&str> = COMMAND_GROUPS.iter().flat_map(|(_, names)| names.iter().copied()).collect();
        listed.sort_unstable();
        let mut defined: Vec<&str> =
            command.get_subcommands().map(clap::Command::get_name).filter(|name| *name != "help").collect();
        defined.sort_unstable();
        assert_eq!(listed, defined);
    }

    #[test]
    fn each_description_is_one_line() {
        for subcommand in Cli::command().get_subcommands() {
            let about = subcommand.get_about().map(ToString::to_string).unwrap_or_default();
            assert!(!about.is_empty() && !about.contains('\n'), "{}: {about:?}", subcommand.get_name());
        }
    }
}
