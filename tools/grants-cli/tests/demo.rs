//! `grants demo`, `grants as-of` and `grants projector` against the four real services running in this process on loopback
//! ports, with their data in temporary directories and the real RabbitMQ (127.0.0.1:5672, guest/guest) on a
//! vhost of each test's own, deleted afterwards.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::process::{Command, Output};
use std::time::Duration;

use contracts::applications::v1::{self as apps, ApplicationsServiceClient};
use contracts::awards::v1::{self as aw, AwardsServiceClient};
use contracts::names::service::{APPLICATIONS, AWARDS, EVENT_SOURCES, PROJECTOR, REPORTING};
use contracts::names::stream;
use contracts::projector::v1::{self as pj, ProjectorServiceClient};
use contracts::reporting::v1::{self as rp, ReportingServiceClient};
use domain_kernel::Role;
use event_log::RecordedEvent;
use event_log_grpc::LogClient;
use serde_json::Value;
use service_runtime::{JwtConfig, TokenIssuer};
use test_support::Vhost;
use test_support::services::server_config;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const SECRET: &str = "demo-test-secret-demo-test-secret-0123";

fn jwt() -> JwtConfig {
    JwtConfig { secret: SECRET.as_bytes().to_vec(), issuer: "grants-dev".into(), audience: "grants".into() }
}

fn auditor() -> String {
    TokenIssuer::new(&jwt()).unwrap().issue(Role::Auditor, "auditor-1", None, Duration::from_secs(600)).unwrap()
}

fn authed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {}", auditor()).parse().unwrap());
    request
}

/// The four services on one vhost, each with its data under one temporary directory.
struct Platform {
    urls: BTreeMap<&'static str, String>,
    shutdown: CancellationToken,
    handles: Vec<tokio::task::JoinHandle<()>>,
    dir: tempfile::TempDir,
    _vhost: Vhost,
}

impl Platform {
    async fn start() -> Platform {
        let vhost = Vhost::create();
        let dir = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let mut listeners = HashMap::new();
        let mut urls = BTreeMap::new();
        for name in [APPLICATIONS, AWARDS, REPORTING, PROJECTOR] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.insert(name, format!("http://{}", listener.local_addr().unwrap()));
            listeners.insert(name, listener);
        }
        let amqp = vhost.uri();
        let mut handles = Vec::new();
        let mut spawn = |run: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>| handles.push(tokio::spawn(run));

        let config = applications::service::Config {
            data_dir: dir.path().join(APPLICATIONS),
            server: server_config(),
            jwt: jwt(),
            amqp_uri: Some(amqp.clone()),
        };
        let (listener, stop) = (listeners.remove(APPLICATIONS).unwrap(), shutdown.clone());
        spawn(Box::pin(async move { applications::service::run(listener, config, stop).await.unwrap() }));

        let config = awards::service::Config {
            data_dir: dir.path().join(AWARDS),
            server: server_config(),
            jwt: jwt(),
            amqp_uri: Some(amqp.clone()),
            source_logs: HashMap::from([
                (APPLICATIONS.to_owned(), urls[APPLICATIONS].clone()),
                (REPORTING.to_owned(), urls[REPORTING].clone()),
            ]),
        };
        let (listener, stop) = (listeners.remove(AWARDS).unwrap(), shutdown.clone());
        spawn(Box::pin(async move { awards::service::run(listener, config, stop).await.unwrap() }));

        let config = reporting::service::Config {
            data_dir: dir.path().join(REPORTING),
            server: server_config(),
            jwt: jwt(),
            amqp_uri: Some(amqp.clone()),
            source_logs: HashMap::from([(AWARDS.to_owned(), urls[AWARDS].clone())]),
            indicators: None,
        };
        let (listener, stop) = (listeners.remove(REPORTING).unwrap(), shutdown.clone());
        spawn(Box::pin(async move { reporting::service::run(listener, config, stop).await.unwrap() }));

