//! The platform over mutual TLS, with real sockets and certificates of a development CA: the four services
//! in this process, each serving with its own certificate and requiring client certificates of the CA,
//! and reading each other's logs over TLS with its certificate as the client's; `grants` seeds the demo
//! program (the whole grant cycle), rebuilds the projector from the source logs and verifies every log,
//! showing the operator's certificate. A client without a certificate, or with one of another CA, is
//! refused at the handshake, before its token is looked at; a service whose certificate has expired is
//! refused by `grants`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use contracts::applications::v1::{self as apps, ApplicationsServiceClient};
use contracts::names::service::{APPLICATIONS, AWARDS, EVENT_SOURCES, PROJECTOR, REPORTING};
use service_runtime::ServerConfig;
use test_support::Vhost;
use test_support::services::server_config;
use tls::dev::DevCa;
use tls::{CaCertificates, ClientTls, KeyedCertificate, ServerTls, ServiceTls};
use tokio_util::sync::CancellationToken;

mod command_output;
use command_output::{run, stderr, stdout};

const SECRET: &str = "tls-test-secret-tls-test-secret-0123456";

fn jwt() -> service_runtime::JwtConfig {
    service_runtime::JwtConfig {
        secret: SECRET.as_bytes().to_vec(),
        issuer: "grants-dev".into(),
        audience: "grants".into(),
    }
}

/// `grants dev-certs` into a temporary directory: the CA and every service's, the operator's and the
/// broker's certificates.
fn dev_certs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let output = Command::new(env!("CARGO_BIN_EXE_grants")).args(["dev-certs", "--out"]).arg(&certs).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 13, "ca.pem and six certificates with their keys: {}", stdout(&output));
    (dir, certs)
}

fn keyed(certs: &Path, name: &str) -> KeyedCertificate {
    let (cert, key) = (certs.join(format!("{name}.pem")), certs.join(format!("{name}.key")));
    KeyedCertificate::load("--tls-cert", &cert, "--tls-key", &key).unwrap()
}

/// `name`'s server settings: its certificate, mutual TLS with the CA, and the same as a client of the
/// other services' logs.
fn server(certs: &Path, name: &str) -> ServerConfig {
    let ca = CaCertificates::load("--tls-ca", &certs.join("ca.pem")).unwrap();
    let identity = keyed(certs, name);
    let tls = ServiceTls {
        server: Some(ServerTls { identity: identity.clone(), client_ca: Some(ca.clone()) }),
        client: Some(ClientTls { ca, identity: Some(identity) }),
        broker: None,
    };
    ServerConfig { tls, ..server_config() }
}

/// The four services over mutual TLS on one vhost (plaintext AMQP: the broker's TLS is tested apart).
struct Platform {
    urls: BTreeMap<&'static str, String>,
    certs: PathBuf,
    shutdown: CancellationToken,
    handles: Vec<tokio::task::JoinHandle<()>>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    _vhost: Vhost,
}

impl Platform {
    async fn start() -> Platform {
        let (certs_dir, certs) = dev_certs();
        let vhost = Vhost::create();
        let data = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let mut listeners = HashMap::new();
        let mut urls = BTreeMap::new();
        for name in [APPLICATIONS, AWARDS, REPORTING, PROJECTOR] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.insert(name, format!("https://{}", listener.local_addr().unwrap()));
            listeners.insert(name, listener);
        }
        let sources =
            |names: &[&str]| names.iter().map(|s| ((*s).to_owned(), urls[s].clone())).collect::<HashMap<_, _>>();
        let (amqp, stop) = (Some(vhost.uri()), &shutdown);
        let mut handles = Vec::new();
        let dir = |name: &str| data.path().join(name);

        let config = applications::service::Config {
            data_dir: dir(APPLICATIONS),
            server: server(&certs, APPLICATIONS),
            jwt: jwt(),
            amqp_uri: amqp.clone(),
        };
        let listener = listeners.remove(APPLICATIONS).unwrap();
        let served = applications::service::run(listener, config, stop.clone());
        handles.push(tokio::spawn(async move { served.await.unwrap() }));
        let config = awards::service::Config {
            data_dir: dir(AWARDS),
            server: server(&certs, AWARDS),
            jwt: jwt(),
            amqp_uri: amqp.clone(),
            source_logs: sources(&[APPLICATIONS, REPORTING]),
        };
        let served = awards::service::run(listeners.remove(AWARDS).unwrap(), config, stop.clone());
        handles.push(tokio::spawn(async move { served.await.unwrap() }));
        let config = reporting::service::Config {
            data_dir: dir(REPORTING),
            server: server(&certs, REPORTING),
            jwt: jwt(),
            amqp_uri: amqp.clone(),
            source_logs: sources(&[AWARDS]),
            indicators: None,
        };
        let served = reporting::service::run(listeners.remove(REPORTING).unwrap(), config, stop.clone());
        handles.push(tokio::spawn(async move { served.await.unwrap() }));
        let config = projector::service::Config {
            data_dir: dir(PROJECTOR),
            server: server(&certs, PROJECTOR),
            jwt: jwt(),
            amqp_uri: amqp,
            source_logs: sources(&EVENT_SOURCES).into_iter().collect(),
            suppression_k: 5,
            replica: None,
        };
        let served = projector::service::run(listeners.remove(PROJECTOR).unwrap(), config, stop.clone());
        handles.push(tokio::spawn(async move { served.await.unwrap() }));

