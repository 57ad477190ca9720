//! Every service's Prometheus metrics, scraped over HTTP from the four real services running in this
//! process (real RabbitMQ on 127.0.0.1:5672, a vhost of the test's own) after a grant's start has gone
//! through them, and parsed with the reference Prometheus client's OpenMetrics parser (PyPI's
//! `prometheus-client`, in a virtual environment under the target directory): the figures match what
//! happened.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use contracts::applications::v1::{self as apps, ApplicationsServiceClient};
use contracts::names::service::{APPLICATIONS, AWARDS, EVENT_SOURCES, PROJECTOR, REPORTING};
use domain_kernel::Role;
use event_log_grpc::LogClient;
use service_runtime::{JwtConfig, MetricsEndpoint, ServerConfig, TokenIssuer};
use test_support::services::{listen, server_config, url_of};
use test_support::{Running, Vhost, authed, eventually_within, request_id, token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../../../tests/python-verifier/python_env.rs"]
mod python_env;

/// One sample of a scrape.
#[derive(Debug, serde::Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
    #[serde(rename = "type")]
    kind: String,
}

/// A service's metrics as the parser read them.
#[derive(Debug)]
struct Scrape(Vec<Sample>);

impl Scrape {
    /// The value of the sample `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.0.iter().find(|s| s.name == name && s.labels == labels).map(|s| s.value)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{self:#?}"))
    }

    fn kind(&self, name: &str) -> &str {
        self.0.iter().find(|s| s.name == name).map_or("", |s| s.kind.as_str())
    }
}

/// `GET path` over HTTP/1.1 from `address`: the answer's status line and headers, and its body.
async fn http_get(address: SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.to_owned(), body.to_owned())
}

/// Scrapes `address` and parses the answer with the reference parser.
async fn scrape(address: SocketAddr) -> Scrape {
    let (head, body) = http_get(address, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_lowercase().contains("content-type: application/openmetrics-text"), "{head}");
    let parsed = tokio::task::spawn_blocking(move || parse(&body)).await.unwrap();
    Scrape(parsed)
}