        let config = projector::service::Config {
            data_dir: dir.path().join(PROJECTOR),
            server: server_config(),
            jwt: jwt(),
            amqp_uri: Some(amqp),
            source_logs: EVENT_SOURCES.into_iter().map(|s| (s.to_owned(), urls[s].clone())).collect(),
            suppression_k: 5,
            replica: None,
        };
        let (listener, stop) = (listeners.remove(PROJECTOR).unwrap(), shutdown.clone());
        spawn(Box::pin(async move { projector::service::run(listener, config, stop).await.unwrap() }));

        Platform { urls, shutdown, handles, dir, _vhost: vhost }
    }

    async fn channel(&self, service: &str) -> Channel {
        Channel::from_shared(self.urls[service].clone()).unwrap().connect().await.unwrap()
    }

    /// Runs `grants` with this platform's endpoints and the services' secret (off the runtime's workers).
    async fn grants(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
        for (name, url) in &self.urls {
            command.arg("--endpoint").arg(format!("{name}={url}"));
        }
        command.args(args).env("GRANTS_JWT_SECRET", SECRET).env_remove("GRANTS_TOKEN");
        tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
    }

    async fn demo(&self) -> String {
        let output = self.grants(&["demo"]).await;
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(output.status.success(), "demo failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
        stdout
    }

    /// The next position of every service's log.
    async fn heads(&self) -> Vec<u64> {
        let mut heads = Vec::new();
        for url in self.urls.values() {
            let mut client = LogClient::connect(url, Some(&auditor())).await.unwrap();
            heads.push(client.head().await.unwrap().next_position);
        }
        heads
    }

    /// What `grants projector digest` says of the active read models.
    async fn projector_digest(&self) -> Digest {
        let output = self.grants(&["projector", "digest"]).await;
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(output.status.success(), "digest: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        match stdout.split_whitespace().collect::<Vec<_>>()[..] {
            ["generation", generation, "entries", entries, "sha256", sha256] => {
                Digest { generation: generation.into(), entries: entries.into(), sha256: sha256.into() }
            }
            _ => panic!("not a digest: {stdout}"),
        }
    }

    /// Stops every service and waits until their logs are closed; returns the directory of their data.
    async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        for handle in self.handles {
            handle.await.unwrap();
        }
        self.dir
    }
}

/// A projector's digest as `grants projector digest` prints it.
#[derive(Debug, PartialEq, Eq)]
struct Digest {
    generation: String,
    entries: String,
    sha256: String,
}

/// The value after `label` on a line of the demo's summary.
fn summary_value(stdout: &str, label: &str) -> String {
    let summary = stdout.split("Demo program seeded:").nth(1).unwrap_or_else(|| panic!("no summary: {stdout}"));
    let line =
        summary.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no {label}: {stdout}"));
    line.split_whitespace().last().unwrap().to_owned()
}

