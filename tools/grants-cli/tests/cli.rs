//! The `grants` command against a real applications service over gRPC: verify (with a kept checkpoint),
//! export with an independent recount, history, tampering, and one-line errors with distinct exit codes.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contracts::applications::v1::{self as pb, ApplicationsServiceClient};
use contracts::common::v1::Money;
use contracts::names::service::{APPLICATIONS, AWARDS, PROJECTOR, REPORTING};
use domain_kernel::Role;
use event_log::{ChainVerifier, EventLog, Hash};
use service_runtime::{JwtConfig, ServerConfig, TokenIssuer};
use test_support::services::{serve_log, server_config};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "cli-test-secret-cli-test-secret-0123";

fn jwt() -> JwtConfig {
    JwtConfig { secret: SECRET.as_bytes().to_vec(), issuer: "grants-dev".into(), audience: "grants".into() }
}

fn token(role: Role, organisation: Option<&str>) -> String {
    TokenIssuer::new(&jwt()).unwrap().issue(role, "tester", organisation, Duration::from_secs(600)).unwrap()
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

struct Service {
    address: SocketAddr,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

/// A server that signs checkpoints of its log with `seed`.
fn signing_server(seed: [u8; 32]) -> ServerConfig {
    ServerConfig {
        checkpoint: Some(service_runtime::CheckpointConfig {
            seed,
            previous_public_keys: Vec::new(),
            interval: Duration::from_secs(3600),
        }),
        ..server_config()
    }
}

fn applications_config(data_dir: std::path::PathBuf, seed: [u8; 32]) -> applications::service::Config {
    applications::service::Config { data_dir, server: signing_server(seed), jwt: jwt(), amqp_uri: None }
}

async fn start(data_dir: std::path::PathBuf, seed: [u8; 32]) -> Service {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let config = applications_config(data_dir, seed);
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { applications::service::run(listener, config, token).await.unwrap() });
    Service { address, shutdown, handle }
}

/// Starts the applications service on `data_dir` with checkpoint signing, told to stop at once: what it
/// answers when it refuses to start (it returns `Ok` after a normal start and stop).
async fn start_and_stop_at_once(data_dir: std::path::PathBuf, seed: [u8; 32]) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    let config = applications_config(data_dir, seed);
    applications::service::run(listener, config, shutdown).await.map_err(|e| e.to_string())
}

impl Service {
    async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.unwrap();
    }
}

/// Serves the log in `dir` read-only, as any service does: empty stand-ins for the other services' logs, so
/// that commands visiting every service have peers, or a tampered log that its service refuses to serve.
/// Returns its URL.
async fn log_service(dir: &std::path::Path) -> String {
    serve_log(EventLog::open(dir).unwrap(), "stand-in", CancellationToken::new()).await
}

fn at(offset_seconds: i64) -> Option<prost_types::Timestamp> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    Some(prost_types::Timestamp { seconds: now + offset_seconds, nanos: 0 })
}

fn usd(minor_units: i64) -> Option<Money> {
    Some(Money { minor_units, currency: "USD".into() })
}

