//! The relay and a consumer over AMQP with mutual TLS (`amqps://`) against a real RabbitMQ node: a second
//! node of the project's own, started by `deploy/local/rabbitmq --tls-node` beside the shared broker (with a node name and port of
//! the test's own)
//! (which is never touched), accepting only TLS connections that show a client certificate of the
//! development CA, and stopped and removed (`--remove-tls-node`) when the test ends.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use event_bus::{BrokerTls, BusConfig, BusError};
use event_log::EventLog;
use support::*;

/// The TLS node, stopped and its files removed when dropped (also when the test fails). Its node name and
/// port are the test's own, so that a platform started with `deploy/local/start --tls` (whose node is
/// `grants-tls@localhost` on 5681) is never touched.
struct TlsNode {
    dir: PathBuf,
    name: String,
    port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/rabbitmq")
}

impl TlsNode {
    fn start(dir: &Path) -> TlsNode {
        let node = TlsNode {
            dir: dir.to_owned(),
            name: format!("grants-tls-test-{}@localhost", std::process::id()),
            port: free_port(),
        };
        let output = node.script("--tls-node").output().expect("the script runs");
        assert!(output.status.success(), "--tls-node: {}", String::from_utf8_lossy(&output.stderr));
        node
    }

    fn script(&self, option: &str) -> Command {
        let mut command = Command::new(script());
        command.arg(option).arg(&self.dir);
        command.env("RABBITMQ_TLS_NODENAME", &self.name).env("RABBITMQ_TLS_PORT", self.port.to_string());
        command
    }
}

/// A port below the ephemeral range that nothing listens on, whose Erlang distribution port (20000 above)
/// is free too.
fn free_port() -> u16 {
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    (0..200)
        .map(|i| 30_000 + ((std::process::id() as u16).wrapping_mul(7) + i * 37) % 9_000)
        .find(|port| free(*port) && free(port + 1) && free(port + 20_000))
        .expect("a free port")
}

impl Drop for TlsNode {
    fn drop(&mut self) {
        match self.script("--remove-tls-node").output() {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!("--remove-tls-node: {}", String::from_utf8_lossy(&output.stderr)),
            Err(error) => eprintln!("--remove-tls-node: {error}"),
        }
    }
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(path).expect("certificate file")
}

/// The node's default vhost over TLS, trusting `ca`, showing `client`'s certificate if given.
fn bus(port: u16, certs: &Path, ca: &str, client: Option<&str>) -> BusConfig {
    let identity =
        client.map(|name| (read(certs.join(format!("{name}.pem"))), read(certs.join(format!("{name}.key")))));
    let tls = BrokerTls { ca_pem: read(certs.join(ca)), identity };
    BusConfig::new(format!("amqps://guest:guest@127.0.0.1:{port}/%2f?heartbeat=5")).with_tls(Some(tls))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_travel_over_mutual_tls_to_a_broker_node_of_our_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = dir.path().join("node/certs");
    tls::dev::write_dev_certs(&certs, &["rabbitmq", "applications"]).expect("certificates");
    let node = TlsNode::start(&dir.path().join("node"));

    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    let streaming = Streaming::start(log.clone(), dir.path(), bus(node.port, &certs, "ca.pem", Some("applications")));
    append_events(&log, 0, 200, 4, 10).await;
    streaming.finish(200, Duration::from_secs(60)).await;

    // Without a client certificate, and trusting another CA: no connection, so nothing is published.
    let other = tls::dev::DevCa::new("another CA").expect("CA");
    other.write(&certs, "other-ca").expect("written");
    let refused = [
        ("no client certificate", bus(node.port, &certs, "ca.pem", None)),
        ("another CA", bus(node.port, &certs, "other-ca.pem", Some("applications"))),
    ];
    for (what, config) in refused {
        let error = event_bus::probe(&config).await.expect_err(what);
        assert!(
            matches!(
                error,
                BusError::Broker { operation: "connect", .. } | BusError::Timeout { operation: "connect", .. }
            ),
            "{what}: {error}"
        );
    }
    // And the configuration that streamed above still connects.
    event_bus::probe(&bus(node.port, &certs, "ca.pem", Some("applications"))).await.expect("connects");
}
