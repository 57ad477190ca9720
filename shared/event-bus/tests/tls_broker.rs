//! The relay and a consumer over AMQP with mutual TLS (`amqps://`) against a real RabbitMQ node: a second
//! node of the project's own, started by `deploy/local/rabbitmq --tls-node` beside the shared broker
//! (which is never touched), accepting only TLS connections that show a client certificate of the
//! development CA, and stopped and removed (`--remove-tls-node`) when the test ends.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use event_bus::{BrokerTls, BusConfig, BusError};
use event_log::EventLog;
use support::*;

/// The TLS node, stopped and its files removed when dropped (also when the test fails).
struct TlsNode {
    dir: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/rabbitmq")
}

impl TlsNode {
    fn start(dir: &Path) -> TlsNode {
        let node = TlsNode { dir: dir.to_owned() };
        let output = Command::new(script()).arg("--tls-node").arg(dir).output().expect("the script runs");
        assert!(output.status.success(), "--tls-node: {}", String::from_utf8_lossy(&output.stderr));
        node
    }
}

impl Drop for TlsNode {
    fn drop(&mut self) {
        match Command::new(script()).arg("--remove-tls-node").arg(&self.dir).output() {
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
fn bus(certs: &Path, ca: &str, client: Option<&str>) -> BusConfig {
    let port = std::env::var("RABBITMQ_TLS_PORT").unwrap_or_else(|_| "5681".into());
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
    let _node = TlsNode::start(&dir.path().join("node"));

    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    let streaming = Streaming::start(log.clone(), dir.path(), bus(&certs, "ca.pem", Some("applications")));
    append_events(&log, 0, 200, 4, 10).await;
    streaming.finish(200, Duration::from_secs(60)).await;

    // Without a client certificate, and trusting another CA: no connection, so nothing is published.
    let other = tls::dev::DevCa::new("another CA").expect("CA");
    other.write(&certs, "other-ca").expect("written");
    let refused = [
        ("no client certificate", bus(&certs, "ca.pem", None)),
        ("another CA", bus(&certs, "other-ca.pem", Some("applications"))),
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
    event_bus::probe(&bus(&certs, "ca.pem", Some("applications"))).await.expect("connects");
}
