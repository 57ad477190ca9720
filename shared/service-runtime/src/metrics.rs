//! A service's Prometheus metrics (`prometheus-client`), served in the OpenMetrics text format over HTTP
//! on an address of its own (`--metrics-listen`, off when not given) at `/metrics`.
//!
//! What is counted as it happens: gRPC requests by RPC and status code with their latency ([`GrpcMetricsLayer`]),
//! refused bearer tokens by reason, identity-guard refusals by rule. What is read at scrape time from what
//! the libraries below keep anyway: the log's appends, group sizes and `fdatasync` latency
//! (`EventLog::stats`), its head and size on disk, the relay's backlog, the consumer's progress and its lag
//! behind each source's head (read from the source's log service), the incremental verification of the
//! log's hash chain, and gauges a service adds itself ([`Metrics::add_gauges`]). Every metric is
//! documented in the crate's README.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_bus::Backlog;
use event_log::{EventLog, HistogramSnapshot};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;

use crate::bus::{BusStatus, BusWatch};

/// Where a service serves its metrics. Clones share the address it was bound to, so that whoever
/// configured port 0 can learn the port ([`MetricsEndpoint::bound`]).
#[derive(Clone, Debug)]
pub struct MetricsEndpoint {
    address: SocketAddr,
    bound: Arc<watch::Sender<Option<SocketAddr>>>,
}

impl MetricsEndpoint {
    pub fn new(address: SocketAddr) -> MetricsEndpoint {
        MetricsEndpoint { address, bound: Arc::new(watch::channel(None).0) }
    }

    /// The address as configured.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address the service bound, once it has.
    pub async fn bound(&self) -> SocketAddr {
        let mut bound = self.bound.subscribe();
        let address = *bound.wait_for(Option::is_some).await.expect("the endpoint holds its sender");
        address.expect("waited for an address")
    }
}

/// The metrics address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("--metrics-listen {address}: cannot listen there: {source}")]
pub struct MetricsBindError {
    address: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// Labels of a gRPC request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcCode {
    /// `package.Service/Method`, or `other` for a path the server does not serve.
    rpc: String,
    /// The gRPC status code's name, e.g. `OK`, `INVALID_ARGUMENT`.
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Rpc {
    rpc: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: &'static str,
}

/// Latency buckets of gRPC requests, in seconds: 0.5 ms to about 16 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_5, 2.0, 16)
}

/// A service's metrics. Cheap to clone; all clones share one registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: RwLock<Registry>,
    requests: Family<RpcCode, Counter>,
    latency: Family<Rpc, Histogram, fn() -> Histogram>,
    tokens_refused: Family<Reason, Counter>,
    guard_refusals: Family<RuleLabel, Counter>,
    sampled: Arc<Sampled>,
    /// Run before each scrape: what must be read asynchronously (the sources' heads, the chain).
    refreshers: Mutex<Vec<Refresher>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

type Refresher = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// A gauge family a service adds: its name, help, label name, and how to read it at scrape time.
type GaugeReader = Arc<dyn Fn() -> Vec<(String, i64)> + Send + Sync>;

/// What the scrape reads from the libraries' own counters.
#[derive(Default)]
struct Sampled {
    log: Mutex<Option<EventLog>>,
    bus: Mutex<Option<BusWatch>>,
    /// What the last refresh read of the bus.
    bus_status: Mutex<Option<BusStatus>>,
    checkpoint_check: Mutex<Option<CheckpointCheck>>,
    chain: Mutex<ChainState>,
    gauges: Mutex<Vec<(&'static str, &'static str, &'static str, GaugeReader)>>,
}

impl std::fmt::Debug for Sampled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampled").finish_non_exhaustive()
    }
}

/// What the start-up check of the log against its last signed checkpoint found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointCheck {
    /// No checkpoint key: nothing checked.
    NotConfigured,
    /// The log holds no signed checkpoint yet.
    NoCheckpoint,
    /// The log extends its last signed checkpoint.
    Extends,
}

impl CheckpointCheck {
    fn label(self) -> &'static str {
        match self {
            CheckpointCheck::NotConfigured => "not_configured",
            CheckpointCheck::NoCheckpoint => "no_checkpoint",
            CheckpointCheck::Extends => "extends",
        }
    }
}