/// Polls `check` every 100 ms until it returns `Some`, for at most 30 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_seeds_a_whole_program_whose_logs_verify() {
    let platform = Platform::start().await;
    let stdout = platform.demo().await;
    let round_id = summary_value(&stdout, "round ");

    // Nine organisations applied, eight were approved and one rejected.
    let mut applications = ApplicationsServiceClient::new(platform.channel(APPLICATIONS).await);
    let request = apps::ListApplicationsRequest { round_id: round_id.clone(), ..Default::default() };
    let listed = applications.list_applications(authed(request)).await.unwrap().into_inner().applications;
    let organisations: std::collections::BTreeSet<_> = listed.iter().map(|a| a.organisation_id.clone()).collect();
    assert_eq!(organisations.len(), 9);
    let status = |s: apps::ApplicationStatus| listed.iter().filter(|a| a.status == s as i32).count();
    assert_eq!((status(apps::ApplicationStatus::Approved), status(apps::ApplicationStatus::Rejected)), (8, 1));
    for organisation_id in &organisations {
        let request = apps::GetOrganisationRequest { organisation_id: organisation_id.clone() };
        applications.get_organisation(authed(request)).await.unwrap();
    }

    // Every award is signed; releases and the approved variation.
    let mut awards = AwardsServiceClient::new(platform.channel(AWARDS).await);
    let request = aw::ListAwardsRequest { round_id: round_id.clone(), ..Default::default() };
    let listed = awards.list_awards(authed(request)).await.unwrap().into_inner().awards;
    assert_eq!(listed.len(), 8);
    assert!(listed.iter().all(|a| a.status == aw::AwardStatus::Active as i32 && a.signed));
    let released: usize = listed.iter().map(|a| a.tranches.iter().filter(|t| !t.released_by.is_empty()).count()).sum();
    assert!(released >= 1, "{released} releases");
    assert!(listed.iter().any(|a| a.tranches.iter().filter(|t| !t.released_by.is_empty()).count() == 2));
    let approved_variations =
        listed.iter().flat_map(|a| &a.variations).filter(|v| v.status == aw::VariationStatus::Approved as i32).count();
    assert_eq!(approved_variations, 1);

    // One obligation overdue, in the reporting service and in the projector's read models.
    let mut reporting = ReportingServiceClient::new(platform.channel(REPORTING).await);
    let mut overdue = 0;
    for award in &listed {
        let request = rp::GetObligationsRequest { award_id: award.award_id.clone(), as_of: None };
        let obligations = reporting.get_obligations(authed(request)).await.unwrap().into_inner().obligations;
        overdue += obligations.iter().filter(|o| o.status == rp::ObligationStatus::Overdue as i32).count();
    }
    assert!(overdue >= 1, "{overdue} overdue obligations");
    let projector = ProjectorServiceClient::new(platform.channel(PROJECTOR).await);
    let listed_overdue = eventually("the overdue obligation in the projector", || {
        let mut projector = projector.clone();
        async move {
            let request = pj::ListOverdueObligationsRequest::default();
            let overdue = projector.list_overdue_obligations(authed(request)).await.ok()?.into_inner().obligations;
            (!overdue.is_empty()).then_some(overdue)
        }
    })
    .await;
    assert_eq!(listed_overdue[0].report_ref, "progress-1");

    // Run again, the demo replays its requests: the same summary, and no log grows.
    let heads = platform.heads().await;
    let again = platform.demo().await;
    assert_eq!(again.split("Demo program seeded:").nth(1), stdout.split("Demo program seeded:").nth(1));
    assert_eq!(platform.heads().await, heads);

    let verified = platform.grants(&["verify", "--all"]).await;
    assert!(verified.status.success(), "verify --all: {}", String::from_utf8_lossy(&verified.stderr));
    let history = platform.grants(&["history", "--application", &summary_value(&stdout, "application ")]).await;
    assert!(history.status.success(), "{}", String::from_utf8_lossy(&history.stderr));
    let history = String::from_utf8(history.stdout).unwrap();
    for step in ["ApplicationApproved", "AgreementSigned", "ReportAccepted", "TrancheReleased", "VariationApproved"] {
        assert!(history.contains(step), "{step} missing from the history:\n{history}");
    }

    // The projector's read models rebuilt from the logs through `grants projector` are the live ones.
    let live = eventually("the live read models to settle", || async {
        let before = platform.projector_digest().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        (platform.projector_digest().await == before).then_some(before)
    })
    .await;
    let rebuild = platform.grants(&["projector", "rebuild"]).await;
    let progress = String::from_utf8(rebuild.stdout).unwrap();
    assert!(rebuild.status.success(), "{progress}{}", String::from_utf8_lossy(&rebuild.stderr));
    assert!(progress.lines().any(|l| l.starts_with("generation ") && l.contains("applications ")), "{progress}");
    let last = progress.lines().last().unwrap_or_default();
    assert!(last.starts_with("rebuild completed: generation ") && last.ends_with(" is active"), "{progress}");
    let rebuilt = platform.projector_digest().await;
    assert_ne!(rebuilt.generation, live.generation, "a new generation is active");
    assert_eq!((&rebuilt.entries, &rebuilt.sha256), (&live.entries, &live.sha256), "rebuilt as it was live");
    // A rebuild needs an administrator: an auditor's token is refused, in one line.
    let refused = platform.grants(&["--token", &auditor(), "projector", "rebuild"]).await;
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert_eq!((refused.status.code(), stderr.lines().count()), (Some(2), 1), "{stderr}");
    assert!(stderr.starts_with("grants: projector: ") && stderr.contains("PermissionDenied"), "{stderr}");

    // The free text the demo wrote (application summaries and target groups, review and decision reasons,
    // narratives, a variation's reason and its approval comment) is nowhere on disk in clear, once every
    // service has stopped and left nothing unflushed.
    let dir = platform.stop().await;
    let written = [
        "Short-term shelter, medical referral and free legal aid",
        "women and girls returning from abroad",
        "Strong fit with the round's priorities",
        "Provided shelter and legal aid to survivors referred",
        "Court hearings for supported cases were rescheduled",
        "Extension justified by the court calendar",
    ];
    let found = test_support::disk::files_containing(dir.path(), &written);
    assert!(found.is_empty(), "in clear on disk: {found:?}");
}