/// A round, an organisation and one drafted application; returns the application id.
async fn record_some_history(address: SocketAddr) -> String {
    let mut api = ApplicationsServiceClient::connect(format!("http://{address}")).await.unwrap();
    let officer = token(Role::ProgramOfficer, None);
    let round = pb::OpenRoundRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        title: "2021 round: services for survivors of trafficking".into(),
        description: "Shelter, health, legal aid, reintegration".into(),
        budget_ceiling: usd(90_000_000),
        eligible_countries: vec!["KH".into(), "TH".into()],
        themes: vec!["shelter".into()],
        opens_at: at(-3600),
        closes_at: at(86_400),
        criteria: vec![pb::Criterion {
            criterion_id: "relevance".into(),
            name: "Relevance".into(),
            guidance: String::new(),
            weight: 100,
            max_score: 10,
        }],
        required_reviews: 1,
    };
    let round_id = api.open_round(authed(round, &officer)).await.unwrap().into_inner().round.unwrap().round_id;
    let organisation_id = uuid::Uuid::new_v4().to_string();
    let register = pb::RegisterOrganisationRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        organisation_id: organisation_id.clone(),
        legal_name: "Safe Harbour Foundation".into(),
        country: "KH".into(),
        organisation_type: pb::OrganisationType::NationalNgo as i32,
        registration_number: "KH-77".into(),
        contact_person: Some(pb::ContactPerson {
            full_name: "C".into(),
            email: "c@example.org".into(),
            phone: String::new(),
        }),
    };
    api.register_organisation(authed(register, &officer)).await.unwrap();
    let partner = token(Role::Partner, Some(&organisation_id));
    let content = pb::ApplicationContent {
        title: "Shelter in Phnom Penh".into(),
        summary: "Safe shelter and legal aid".into(),
        requested_amount: usd(5_000_000),
        budget_lines: vec![pb::BudgetLine { description: "Shelter".into(), amount: usd(5_000_000) }],
        countries: vec!["KH".into()],
        services_offered: vec![pb::ServiceType::Shelter as i32],
        target_groups: vec!["women returning from abroad".into()],
    };
    let draft =
        pb::DraftApplicationRequest { request_id: uuid::Uuid::new_v4().to_string(), round_id, content: Some(content) };
    api.draft_application(authed(draft, &partner)).await.unwrap().into_inner().application.unwrap().application_id
}

struct Cli {
    endpoints: Vec<String>,
}

impl Cli {
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
        for endpoint in &self.endpoints {
            command.args(["--endpoint", endpoint]);
        }
        command.args(args).env("GRANTS_JWT_SECRET", SECRET).env_remove("GRANTS_TOKEN");
        tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
    }
}

#[path = "../../../tests/python-verifier/python_env.rs"]
mod python_env;

#[path = "../../../shared/event-log/tests/tampering/mod.rs"]
mod tampering;

