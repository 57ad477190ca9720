//! One trace across the grant cycle: the four services run as their own processes (their binaries, built
//! here if needed) with `--log-format json`, on the real RabbitMQ (a vhost of the test's own) and data in a
//! temporary directory. `grants demo` sends every command in the trace `TRACEPARENT` names; awards reacts
//! to each approval (the award offered), reporting to each signed agreement, and the projector applies them.
//! Every event of the cycle, in every service's log, carries that trace id, and every service's log lines
//! show it with the request's service, RPC, duration and outcome, and never a token or personal data.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use contracts::names::service::{APPLICATIONS, AWARDS, PROJECTOR, REPORTING};
use domain_kernel::Role;
use event_log::RecordedEvent;
use event_log_grpc::LogClient;
use serde_json::Value;
use service_runtime::{JwtConfig, TokenIssuer};
use test_support::Vhost;
use test_support::polling::eventually_within;

mod service_binaries;
use service_binaries::{SERVICES, service_binaries};

const SECRET: &str = "trace-test-secret-trace-test-secret-0123";
/// The trace the demo is asked to continue.
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// A free loopback port: bound and released, for a service that is told its address up front (the
/// services name each other's addresses in `--source`, so none can pick its own).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The four services, each its own process, logging JSON to a file of its own.
struct Platform {
    urls: BTreeMap<&'static str, String>,
    children: Vec<(&'static str, Child)>,
    dir: tempfile::TempDir,
    _vhost: Vhost,
}

impl Platform {
    fn start() -> Platform {
        let binaries = service_binaries();
        let vhost = Vhost::create();
        let dir = tempfile::tempdir().unwrap();
        let urls: BTreeMap<&'static str, String> =
            SERVICES.into_iter().map(|name| (name, format!("http://127.0.0.1:{}", free_port()))).collect();
        let sources = |names: &[&str]| -> Vec<String> {
            names.iter().flat_map(|name| ["--source".to_owned(), format!("{name}={}", urls[name])]).collect()
        };
        let mut children = Vec::new();
        for name in SERVICES {
            let mut command = Command::new(binaries.join(name));
            command
                .arg("--listen")
                .arg(urls[name].trim_start_matches("http://"))
                .arg("--data-dir")
                .arg(dir.path().join(name))
                .args(["--amqp-url", &vhost.uri(), "--log-format", "json"])
                .env("GRANTS_JWT_SECRET", SECRET)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(dir.path().join(format!("{name}.log"))).unwrap());
            match name {
                AWARDS => command.args(sources(&[APPLICATIONS, REPORTING])),
                REPORTING => command.args(sources(&[AWARDS])),
                PROJECTOR => command
                    .args(sources(&[APPLICATIONS, AWARDS, REPORTING]))
                    .args(["--perturbation-secret", "trace-test-perturbation-secret-0123456789"]),
                _ => &mut command,
            };
            children.push((name, command.spawn().expect("the service starts")));
        }
        Platform { urls, children, dir, _vhost: vhost }
    }

