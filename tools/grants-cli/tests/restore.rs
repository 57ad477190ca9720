//! A service restored from `grants backup --follow` after its data directory is lost, with real processes:
//! the applications service (this test binary run again as the service's process, signing checkpoints)
//! under steady command load, `grants backup --follow` copying its log, the service killed with SIGKILL
//! and its data directory deleted, the copy restored as its `log/` and the service started on it. The
//! restored log verifies (`grants verify`), holds the copy's last event as it was, extends a signed
//! checkpoint saved before the loss (`grants verify --against` with the public key), reads its sealed
//! personal data as erased (the key vault is not in the log), takes new commands, and a backup into the
//! same directory goes on from there. The service publishes on the real broker (a vhost of the test's own):
//! a consumer there handles every position exactly once across the loss and the restore, whose relay
//! publishes the log again from position 0. The follow lag is measured and printed.
//!
//! Runs itself as the service's process, so it has its own `main` (`harness = false`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts::applications::v1::{self as pb, ApplicationsServiceClient};
use contracts::names::service::APPLICATIONS;
use contracts::names::service::PROJECTOR;
use domain_kernel::Role;
use event_bus::{BusConfig, Consumer, ConsumerConfig, ConsumerProgress, LogHandler};
use event_log::{EventLog, Hash, Head, RecordedEvent};
use event_log_grpc::LogClient;
use service_runtime::log_sources::LogSources;
use service_runtime::server::CheckpointConfig;
use test_support::fixtures::{open_round, registration};
use test_support::{Vhost, authed, eventually_within, jwt, token};
use tokio_util::sync::CancellationToken;

/// Set in the environment of the service's process: its data directory.
const SERVICE_DATA_DIR: &str = "GRANTS_RESTORE_TEST_DATA_DIR";
const SERVICE_PORT: &str = "GRANTS_RESTORE_TEST_PORT";
const SERVICE_KEY: &str = "GRANTS_RESTORE_TEST_CHECKPOINT_KEY";
const SERVICE_AMQP: &str = "GRANTS_RESTORE_TEST_AMQP_URL";
/// Commands completed after the checkpoint was saved before the service is killed.
const COMMANDS_AFTER_CHECKPOINT: u64 = 3_000;
const CLIENTS: usize = 4;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    match std::env::var(SERVICE_DATA_DIR) {
        Ok(data_dir) => runtime.block_on(serve(&data_dir)),
        Err(_) => {
            runtime.block_on(a_service_restored_from_a_followed_backup_verifies_and_extends_its_checkpoint());
            println!("test a_service_restored_from_a_followed_backup_verifies_and_extends_its_checkpoint ... ok");
        }
    }
}

/// The service's process: the applications service on the given port, signing a checkpoint every 200 ms
/// when new events arrived, until SIGTERM (or SIGKILL).
async fn serve(data_dir: &str) {
    let port: u16 = std::env::var(SERVICE_PORT).unwrap().parse().unwrap();
    let seed = event_log_grpc::checkpoint::key_from_hex("key", &std::env::var(SERVICE_KEY).unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let checkpoint = CheckpointConfig { seed, previous_public_keys: Vec::new(), interval: Duration::from_millis(200) };
    let server =
        service_runtime::ServerConfig { checkpoint: Some(checkpoint), ..test_support::services::server_config() };
    let amqp_uri = Some(std::env::var(SERVICE_AMQP).unwrap());
    let config = applications::service::Config { data_dir: data_dir.into(), server, jwt: jwt(), amqp_uri };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::spawn(async move {
        terminate.recv().await;
        stop.cancel();
    });
    applications::service::run(listener, config, shutdown).await.unwrap();
}

struct Service {
    child: Reaped,
    url: String,
}

/// A child process killed and reaped when the test lets go of it, also when it fails half-way.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn start_service(data_dir: &Path, port: u16, key: &str, amqp: &str) -> Service {
    let child = Command::new(std::env::current_exe().unwrap())
        .env(SERVICE_DATA_DIR, data_dir)
        .env(SERVICE_AMQP, amqp)
        .env(SERVICE_PORT, port.to_string())
        .env(SERVICE_KEY, key)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Service { child: Reaped(child), url: format!("http://127.0.0.1:{port}") }
}