fn parse(text: &str) -> Vec<Sample> {
    let python = python_env::python_with(
        "metrics-parser",
        "tests/metrics/requirements.txt",
        "import prometheus_client.openmetrics.parser",
    );
    let script = python_env::repository_root().join("tests/metrics/parse_metrics.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}\n{text}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The four services, each with its metrics on a port of its own.
struct Platform {
    services: Vec<Running>,
    urls: BTreeMap<String, String>,
    metrics: HashMap<&'static str, SocketAddr>,
    _vhost: Vhost,
}

fn with_metrics(endpoint: &MetricsEndpoint) -> ServerConfig {
    ServerConfig { metrics: Some(endpoint.clone()), ..server_config() }
}

impl Platform {
    async fn start() -> Platform {
        let vhost = Vhost::create();
        let amqp = Some(vhost.uri());
        let mut listeners = HashMap::new();
        let mut urls = BTreeMap::new();
        let mut endpoints = HashMap::new();
        for name in [APPLICATIONS, AWARDS, REPORTING, PROJECTOR] {
            let listener = listen().await;
            urls.insert(name.to_owned(), url_of(&listener));
            listeners.insert(name, listener);
            endpoints.insert(name, MetricsEndpoint::new("127.0.0.1:0".parse().unwrap()));
        }
        let dir = || tempfile::tempdir().unwrap();
        let sources = |names: &[&str]| -> HashMap<String, String> {
            names.iter().map(|name| ((*name).to_owned(), urls[*name].clone())).collect()
        };
        let take = |listeners: &mut HashMap<_, _>, name| listeners.remove(name).unwrap();
        let applications = Running::start(
            take(&mut listeners, APPLICATIONS),
            APPLICATIONS,
            dir(),
            applications::service::run,
            |data_dir| applications::service::Config {
                data_dir,
                server: with_metrics(&endpoints[APPLICATIONS]),
                jwt: test_support::jwt(),
                amqp_uri: amqp.clone(),
            },
        );
        let awards = Running::start(take(&mut listeners, AWARDS), AWARDS, dir(), awards::service::run, |data_dir| {
            awards::service::Config {
                data_dir,
                server: with_metrics(&endpoints[AWARDS]),
                jwt: test_support::jwt(),
                amqp_uri: amqp.clone(),
                source_logs: sources(&[APPLICATIONS, REPORTING]),
            }
        });
        let reporting =
            Running::start(take(&mut listeners, REPORTING), REPORTING, dir(), reporting::service::run, |data_dir| {
                reporting::service::Config {
                    data_dir,
                    server: with_metrics(&endpoints[REPORTING]),
                    jwt: test_support::jwt(),
                    amqp_uri: amqp.clone(),
                    source_logs: sources(&[AWARDS]),
                    indicators: None,
                }
            });
        let projector =
            Running::start(take(&mut listeners, PROJECTOR), PROJECTOR, dir(), projector::service::run, |data_dir| {
                projector::service::Config {
                    data_dir,
                    server: with_metrics(&endpoints[PROJECTOR]),
                    jwt: test_support::jwt(),
                    amqp_uri: amqp.clone(),
                    source_logs: sources(&EVENT_SOURCES).into_iter().collect(),
                    suppression_k: 5,
                    replica: None,
                }
            });
        let mut metrics = HashMap::new();
        for (name, endpoint) in &endpoints {
            metrics.insert(*name, endpoint.bound().await);
        }
        Platform { services: vec![applications, awards, reporting, projector], urls, metrics, _vhost: vhost }
    }

    async fn scrape(&self, service: &str) -> Scrape {
        scrape(self.metrics[service]).await
    }

    /// The next position of `service`'s log, from its log service.
    async fn next_position(&self, service: &str) -> f64 {
        let auditor = token(Role::Auditor, "auditor-1", None);
        let mut client = LogClient::connect(&self.urls[service], Some(&auditor)).await.unwrap();
        client.head().await.unwrap().next_position as f64
    }

    async fn stop(self) {
        for service in self.services {
            service.stop().await;
        }
    }
}

const SUBMIT: &str = "grants.applications.v1.ApplicationsService/SubmitApplication";
const ERASE: &str = "grants.applications.v1.ApplicationsService/EraseContactPerson";
const GET_ROUND: &str = "grants.applications.v1.ApplicationsService/GetRound";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_serves_metrics_that_match_what_happened() {
    let platform = Platform::start().await;
    let channel = test_support::services::connect(&platform.urls[APPLICATIONS]).await;
    let organisation = uuid::Uuid::new_v4().to_string();
    // Round, organisation, application submitted once, reviewed and approved: awards offers the award.
    let approved = test_support::fixtures::approve_application(channel.clone(), &organisation).await;

    let mut client = ApplicationsServiceClient::new(channel);
    // A reason that gives a phone number: refused by the identity guard, counted by its rule only.
    let administrator = token(Role::Administrator, "admin-0", None);
    let erase = apps::EraseContactPersonRequest {
        request_id: request_id(),
        organisation_id: organisation.clone(),
        reason: "Questions: call +855 12 345 678.".into(),
    };
    let refused = client.erase_contact_person(authed(erase, &administrator)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    // A token signed with another secret, and no token at all.
    let other = JwtConfig { secret: b"another-secret-another-secret-another".to_vec(), ..test_support::jwt() };
    let forged = TokenIssuer::new(&other).unwrap().issue(Role::Auditor, "a", None, std::time::Duration::from_secs(60));
    let get = || apps::GetRoundRequest { round_id: approved.round_id.clone() };
    let refused = client.get_round(authed(get(), &forged.unwrap())).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let refused = client.get_round(get()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // Awards learns of the approval over the bus; then every consumer has drained.
    let drained = |scrape: &Scrape, sources: &[&str]| {
        sources.iter().all(|source| scrape.value("grants_consumer_lag_events", &[("source", source)]) == Some(0.0))
    };
    let awards = eventually_within("awards applies the approval", std::time::Duration::from_secs(60), || async {
        let scrape = platform.scrape(AWARDS).await;
        let offered = scrape.value("grants_log_appended_events_total", &[]).unwrap_or(0.0) > 0.0;
        (offered && drained(&scrape, &[APPLICATIONS, REPORTING])).then_some(scrape)
    })
    .await;
    let projector = eventually_within("the projector drains", std::time::Duration::from_secs(60), || async {
        let scrape = platform.scrape(PROJECTOR).await;
        drained(&scrape, &EVENT_SOURCES).then_some(scrape)
    })
    .await;
    let applications = platform.scrape(APPLICATIONS).await;

    // Requests by RPC and code, latency by RPC.
    assert_eq!(applications.get("grants_grpc_requests_total", &[("rpc", SUBMIT), ("code", "OK")]), 1.0);
    assert_eq!(
        applications.value("grants_grpc_requests_total", &[("rpc", SUBMIT), ("code", "INVALID_ARGUMENT")]),
        None
    );
    assert_eq!(applications.get("grants_grpc_requests_total", &[("rpc", ERASE), ("code", "INVALID_ARGUMENT")]), 1.0);
    assert_eq!(applications.get("grants_grpc_requests_total", &[("rpc", GET_ROUND), ("code", "UNAUTHENTICATED")]), 2.0);
    assert_eq!(applications.kind("grants_grpc_request_duration_seconds_count"), "histogram");
    assert_eq!(applications.get("grants_grpc_request_duration_seconds_count", &[("rpc", SUBMIT)]), 1.0);
    assert_eq!(
        applications.get("grants_grpc_request_duration_seconds_bucket", &[("rpc", SUBMIT), ("le", "+Inf")]),
        1.0
    );
    // Tokens refused by reason; the guard's refusal by rule, never the text.
    assert_eq!(applications.get("grants_tokens_refused_total", &[("reason", "bad_signature")]), 1.0);
    assert_eq!(applications.get("grants_tokens_refused_total", &[("reason", "missing")]), 1.0);
    assert_eq!(applications.get("grants_identity_guard_refusals_total", &[("rule", "phone-number")]), 1.0);
    let text = http_get(platform.metrics[APPLICATIONS], "/metrics").await.1;
    // The number as written or with its digits run together (a figure such as a latency sum may hold "345").
    let leaked = ["+855 12 345 678", "85512345678", "12 345 678", "Questions"].iter().any(|part| text.contains(part));
    assert!(!leaked, "no refused text in the metrics");
    let (head, _) = http_get(platform.metrics[APPLICATIONS], "/other").await;
    assert!(head.starts_with("HTTP/1.1 404"), "only /metrics is served: {head}");

    // The log: every event appended since start, the head, one fdatasync per commit, an intact chain.
    for (service, scrape) in [(APPLICATIONS, &applications), (AWARDS, &awards)] {
        let next = platform.next_position(service).await;
        assert!(next > 0.0, "{service}");
        assert_eq!(scrape.get("grants_log_appended_events_total", &[]), next, "{service}");
        assert_eq!(scrape.get("grants_log_next_position", &[]), next, "{service}");
        let commits = scrape.get("grants_log_commits_total", &[]);
        assert_eq!(scrape.get("grants_log_fdatasync_duration_seconds_count", &[]), commits, "{service}");
        // Commits of markers alone (the relay's cursor, a consumer's checkpoint) have no group size.
        assert!(scrape.get("grants_log_commit_group_size_count", &[]) <= commits, "{service}");
        assert_eq!(scrape.get("grants_log_commit_group_size_sum", &[]), scrape.get("grants_log_appends_total", &[]));
        assert!(scrape.get("grants_log_size_bytes", &[]) > 0.0, "{service}");
        assert_eq!(scrape.get("grants_log_chain_verified_events", &[]), next, "{service}");
        assert_eq!(scrape.get("grants_log_chain_broken", &[]), 0.0, "{service}");
        assert_eq!(scrape.get("grants_log_checkpoint_check", &[("result", "not_configured")]), 1.0, "{service}");
    }
    // Applications: each of the eight commands (round, organisation, draft, submission, assignment,
    // declaration, review, approval) made one append; the refused one none.
    assert_eq!(applications.get("grants_log_appends_total", &[]), 8.0);

    // The relay published everything; the consumers applied everything and dead-lettered nothing.
    let relayed = eventually_within("the relay publishes", std::time::Duration::from_secs(30), || async {
        let scrape = platform.scrape(APPLICATIONS).await;
        (scrape.value("grants_relay_backlog_events", &[]) == Some(0.0)).then_some(scrape)
    })
    .await;
    assert_eq!(relayed.get("grants_relay_oldest_unpublished_age_seconds", &[]), 0.0);
    assert_eq!(relayed.get("grants_relay_published_next_position", &[]), platform.next_position(APPLICATIONS).await);
    assert_eq!(relayed.get("grants_relay_connected", &[]), 1.0);
    for (service, scrape) in [(AWARDS, &awards), (PROJECTOR, &projector)] {
        assert_eq!(scrape.get("grants_consumer_dead_letters_total", &[]), 0.0, "{service}");
        assert_eq!(scrape.get("grants_consumer_source_reachable", &[("source", APPLICATIONS)]), 1.0, "{service}");
        assert!(scrape.get("grants_consumer_handled_events_total", &[]) > 0.0, "{service}");
    }
    assert_eq!(
        projector.get("grants_consumer_applied_next_position", &[("source", APPLICATIONS)]),
        platform.next_position(APPLICATIONS).await
    );
    // The projector: no rebuild was started; its models' generation.
    assert_eq!(projector.get("grants_projector_rebuild_state", &[("state", "idle")]), 1.0);
    assert!(projector.value("grants_projector_active_generation", &[]).is_some());
    assert_eq!(projector.get("grants_projector_rebuild_events_applied", &[]), 0.0);
    // Reporting serves its own too; every metric the alert rules name is served by some service.
    let reporting = platform.scrape(REPORTING).await;
    assert_eq!(reporting.get("grants_log_chain_broken", &[]), 0.0);
    let served: Vec<&str> = [&applications, &awards, &projector, &reporting]
        .iter()
        .flat_map(|scrape| scrape.0.iter().map(|sample| sample.name.as_str()))
        .collect();
    for named in metrics_named_in(&deploy_file("alerts.yml")) {
        assert!(served.contains(&named.as_str()), "alerts.yml names {named}, which no service serves");
    }
    platform.stop().await;
}

/// A file of `deploy/local/prometheus/`.
fn deploy_file(name: &str) -> std::path::PathBuf {
    python_env::repository_root().join("deploy/local/prometheus").join(name)
}

/// The platform's metric names (`grants_…`) that `file` mentions.
fn metrics_named_in(file: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let names: std::collections::BTreeSet<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("grants_"))
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 5, "{names:?}");
    names.into_iter().collect()
}

/// `deploy/local/promtool` (which installs Prometheus's promtool where it is missing) with `args`.
fn promtool(args: &[&str]) -> String {
    let root = python_env::repository_root();
    let output = Command::new(root.join("deploy/local/promtool")).args(args).current_dir(&root).output().unwrap();
    let shown = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {args:?}: {shown}");
    shown
}

#[test]
fn the_scrape_configuration_and_the_alert_rules_pass_promtool_and_the_alerts_fire_when_they_should() {
    let config = promtool(&["check", "config", "deploy/local/prometheus/prometheus.yml"]);
    assert!(config.contains("SUCCESS: 8 rules found"), "the configuration loads the alert rules: {config}");
    promtool(&["check", "rules", "deploy/local/prometheus/alerts.yml"]);
    // Synthetic series for each alert: a growing relay backlog, a stopped consumer, a dead letter, a
    // broken chain, a service down (and the cases that must not fire).
    let tested = promtool(&["test", "rules", "deploy/local/prometheus/alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    for alert in ["GrantsRelayBacklogGrowing", "GrantsConsumerStopped", "GrantsDeadLetter", "GrantsChainBroken"] {
        let tests = std::fs::read_to_string(deploy_file("alerts.test.yml")).unwrap();
        assert!(tests.contains(&format!("alertname: {alert}")), "alerts.test.yml tests {alert}");
    }
}