/// How far the log's hash chain has been verified since start, and whether it broke.
#[derive(Clone, Copy, Debug, Default)]
struct ChainState {
    verified_up_to: u64,
    broken: bool,
}

/// Most events the chain verification reads before one scrape: the rest waits for the next.
const CHAIN_EVENTS_PER_SCRAPE: u64 = 200_000;

impl Metrics {
    /// The metrics of one service process.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RpcCode, Counter>::default();
        registry.register("grants_grpc_requests", "gRPC requests answered, by RPC and status code", requests.clone());
        let latency: Family<Rpc, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(latency_buckets()));
        registry.register(
            "grants_grpc_request_duration_seconds",
            "Time from a gRPC request's arrival to its status, by RPC",
            latency.clone(),
        );
        let tokens_refused = Family::<Reason, Counter>::default();
        registry.register("grants_tokens_refused", "Bearer tokens refused, by reason", tokens_refused.clone());
        let guard_refusals = Family::<RuleLabel, Counter>::default();
        registry.register(
            "grants_identity_guard_refusals",
            "Commands refused because free text looked like it identifies a person, by the guard's rule",
            guard_refusals.clone(),
        );
        let sampled = Arc::new(Sampled::default());
        registry.register_collector(Box::new(SampledCollector(sampled.clone())));
        Metrics {
            inner: Arc::new(Inner {
                registry: RwLock::new(registry),
                requests,
                latency,
                tokens_refused,
                guard_refusals,
                sampled,
                refreshers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Reads `log`'s stats, head and size, and verifies its chain incrementally, at every scrape, until
    /// [`Metrics::release`].
    pub fn watch_log(&self, log: &EventLog) {
        *lock(&self.inner.sampled.log) = Some(log.clone());
        let sampled = Arc::downgrade(&self.inner.sampled);
        self.add_refresher(move || {
            let sampled = sampled.clone();
            Box::pin(async move {
                let _ = tokio::task::spawn_blocking(move || {
                    let Some(sampled) = sampled.upgrade() else { return };
                    let log = lock(&sampled.log).clone();
                    if let Some(log) = log {
                        verify_chain(&sampled, &log);
                    }
                })
                .await;
            })
        });
    }

    /// Lets go of the log (and of the bus's watch, which holds it too), so that the service can close it:
    /// its figures are no longer shown.
    pub fn release(&self) {
        lock(&self.inner.sampled.log).take();
        lock(&self.inner.sampled.bus).take();
        lock(&self.inner.sampled.bus_status).take();
    }

    /// What the start-up check of the log against its last signed checkpoint found.
    pub fn checkpoint_checked(&self, check: CheckpointCheck) {
        *lock(&self.inner.sampled.checkpoint_check) = Some(check);
    }

    /// Reads the relay's backlog, the consumer's progress and its lag behind each source (whose heads are
    /// read from the sources' log services) at every scrape, as [`BusWatch::status`] reads them.
    pub fn watch_bus(&self, bus: BusWatch) {
        *lock(&self.inner.sampled.bus) = Some(bus);
        let sampled = Arc::downgrade(&self.inner.sampled);
        self.add_refresher(move || {
            let sampled = sampled.clone();
            Box::pin(async move {
                let Some(sampled) = sampled.upgrade() else { return };
                let Some(bus) = lock(&sampled.bus).clone() else { return };
                let status = bus.status().await;
                // Not after a release that came meanwhile: the figures are then no longer shown.
                if lock(&sampled.bus).is_some() {
                    *lock(&sampled.bus_status) = Some(status);
                }
            })
        });
    }

    /// Adds a gauge family `name` whose values (by the one label `label`) `read` gives at each scrape; with
    /// an empty `label`, one gauge without labels, whose value is the only one `read` gives.
    pub fn add_gauges(
        &self,
        name: &'static str,
        help: &'static str,
        label: &'static str,
        read: impl Fn() -> Vec<(String, i64)> + Send + Sync + 'static,
    ) {
        lock(&self.inner.sampled.gauges).push((name, help, label, Arc::new(read)));
    }

    fn add_refresher(&self, refresh: impl Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static) {
        lock(&self.inner.refreshers).push(Arc::new(refresh));
    }

    /// Counts a bearer token refused for `reason` (a label of [`crate::identity::TOKEN_REFUSAL_REASONS`]).
    pub fn token_refused(&self, reason: &'static str) {
        self.inner.tokens_refused.get_or_create(&Reason { reason }).inc();
    }

    /// Counts a command refused by the identity guard's `rule`.
    pub fn guard_refused(&self, rule: identity_guard::Rule) {
        self.inner.guard_refusals.get_or_create(&RuleLabel { rule: rule.id() }).inc();
    }

    fn request_done(&self, rpc: &str, code: &'static str, took: Duration) {
        self.inner.requests.get_or_create(&RpcCode { rpc: rpc.to_owned(), code }).inc();
        self.inner.latency.get_or_create(&Rpc { rpc: rpc.to_owned() }).observe(took.as_secs_f64());
    }

    /// Everything, in the OpenMetrics text format, after reading what is read asynchronously.
    pub async fn scrape(&self) -> String {
        let refreshers: Vec<Refresher> = lock(&self.inner.refreshers).clone();
        futures::future::join_all(refreshers.iter().map(|refresh| refresh())).await;
        let mut text = String::new();
        let registry = self.inner.registry.read().unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
            tracing::error!(%error, "cannot encode the metrics");
        }
        text
    }

    /// Binds `endpoint` now (so that a bad address fails the start) and serves `/metrics` there until
    /// `stop` is cancelled.
    pub async fn serve(&self, endpoint: &MetricsEndpoint, stop: CancellationToken) -> Result<(), MetricsBindError> {
        let listener = TcpListener::bind(endpoint.address)
            .await
            .map_err(|source| MetricsBindError { address: endpoint.address, source })?;
        let address = listener.local_addr().map_err(|source| MetricsBindError { address: endpoint.address, source })?;
        endpoint.bound.send_replace(Some(address));
        let metrics = self.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move {
                    let text = metrics.scrape().await;
                    ([(http::header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], text)
                }
            }),
        );
        tracing::info!(%address, "serving metrics");
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await {
                tracing::error!(%error, "the metrics server failed");
            }
        });
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// The content type of the OpenMetrics text format that `prometheus-client` writes.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Verifies the chain from where the last scrape stopped, at most [`CHAIN_EVENTS_PER_SCRAPE`] events.
fn verify_chain(sampled: &Sampled, log: &EventLog) {
    let state = *lock(&sampled.chain);
    if state.broken {
        return;
    }
    let until = log.next_position().min(state.verified_up_to.saturating_add(CHAIN_EVENTS_PER_SCRAPE));
    if until <= state.verified_up_to {
        return;
    }
    let next = match log.verify(state.verified_up_to..until) {
        Ok(report) if report.is_intact() => ChainState { verified_up_to: until, broken: false },
        Ok(report) => {
            tracing::error!(mismatch = ?report.first_mismatch, "the event log's hash chain does not verify");
            ChainState { verified_up_to: state.verified_up_to + report.verified, broken: true }
        }
        Err(error) => {
            tracing::error!(%error, "cannot read the event log to verify its chain");
            ChainState { broken: true, ..state }
        }
    };
    *lock(&sampled.chain) = next;
}

