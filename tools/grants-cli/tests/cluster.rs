//! The platform on a three-node RabbitMQ cluster (`deploy/local/rabbitmq-cluster`, with node names, ports and
//! data of this test's own), losing nodes under steady command load (`grants load`, four clients walking
//! whole grants): the node that leads most queues killed with SIGKILL and brought back; a node stopped
//! cleanly and started again; two of three stopped, so that the quorum queues lose their majority, while
//! commands go on, and both started again. Each fault runs on a vhost of its own against the four real
//! services running in this process, which take every node's URL and fail over between them.
//!
//! After each: every queue has a member on each of the three nodes; the load's commands all succeeded; an
//! observer consuming every source handled each position of each log exactly once (nothing lost); every
//! approval has exactly one award and every signature exactly one schedule of obligations (no duplicate
//! effect); every log's chain verifies; no message was dead-lettered; and the projector equals a rebuild
//! from the logs. The time from the fault to publishing again is printed (see the README's table).
//!
//! Needs RabbitMQ installed (deploy/local/rabbitmq installs it) and root, or a user `rabbitmqctl` serves.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts::applications::v1::ApplicationsServiceClient;
use contracts::awards::v1 as aw;
use contracts::names::service::{APPLICATIONS, AWARDS, REPORTING};
use contracts::reporting::v1 as rp;
use event_bus::lapin::options::{BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use event_bus::lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use event_bus::lapin::{Connection, ConnectionProperties, ExchangeKind};
use event_bus::message::{header, number_header};
use event_bus::{BusConfig, CancellationToken, Consumer, ConsumerConfig, ConsumerProgress, LogHandler};
use event_log::{EventLog, RecordedEvent};
use event_log_grpc::LogClient;
use futures::StreamExt;
use prost::Message;
use service_runtime::log_sources::LogSources;
use test_support::fixtures::registration;
use test_support::{authed, eventually_within, jwt, token};

mod command_output;
mod platform_in_process;
use command_output::{count_before, run, stderr, stdout};

const SOURCES: [&str; 3] = [APPLICATIONS, AWARDS, REPORTING];
/// This test's cluster: node names and ports apart from a developer's own (`grants-cluster`, 5691).
const CLUSTER_NAME: &str = "grants-test-cluster";
const CLUSTER_PORT: u16 = 5791;
/// How long the load runs in each scenario, and when the fault comes.
const LOAD: Duration = Duration::from_secs(40);
const FAULT_AFTER: Duration = Duration::from_secs(8);
/// How long a failed node stays down.
const DOWN_FOR: Duration = Duration::from_secs(8);

/// The three nodes, removed with everything they keep when the test lets go of them.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::Builder::new().prefix("grants-cluster-").tempdir().unwrap();
        // The broker's own user must reach the nodes' directories.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let cluster = Cluster { dir };
        cluster.run(&["start"]);
        cluster
    }

    fn command(&self, args: &[&str]) -> Command {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/rabbitmq-cluster");
        let mut command = Command::new(script);
        command
            .args(args)
            .env("RABBITMQ_CLUSTER_DIR", self.dir.path())
            .env("RABBITMQ_CLUSTER_NAME", CLUSTER_NAME)
            .env("RABBITMQ_CLUSTER_PORT", CLUSTER_PORT.to_string());
        command
    }

    /// Runs the cluster script with `args`; its standard output.
    fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().unwrap();
        assert!(output.status.success(), "rabbitmq-cluster {args:?}: {}{}", stdout(&output), stderr(&output));
        stdout(&output)
    }

    /// Each quorum queue of `vhost`: its leader's node number and its members' node numbers.
    fn members(&self, vhost: &str) -> BTreeMap<String, (String, Vec<String>)> {
        let listing = self.run(&["members", vhost]);
        listing
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(fields.len(), 3, "queue leader members: {line}");
                let mut members: Vec<String> = fields[2].split(',').map(str::to_owned).collect();
                members.sort();
                (fields[0].to_owned(), (fields[1].to_owned(), members))
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command(&["remove"]).output();
    }
}