        Platform { urls, certs, shutdown, handles, _dirs: (certs_dir, data), _vhost: vhost }
    }

    /// `grants` with this platform's endpoints, the services' secret, the CA and `tls` (extra TLS flags).
    async fn grants(&self, tls: &[&str], args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
        for (name, url) in &self.urls {
            command.arg("--endpoint").arg(format!("{name}={url}"));
        }
        command.arg("--tls-ca").arg(self.certs.join("ca.pem")).args(tls).args(args);
        for variable in ["GRANTS_TOKEN", "GRANTS_TLS_CERT", "GRANTS_TLS_KEY", "GRANTS_TLS_CA"] {
            command.env_remove(variable);
        }
        command.env("GRANTS_JWT_SECRET", SECRET);
        run(command).await
    }

    /// `grants` showing the operator's certificate.
    async fn operator(&self, args: &[&str]) -> Output {
        let (cert, key) = (self.certs.join("operator.pem"), self.certs.join("operator.key"));
        self.grants(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()], args).await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for handle in self.handles {
            handle.await.unwrap();
        }
    }
}

fn succeeded(what: &str, output: &Output) -> String {
    assert!(output.status.success(), "{what}: {}{}", stdout(output), stderr(output));
    stdout(output)
}

/// A `grants` run refused by the TLS layer: exit 2 and a transport error, never an answer of a service.
/// (What the client reads depends on timing: the server's handshake alert, a closed connection or a
/// broken pipe; TLS 1.3 lets the client finish its side of the handshake before the server decides.)
fn refused_at_handshake(output: &Output) {
    let said = format!("{}{}", stdout(output), stderr(output));
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("transport error"), "{said}");
    for answer in ["Unauthenticated", "PermissionDenied", "verified"] {
        assert!(!said.contains(answer), "{said}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grant_cycle_runs_over_mutual_tls_and_clients_without_a_certificate_of_the_ca_are_refused() {
    let platform = Platform::start().await;

    let demo = succeeded("demo", &platform.operator(&["demo"]).await);
    assert!(demo.contains("Demo program seeded:"), "{demo}");
    // The projector reads every source log over mutual TLS with its own certificate.
    succeeded("projector rebuild", &platform.operator(&["projector", "rebuild"]).await);
    let verified = succeeded("verify --all", &platform.operator(&["verify", "--all"]).await);
    for service in [APPLICATIONS, AWARDS, REPORTING] {
        assert!(verified.lines().any(|l| l.starts_with(service) && l.contains("verified")), "{verified}");
    }

    // Without a client certificate, and with a certificate of another CA: refused at the handshake.
    refused_at_handshake(&platform.grants(&[], &["verify", "--service", APPLICATIONS]).await);
    let other = DevCa::new("another CA").unwrap();
    let (cert, key) = other.issue("operator").unwrap().write(&platform.certs, "stranger").unwrap();
    let stranger = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    refused_at_handshake(&platform.grants(&stranger, &["verify", "--service", APPLICATIONS]).await);

    // A call with no token at all is refused by the transport too: the token is never looked at.
    let ca = ClientTls::from_flags(Some(&platform.certs.join("ca.pem")), None, None).unwrap();
    let channel = tls::endpoint(&platform.urls[APPLICATIONS], ca.as_ref()).unwrap().connect().await;
    match channel {
        // Refused while connecting: nothing was sent.
        Err(error) => assert_eq!(error.to_string(), "transport error"),
        Ok(channel) => {
            let mut client = ApplicationsServiceClient::new(channel);
            let status = client.get_round(apps::GetRoundRequest::default()).await.unwrap_err();
            // A failure of the transport beneath the call (its wording depends on when the client reads the
            // server's alert), never an answer of the service.
            assert_ne!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
            let cause = std::error::Error::source(&status);
            assert!(cause.is_some_and(|c| c.downcast_ref::<tonic::transport::Error>().is_some()), "{status:?}");
        }
    }
    platform.stop().await;
}

#[tokio::test]
async fn grants_refuses_a_service_whose_certificate_has_expired() {
    let (_dir, certs) = dev_certs();
    let ca = DevCa::new("expiring CA").unwrap();
    let ca_file = ca.write(&certs, "expiring-ca").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let expired = ca.issue_valid(APPLICATIONS, now - time::Duration::days(30), now - time::Duration::days(1)).unwrap();
    let (cert, key) = expired.write(&certs, "expired").unwrap();
    let tls = ServerTls::from_flags(Some(&cert), Some(&key), None).unwrap().unwrap();
    let log_dir = tempfile::tempdir().unwrap();
    let log = event_log::EventLog::open(log_dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let server = tonic::transport::Server::builder()
        .tls_config(tls.tonic_config())
        .unwrap()
        .add_service(event_log_grpc::LogService::new(log, APPLICATIONS).into_server())
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            stop.clone().cancelled_owned(),
        );
    let served = tokio::spawn(server);

    let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
    command.args(["--endpoint", &format!("{APPLICATIONS}={url}"), "--tls-ca"]).arg(&ca_file);
    command.args(["--token", "any", "verify", "--service", APPLICATIONS]).env_remove("GRANTS_TLS_CERT");
    let output = run(command).await;
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("certificate expired"), "{said}");
    stop.cancel();
    served.await.unwrap().unwrap();
}