/// The events of one stream, read as an auditor would.
async fn read_stream(url: &str, stream_type: &str, key: &str) -> Vec<RecordedEvent> {
    let mut client = LogClient::connect(url, Some(&auditor())).await.unwrap();
    client.read_stream(stream_type, key, 0).await.unwrap()
}

fn position_of<'a>(events: &'a [RecordedEvent], event_type: &str, nth: usize) -> &'a RecordedEvent {
    events.iter().filter(|e| e.event_type == event_type).nth(nth).unwrap_or_else(|| panic!("no {event_type} #{nth}"))
}

impl Platform {
    async fn as_of(&self, args: &[&str]) -> Value {
        let mut all = vec!["as-of"];
        all.extend_from_slice(args);
        let output = self.grants(&all).await;
        assert!(output.status.success(), "as-of {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    async fn award_at(&self, award_id: &str, position: u64) -> Value {
        self.as_of(&["--award", award_id, "--position", &position.to_string()]).await["state"].clone()
    }

    async fn application_at(&self, application_id: &str, position: u64) -> Value {
        self.as_of(&["--application", application_id, "--position", &position.to_string()]).await["state"].clone()
    }

    /// How many tranches were released as of a time.
    async fn as_of_award_at(&self, award_id: &str, micros: i64) -> Option<u64> {
        self.as_of(&["--award", award_id, "--at", &rfc3339(micros)]).await["state"]["tranches_released"].as_u64()
    }
}

fn tranche<'a>(state: &'a Value, id: &str) -> &'a Value {
    state["tranches"].as_array().unwrap().iter().find(|t| t["tranche_id"] == id).unwrap()
}