/// The independent Python verifier against the service at `address`: its exit code and JSON verdict.
async fn python_verdict(address: SocketAddr) -> (Option<i32>, serde_json::Value) {
    let token = token(Role::Auditor, None);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python_env::python())
            .arg(python_env::verifier_script())
            .args(["--address", &address.to_string(), "--token", &token])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let verdict = serde_json::from_str(stdout(&output).trim()).unwrap_or_else(|e| panic!("{e}: {output:?}"));
    (output.status.code(), verdict)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_verify_export_and_trace_and_tampering_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join(APPLICATIONS);
    // The operator makes the service's checkpoint key; the auditor gets the public key it prints.
    let key_file = dir.path().join("applications.key");
    let keygen = Cli { endpoints: Vec::new() }.run(&["keygen", "--output", key_file.to_str().unwrap()]).await;
    assert_eq!(keygen.status.code(), Some(0), "{keygen:?}");
    let public_key = stdout(&keygen).trim().to_owned();
    let seed = event_log_grpc::checkpoint::key_from_hex("seed", &std::fs::read_to_string(&key_file).unwrap()).unwrap();
    assert_eq!(hex::encode(event_log_grpc::checkpoint::public_key_of(&seed)), public_key);
    let again = Cli { endpoints: Vec::new() }.run(&["keygen", "--output", key_file.to_str().unwrap()]).await;
    assert_eq!(again.status.code(), Some(2), "an existing key is never overwritten");

    let service = start(data_dir.clone(), seed).await;
    let application_id = record_some_history(service.address).await;
    // Restarting signs the head: the shutdown signs what the three commands recorded.
    service.stop().await;
    let service = start(data_dir.clone(), seed).await;
    let awards = log_service(&dir.path().join(AWARDS)).await;
    let reporting = log_service(&dir.path().join(REPORTING)).await;
    let projector = log_service(&dir.path().join(PROJECTOR)).await;
    let cli = Cli {
        endpoints: vec![
            format!("{APPLICATIONS}=http://{}", service.address),
            format!("{AWARDS}={awards}"),
            format!("{REPORTING}={reporting}"),
            format!("{PROJECTOR}={projector}"),
        ],
    };

    // verify, keeping the head as a checkpoint
    let checkpoint = dir.path().join("applications.checkpoint.json");
    let verified = cli.run(&["verify", "--service", APPLICATIONS, "--record", checkpoint.to_str().unwrap()]).await;
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert!(stdout(&verified).starts_with("applications: verified 4 events, head 3 "), "{}", stdout(&verified));

    // the signed checkpoint (of the head after the three commands, position 2), against the operator's key
    let signed_file = dir.path().join("applications.signed.json");
    let signed = cli
        .run(&[
            "checkpoint",
            "--service",
            APPLICATIONS,
            "--public-key",
            &public_key,
            "--save",
            signed_file.to_str().unwrap(),
        ])
        .await;
    assert_eq!(signed.status.code(), Some(0), "{signed:?}");
    assert!(stdout(&signed).contains("checkpoint verified: position 2"), "{}", stdout(&signed));
    let impostor = hex::encode([1u8; 32]);
    let wrong_key = cli.run(&["checkpoint", "--service", APPLICATIONS, "--public-key", &impostor]).await;
    assert_eq!(wrong_key.status.code(), Some(1), "{wrong_key:?}");
    let extends = cli.run(&["verify", "--service", APPLICATIONS, "--against", signed_file.to_str().unwrap()]).await;
    assert_eq!(extends.status.code(), Some(0), "{extends:?}");
    let unpinned = String::from_utf8_lossy(&extends.stderr);
    assert!(unpinned.contains("warning:") && unpinned.contains("pass --public-key"), "{unpinned}");
    // The auditor pins the operator's key: the kept file, and every checkpoint in the log, must be its.
    let against_signed = ["verify", "--service", APPLICATIONS, "--against", signed_file.to_str().unwrap()];
    let pinned = cli.run(&[&against_signed[..], &["--public-key", &public_key]].concat()).await;
    assert_eq!(pinned.status.code(), Some(0), "{pinned:?}");
    assert!(!String::from_utf8_lossy(&pinned.stderr).contains("warning"), "no warning with a pinned key: {pinned:?}");
    assert!(stdout(&pinned).contains("1 signed checkpoints hold"), "{}", stdout(&pinned));
    let impostor_file = cli.run(&[&against_signed[..], &["--public-key", &impostor]].concat()).await;
    assert_eq!(impostor_file.status.code(), Some(2), "a file signed by another key is refused: {impostor_file:?}");
    let message = String::from_utf8_lossy(&impostor_file.stderr);
    assert!(message.contains("not by the expected key"), "{message}");
    let impostor_log = cli.run(&["verify", "--service", APPLICATIONS, "--public-key", &impostor]).await;
    assert_eq!(impostor_log.status.code(), Some(1), "checkpoints in the log by another key: {impostor_log:?}");
    assert!(stdout(&impostor_log).contains("TAMPERED at position 3"), "{}", stdout(&impostor_log));
    let unsigned_pinned = cli
        .run(&[
            "verify",
            "--service",
            APPLICATIONS,
            "--against",
            checkpoint.to_str().unwrap(),
            "--public-key",
            &public_key,
        ])
        .await;
    assert_eq!(unsigned_pinned.status.code(), Some(2), "{unsigned_pinned:?}");
    assert!(String::from_utf8_lossy(&unsigned_pinned.stderr).contains("is not signed"), "{unsigned_pinned:?}");
    let mut edited: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&signed_file).unwrap()).unwrap();
    edited["position"] = 1.into();
    let edited_file = dir.path().join("edited.json");
    std::fs::write(&edited_file, edited.to_string()).unwrap();
    let forged = cli.run(&["verify", "--service", APPLICATIONS, "--against", edited_file.to_str().unwrap()]).await;
    assert_eq!(forged.status.code(), Some(2), "an edited signed checkpoint is refused: {forged:?}");
    // The Python verifier, written from the .proto files alone, agrees with the Rust tool.
    let rust: serde_json::Value = {
        let json = cli.run(&["verify", "--service", APPLICATIONS, "--json"]).await;
        serde_json::from_str(stdout(&json).trim()).unwrap()
    };
    let (code, python) = python_verdict(service.address).await;
    assert_eq!(code, Some(0), "{python}");
    for field in ["verified_events", "head_position", "head_hash", "first_mismatch"] {
        assert_eq!(python[field], rust[field], "{field}: python {python} rust {rust}");
    }
    let all = cli.run(&["verify", "--all", "--json"]).await;
    assert_eq!(all.status.code(), Some(0), "{all:?}");
    assert_eq!(stdout(&all).lines().count(), 4);

    // export, then recount the chain from the exported lines alone
    let exported = cli.run(&["export", "--service", APPLICATIONS]).await;
    assert_eq!(exported.status.code(), Some(0), "{exported:?}");
    let lines: Vec<serde_json::Value> = stdout(&exported).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["event_type"], "CheckpointSigned");
    assert_eq!(lines[3]["payload"]["position"], "2", "checkpoint payloads decode too (64-bit as JSON strings)");
    let mut recount = ChainVerifier::from_genesis();
    for line in &lines {
        let record = hex::decode(line["record_hex"].as_str().unwrap()).unwrap();
        recount.check(&record, &Hash::from_hex(line["hash"].as_str().unwrap()).unwrap()).unwrap();
    }
    let recounted = recount.report(None).last_verified.unwrap();
    let kept: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
    assert_eq!(
        (recounted.position, recounted.hash.to_hex()),
        (kept["position"].as_u64().unwrap(), kept["hash"].as_str().unwrap().to_owned())
    );
    assert_eq!(lines[0]["payload"]["title"], "2021 round: services for survivors of trafficking");
    let resumed = cli.run(&["export", "--service", APPLICATIONS, "--from", "2"]).await;
    assert_eq!(stdout(&resumed).lines().count(), 2, "export resumes from a position");

    // history of the drafted application: only its own events
    let history = cli.run(&["history", "--application", &application_id, "--json"]).await;
    assert_eq!(history.status.code(), Some(0), "{history:?}");
    let steps: Vec<serde_json::Value> = stdout(&history).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["event_type"], "ApplicationDrafted");
    assert_eq!(steps[0]["actor"]["role"], "partner");
    let table = cli.run(&["history", "--application", &application_id]).await;
    assert!(stdout(&table).contains("ApplicationDrafted"), "{}", stdout(&table));

    // errors are one line, exit code 2
    let unknown = cli.run(&["history", "--application", &uuid::Uuid::new_v4().to_string()]).await;
    assert_eq!(unknown.status.code(), Some(2));
    let no_credentials = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
        command.args([
            "--endpoint",
            &format!("{APPLICATIONS}=http://{}", service.address),
            "verify",
            "--service",
            APPLICATIONS,
        ]);
        command.env_remove("GRANTS_JWT_SECRET").env_remove("GRANTS_TOKEN");
        tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
    };
    assert_eq!(no_credentials.status.code(), Some(2));
    let message = String::from_utf8_lossy(&no_credentials.stderr);
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    assert!(message.contains("no credentials"), "{message}");

    // tamper with the stored round (position 0) while the service is stopped
    service.stop().await;
    tampering::change_record(&applications::service::log_dir(&data_dir), 0, |record| {
        let at = record.windows(4).position(|w| w == b"2021").unwrap();
        record[at + 3] = b'2';
    });
    let service = start(data_dir.clone(), seed).await;
    let cli = Cli { endpoints: vec![format!("{APPLICATIONS}=http://{}", service.address)] };
    let tampered = cli.run(&["verify", "--service", APPLICATIONS]).await;
    assert_eq!(tampered.status.code(), Some(1), "{tampered:?}");
    assert!(stdout(&tampered).contains("TAMPERED at position 0"), "{}", stdout(&tampered));
    let against =
        cli.run(&["verify", "--service", APPLICATIONS, "--against", checkpoint.to_str().unwrap(), "--json"]).await;
    assert_eq!(against.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_str(stdout(&against).trim()).unwrap();
    assert_eq!(verdict["first_mismatch"], 0);
    let (code, python) = python_verdict(service.address).await;
    assert_eq!(code, Some(1), "the Python verifier finds the tampering too: {python}");
    assert_eq!(python["first_mismatch"], 0);
    service.stop().await;

    let unreachable = Cli { endpoints: vec![format!("{APPLICATIONS}=http://127.0.0.1:9")] };
    let down = unreachable.run(&["verify", "--service", APPLICATIONS]).await;
    assert_eq!(down.status.code(), Some(2));
}