/// The size of the files under `dir`, in bytes.
fn size_on_disk(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => size_on_disk(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Encodes what [`Sampled`] reads at scrape time.
#[derive(Debug)]
struct SampledCollector(Arc<Sampled>);

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> std::fmt::Result {
    ConstCounter::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge_of(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: i64) -> std::fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn histogram(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, h: &HistogramSnapshot) -> std::fmt::Result {
    let buckets: Vec<(f64, u64)> =
        h.bounds.iter().copied().chain([f64::INFINITY]).zip(h.counts.iter().copied()).collect();
    encoder
        .encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<prometheus_client::encoding::NoLabelSet>(h.sum, h.count, &buckets, None)
}

/// The relay's and the consumer's metrics, from what [`BusWatch::status`] read.
fn encode_bus(encoder: &mut DescriptorEncoder<'_>, status: &BusStatus) -> std::fmt::Result {
    match &status.relay {
        Some(Ok(backlog)) => encode_relay(encoder, backlog)?,
        Some(Err(error)) => tracing::warn!(%error, "cannot read the relay's backlog for the metrics"),
        None => {}
    }
    let Some(consumer) = &status.consumer else { return Ok(()) };
    let p = &consumer.progress;
    let e = encoder;
    counter(e, "grants_consumer_handled_events", "Events the consumer applied since start", p.handled)?;
    counter(
        e,
        "grants_consumer_filled_from_source_events",
        "Of those, events read from a source log to fill a gap",
        p.filled_from_source,
    )?;
    counter(e, "grants_consumer_duplicates", "Messages recognised as already applied", p.duplicates)?;
    counter(
        e,
        "grants_consumer_dead_letters",
        "Messages and events sent to the dead-letter queue since start",
        p.dead_lettered,
    )?;
    counter(
        e,
        "grants_consumer_retries",
        "Transient failures after which messages went back to the broker",
        p.retries,
    )?;
    gauge_of(e, "grants_consumer_connected", "1 while the consumer has a broker connection", i64::from(p.connected))?;
    let applied = p.applied.iter().map(|(source, next)| (source.as_str(), gauge(*next)));
    per_source(
        e,
        "grants_consumer_applied_next_position",
        "Per source: the next position past what the consumer applied",
        applied,
    )?;
    // Before the consumer has read its checkpoint, or while the source does not answer, nothing is known
    // of its lag: no value.
    let lag = consumer.sources.iter().filter_map(|s| Some((s.source.as_str(), gauge(s.behind()?))));
    per_source(
        e,
        "grants_consumer_lag_events",
        "Events of a source's log that the consumer has not applied yet (the source's head, read at scrape \
         time, minus the consumer's checkpoint)",
        lag,
    )?;
    let reachable = consumer.sources.iter().map(|s| (s.source.as_str(), i64::from(s.head.is_ok())));
    per_source(
        e,
        "grants_consumer_source_reachable",
        "1 when the source's log service answered its head at the last scrape, 0 when not",
        reachable,
    )
}

/// A gauge family labelled by `source`.
fn per_source<'s>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: impl Iterator<Item = (&'s str, i64)>,
) -> std::fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (source, value) in values {
        ConstGauge::new(value).encode(family.encode_family(&[("source", source)])?)?;
    }
    Ok(())
}

