//! A RabbitMQ node of each test's own (never the shared one) goes away while events stream through:
//! killed with SIGKILL and restarted, or made unreachable by a network that silently drops packets.
//! Nothing is lost, nothing is applied twice, commands keep succeeding while it is away, and the relay
//! resumes publishing soon after the node can be reached again (the delay is printed, not asserted).

mod support;

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use event_bus::BusConfig;
use event_log::EventLog;
use support::*;
use tokio::time::Instant;

const EVENTS: usize = 3_000;
const LIMIT: Duration = Duration::from_secs(90);
/// How long the broker stays unreachable at least, in the test where it silently drops packets.
const UNREACHABLE: Duration = Duration::from_secs(12);
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CONTROL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

/// A private RabbitMQ node: own name, ports, data and logs in a temporary directory.
struct Node {
    dir: PathBuf,
    name: String,
    port: u16,
    dist_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl Node {
    fn new(dir: &Path, test: &str) -> Node {
        let name = format!("event-bus-{test}-{}@localhost", std::process::id());
        let node = Node { dir: dir.to_path_buf(), name, port: free_port(), dist_port: free_port(), child: None };
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{}\nloopback_users.guest = true\n", node.port),
        )
        .expect("config file");
        std::fs::write(dir.join("rabbitmq-env.conf"), "").expect("env file");
        node
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn start(&mut self) -> Result<(), String> {
        let output = File::create(self.dir.join("server.out")).map_err(|e| e.to_string())?;
        let errors = output.try_clone().map_err(|e| e.to_string())?;
        let dir = &self.dir;
        let child = Command::new(SERVER)
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_PID_FILE", dir.join("node.pid"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .current_dir(dir)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .map_err(|e| format!("{SERVER}: {e}"))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL to the node's whole process group: the shell wrapper, the Erlang VM and its helpers.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
        }
    }