/// What breaks, and how it is mended.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The node that leads most queues, killed with SIGKILL, then started again.
    KillLeader,
    /// A node stopped cleanly (not a leader of most queues), then started again.
    StopOne,
    /// Two of three nodes stopped cleanly: no queue has a majority. Then both started again.
    StopTwo,
}

/// A quorum queue bound to every event and read only at the end, straight from the broker: each event the
/// relays had confirmed is in it, whatever happened to the nodes, or the broker lost it. (The observer
/// below cannot tell: it fills gaps from the logs, as every consumer does.)
const AUDIT_QUEUE: &str = "audit";

async fn declare_audit_queue(uri: &str) {
    let connection = Connection::connect(uri, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    let events = ShortString::from("grants.events");
    channel.exchange_declare(events.clone(), ExchangeKind::Topic, durable, FieldTable::default()).await.unwrap();
    let mut arguments = FieldTable::default();
    arguments.insert(ShortString::from("x-queue-type"), AMQPValue::LongString(LongString::from("quorum")));
    let queue = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(ShortString::from(AUDIT_QUEUE), queue, arguments).await.unwrap();
    let (audit, every) = (ShortString::from(AUDIT_QUEUE), ShortString::from("#"));
    channel.queue_bind(audit, events, every, QueueBindOptions::default(), FieldTable::default()).await.unwrap();
    connection.close(200, ShortString::from("declared")).await.unwrap();
}

/// Takes every message out of the audit queue: the positions it held, per source.
async fn drain_audit_queue(uri: &str, into: &mut HashMap<String, BTreeSet<u64>>) {
    let connection = Connection::connect(uri, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let take = BasicGetOptions { no_ack: true };
    while let Some(message) = channel.basic_get(ShortString::from(AUDIT_QUEUE), take).await.unwrap() {
        let properties = &message.delivery.properties;
        let source = properties.app_id().as_ref().map(ToString::to_string).unwrap_or_default();
        let position = number_header(properties, header::GLOBAL_POSITION).expect("a position header");
        into.entry(source).or_default().insert(position);
    }
    connection.close(200, ShortString::from("drained")).await.unwrap();
}

/// An observer on the bus, as another service would consume: notes each event it handles and when.
struct Observer {
    handled: Arc<Mutex<Vec<(String, u64, Instant)>>>,
    progress: tokio::sync::watch::Receiver<ConsumerProgress>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Observer {
    fn start(amqp: &str, sources: &BTreeMap<String, String>) -> Observer {
        let dir = tempfile::tempdir().unwrap();
        let handled = Arc::new(Mutex::new(Vec::new()));
        let noted = handled.clone();
        let log = EventLog::open(dir.path()).unwrap();
        let handler = LogHandler::by_source(log, move |source: &str, event: &RecordedEvent| {
            noted.lock().unwrap().push((source.to_owned(), event.position, Instant::now()));
            Ok(None)
        });
        let sources = LogSources::new(sources.clone(), jwt(), "service:observer");
        let config = ConsumerConfig::new(BusConfig::new(amqp), "observer", &SOURCES);
        let consumer = Consumer::new(config, handler, sources).unwrap();
        let progress = consumer.progress();
        let shutdown = CancellationToken::new();
        let run = consumer.run(shutdown.clone());
        let task = tokio::spawn(async move { drop(run.await.unwrap()) });
        Observer { handled, progress, shutdown, task, _dir: dir }
    }

    /// When each source's first event at or after its position in `from` was handled: when that source's
    /// relay published again.
    fn first_new(&self, from: &HashMap<String, u64>) -> BTreeMap<String, Instant> {
        let mut first: BTreeMap<String, Instant> = BTreeMap::new();
        for (source, position, at) in self.handled.lock().unwrap().iter() {
            if *position >= from[source] {
                first.entry(source.clone()).and_modify(|t| *t = (*t).min(*at)).or_insert(*at);
            }
        }
        first
    }

    async fn stop(self) -> ConsumerProgress {
        self.shutdown.cancel();
        self.task.await.unwrap();
        self.progress.borrow().clone()
    }
}

fn auditor() -> String {
    token(domain_kernel::Role::Auditor, "auditor-1", None)
}

/// Every source log's events, by service.
async fn logs(urls: &BTreeMap<String, String>) -> HashMap<String, Vec<RecordedEvent>> {
    let mut logs = HashMap::new();
    for source in SOURCES {
        let mut client = LogClient::connect(&urls[source], Some(&auditor())).await.unwrap();
        let events: Vec<_> = client.read_all(0).await.unwrap().map(Result::unwrap).collect().await;
        logs.insert(source.to_owned(), events);
    }
    logs
}

/// The next position of every source log.
async fn heads(urls: &BTreeMap<String, String>) -> HashMap<String, u64> {
    let mut heads = HashMap::new();
    for source in SOURCES {
        let mut client = LogClient::connect(&urls[source], Some(&auditor())).await.unwrap();
        heads.insert(source.to_owned(), client.head().await.unwrap().next_position);
    }
    heads
}

/// How many times each key occurs.
fn counted(keys: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn payloads<'a, M: Message + Default>(
    events: &'a [RecordedEvent],
    event_type: &'a str,
) -> impl Iterator<Item = M> + 'a {
    events.iter().filter(move |e| e.event_type == event_type).map(|e| M::decode(e.payload.as_slice()).unwrap())
}

/// `grants` against the platform at `endpoints` on the bus at `amqp`, with the test services' secret.
fn grants(endpoints: &[(String, String)], amqp: &str, args: &[&str]) -> Command {
    let mut command = platform_in_process::grants(endpoints, args);
    command.env("GRANTS_AMQP_URL", amqp);
    command
}

fn succeeded(what: &str, output: &Output) -> String {
    assert!(output.status.success(), "{what}: {}{}", stdout(output), stderr(output));
    stdout(output)
}

/// The projector's digest, once two readings half a second apart agree.
async fn settled_digest(endpoints: &[(String, String)], amqp: &str) -> String {
    eventually_within("the projector's read models to settle", Duration::from_secs(120), || async {
        let digest = || async {
            let output = run(grants(endpoints, amqp, &["projector", "digest"])).await;
            let text = succeeded("projector digest", &output);
            text.split_whitespace().skip(2).collect::<Vec<_>>().join(" ")
        };
        let before = digest().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        (digest().await == before).then_some(before)
    })
    .await
}

/// The node numbers ordered by how many of `vhost`'s queues each leads, most first.
fn by_leadership(cluster: &Cluster, vhost: &str) -> Vec<String> {
    let members = cluster.members(vhost);
    let mut led: Vec<(usize, String)> = ["1", "2", "3"]
        .iter()
        .map(|node| (members.values().filter(|(leader, _)| leader == node).count(), (*node).to_owned()))
        .collect();
    led.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    led.into_iter().map(|(_, node)| node).collect()
}

async fn scenario(cluster: &Cluster, fault: Fault) {
    let vhost = format!("grants-cluster-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    cluster.run(&["vhost", &vhost]);
    let amqp = cluster.run(&["urls", &vhost]).trim().to_owned();
    let first_node = amqp.split(',').next().unwrap().to_owned();
    declare_audit_queue(&first_node).await;
    let (sources, projector, endpoints) = platform_in_process::start(amqp.clone()).await;
    let urls = sources.urls();
    let observer = Observer::start(&amqp, &urls);

    // Every consumer's queues are declared with a member on each node.
    let queues = ["awards", "reporting", "projector", "observer"]
        .iter()
        .flat_map(|consumer| [format!("{consumer}.inbox"), format!("{consumer}.dead-letters")])
        .collect::<Vec<_>>();
    let members = eventually_within("every consumer's queues", Duration::from_secs(60), || async {
        let members = cluster.members(&vhost);
        queues.iter().all(|queue| members.contains_key(queue)).then_some(members)
    })
    .await;
    for queue in &queues {
        let (_, nodes) = &members[queue];
        assert_eq!(nodes, &["1", "2", "3"], "{queue} has a member on every node: {members:?}");
    }

    let load_args = ["load", "--clients", "4", "--duration", &format!("{}s", LOAD.as_secs()), "--sample-every", "20"];
    let load = run(grants(&endpoints, &amqp, &load_args));
    let load = tokio::spawn(load);
    tokio::time::sleep(FAULT_AFTER).await;

    let leaders = by_leadership(cluster, &vhost);
    let down: Vec<&str> = match fault {
        Fault::KillLeader => {
            cluster.run(&["kill-node", &leaders[0]]);
            vec![&leaders[0]]
        }
        Fault::StopOne => {
            cluster.run(&["stop-node", &leaders[2]]);
            vec![&leaders[2]]
        }
        Fault::StopTwo => {
            cluster.run(&["stop-node", &leaders[1]]);
            cluster.run(&["stop-node", &leaders[2]]);
            vec![&leaders[1], &leaders[2]]
        }
    };
    // From here on (the last node down), what the services record is published only once publishing
    // works again.
    let faulted = Instant::now();
    let at_fault = heads(&urls).await;
    // The log is the outbox: commands succeed whatever the broker does.
    let mut applications = ApplicationsServiceClient::new(test_support::services::connect(&urls[APPLICATIONS]).await);
    let officer = token(domain_kernel::Role::ProgramOfficer, "officer-1", None);
    let organisation = uuid::Uuid::new_v4().to_string();
    applications.register_organisation(authed(registration(&organisation), &officer)).await.unwrap();
    tokio::time::sleep(DOWN_FOR.saturating_sub(faulted.elapsed())).await;
    // One node at a time: with the first one back, the queues have their majority again.
    let restarting = Instant::now();
    cluster.run(&["start-node", down[0]]);
    let majority_back = Instant::now();
    for node in &down[1..] {
        cluster.run(&["start-node", node]);
    }

    let load = load.await.unwrap();
    let report = succeeded("load", &load);
    let commands = report.lines().find(|l| l.starts_with("commands:")).unwrap_or_else(|| panic!("{report}"));
    assert_eq!(count_before::<u64>(commands, "failed"), 0, "every command succeeded:\n{report}\n{}", stderr(&load));

    // Nothing lost: the observer handled every position of every log, each once.
    let final_heads = heads(&urls).await;
    eventually_within("the observer to handle every event", Duration::from_secs(120), || {
        let handled = observer.handled.lock().unwrap().clone();
        let final_heads = final_heads.clone();
        async move {
            let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
            for (source, position, _) in handled {
                seen.entry(source).or_default().push(position);
            }
            SOURCES.iter().all(|s| seen.get(*s).map_or(0, Vec::len) as u64 >= final_heads[*s]).then_some(())
        }
    })
    .await;
    // Nothing the broker confirmed was lost: every event reached the audit queue through the broker.
    let mut audited: HashMap<String, BTreeSet<u64>> = HashMap::new();
    let complete = |audited: &HashMap<String, BTreeSet<u64>>| {
        SOURCES.iter().all(|s| audited.get(*s).is_some_and(|p| p.len() as u64 == final_heads[*s]))
    };
    for attempt in 0.. {
        drain_audit_queue(&first_node, &mut audited).await;
        if complete(&audited) {
            break;
        }
        let counts: BTreeMap<&String, usize> = audited.iter().map(|(s, p)| (s, p.len())).collect();
        assert!(attempt < 120, "every event in the audit queue: {counts:?} of {final_heads:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let first_new = observer.first_new(&at_fault);
    let handled = observer.handled.lock().unwrap().clone();
    for source in SOURCES {
        let mut positions: Vec<u64> = handled.iter().filter(|e| e.0 == source).map(|e| e.1).collect();
        positions.sort_unstable();
        let expected: Vec<u64> = (0..final_heads[source]).collect();
        assert!(positions == expected, "{source}: every position handled exactly once ({} handled)", positions.len());
    }

    // No duplicate effect: one award per approval, one schedule of obligations per signature.
    let logs = logs(&urls).await;
    let approvals = counted(
        payloads::<contracts::applications::v1::ApplicationApproved>(&logs[APPLICATIONS], "ApplicationApproved")
            .map(|e| e.application_id),
    );
    let awards = counted(payloads::<aw::AwardOffered>(&logs[AWARDS], "AwardOffered").map(|e| e.application_id));
    assert!(!approvals.is_empty() && approvals.values().all(|n| *n == 1), "{approvals:?}");
    assert_eq!(awards, approvals, "every approval has exactly one award");
    let signatures = counted(payloads::<aw::AgreementSigned>(&logs[AWARDS], "AgreementSigned").map(|e| e.award_id));
    let schedules =
        counted(payloads::<rp::ObligationsScheduled>(&logs[REPORTING], "ObligationsScheduled").map(|e| e.award_id));
    assert!(!signatures.is_empty() && signatures.values().all(|n| *n == 1), "{signatures:?}");
    assert_eq!(schedules, signatures, "every signature has exactly one schedule of obligations");

    // Every chain verifies; no consumer dead-lettered anything.
    succeeded("verify --all", &run(grants(&endpoints, &amqp, &["verify", "--all"])).await);
    for consumer in ["awards", "reporting", "projector", "observer"] {
        let listed = run(grants(&endpoints, &amqp, &["bus", "--consumer", consumer, "dead-letters", "list"])).await;
        let listed = succeeded("dead-letters list", &listed);
        assert!(listed.trim_end().ends_with("0 dead letter(s)"), "{consumer}: {listed}");
    }

    // The projector equals a rebuild from the logs.
    let live = settled_digest(&endpoints, &amqp).await;
    succeeded("projector rebuild", &run(grants(&endpoints, &amqp, &["projector", "rebuild"])).await);
    assert_eq!(settled_digest(&endpoints, &amqp).await, live, "the projector equals a rebuild");

    let progress = observer.stop().await;
    let events: u64 = final_heads.values().sum();
    // Every source recorded events after the fault (the load never stops), so each has a first one.
    assert_eq!(first_new.len(), SOURCES.len(), "every service published after the fault: {first_new:?}");
    let seconds = |from: Instant| {
        first_new
            .iter()
            .map(|(source, at)| format!("{source} {:.2}", at.saturating_duration_since(from).as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let after_majority = match fault {
        Fault::StopTwo => format!(
            "; from starting node {} again (a majority; it took {:.2} s to start): {} s",
            down[0],
            (majority_back - restarting).as_secs_f64(),
            seconds(restarting)
        ),
        _ => String::new(),
    };
    println!(
        "{fault:?} (node(s) {down:?} down for {} s): fault to publishing again: {} s{after_majority}; {} commands, \
         {events} events, 0 lost, 0 duplicate effects; observer: {} filled from the logs, {} duplicates \
         recognised, {} connections",
        DOWN_FOR.as_secs(),
        seconds(faulted),
        count_before::<u64>(commands, "succeeded"),
        progress.filled_from_source,
        progress.duplicates,
        progress.connections,
    );

    projector.stop().await;
    for service in [sources.reporting, sources.awards, sources.applications] {
        service.stop().await;
    }
    cluster.run(&["delete-vhost", &vhost]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_survives_losing_broker_nodes_under_load() {
    let cluster = Cluster::start();
    for fault in [Fault::KillLeader, Fault::StopOne, Fault::StopTwo] {
        scenario(&cluster, fault).await;
    }
}