/// The applications service's history (three events) and the checkpoint its shutdown signs (position 3,
/// signing position 2), in `data_dir`; the service is stopped.
async fn history_with_a_checkpoint(data_dir: &std::path::Path, seed: [u8; 32]) {
    let service = start(data_dir.to_path_buf(), seed).await;
    record_some_history(service.address).await;
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_or_cut_log_is_refused_at_start_and_its_contradicted_checkpoints_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let seed = [5u8; 32];
    let public_key = hex::encode(event_log_grpc::checkpoint::public_key_of(&seed));

    // An insider rewrites the stored registration (position 1) and rebuilds the chain through the head:
    // the chain verifies in itself, but the checkpoint at 3 signed the head as it was.
    let rewritten = dir.path().join("rewritten");
    history_with_a_checkpoint(&rewritten, seed).await;
    let log_dir = applications::service::log_dir(&rewritten);
    tampering::rewrite_and_rechain(&log_dir, 1, |record| {
        let mut changed = record.to_vec();
        let at = changed.windows(4).position(|w| w == b"KH-7").expect("the registration is at position 1");
        changed[at + 3] = b'8';
        changed
    });
    let refused = start_and_stop_at_once(rewritten.clone(), seed).await.unwrap_err();
    assert!(
        refused.starts_with(
            "refusing to start: the applications log does not extend its last signed checkpoint: the chain after \
             the checkpoint breaks at position 3: "
        ),
        "{refused}"
    );
    assert_eq!(refused.lines().count(), 1, "{refused}");
    // Served without the service, the log shows the auditor the checkpoint the rebuilt chain contradicts.
    let served = log_service(&log_dir).await;
    let cli = Cli { endpoints: vec![format!("{APPLICATIONS}={served}")] };
    let verified = cli.run(&["verify", "--service", APPLICATIONS, "--public-key", &public_key, "--json"]).await;
    assert_eq!(verified.status.code(), Some(1), "{verified:?}");
    let verdict: serde_json::Value = serde_json::from_str(stdout(&verified).trim()).unwrap();
    assert_eq!(verdict["first_mismatch"], 3, "{verdict}");
    let reason = verdict["reason"].as_str().unwrap();
    assert!(reason.contains("signed checkpoint recorded here does not hold"), "{reason}");
    assert!(reason.contains("at position 2, but the chain holds"), "{reason}");
    let checkpoint = cli.run(&["checkpoint", "--service", APPLICATIONS, "--public-key", &public_key]).await;
    assert_eq!(checkpoint.status.code(), Some(1), "{checkpoint:?}");

    // The log cut short before its last checkpoint.
    let truncated = dir.path().join("truncated");
    history_with_a_checkpoint(&truncated, seed).await;
    tampering::truncate_from(&applications::service::log_dir(&truncated), 2);
    let refused = start_and_stop_at_once(truncated.clone(), seed).await.unwrap_err();
    assert_eq!(
        refused,
        "refusing to start: the applications log does not extend its last signed checkpoint: the log ends before \
         position 3, where its last checkpoint was recorded"
    );

    // Untouched, the same history starts (and signs nothing new: its head is its checkpoint).
    let intact = dir.path().join("intact");
    history_with_a_checkpoint(&intact, seed).await;
    let next_position = || EventLog::open(applications::service::log_dir(&intact)).unwrap().next_position();
    let before = next_position();
    assert_eq!(before, 4, "three events and the checkpoint of their head");
    start_and_stop_at_once(intact.clone(), seed).await.unwrap();
    assert_eq!(next_position(), before, "nothing new was signed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_checkpoint_appended_again_as_the_newest_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let seed = [6u8; 32];
    let public_key = hex::encode(event_log_grpc::checkpoint::public_key_of(&seed));
    let data_dir = dir.path().join(APPLICATIONS);
    history_with_a_checkpoint(&data_dir, seed).await;
    // With the service stopped, an insider appends through the log's own API: one more event, then a copy
    // of the genuine checkpoint of position 2, so that it looks like the newest checkpoint.
    let log_dir = applications::service::log_dir(&data_dir);
    {
        let log = EventLog::open(&log_dir).unwrap();
        let copy = |event: &event_log::RecordedEvent| event_log::NewEvent {
            event_id: uuid::Uuid::new_v4(),
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            payload: event.payload.clone(),
            metadata: event.metadata.clone(),
        };
        let round = log.event(0).unwrap().unwrap();
        let checkpoint = log.event(3).unwrap().unwrap();
        assert_eq!(checkpoint.event_type, "CheckpointSigned");
        log.append(round.stream.clone(), event_log::ExpectedVersion::Any, vec![copy(&round)]).await.unwrap();
        log.append(checkpoint.stream.clone(), event_log::ExpectedVersion::Any, vec![copy(&checkpoint)]).await.unwrap();
    }
    let served = log_service(&log_dir).await;
    let cli = Cli { endpoints: vec![format!("{APPLICATIONS}={served}")] };
    let checked = cli.run(&["checkpoint", "--service", APPLICATIONS, "--public-key", &public_key]).await;
    assert_eq!(checked.status.code(), Some(1), "{checked:?}");
    assert!(
        stdout(&checked).contains(
            "TAMPERED: the checkpoint recorded at position 5: checkpoint recorded at position 5 signs position 2, \
             not the head just before it (4)"
        ),
        "{}",
        stdout(&checked)
    );
    let verified = cli.run(&["verify", "--service", APPLICATIONS]).await;
    assert_eq!(verified.status.code(), Some(1), "{verified:?}");
    assert!(stdout(&verified).contains("TAMPERED at position 5"), "{}", stdout(&verified));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projector_signs_nothing_and_the_cli_says_it_has_no_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let config = projector::service::Config {
        data_dir: dir.path().join(PROJECTOR),
        server: signing_server([4u8; 32]),
        jwt: jwt(),
        amqp_uri: None,
        source_logs: Default::default(),
        suppression_k: 5,
        replica: None,
    };
    let token = shutdown.clone();
    let running = tokio::spawn(async move { projector::service::run(listener, config, token).await.unwrap() });
    let cli = Cli { endpoints: vec![format!("{PROJECTOR}=http://{address}")] };
    let answer = cli.run(&["checkpoint", "--service", PROJECTOR]).await;
    assert_eq!(answer.status.code(), Some(2), "{answer:?}");
    let message = String::from_utf8_lossy(&answer.stderr);
    assert_eq!(
        message.trim_end(),
        "grants: could not check: the projector records no events of its own; it has no checkpoints"
    );
    shutdown.cancel();
    running.await.unwrap();
    // Stopped, it signed nothing either (a service signs at shutdown what it has not signed yet).
    let log = EventLog::open(dir.path().join(PROJECTOR).join("log")).unwrap();
    assert_eq!(log.next_position(), 0);
}
