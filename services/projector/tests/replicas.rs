//! Read replicas: several projector processes on one broker, each with its own queues and data directory,
//! answer identically after a burst; one started after the burst on an empty directory catches up from the
//! source logs and then follows the bus; one stopped leaves the others' queues alone, and its own queue
//! keeps what it missed.
//!
//! The sources are stand-in logs of applications, awards and reporting, served through the read-only log
//! gRPC service and published by the bus relay, as the real services do.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use contracts::names::service;
use contracts::projector::v1::{self as pb, ProjectorServiceClient};
use contracts::reporting::v1 as rp;
use domain_kernel::Role;
use event_bus::lapin::options::QueueDeclareOptions;
use event_bus::lapin::types::{FieldTable, ShortString};
use event_bus::lapin::{Connection, ConnectionProperties};
use event_log::EventLog;
use support::events::{
    Ev, Grant, append_all, application_approved, award_signed, obligations_scheduled, report_accepted,
    report_submitted, round_opened, tranche_released,
};
use test_support::{Vhost, authed, eventually_within, jwt, token};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// One projector process: its name (`None` for the unnamed projector), data directory and address.
struct Replica {
    child: tokio::process::Child,
    client: ProjectorServiceClient<Channel>,
}

fn projector_command(replica: Option<&str>, data_dir: &std::path::Path, amqp: &str) -> tokio::process::Command {
    let jwt = jwt();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_projector"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--amqp-url", amqp, "--jwt-issuer", &jwt.issuer, "--jwt-audience", &jwt.audience])
        .env("GRANTS_JWT_SECRET", String::from_utf8(jwt.secret).unwrap())
        .env("RUST_LOG", "warn")
        .env_remove("PROJECTOR_REPLICA")
        .kill_on_drop(true);
    if let Some(name) = replica {
        command.arg(format!("--replica={name}"));
    }
    command
}

async fn start(replica: Option<&str>, data_dir: &std::path::Path, amqp: &str, sources: &[(String, String)]) -> Replica {
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let mut command = projector_command(replica, data_dir, amqp);
    command.args(["--listen", &format!("127.0.0.1:{port}")]);
    for (name, address) in sources {
        command.args(["--source", &format!("{name}={address}")]);
    }
    let child = command.spawn().expect("the projector starts");
    let address = format!("http://127.0.0.1:{port}");
    let channel = eventually_within("the projector to listen", Duration::from_secs(30), || {
        let address = address.clone();
        async move { Channel::from_shared(address).unwrap().connect().await.ok() }
    })
    .await;
    Replica { child, client: ProjectorServiceClient::new(channel) }
}

impl Replica {
    /// Waits until every source is applied up to `heads` (by source), as `GetLag` shows it.
    async fn caught_up(&self, heads: &HashMap<&'static str, u64>, admin: &str) {
        eventually_within("the replica to catch up", Duration::from_secs(120), || {
            let mut client = self.client.clone();
            async move {
                let lag = client.get_lag(authed(pb::GetLagRequest {}, admin)).await.ok()?.into_inner();
                let caught_up = lag.sources.len() == heads.len()
                    && lag.sources.iter().all(|s| {
                        s.behind == 0
                            && s.applied_next_position == s.head_next_position
                            && heads[s.source.as_str()] == s.head_next_position
                    });
                caught_up.then_some(())
            }
        })
        .await;
    }

    async fn digest(&self, admin: &str) -> (String, u64) {
        let digest = self.client.clone().get_digest(authed(pb::GetDigestRequest {}, admin)).await.unwrap().into_inner();
        (digest.sha256, digest.entries)
    }

    /// Stops the process as an orchestrator does (SIGTERM) and waits for it to exit.
    async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let sent = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        assert!(sent.success(), "SIGTERM sent to {pid}");
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "the replica stops cleanly: {status}");
    }
}