    /// The JSON lines service `name` has logged so far; every line must be one JSON object.
    fn log_lines(&self, name: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap();
        text.lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{name} logged a line that is not JSON ({e}): {line}"))
            })
            .collect()
    }

    async fn wait_until_serving(&self) {
        for name in SERVICES {
            eventually_within(&format!("{name} serving"), Duration::from_secs(120), || async move {
                self.log_lines(name).iter().any(|line| line["fields"]["message"] == "serving gRPC").then_some(())
            })
            .await;
        }
    }

    /// Runs `grants` with this platform's endpoints and the services' secret, in the test's trace.
    async fn grants(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
        for (name, url) in &self.urls {
            command.arg("--endpoint").arg(format!("{name}={url}"));
        }
        command.args(args).env("GRANTS_JWT_SECRET", SECRET).env("TRACEPARENT", TRACEPARENT).env_remove("GRANTS_TOKEN");
        tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
    }

    async fn events(&self, name: &str) -> Vec<RecordedEvent> {
        let jwt =
            JwtConfig { secret: SECRET.as_bytes().to_vec(), issuer: "grants-dev".into(), audience: "grants".into() };
        let token = TokenIssuer::new(&jwt).unwrap().issue(Role::Auditor, "auditor-1", None, Duration::from_secs(600));
        let mut client = LogClient::connect(&self.urls[name], Some(&token.unwrap())).await.unwrap();
        let head = client.head().await.unwrap().next_position;
        client.read_range(0, head).await.unwrap()
    }

    /// Stops every service with SIGTERM and waits for it to end; kills one that does not.
    fn stop(mut self) -> tempfile::TempDir {
        for (_, child) in &self.children {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        }
        for (name, child) in &mut self.children {
            let stopped = (0..600).find_map(|_| {
                let status = child.try_wait().unwrap();
                if status.is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                status
            });
            if stopped.is_none() {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not stop within 30 s of SIGTERM");
            }
        }
        self.children.clear();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every event of `events` of these types carries the test's trace, each in a span of its own.
fn traced<'a>(events: &'a [RecordedEvent], event_type: &str) -> Vec<&'a RecordedEvent> {
    let of_type: Vec<&RecordedEvent> = events.iter().filter(|e| e.event_type == event_type).collect();
    assert!(!of_type.is_empty(), "no {event_type} recorded");
    for event in &of_type {
        let trace = event.metadata.trace.unwrap_or_else(|| panic!("{event_type} without a trace context"));
        assert_eq!(trace.trace_id(), TRACE_ID, "{event_type}");
        assert_ne!(trace.span_id(), "b7ad6b7169203331", "{event_type} has a span of its own");
    }
    of_type
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_a_command_through_every_reaction_and_every_services_json_log() {
    let platform = Platform::start();
    platform.wait_until_serving().await;
    let demo = platform.grants(&["demo"]).await;
    let stdout = String::from_utf8_lossy(&demo.stdout);
    assert!(demo.status.success(), "demo: {stdout}{}", String::from_utf8_lossy(&demo.stderr));
    assert!(stdout.contains(&format!("every request in trace {TRACE_ID}")), "{stdout}");

    // The command's events, the reactions of awards and reporting, and what they reacted to in turn.
    let applications = platform.events(APPLICATIONS).await;
    let approvals = traced(&applications, "ApplicationApproved");
    let awards = platform.events(AWARDS).await;
    let offers = traced(&awards, "AwardOffered");
    assert_eq!(offers.len(), approvals.len(), "one award offered per approval");
    for offer in &offers {
        let approval = approvals.iter().find(|a| a.event_id == offer.metadata.causation_id).expect("caused by one");
        let (theirs, ours) = (approval.metadata.trace.unwrap(), offer.metadata.trace.unwrap());
        assert_ne!(theirs.span_id(), ours.span_id(), "the reaction has a span of its own");
    }
    traced(&awards, "AgreementSigned");
    let reporting = platform.events(REPORTING).await;
    traced(&reporting, "ObligationsScheduled");
    // The projector applies the awards offered: its log lines show their trace id.
    let offer_ids: Vec<String> = offers.iter().map(|o| o.event_id.to_string()).collect();
    eventually_within("the projector applying every award offered", Duration::from_secs(60), || async {
        let lines = platform.log_lines(PROJECTOR);
        let applied = lines.iter().map(|line| &line["fields"]).filter(|f| {
            f["message"] == "consumed event applied" && f["event_type"] == "AwardOffered" && f["outcome"] == "applied"
        });
        let seen: Vec<&Value> = applied.filter(|f| f["trace_id"] == TRACE_ID).map(|f| &f["event_id"]).collect();
        offer_ids.iter().all(|id| seen.iter().any(|s| *s == id)).then_some(())
    })
    .await;
    let verified = platform.grants(&["verify", "--all"]).await;
    assert!(verified.status.success(), "verify --all: {}", String::from_utf8_lossy(&verified.stdout));

    let dir = platform.stop();
    let platform_logs = |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap();
    for name in SERVICES {
        let text = platform_logs(name);
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let in_trace: Vec<&Value> =
            lines.iter().map(|line| &line["fields"]).filter(|f| f["trace_id"] == TRACE_ID).collect();
        assert!(!in_trace.is_empty(), "{name} logs the trace id:\n{text}");
        // Every request line names its service, RPC, duration and outcome.
        let requests: Vec<&&Value> = in_trace.iter().filter(|f| f["message"] == "request").collect();
        for request in &requests {
            assert_eq!(request["service"], name, "{request}");
            assert!(request["rpc"].as_str().is_some_and(|rpc| rpc.contains('/')), "{request}");
            assert!(request["duration_ms"].as_f64().is_some(), "{request}");
            assert!(request["outcome"].is_string() && request["grpc_code"].is_i64(), "{request}");
            assert!(request["actor"].is_string(), "{request}");
        }
        if name != PROJECTOR {
            // The services the demo sends commands to: their request lines name the command's ids.
            let commands = requests.iter().filter(|r| r["request_id"].is_string()).count();
            assert!(commands > 0, "{name} logs its commands in the trace:\n{text}");
            assert!(requests.iter().any(|r| r["outcome"] == "OK"), "{text}");
        }
        // No token, no personal data: the demo's contact persons and the free text of its reports.
        for secret in ["Bearer", "eyJ", "Grants Coordinator", ".example.org", "court accompaniment", SECRET] {
            assert!(!text.contains(secret), "{name} logged `{secret}`");
        }
    }
    let consumed = |name: &str, event_type: &str| {
        let text = platform_logs(name);
        text.lines().map(|line| serde_json::from_str::<Value>(line).unwrap()).any(|line| {
            let f = &line["fields"];
            f["message"] == "consumed event applied" && f["event_type"] == event_type && f["trace_id"] == TRACE_ID
        })
    };
    assert!(consumed(AWARDS, "ApplicationApproved"), "awards logs the approvals it applied with their trace id");
    assert!(consumed(REPORTING, "AgreementSigned"), "reporting logs the agreements it applied with their trace id");
    assert!(consumed(PROJECTOR, "ObligationsScheduled"));
}
