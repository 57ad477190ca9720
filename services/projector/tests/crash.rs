//! The projector as its own process, on the real broker: killed with SIGKILL in the middle of a burst of
//! 10,000 events and restarted, it ends with read models identical to a full rebuild.
//!
//! The source is a stand-in applications log served through the read-only log gRPC service and
//! published by the bus relay, exactly as the real service publishes its log.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use contracts::names::service;
use contracts::projector::v1::{self as pb, ProjectorServiceClient};
use domain_kernel::Role;
use event_bus::{BusConfig, Relay, RelayConfig};
use event_log::EventLog;
use support::events::{Grant, append_all, application_approved, round_opened};
use test_support::{Vhost, authed, eventually_within, jwt, token};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const BURST: usize = 10_000;

struct Projector {
    child: tokio::process::Child,
    address: String,
}

async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

async fn start_projector(data_dir: &std::path::Path, amqp: &str, source: &str, port: u16) -> Projector {
    let jwt = jwt();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_projector"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--amqp-url", amqp, "--source", &format!("applications={source}")])
        .args(["--jwt-issuer", &jwt.issuer, "--jwt-audience", &jwt.audience])
        .env("GRANTS_JWT_SECRET", String::from_utf8(jwt.secret).unwrap())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("the projector starts");
    Projector { child, address: format!("http://127.0.0.1:{port}") }
}

async fn client(projector: &Projector) -> ProjectorServiceClient<Channel> {
    let address = projector.address.clone();
    eventually_within("the projector to listen", Duration::from_secs(30), || {
        let address = address.clone();
        async move { Channel::from_shared(address).unwrap().connect().await.ok() }
    })
    .await
    .pipe(ProjectorServiceClient::new)
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

async fn applied(client: &mut ProjectorServiceClient<Channel>, admin: &str) -> Option<(u64, u64)> {
    let lag = client.get_lag(authed(pb::GetLagRequest {}, admin)).await.ok()?.into_inner();
    let source = lag.sources.iter().find(|s| s.source == service::APPLICATIONS)?;
    Some((source.applied_next_position, source.head_next_position))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_burst_ends_identical_to_a_full_rebuild() {
    let vhost = Vhost::create();
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join(service::APPLICATIONS)).unwrap();
    let logs: HashMap<&'static str, EventLog> = HashMap::from([(service::APPLICATIONS, log.clone())]);
    let shutdown = CancellationToken::new();
    let source = support::logs::serve_log(log.clone(), service::APPLICATIONS, shutdown.clone()).await;
    let relay = Relay::new(log.clone(), RelayConfig::new(BusConfig::new(vhost.uri()), service::APPLICATIONS)).unwrap();
    let relay = tokio::spawn(relay.run(shutdown.clone()));

    let admin = token(Role::Administrator, "admin-1", None);
    let port = free_port().await;
    let models_dir = dir.path().join(service::PROJECTOR);
    let mut projector = start_projector(&models_dir, &vhost.uri(), &source, port).await;
    let mut grpc = client(&projector).await;

    // The burst: whole application cycles (6 events each) appended concurrently in the background.
    let round = uuid::Uuid::new_v4().to_string();
    append_all(&logs, &[round_opened(&round)]).await;
    let grants = (BURST - 1).div_ceil(6);
    let burst = {
        let logs = logs.clone();
        let round = round.clone();
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for chunk in (0..grants).collect::<Vec<_>>().chunks(grants.div_ceil(8)) {
                let (logs, round, n) = (logs.clone(), round.clone(), chunk.len());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..n {
                        let g = Grant::new(&round);
                        append_all(&logs, &application_approved(&g, "KH", 400_000, 350_000)).await;
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        })
    };
    let total = 1 + grants as u64 * 6;

    // SIGKILL once the projector applied part of the burst, before it is through.
    let at_kill = eventually_within("the projector to apply part of the burst", Duration::from_secs(60), || {
        let mut grpc = grpc.clone();
        let admin = admin.clone();
        async move { applied(&mut grpc, &admin).await.filter(|(applied, _)| *applied >= 1500) }
    })
    .await;
    projector.child.start_kill().unwrap();
    projector.child.wait().await.unwrap();
    assert!(at_kill.0 < total, "killed in the middle: {at_kill:?} of {total}");
    burst.await.unwrap();
    assert_eq!(log.next_position(), total);

    let projector = start_projector(&models_dir, &vhost.uri(), &source, port).await;
    grpc = client(&projector).await;
    eventually_within("the restarted projector to catch up", Duration::from_secs(90), || {
        let mut grpc = grpc.clone();
        let admin = admin.clone();
        async move { applied(&mut grpc, &admin).await.filter(|(applied, head)| applied == head && *head == total) }
    })
    .await;
    let live = grpc.get_digest(authed(pb::GetDigestRequest {}, &admin)).await.unwrap().into_inner();
    let pipeline = grpc
        .get_round_pipeline(authed(pb::GetRoundPipelineRequest { round_id: round.clone(), as_of: None }, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        pipeline.by_stage,
        vec![pb::StageCount { stage: pb::ApplicationStage::Approved as i32, applications: grants as u64 }]
    );

    grpc.rebuild(authed(pb::RebuildRequest {}, &admin)).await.unwrap();
    let status = eventually_within("the rebuild to complete", Duration::from_secs(90), || {
        let mut grpc = grpc.clone();
        let admin = admin.clone();
        async move {
            let status =
                grpc.get_rebuild_status(authed(pb::GetRebuildStatusRequest {}, &admin)).await.ok()?.into_inner();
            assert_ne!(status.state, pb::RebuildState::Failed as i32, "{}", status.error);
            (status.state == pb::RebuildState::Completed as i32).then_some(status)
        }
    })
    .await;
    assert_eq!(status.events_applied, total);
    let rebuilt = grpc.get_digest(authed(pb::GetDigestRequest {}, &admin)).await.unwrap().into_inner();
    assert_eq!(rebuilt.generation, live.generation + 1);
    assert_eq!((rebuilt.sha256, rebuilt.entries), (live.sha256, live.entries), "live models equal a full rebuild");

    // Partners may not rebuild or read digests.
    let partner = token(Role::Partner, "partner-1", Some(&uuid::Uuid::new_v4().to_string()));
    let refused = grpc.rebuild(authed(pb::RebuildRequest {}, &partner)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    drop(projector);
    shutdown.cancel();
    relay.await.unwrap().unwrap();
}