fn encode_relay(e: &mut DescriptorEncoder<'_>, backlog: &Backlog) -> std::fmt::Result {
    gauge_of(e, "grants_relay_backlog_events", "Durable events not yet confirmed by the broker", gauge(backlog.depth))?;
    let age = backlog.oldest_unpublished_age.map_or(0.0, |age| age.as_secs_f64());
    ConstGauge::new(age).encode(e.encode_descriptor(
        "grants_relay_oldest_unpublished_age_seconds",
        "How long ago the oldest unpublished event was recorded (0 when none waits)",
        None,
        MetricType::Gauge,
    )?)?;
    gauge_of(
        e,
        "grants_relay_published_next_position",
        "Every position below this is confirmed by the broker",
        gauge(backlog.published_up_to),
    )?;
    gauge_of(e, "grants_relay_connected", "1 while the relay has a broker connection", i64::from(backlog.connected))
}

impl Collector for SampledCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let sampled = &self.0;
        if let Some(log) = lock(&sampled.log).clone() {
            let stats = log.stats();
            let e = &mut encoder;
            counter(e, "grants_log_appends", "Appends made durable since start", stats.appends)?;
            counter(e, "grants_log_appended_events", "Events made durable since start", stats.events)?;
            counter(
                e,
                "grants_log_commits",
                "Group commits, of markers alone too (one journal write and fdatasync each)",
                stats.commits,
            )?;
            histogram(e, "grants_log_commit_group_size", "Appends per group commit that made any", &stats.group_size)?;
            histogram(
                e,
                "grants_log_fdatasync_duration_seconds",
                "Time of each group commit's fdatasync of the journal",
                &stats.sync_seconds,
            )?;
            gauge_of(
                e,
                "grants_log_next_position",
                "Events in the log (the position of the next)",
                gauge(log.next_position()),
            )?;
            gauge_of(e, "grants_log_size_bytes", "Size of the log's files on disk", gauge(size_on_disk(log.path())))?;
            let chain = *lock(&sampled.chain);
            gauge_of(
                e,
                "grants_log_chain_verified_events",
                "Events whose hash chain the service verified since start",
                gauge(chain.verified_up_to),
            )?;
            gauge_of(
                e,
                "grants_log_chain_broken",
                "1 when the service found its log's hash chain broken",
                i64::from(chain.broken),
            )?;
        }
        if let Some(check) = *lock(&sampled.checkpoint_check) {
            let mut family = encoder.encode_descriptor(
                "grants_log_checkpoint_check",
                "What the start-up check against the last signed checkpoint found (1 for the result)",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(1i64).encode(family.encode_family(&[("result", check.label())])?)?;
        }
        if let Some(status) = lock(&sampled.bus_status).as_ref() {
            encode_bus(&mut encoder, status)?;
        }
        let gauges = lock(&sampled.gauges).clone();
        for (name, help, label, read) in gauges {
            let values = read();
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            match (label, values.as_slice()) {
                ("", [(_, value)]) => ConstGauge::new(*value).encode(family)?,
                _ => {
                    for (value_label, value) in values {
                        ConstGauge::new(value).encode(family.encode_family(&[(label, value_label.as_str())])?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The name of the gRPC status in `headers` (response headers or trailers), if they hold one.
fn code_name(headers: &http::HeaderMap) -> Option<&'static str> {
    crate::request_log::status_in(headers).map(crate::request_log::code_name)
}

/// A tower layer counting every gRPC request by RPC and status code (also the statuses tonic answers
/// itself: an unknown method, a message over the limit, a refused token) and observing its latency,
/// from arrival to the status (for a streamed answer, its end). A request whose answer is dropped
/// before its status (a timeout, a client gone) counts as `CANCELLED`. Paths the server does not serve
/// count under `rpc="other"`.
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    metrics: Metrics,
    served: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl std::fmt::Debug for GrpcMetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcMetricsLayer").field("metrics", &self.metrics).finish_non_exhaustive()
    }
}

impl GrpcMetricsLayer {
    /// Counts into `metrics`; `served` says whether a path (`/package.Service/Method`) is one the server
    /// serves, so that made-up paths cannot add labels.
    pub fn new(metrics: Metrics, served: impl Fn(&str) -> bool + Send + Sync + 'static) -> GrpcMetricsLayer {
        GrpcMetricsLayer { metrics, served: Arc::new(served) }
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> GrpcMetricsService<S> {
        GrpcMetricsService { layer: self.clone(), inner }
    }
}

/// See [`GrpcMetricsLayer`].
#[derive(Clone, Debug)]
pub struct GrpcMetricsService<S> {
    layer: GrpcMetricsLayer,
    inner: S,
}

/// A request in flight: recorded once, with the status code seen or `CANCELLED` when dropped without.
struct InFlight {
    metrics: Metrics,
    rpc: String,
    started: Instant,
    done: bool,
}

impl InFlight {
    fn finish(&mut self, code: &'static str) {
        if !self.done {
            self.done = true;
            self.metrics.request_done(&self.rpc, code, self.started.elapsed());
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.finish("CANCELLED");
    }
}

impl<S> tower::Service<http::Request<Body>> for GrpcMetricsService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path();
        let rpc = if (self.layer.served)(path) { path.trim_start_matches('/').to_owned() } else { "other".to_owned() };
        let mut in_flight = InFlight { metrics: self.layer.metrics.clone(), rpc, started: Instant::now(), done: false };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = match response.await {
                Ok(response) => response,
                Err(error) => {
                    in_flight.finish("UNKNOWN");
                    return Err(error);
                }
            };
            // A status in the headers (trailers-only: refused before a handler answered) ends it now.
            if let Some(code) = code_name(response.headers()) {
                in_flight.finish(code);
                return Ok(response);
            }
            let in_flight = Mutex::new(in_flight);
            Ok(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    if let Some(code) = frame.trailers_ref().and_then(code_name) {
                        lock(&in_flight).finish(code);
                    }
                    frame
                }))
            }))
        })
    }
}
