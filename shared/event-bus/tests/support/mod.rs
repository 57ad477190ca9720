//! What the integration tests share: a vhost per test, a TCP proxy that can be cut, sample events, a
//! test handler that records every violation of the guarantees, a consumer's checkpoint as stored, and
//! waiting with a deadline.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use event_bus::{
    BacklogMonitor, BusConfig, BusError, CancellationToken, Checkpoint, Consumer, ConsumerConfig, ConsumerProgress,
    HandlerError, Rejection, Relay, RelayConfig,
};
use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, RecordedEvent, StreamId, Timestamp};
use sled::transaction::{ConflictableTransactionError, ConflictableTransactionResult, TransactionalTree};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use uuid::Uuid;

mod sled_handler;
pub use sled_handler::{SledHandler, sled_checkpoint};

pub const SHARED_BROKER: &str = "127.0.0.1:5672";

/// A vhost of its own on the shared broker, deleted when dropped (also when the test fails).
pub struct Vhost {
    pub name: String,
}

fn rabbitmqctl(args: &[&str]) -> Result<(), String> {
    let output = Command::new("rabbitmqctl").args(args).output().map_err(|e| format!("rabbitmqctl: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&output.stderr)))
    }
}

impl Vhost {
    pub fn create(test: &str) -> Vhost {
        let name = format!("event-bus-{test}-{}", Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]).expect("vhost is created");
        let vhost = Vhost { name };
        rabbitmqctl(&["set_permissions", "-p", &vhost.name, "guest", ".*", ".*", ".*"]).expect("permissions are set");
        vhost
    }

    /// The URI of this vhost through `address` (the broker itself or a proxy in front of it).
    pub fn uri(&self, address: SocketAddr) -> String {
        format!("amqp://guest:guest@{address}/{}?heartbeat=5", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(&["delete_vhost", &self.name]) {
            eprintln!("could not delete vhost {}: {e}", self.name);
        }
    }
}

/// A broker user of its own with a password of its own, allowed everything in one vhost; deleted when
/// dropped.
pub struct BrokerUser {
    pub name: String,
    pub password: String,
}

impl BrokerUser {
    pub fn create(vhost: &Vhost) -> BrokerUser {
        let id = Uuid::new_v4().simple();
        let user = BrokerUser { name: format!("event-bus-{id}"), password: format!("secret-{id}") };
        rabbitmqctl(&["add_user", &user.name, &user.password]).expect("user is created");
        rabbitmqctl(&["set_permissions", "-p", &vhost.name, &user.name, ".*", ".*", ".*"])
            .expect("permissions are set");
        user
    }

    /// The URI of `vhost` through `address` as this user.
    pub fn uri(&self, vhost: &Vhost, address: SocketAddr) -> String {
        format!("amqp://{}:{}@{address}/{}?heartbeat=5", self.name, self.password, vhost.name)
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(&["delete_user", &self.name]) {
            eprintln!("could not delete user {}: {e}", self.name);
        }
    }
}

pub fn broker_address() -> SocketAddr {
    SHARED_BROKER.parse().expect("address")
}

/// A TCP proxy in front of the broker. [`TcpProxy::cut`] drops every connection through it, as a
/// network failure would, and keeps accepting new ones. [`TcpProxy::refuse`] closes new connections at
/// once, as a broker that is down would. [`TcpProxy::black_hole`] makes it behave like a network that
/// silently drops packets: connections through it stop carrying anything, and new ones are accepted and
/// never answered; both stay so until the client gives them up.
pub struct TcpProxy {
    pub address: SocketAddr,
    cuts: watch::Sender<u64>,
    black_hole: watch::Sender<bool>,
    refusing: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    open: Arc<AtomicU64>,
    swallowed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// Counts a connection while it lives.
struct Counted(Arc<AtomicU64>);

impl Counted {
    fn new(counter: &Arc<AtomicU64>) -> Counted {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(counter.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Forwarding {
    Ended,
    Cut,
    BlackHole,
}

/// Reads and discards what the client sends until it closes the connection; `upstream` is held, unread.
async fn swallow(mut client: TcpStream, upstream: Option<TcpStream>, swallowed: &Arc<AtomicU64>) {
    let _swallowed = Counted::new(swallowed);
    let _ = tokio::io::copy(&mut client, &mut tokio::io::sink()).await;
    drop(upstream);
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let address = listener.local_addr().expect("proxy address");
        let (cuts, _) = watch::channel(0u64);
        let (black_hole, _) = watch::channel(false);
        let [accepted, open, swallowed] = [(); 3].map(|()| Arc::new(AtomicU64::new(0)));
        let refusing = Arc::new(AtomicBool::new(false));
        let refuse_now = refusing.clone();
        let (cut_rx, hole_rx) = (cuts.subscribe(), black_hole.subscribe());
        let (accepted_count, open_count, swallowed_count) = (accepted.clone(), open.clone(), swallowed.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                accepted_count.fetch_add(1, Ordering::SeqCst);
                if refuse_now.load(Ordering::SeqCst) {
                    continue;
                }
                let mut cut = cut_rx.clone();
                cut.mark_unchanged();
                let mut hole = hole_rx.clone();
                let open = Counted::new(&open_count);
                let swallowed = swallowed_count.clone();
                tokio::spawn(async move {
                    let _open = open;
                    if *hole.borrow_and_update() {
                        return swallow(client, None, &swallowed).await;
                    }
                    let Ok(mut upstream) = TcpStream::connect(target).await else { return };
                    let forwarding = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => Forwarding::Ended,
                        _ = cut.changed() => Forwarding::Cut,
                        _ = hole.wait_for(|on| *on) => Forwarding::BlackHole,
                    };
                    match forwarding {
                        // Dropping both sockets closes them: each side sees the connection die.
                        Forwarding::Ended | Forwarding::Cut => {}
                        Forwarding::BlackHole => swallow(client, Some(upstream), &swallowed).await,
                    }
                });
            }
        });
        TcpProxy { address, cuts, black_hole, refusing, accepted, open, swallowed, task }
    }

    /// Drops every open connection; returns how many there were (a cut while the client is between
    /// connections severs nothing).
    pub fn cut(&self) -> u64 {
        let open = self.open.load(Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
        open
    }

    /// Closes new connections as soon as they are accepted (`true`), or forwards them again.
    pub fn refuse(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
    }

    /// Starts (`true`) or ends a black hole. Connections that fell into it stay there when it ends, as
    /// connections whose packets were lost: only new connections are forwarded again.
    pub fn black_hole(&self, on: bool) {
        self.black_hole.send_replace(on);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Connections in the black hole that the client has not given up yet.
    pub fn swallowed(&self) -> u64 {
        self.swallowed.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn event(event_type: &str, payload: &[u8]) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.to_vec(),
        metadata: EventMetadata {
            actor: Actor { subject: "officer-1".into(), role: "program_officer".into(), organisation: String::new() },
            correlation_id: Uuid::new_v4(),
            causation_id: Uuid::new_v4(),
            occurred_at: Timestamp::now(),
            trace: None,
        },
    }
}

pub fn stream(n: usize) -> StreamId {
    StreamId::new("application", format!("app-{n}")).expect("stream id")
}

/// Appends `count` events spread over `streams` streams, `per_append` at a time.
pub async fn append_events(log: &EventLog, first: usize, count: usize, streams: usize, per_append: usize) {
    let mut done = 0;
    while done < count {
        let n = per_append.min(count - done);
        let events = (0..n).map(|i| event("ApplicationEdited", format!("{}", first + done + i).as_bytes())).collect();
        log.append(stream((first + done) / per_append % streams), ExpectedVersion::Any, events)
            .await
            .expect("append succeeds");
        done += n;
    }
}

pub const SOURCE: &str = "applications";

/// A relay of `applications` and a `projector` consumer of its events with the recording handler, on
/// `log`; the consumer's database goes into `dir`.
pub struct Streaming {
    pub log: EventLog,
    pub db: sled::Db,
    pub state: sled::Tree,
    pub progress: watch::Receiver<ConsumerProgress>,
    pub monitor: BacklogMonitor,
    pub shutdown: CancellationToken,
    consuming: tokio::task::JoinHandle<Result<RecordingHandler, BusError>>,
    relaying: tokio::task::JoinHandle<Result<(), BusError>>,
}

impl Streaming {
    pub fn start(log: EventLog, dir: &Path, bus: BusConfig) -> Streaming {
        let (db, state, handler) = recording_handler(&dir.join("consumer"));
        let consumer = Consumer::new(ConsumerConfig::new(bus.clone(), "projector", &[SOURCE]), handler, log.clone())
            .expect("consumer");
        let progress = consumer.progress();
        let relay = Relay::new(log.clone(), RelayConfig::new(bus, SOURCE)).expect("relay");
        let monitor = relay.monitor();
        let shutdown = CancellationToken::new();
        let consuming = tokio::spawn(consumer.run(shutdown.clone()));
        let relaying = tokio::spawn(relay.run(shutdown.clone()));
        Streaming { log, db, state, progress, monitor, shutdown, consuming, relaying }
    }

    /// Waits until `events` events are applied, stops both, and checks that each was applied once, in
    /// order.
    pub async fn finish(self, events: usize, limit: Duration) {
        wait_until("the consumer to handle every event", limit, || {
            sled_checkpoint(&self.db, SOURCE).expect("checkpoint").next_position == events as u64
        })
        .await;
        self.shutdown.cancel();
        self.consuming.await.expect("consumer task").expect("consumer stops cleanly");
        self.relaying.await.expect("relay task").expect("relay stops cleanly");
        assert_eq!(count_prefix(&self.state, APPLIED), events, "every event applied");
        assert_eq!(violations(&self.state), Vec::<String>::new(), "no event applied twice or out of order");
    }
}

/// Keys the test handler writes.
pub const APPLIED: &str = "applied/";
pub const VIOLATION: &str = "violation/";

/// The test handler's effect: records each event id it applies and each stream's last version, and
/// writes a violation if an event is applied twice or a stream's versions are not applied in order.
/// Events of type `Poison` are rejected.
pub fn recording_apply(
    event: &RecordedEvent,
    tree: &TransactionalTree,
) -> ConflictableTransactionResult<(), Rejection> {
    if event.event_type == "Poison" {
        return Err(ConflictableTransactionError::Abort(Rejection::new("poison is refused")));
    }
    let applied = format!("{APPLIED}{}", event.event_id);
    if tree.get(applied.as_bytes())?.is_some() {
        tree.insert(format!("{VIOLATION}twice/{}", event.event_id).as_bytes(), &[][..])?;
    }
    tree.insert(applied.as_bytes(), &event.position.to_be_bytes()[..])?;
    let stream_key = format!("stream/{}", event.stream);
    let expected = match tree.get(stream_key.as_bytes())? {
        Some(last) => u64::from_be_bytes(last.as_ref().try_into().unwrap_or([0; 8])) + 1,
        None => 0,
    };
    if event.stream_version != expected {
        tree.insert(
            format!("{VIOLATION}order/{}/{}", event.stream, event.stream_version).as_bytes(),
            &expected.to_be_bytes()[..],
        )?;
    }
    tree.insert(stream_key.as_bytes(), &event.stream_version.to_be_bytes()[..])?;
    Ok(())
}

pub type RecordingHandler =
    SledHandler<fn(&RecordedEvent, &TransactionalTree) -> ConflictableTransactionResult<(), Rejection>>;

/// A sled database for a consumer, and the recording handler on it.
pub fn recording_handler(dir: &Path) -> (sled::Db, sled::Tree, RecordingHandler) {
    let db = sled::open(dir).expect("consumer database opens");
    let state = db.open_tree("read-model").expect("tree");
    let apply: fn(&RecordedEvent, &TransactionalTree) -> ConflictableTransactionResult<(), Rejection> = recording_apply;
    let handler = SledHandler::new(db.clone(), state.clone(), apply).expect("handler");
    (db, state, handler)
}

/// The checkpoint for `source` that a [`event_bus::LogHandler`] stored as a marker in `log`.
pub fn log_checkpoint(log: &EventLog, source: &str) -> Result<Checkpoint, HandlerError> {
    match log.marker(&Checkpoint::key_for(source)).map_err(HandlerError::failed)? {
        Some(bytes) => Checkpoint::decode(source, &bytes).map_err(HandlerError::failed),
        None => Ok(Checkpoint::start(source)),
    }
}

pub fn count_prefix(tree: &sled::Tree, prefix: &str) -> usize {
    tree.scan_prefix(prefix.as_bytes()).count()
}

pub fn violations(tree: &sled::Tree) -> Vec<String> {
    tree.scan_prefix(VIOLATION.as_bytes())
        .keys()
        .map(|k| String::from_utf8_lossy(&k.expect("key")).into_owned())
        .collect()
}

/// Polls `done` every 10 ms until it holds; panics with `what` after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What was logged on this thread while the guard of [`CapturedLog::start`] lives (a current-thread
/// runtime runs every task there), one line per event, without times or colours.
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    /// Captures what `filter` (`RUST_LOG` syntax) lets through.
    pub fn start(filter: &str) -> (CapturedLog, tracing::subscriber::DefaultGuard) {
        let log = CapturedLog::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }

    /// The lines at `level` (`ERROR`, `WARN`, `INFO`, ...) that contain `text`.
    pub fn matching(&self, level: &str, text: &str) -> Vec<String> {
        self.lines().into_iter().filter(|line| line.trim_start().starts_with(level) && line.contains(text)).collect()
    }
}