/// A queue as the broker sees it: messages waiting and consumers; `None` when it does not exist.
async fn queue(uri: &str, name: &str) -> Option<(u32, u32)> {
    let connection = Connection::connect(uri, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let passive = QueueDeclareOptions { passive: true, durable: true, ..QueueDeclareOptions::default() };
    let queue = channel.queue_declare(ShortString::from(name), passive, FieldTable::default()).await.ok();
    let _ = connection.close(200, ShortString::from("done")).await;
    queue.map(|q| (q.message_count(), q.consumer_count()))
}

/// `grants` whole grant cycles across the three sources, appended by four concurrent writers.
async fn burst(logs: &HashMap<&'static str, EventLog>, round: &str, grants: usize) {
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (logs, round) = (logs.clone(), round.to_owned());
        writers.push(tokio::spawn(async move {
            for n in (writer..grants).step_by(4) {
                append_all(&logs, &cycle(&Grant::new(&round), n)).await;
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
}

/// One grant from application to an accepted report (12 events over the three sources).
fn cycle(grant: &Grant, n: usize) -> Vec<Ev> {
    let country = if n.is_multiple_of(2) { "KH" } else { "TH" };
    let persons = 3 + n as u64 % 9;
    let mut events = application_approved(grant, country, 400_000, 350_000);
    events.extend(award_signed(grant, country, 350_000));
    events.push(obligations_scheduled(grant));
    events.push(tranche_released(grant, "tranche-1", 100_000, 100_000));
    events.push(report_submitted(
        grant,
        &[(rp::Sex::Female, rp::AgeBand::Years25To59, rp::Disability::WithoutDisability, persons)],
    ));
    events.push(report_accepted(grant));
    events
}

fn heads(logs: &HashMap<&'static str, EventLog>) -> HashMap<&'static str, u64> {
    logs.iter().map(|(name, log)| (*name, log.next_position())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_answer_alike_a_new_one_catches_up_and_a_stopped_one_leaves_the_others_alone() {
    let vhost = Vhost::create();
    let uri = vhost.uri();
    let dir = tempfile::tempdir().unwrap();
    let logs: HashMap<&'static str, EventLog> = [service::APPLICATIONS, service::AWARDS, service::REPORTING]
        .into_iter()
        .map(|name| (name, EventLog::open(dir.path().join(name)).unwrap()))
        .collect();
    let shutdown = CancellationToken::new();
    let sources: Vec<(String, String)> = support::logs::serve_logs(&logs, &shutdown).await.into_iter().collect();
    support::logs::publish_logs(&logs, &uri, &shutdown);
    let admin = token(Role::Administrator, "admin-1", None);
    let round = uuid::Uuid::new_v4().to_string();
    append_all(&logs, &[round_opened(&round)]).await;

    // The unnamed projector (today's queue) and replica `a`, before the burst.
    let unnamed = start(None, &dir.path().join("projector"), &uri, &sources).await;
    let a = start(Some("a"), &dir.path().join("projector-a"), &uri, &sources).await;
    burst(&logs, &round, 40).await;
    let after_burst = heads(&logs);
    assert_eq!(after_burst.values().sum::<u64>(), 1 + 40 * 12);
    unnamed.caught_up(&after_burst, &admin).await;
    a.caught_up(&after_burst, &admin).await;
    let digest = unnamed.digest(&admin).await;
    assert!(digest.1 > 40 * 3, "the models hold the burst: {digest:?}");
    assert_eq!(a.digest(&admin).await, digest, "replica `a` answers as the unnamed projector does");
    let pipeline = |replica: &Replica| {
        let mut client = replica.client.clone();
        let request = authed(pb::GetRoundPipelineRequest { round_id: round.clone(), as_of: None }, &admin);
        async move { client.get_round_pipeline(request).await.unwrap().into_inner() }
    };
    assert_eq!(pipeline(&unnamed).await, pipeline(&a).await);

    // Each consumes a queue of its own, bound to the same exchange.
    assert_eq!(queue(&uri, "projector.inbox").await.map(|q| q.1), Some(1));
    assert_eq!(queue(&uri, "projector.a.inbox").await.map(|q| q.1), Some(1));
    assert!(queue(&uri, "projector.a.dead-letters").await.is_some());

    // Replica `c` starts after the burst on an empty directory, its queue not yet declared: it reads what
    // it missed from the source logs, then follows the bus.
    assert_eq!(queue(&uri, "projector.c.inbox").await, None);
    let c = start(Some("c"), &dir.path().join("projector-c"), &uri, &sources).await;
    c.caught_up(&after_burst, &admin).await;
    assert_eq!(c.digest(&admin).await, digest, "the new replica reaches the same models");

    // Replica `a` stops; the others keep consuming their own queues, and `a`'s keeps what it misses.
    a.stop().await;
    burst(&logs, &round, 8).await;
    let later = heads(&logs);
    unnamed.caught_up(&later, &admin).await;
    c.caught_up(&later, &admin).await;
    let digest = unnamed.digest(&admin).await;
    assert_eq!(c.digest(&admin).await, digest);
    let (waiting, consumers) = queue(&uri, "projector.a.inbox").await.expect("the stopped replica's queue stays");
    assert_eq!(consumers, 0);
    assert!(waiting >= 8 * 12, "it holds every event published while `a` was stopped: {waiting}");

    // Restarted on its directory, `a` takes them from its queue and answers alike again.
    let a = start(Some("a"), &dir.path().join("projector-a"), &uri, &sources).await;
    a.caught_up(&later, &admin).await;
    assert_eq!(a.digest(&admin).await, digest);

    for replica in [unnamed, a, c] {
        replica.stop().await;
    }
    shutdown.cancel();
}

#[tokio::test]
async fn a_replica_name_that_breaks_the_rules_stops_the_start_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (name, rule) in [
        ("Blue.1", "may hold only lowercase ASCII letters, digits and '-'"),
        ("-a", "must begin with a letter or a digit"),
        (&"r".repeat(33), "must be at most 32 characters"),
    ] {
        let output = projector_command(Some(name), dir.path(), "amqp://guest:guest@127.0.0.1:5672/%2f")
            .args(["--listen", "127.0.0.1:0"])
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = format!("--replica (PROJECTOR_REPLICA) `{name}` {rule}");
        assert!(stderr.lines().any(|line| line.ends_with(&expected)), "{stderr}");
    }
}