    /// A clean stop, which makes everything the node knows durable.
    fn stop(&mut self) -> Result<(), String> {
        // The control script of the installation, not the system wrapper: it runs as the user that
        // started the node, so it presents the same Erlang cookie.
        let status = Command::new(CONTROL)
            .args(["-n", &self.name, "stop"])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("rabbitmqctl stop exited with {status}"));
        }
        if let Some(mut child) = self.child.take() {
            child.wait().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Waits until the node accepts TCP connections on its AMQP port and returns when it first did.
    async fn accepting(&mut self, limit: Duration) -> Result<Instant, String> {
        let deadline = Instant::now() + limit;
        loop {
            if tokio::net::TcpStream::connect(self.address()).await.is_ok() {
                return Ok(Instant::now());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!("the node exited with {status}; see {}", self.dir.join("server.out").display()));
            }
            if Instant::now() > deadline {
                return Err(format!("the node did not accept connections within {limit:?}"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until the consumer has opened `count` connections and is connected.
async fn consuming_connections(progress: &tokio::sync::watch::Receiver<event_bus::ConsumerProgress>, count: u64) {
    let mut progress = progress.clone();
    let _ = progress.wait_for(|p| p.connected && p.connections >= count).await;
}

/// A private node started in `dir`, or `None` (after a loud notice) where none can be started here.
async fn started_node(dir: &Path, test: &str) -> Option<Node> {
    let node_dir = dir.join("node");
    std::fs::create_dir_all(&node_dir).expect("node dir");
    let mut node = Node::new(&node_dir, test);
    let started = match node.start() {
        Ok(()) => node.accepting(Duration::from_secs(90)).await,
        Err(e) => Err(e),
    };
    match started {
        Ok(_) => Some(node),
        Err(reason) => {
            eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
            eprintln!("!!! BROKER TEST {test} NOT RUN: cannot start a second RabbitMQ node here: {reason}");
            eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_broker_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(mut node) = started_node(dir.path(), "killed").await else { return };
    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    let streaming =
        Streaming::start(log, dir.path(), BusConfig::new(format!("amqp://guest:guest@{}/%2f", node.address())));
    let (log, mut monitor) = (streaming.log.clone(), streaming.monitor.clone());

    // RabbitMQ 3.10 records a new quorum queue in its Ra directory lazily: a node killed seconds after
    // the declaration can come back without the queue's replica. Queues of a deployment are declared long
    // before any crash; a clean restart gives the test's queues the same standing.
    let connected = consuming_connections(&streaming.progress, 1);
    tokio::time::timeout(LIMIT, connected).await.expect("consumer connects");
    node.stop().expect("clean stop");
    node.start().expect("node starts again");
    node.accepting(LIMIT).await.expect("node accepts");

    append_events(&log, 0, 1_500, 8, 25).await;
    assert!(tokio::time::timeout(LIMIT, monitor.wait_published(500)).await.expect("relay publishes"));
    node.kill();
    assert!(tokio::time::timeout(LIMIT, monitor.wait_connected(false)).await.expect("relay notices"));
    let published_at_kill = monitor.published_up_to();

    // The broker is gone: commands keep succeeding and the backlog shows what waits.
    append_events(&log, 1_500, EVENTS - 1_500, 8, 25).await;
    let backlog = monitor.backlog().expect("backlog");
    assert_eq!(backlog.head, EVENTS as u64);
    assert!(backlog.depth >= (EVENTS - 1_500) as u64, "{backlog:?}");
    assert!(backlog.oldest_unpublished_age.is_some());

    node.start().expect("node restarts");
    let accepting_since = node.accepting(LIMIT).await.expect("restarted node accepts");
    assert!(tokio::time::timeout(LIMIT, monitor.wait_published(published_at_kill + 1)).await.expect("relay resumes"));
    let resumed_after = accepting_since.elapsed();
    println!(
        "relay resumed publishing {} ms after the restarted node accepted connections (position {} at the kill)",
        resumed_after.as_millis(),
        published_at_kill
    );
    streaming.finish(EVENTS, LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_loses_nothing_and_publishing_resumes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(node) = started_node(dir.path(), "unreachable").await else { return };
    let proxy = TcpProxy::start(node.address()).await;
    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    let streaming =
        Streaming::start(log, dir.path(), BusConfig::new(format!("amqp://guest:guest@{}/%2f", proxy.address)));
    let (log, mut monitor, mut progress) =
        (streaming.log.clone(), streaming.monitor.clone(), streaming.progress.clone());
    tokio::time::timeout(LIMIT, consuming_connections(&progress, 1)).await.expect("consumer connects");
    append_events(&log, 0, 1_500, 8, 25).await;
    assert!(tokio::time::timeout(LIMIT, monitor.wait_published(500)).await.expect("relay publishes"));

    // Packets are dropped from here on: the connections in use go silent, and new connection attempts
    // are accepted and never answered. Events keep coming.
    proxy.black_hole(true);
    let outage = Instant::now();
    append_events(&log, 1_500, EVENTS - 1_500, 8, 25).await;
    assert!(tokio::time::timeout(LIMIT, monitor.wait_connected(false)).await.expect("relay notices"));
    let noticed = tokio::time::timeout(LIMIT, progress.wait_for(|p| !p.connected)).await;
    assert!(noticed.expect("consumer notices").is_ok());
    // Both are trying to reconnect, and attempts hang in the black hole.
    let before = proxy.accepted();
    wait_until("connection attempts to hang in the black hole", LIMIT, || proxy.accepted() >= before + 2).await;
    tokio::time::sleep_until(outage + UNREACHABLE).await;
    let published_before = monitor.published_up_to();
    let handled_before = progress.borrow().handled;
    assert!(monitor.backlog().expect("backlog").depth > 0, "events wait to be published");

    proxy.black_hole(false);
    let reachable = Instant::now();
    assert!(
        tokio::time::timeout(LIMIT, monitor.wait_published(published_before + 1)).await.expect("relay resumes"),
        "the relay publishes again"
    );
    let relay_resumed = reachable.elapsed();
    let resumed = tokio::time::timeout(LIMIT, progress.wait_for(|p| p.handled > handled_before)).await;
    assert!(resumed.expect("consumer resumes").is_ok(), "the consumer applies events again");
    let consumer_resumed = reachable.elapsed();
    println!(
        "unreachable for {} ms; the relay published again {} ms and the consumer applied again {} ms after the \
         broker could be reached",
        (reachable - outage).as_millis(),
        relay_resumed.as_millis(),
        consumer_resumed.as_millis()
    );

    assert!(tokio::time::timeout(LIMIT, monitor.wait_published(EVENTS as u64)).await.expect("relay publishes all"));
    // What fell into the black hole (the silent connections and the attempts that hung) was given up,
    // not left waiting with a thread and a socket each.
    wait_until("every connection in the black hole to be given up", LIMIT, || proxy.swallowed() == 0).await;
    streaming.finish(EVENTS, LIMIT).await;
}