fn auditor() -> String {
    token(Role::Auditor, "auditor-1", None)
}

/// Waits for the service to answer on its log API; returns its head.
async fn serving(service: &Service) -> event_log_grpc::RemoteHead {
    eventually_within("the service to serve", Duration::from_secs(60), || {
        let url = service.url.clone();
        async move { LogClient::connect(&url, Some(&auditor())).await.ok()?.head().await.ok() }
    })
    .await
}

/// `grants` against the service at `url`, as the test services' auditor.
fn grants(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
    command
        .arg("--endpoint")
        .arg(format!("{APPLICATIONS}={url}"))
        .args(["--jwt-issuer", &jwt().issuer])
        .args(args)
        .env("GRANTS_JWT_SECRET", String::from_utf8(jwt().secret).unwrap())
        .env_remove("GRANTS_TOKEN")
        .env_remove("GRANTS_ENDPOINTS");
    command
}

async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Clients opening rounds one after another until `stop` is set or the service fails them.
fn load(url: &str, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|_| {
            let (url, stop, done) = (url.to_owned(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let officer = token(Role::ProgramOfficer, "po-load", None);
                let Ok(mut client) = ApplicationsServiceClient::connect(url).await else { return };
                while !stop.load(Ordering::SeqCst) {
                    if client.open_round(authed(open_round(), &officer)).await.is_err() {
                        return;
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect()
}

/// Copies a log directory (its files and `blobs/`) as an operator's `cp -r` would.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn head_of(dir: &Path) -> Head {
    EventLog::open(dir).unwrap().head().unwrap().unwrap()
}

async fn a_service_restored_from_a_followed_backup_verifies_and_extends_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("applications");
    let copy = dir.path().join("backup");
    let saved_checkpoint = dir.path().join("checkpoint.json");
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 1);
    let key = hex::encode(seed);
    let public_key = hex::encode(ed25519_public_key(&seed));
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let vhost = Vhost::create();

    let mut service = start_service(&data_dir, port, &key, &vhost.uri());
    serving(&service).await;
    let officer = token(Role::ProgramOfficer, "po-1", None);
    let mut api = ApplicationsServiceClient::connect(service.url.clone()).await.unwrap();
    let organisation_id = uuid::Uuid::new_v4().to_string();
    api.register_organisation(authed(registration(&organisation_id), &officer)).await.unwrap();
    let consumer = Consuming::start(&vhost.uri(), &service.url, &dir.path().join("consumer"));
    let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let clients = load(&service.url, stop.clone(), done.clone());
    let loaded_since = std::time::Instant::now();

    // The backup follows the service, its lines read as they come.
    let mut backup = Reaped(
        grants(
            &service.url,
            &[
                "backup",
                "--service",
                APPLICATIONS,
                "--to",
                copy.to_str().unwrap(),
                "--follow",
                "--progress-seconds",
                "1",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let readers: Vec<_> = [
        Box::new(backup.0.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(backup.0.stdout.take().unwrap()),
    ]
    .into_iter()
    .map(|stream| {
        let said = said.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                said.lock().unwrap().push(line.unwrap());
            }
        })
    })
    .collect();

    // A signed checkpoint saved before the loss, verified with the service's public key.
    let save = saved_checkpoint.to_str().unwrap();
    let checkpoint = ["checkpoint", "--service", APPLICATIONS, "--public-key", &public_key, "--save", save];
    eventually_within("a signed checkpoint", Duration::from_secs(60), || {
        let command = grants(&service.url, &checkpoint);
        async move { output(command).await.status.success().then_some(()) }
    })
    .await;
    let at_checkpoint = done.load(Ordering::SeqCst);
    eventually_within("commands after the checkpoint", Duration::from_secs(120), || {
        let done = done.load(Ordering::SeqCst);
        async move { (done >= at_checkpoint + COMMANDS_AFTER_CHECKPOINT).then_some(()) }
    })
    .await;

    // The loss: the service killed under load.
    let (load_seconds, load_commands) = (loaded_since.elapsed().as_secs_f64(), done.load(Ordering::SeqCst));
    service.child.0.kill().unwrap();
    service.child.0.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    eventually_within("the backup to notice", Duration::from_secs(30), || {
        let noticed = said.lock().unwrap().iter().any(|line| line.contains("reconnecting"));
        async move { noticed.then_some(()) }
    })
    .await;
    // Stopped with ctrl-c, the backup ends cleanly and reports what it holds and the lag it measured.
    let interrupted = Command::new("kill").args(["-INT", &backup.0.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let stopped = backup.0.wait().unwrap();
    readers.into_iter().for_each(|reader| reader.join().unwrap());
    let said = said.lock().unwrap().clone();
    assert_eq!(stopped.code(), Some(0), "{said:#?}");
    let lag = said.iter().find(|line| line.starts_with("applications: follow lag: ")).cloned();
    let lag = lag.unwrap_or_else(|| panic!("no lag reported: {said:#?}"));

    // What was lost: the events the service had made durable that the copy had not received.
    let lost_head = head_of(&data_dir.join("log"));
    let copied_head = head_of(&copy);
    assert!(copied_head.position <= lost_head.position);
    let service_log = EventLog::open(data_dir.join("log")).unwrap();
    assert_eq!(service_log.event(copied_head.position).unwrap().unwrap().hash, copied_head.hash);
    drop(service_log);
    let rate = load_commands as f64 / load_seconds;
    println!(
        "{load_commands} commands in {load_seconds:.1} s ({rate:.0}/s); at the loss the service's head was position {}, the copy's {}: {} events behind",
        lost_head.position,
        copied_head.position,
        lost_head.position - copied_head.position
    );
    println!("{}", lag.trim_start_matches("applications: "));
    for line in said.iter().filter(|line| line.contains("behind")).take(3) {
        println!("  {line}");
    }

    // The data directory is gone; the copy becomes its log.
    std::fs::remove_dir_all(&data_dir).unwrap();
    copy_dir(&copy, &data_dir.join("log"));
    let mut service = start_service(&data_dir, port, &key, &vhost.uri());
    let restored = serving(&service).await;
    assert!(restored.next_position > copied_head.position, "{restored:?}");
    let mut client = LogClient::connect(&service.url, Some(&auditor())).await.unwrap();
    let at_copied_head = client.read_range(copied_head.position, copied_head.position + 1).await.unwrap();
    assert_eq!(at_copied_head[0].hash, copied_head.hash, "the restored log holds the copy's last event as it was");

    let verified = output(grants(&service.url, &["verify", "--service", APPLICATIONS])).await;
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    let against = output(grants(
        &service.url,
        &[
            "verify",
            "--service",
            APPLICATIONS,
            "--against",
            saved_checkpoint.to_str().unwrap(),
            "--public-key",
            &public_key,
        ],
    ))
    .await;
    assert_eq!(against.status.code(), Some(0), "{}{}", text(&against.stdout), text(&against.stderr));

    // The key vault is not in the log: restored without it, the contact person's sealed data is unreadable,
    // as if erased, while the organisation itself is there.
    let mut api = ApplicationsServiceClient::connect(service.url.clone()).await.unwrap();
    let get = pb::GetOrganisationRequest { organisation_id: organisation_id.clone() };
    let organisation = api.get_organisation(authed(get, &officer)).await.unwrap().into_inner();
    let organisation = organisation.organisation.unwrap();
    assert_eq!(organisation.legal_name, registration(&organisation_id).legal_name);
    assert!(organisation.contact_person.is_none() && organisation.contact_person_erased, "{organisation:?}");

    // The restored service takes commands, and the backup goes on from its copy.
    api.open_round(authed(open_round(), &officer)).await.unwrap();
    let before = client.head().await.unwrap();
    let resumed =
        output(grants(&service.url, &["backup", "--service", APPLICATIONS, "--to", copy.to_str().unwrap()])).await;
    assert_eq!(resumed.status.code(), Some(0), "{}{}", text(&resumed.stdout), text(&resumed.stderr));
    // At least up to the head before it (the service may have signed a checkpoint since), as the service has it.
    let copied = head_of(&copy);
    assert!(copied.position + 1 >= before.next_position, "{copied:?} {before:?}");
    let theirs = client.read_range(copied.position, copied.position + 1).await.unwrap();
    assert_eq!(copied.hash, theirs[0].hash);

    // The relay's cursor was not in the copy: the restored service publishes its log again from position 0,
    // and the consumer takes every position it has handled for a duplicate. The events of the lost tail it
    // had handled are the restored log's positions it will never see.
    while client.head().await.unwrap().next_position <= lost_head.position + 2 {
        api.open_round(authed(open_round(), &officer)).await.unwrap();
    }
    let until = client.head().await.unwrap().next_position;
    let handled = consumer.handled_until(until).await;
    let positions: Vec<u64> = handled.iter().map(|(position, _)| *position).collect();
    assert_eq!(positions, (0..until).collect::<Vec<_>>(), "every position handled once, in order");
    let duplicates = consumer.progress.borrow().duplicates;
    assert!(duplicates > copied_head.position, "the whole log published again: {duplicates} duplicates");
    let restored_log = client.read_range(0, until).await.unwrap();
    let diverged = handled.iter().zip(&restored_log).filter(|((_, hash), event)| *hash != event.hash).count();
    assert!(diverged as u64 <= lost_head.position - copied_head.position, "{diverged}");
    println!(
        "after the restore the relay published the log again ({duplicates} duplicates acked without effect); the \
         consumer had handled {diverged} events of the lost tail and took the restored events at those positions \
         for duplicates"
    );
    consumer.stop().await;

    let terminated = Command::new("kill").args(["-TERM", &service.child.0.id().to_string()]).status().unwrap();
    assert!(terminated.success());
    assert!(service.child.0.wait().unwrap().success());
}

/// A consumer of the service's events on the bus, as another service's would be, noting each event it
/// handles (its position and hash).
struct Consuming {
    handled: Arc<Mutex<Vec<(u64, Hash)>>>,
    progress: tokio::sync::watch::Receiver<ConsumerProgress>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Consuming {
    fn start(amqp: &str, service_url: &str, dir: &Path) -> Consuming {
        let handled = Arc::new(Mutex::new(Vec::new()));
        let noted = handled.clone();
        let handler = LogHandler::by_source(EventLog::open(dir).unwrap(), move |_: &str, event: &RecordedEvent| {
            noted.lock().unwrap().push((event.position, event.hash));
            Ok(None)
        });
        let sources = LogSources::new([(APPLICATIONS.to_owned(), service_url.to_owned())], jwt(), "service:consumer");
        let config = ConsumerConfig::new(BusConfig::new(amqp), PROJECTOR, &[APPLICATIONS]);
        let consumer = Consumer::new(config, handler, sources).unwrap();
        let progress = consumer.progress();
        let shutdown = CancellationToken::new();
        let run = consumer.run(shutdown.clone());
        let task = tokio::spawn(async move { drop(run.await.unwrap()) });
        Consuming { handled, progress, shutdown, task }
    }

    /// What it handled, once it handled the event before `until`.
    async fn handled_until(&self, until: u64) -> Vec<(u64, Hash)> {
        eventually_within("the consumer to handle the restored log", Duration::from_secs(120), || {
            let handled = self.handled.lock().unwrap().clone();
            async move { handled.last().is_some_and(|(position, _)| *position + 1 >= until).then_some(handled) }
        })
        .await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

/// The Ed25519 public key of `seed`, as `grants checkpoint` names it.
fn ed25519_public_key(seed: &[u8; 32]) -> [u8; 32] {
    event_log_grpc::checkpoint::public_key_of(seed)
}