fn rfc3339(micros: i64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).unwrap();
    time.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_rebuilds_states_before_and_after_a_release_a_variation_and_a_report_acceptance() {
    let platform = Platform::start().await;
    let stdout = platform.demo().await;
    let application_id = summary_value(&stdout, "application ");
    let award_id = summary_value(&stdout, "award ");
    let events = read_stream(&platform.urls[AWARDS], stream::AWARD, &award_id).await;

    // The report acceptance, learnt from the bus: the interim tranche's condition becomes met.
    let met = position_of(&events, "ReportConditionMet", 0).position;
    let before = platform.award_at(&award_id, met).await;
    let after = platform.award_at(&award_id, met + 1).await;
    assert_eq!((before["conditions_met"].as_u64(), after["conditions_met"].as_u64()), (Some(0), Some(1)));
    assert_eq!(tranche(&before, "t2")["conditions_met"], false);
    assert_eq!(tranche(&after, "t2")["conditions_met"], true);
    let progress = |state: &Value| state["conditions"][0].clone();
    assert_eq!(
        (progress(&before)["met"].clone(), progress(&after)["accepted_by"].clone()),
        (false.into(), "program-officer-1".into())
    );

    // The interim tranche's release.
    let release = position_of(&events, "TrancheReleased", 1);
    let before = platform.award_at(&award_id, release.position).await;
    let after = platform.award_at(&award_id, release.position + 1).await;
    assert_eq!((before["tranches_released"].as_u64(), after["tranches_released"].as_u64()), (Some(1), Some(2)));
    assert_eq!(tranche(&before, "t2")["released"], false);
    assert_eq!(tranche(&after, "t2")["released"], true);
    assert_eq!(tranche(&after, "t2")["released_by"], "finance-officer-1");
    let amount = |state: &Value, id: &str| tranche(state, id)["amount"]["minor_units"].as_i64().unwrap();
    assert_eq!(before["released_total"]["minor_units"].as_i64().unwrap(), amount(&before, "t1"));
    assert_eq!(after["released_total"]["minor_units"].as_i64().unwrap(), amount(&after, "t1") + amount(&after, "t2"));
    // The same by time: at the release's recorded time it is included, a microsecond earlier it is not.
    let at = release.recorded_at.as_micros();
    let released_at = |micros: i64| platform.as_of_award_at(&award_id, micros);
    assert_eq!((released_at(at - 1).await, released_at(at).await), (Some(1), Some(2)));

    // The variation: requested, then approved and applied to the agreement.
    let approved = position_of(&events, "VariationApproved", 0).position;
    let requested = position_of(&events, "VariationRequested", 0).position;
    let before = platform.award_at(&award_id, requested).await;
    let pending = platform.award_at(&award_id, approved).await;
    let after = platform.award_at(&award_id, approved + 1).await;
    assert_eq!(before["variations"].as_array().unwrap().len(), 0);
    assert_eq!(pending["variations"][0]["status"], "REQUESTED");
    assert_eq!(after["variations"][0]["status"], "APPROVED");
    assert_eq!(after["variations"][0]["decided_by"], "program-officer-1");
    let end = |state: &Value| state["period_end"].as_str().unwrap().to_owned();
    assert_eq!(end(&before), end(&pending));
    assert!(end(&after) > end(&pending), "{} after {}", end(&after), end(&pending));
    assert!(end(&after).ends_with("-06-30"));

    // Before anything was recorded the award did not exist; the application before and after its approval.
    let nothing = platform.as_of(&["--award", &award_id, "--date", "2021-06-30"]).await;
    assert_eq!((nothing["state"].clone(), nothing["events_applied"].as_u64()), (Value::Null, Some(0)));
    let app_events = read_stream(&platform.urls[APPLICATIONS], stream::APPLICATION, &application_id).await;
    let decided = position_of(&app_events, "ApplicationApproved", 0).position;
    let before = platform.application_at(&application_id, decided).await;
    let after = platform.application_at(&application_id, decided + 1).await;
    assert_eq!((before["status"].as_str(), after["status"].as_str()), (Some("SUBMITTED"), Some("APPROVED")));
    assert_eq!(before["completed_reviews"], 2);
    assert_eq!(after["award_id"], award_id.as_str());

    // The projector's program summary, now and as of a day before the round.
    let summary = platform.as_of(&["--program", "--date", "2021-06-30"]).await;
    let totals = summary["program_summary"]["totals"].as_array().cloned().unwrap_or_default();
    assert!(totals.is_empty(), "{summary}");
    let summary = eventually("the releases in the program summary", || async {
        let summary = platform.as_of(&["--program"]).await;
        let released = &summary["program_summary"]["totals"][0]["released_minor_units"];
        let released = released.as_i64().or_else(|| released.as_str()?.parse().ok())?;
        (released > 0).then_some(summary)
    })
    .await;
    assert_eq!(summary["program_summary"]["totals"][0]["currency"], "AUD");

    // An award no log knows: one line, exit code 2.
    let unknown = uuid::Uuid::new_v4().to_string();
    let output = platform.grants(&["as-of", "--award", &unknown]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&unknown), "{stderr}");
    platform.stop().await;
}
