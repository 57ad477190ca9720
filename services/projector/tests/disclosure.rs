//! Published victim counts resist differencing: the projector in this process on the real broker, its
//! sources' logs on disk (published by the real relay, read through the real log service), asked over
//! gRPC the way an outsider with a staff token would ask it.
//!
//! The program: three organisations report in one round (A: 40 young women, 30 young men, 25 adult
//! women; C: 12 and 9 young women and men; B, accepted last: 10 young women and **3 young men**, the
//! count the attacks are after). Ids are derived from names and the secret is fixed, so every run shows
//! the same values.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use contracts::names::service;
use contracts::projector::v1::{self as pb, ProjectorServiceClient};
use contracts::reporting::v1::{AgeBand, Disability, Sex};
use domain_kernel::Role;
use event_log::EventLog;
use projector::disclosure::month_end_at_or_before;
use projector::projection::SOURCES;
use projector::service::PerturbationConfig;
use support::events::*;
use test_support::services::{listen, server_config};
use test_support::{Running, Vhost, authed, eventually_within, jwt, token};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const INDICATOR: &str = "persons-assisted";
const SECRET: &[u8] = b"the perturbation secret of this test installation";
const K: u32 = 5;
const BOUND: u64 = 2;
use AgeBand::{Years18To24 as Young, Years25To59 as Adult};
use Disability::WithoutDisability as Without;

/// The exact counts after every report is accepted: cells, then (what, exact) for total and margins.
const YOUNG_WOMEN: u64 = 40 + 12 + 10;
const YOUNG_MEN: u64 = 30 + 9 + 3;
const ADULT_WOMEN: u64 = 25;
/// B's young men: below k, what the attacks try to recover.
const TARGET: u64 = 3;

struct Program {
    _vhost: Vhost,
    _dir: tempfile::TempDir,
    logs: HashMap<&'static str, EventLog>,
    shutdown: CancellationToken,
    projector: Running,
    grpc: ProjectorServiceClient<Channel>,
    orgs: [Grant; 3],
    auditor: String,
    /// A time after A's and C's reports were accepted and before B's was.
    before_b: prost_types::Timestamp,
    /// The reporting log's next position before B's acceptance.
    reporting_before_b: u64,
}

async fn program() -> Program {
    let vhost = Vhost::create();
    let dir = tempfile::tempdir().unwrap();
    let logs: HashMap<&'static str, EventLog> =
        SOURCES.iter().map(|s| (*s, EventLog::open(dir.path().join(s)).unwrap())).collect();
    let shutdown = CancellationToken::new();
    let source_logs = support::logs::serve_logs(&logs, &shutdown).await;
    support::logs::publish_logs(&logs, &vhost.uri(), &shutdown);
    let config = |data_dir| projector::service::Config {
        data_dir,
        server: server_config(),
        jwt: jwt(),
        amqp_uri: Some(vhost.uri()),
        source_logs: source_logs.into_iter().collect(),
        suppression_k: K,
        replica: None,
    };
    let perturbation = PerturbationConfig { bound: BOUND as u32, secret: SECRET.to_vec() };
    let run = move |listener, config, stop| projector::service::run_with(listener, config, perturbation, stop);
    let projector = Running::start(listen().await, service::PROJECTOR, tempfile::tempdir().unwrap(), run, config);
    let grpc = projector.client(ProjectorServiceClient::new).await;

    let round = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"disclosure/round").to_string();
    let orgs = ["A", "B", "C"].map(|name| Grant::named(&round, &format!("disclosure/{name}")));
    let [a, b, c] = &orgs;
    let mut events = vec![round_opened(&round)];
    for (g, country) in [(a, "KH"), (b, "TH"), (c, "KH")] {
        events.extend(application_approved(g, country, 200_000, 200_000));
        events.extend(award_signed(g, country, 200_000));
        events.push(obligations_scheduled(g));
    }
    events.push(report_submitted(
        a,
        &[(Sex::Female, Young, Without, 40), (Sex::Male, Young, Without, 30), (Sex::Female, Adult, Without, 25)],
    ));
    events.push(report_submitted(c, &[(Sex::Female, Young, Without, 12), (Sex::Male, Young, Without, 9)]));
    events.push(report_submitted(b, &[(Sex::Female, Young, Without, 10), (Sex::Male, Young, Without, TARGET)]));
    events.push(report_accepted(a));
    events.push(report_accepted(c));
    append_all(&logs, &events).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let before_b = prost_types::Timestamp::from(std::time::SystemTime::now());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reporting_before_b = logs[service::REPORTING].next_position();
    append_all(&logs, &[report_accepted(b)]).await;

    let program = Program {
        _vhost: vhost,
        _dir: dir,
        logs,
        shutdown,
        projector,
        grpc,
        orgs,
        auditor: token(Role::Auditor, "auditor-1", None),
        before_b,
        reporting_before_b,
    };
    program.caught_up().await;
    program
}

impl Program {
    /// Waits until the live models applied every event of every source.
    async fn caught_up(&self) {
        let heads: Vec<(String, u64)> = SOURCES.iter().map(|s| (s.to_string(), self.logs[s].next_position())).collect();
        eventually_within("the projector to apply every event", Duration::from_secs(60), || {
            let (mut grpc, auditor, heads) = (self.grpc.clone(), self.auditor.clone(), heads.clone());
            async move {
                let lag = grpc.get_lag(authed(pb::GetLagRequest {}, &auditor)).await.ok()?.into_inner();
                heads
                    .iter()
                    .all(|(source, head)| {
                        lag.sources.iter().any(|s| s.source == *source && s.applied_next_position == *head)
                    })
                    .then_some(())
            }
        })
        .await;
    }

    async fn ask(
        &self,
        request: pb::GetProgramSummaryRequest,
        token: &str,
    ) -> Result<pb::ProgramSummary, tonic::Status> {
        self.grpc.clone().get_program_summary(authed(request, token)).await.map(tonic::Response::into_inner)
    }

    async fn live(&self) -> pb::ProgramSummary {
        self.ask(pb::GetProgramSummaryRequest::default(), &self.auditor).await.unwrap()
    }

    async fn as_of(&self, point: pb::Point) -> pb::ProgramSummary {
        let request =
            pb::GetProgramSummaryRequest { as_of: Some(pb::AsOf { point: Some(point) }), ..Default::default() };
        self.ask(request, &self.auditor).await.unwrap()
    }

    async fn stop(self) {
        self.projector.stop().await;
        self.shutdown.cancel();
    }
}

fn indicator(summary: &pb::ProgramSummary) -> Option<&pb::IndicatorSummary> {
    summary.indicators.iter().find(|i| i.indicator_id == INDICATOR)
}

/// The published count of young men, as an attacker reads it: its value, or 0 when there is no table.
fn young_men(summary: &pb::ProgramSummary) -> Option<pb::ProtectedCount> {
    let cell = indicator(summary)?
        .cells
        .iter()
        .find(|c| c.sex == Sex::Male as i32 && c.age_band == Young as i32 && c.disability == Without as i32)?;
    cell.count
}

fn shown(count: Option<pb::ProtectedCount>) -> u64 {
    count.filter(|c| !c.suppressed).map_or(0, |c| c.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subtracting_one_organisation_from_the_round_is_refused_to_staff() {
    let p = program().await;
    let round = p.live().await;
    let [a, b, c] = &p.orgs;
    for role in [Role::Auditor, Role::ProgramOfficer, Role::FinanceOfficer, Role::Administrator] {
        let staff = token(role, "staff-1", None);
        for org in [a, c] {
            let request = pb::GetProgramSummaryRequest { organisation_id: org.org.clone(), ..Default::default() };
            let refused = p.ask(request, &staff).await.unwrap_err();
            assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{role:?}: {refused:?}");
            assert!(refused.message().contains("organisation_id"), "names the field: {}", refused.message());
        }
    }
    // The round filter is a published dimension: here it covers the same reports, so it is the same table
    // with the same perturbations, and subtracting it leaves nothing.
    let by_round = p
        .ask(pb::GetProgramSummaryRequest { round_id: a.round.clone(), ..Default::default() }, &p.auditor)
        .await
        .unwrap();
    assert_eq!(by_round.indicators, round.indicators);
    assert_eq!(shown(young_men(&round)) - shown(young_men(&by_round)), 0);

    // Partners get their own organisation's table only, whatever they ask for: never the round's.
    let partner = token(Role::Partner, "partner-a", Some(&a.org));
    let own = p.ask(pb::GetProgramSummaryRequest::default(), &partner).await.unwrap();
    let own_filtered = p
        .ask(pb::GetProgramSummaryRequest { organisation_id: a.org.clone(), ..Default::default() }, &partner)
        .await
        .unwrap();
    assert_eq!(own, own_filtered);
    assert!(shown(young_men(&own)).abs_diff(30) <= BOUND, "A's own 30 young men: {own:?}");
    let theirs = pb::GetProgramSummaryRequest { organisation_id: b.org.clone(), ..Default::default() };
    assert_eq!(p.ask(theirs, &partner).await.unwrap_err().code(), tonic::Code::NotFound);
    // What the attack was after stays out of reach: no answer holds B's 3 on its own, and the round's
    // young men are far from it.
    assert_ne!(shown(young_men(&round)), TARGET);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_answers_give_indicator_counts_at_month_ends_so_one_report_cannot_be_isolated() {
    let p = program().await;
    let live = p.live().await;
    let before = p.as_of(pb::Point::RecordedAt(p.before_b)).await;
    // Money stands at the point asked; indicator counts at the month end at or before it.
    assert_eq!(before.totals[0].committed_minor_units, 600_000);
    let cut = before.indicators_as_of.expect("as-of answers name the month end of their indicator counts");
    let point_micros = p.before_b.seconds * 1_000_000 + i64::from(p.before_b.nanos / 1_000);
    let cut_micros = cut.seconds * 1_000_000 + i64::from(cut.nanos / 1_000);
    assert_eq!(cut_micros, month_end_at_or_before(point_micros));
    assert!(live.indicators_as_of.is_none(), "live answers count every accepted report");

    // The attack: the live young men minus those as of just before B's report.
    let estimate = shown(young_men(&live)).abs_diff(shown(young_men(&before)));
    assert_ne!(estimate, TARGET, "live {:?}, before {:?}", young_men(&live), young_men(&before));

    // The same through positions: the reporting log just before B's acceptance.
    let positions = pb::SourcePositions {
        next_positions: [
            (service::APPLICATIONS.to_owned(), u64::MAX),
            (service::AWARDS.to_owned(), u64::MAX),
            (service::REPORTING.to_owned(), p.reporting_before_b),
        ]
        .into_iter()
        .collect(),
    };
    let by_position = p.as_of(pb::Point::Positions(positions)).await;
    assert_eq!(by_position.indicators, before.indicators);
    assert_ne!(shown(young_men(&live)).abs_diff(shown(young_men(&by_position))), TARGET);

    // Any later point of the same month gives the same indicator table: time cannot slice it finer.
    let now = prost_types::Timestamp::from(std::time::SystemTime::now());
    assert_eq!(p.as_of(pb::Point::RecordedAt(now)).await.indicators, before.indicators);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn averaging_many_questions_about_the_same_reports_gains_nothing() {
    // Bounded noise averages away when many different questions cover the same reports with independent
    // noise. Here every way of asking about these reports gives one of two tables (live, or the last month
    // end), each always with the same values: the mean of the answers is a single answer.
    let p = program().await;
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let round = p.orgs[0].round.clone();
    let mut answers = Vec::new();
    for i in 0..10 {
        answers.push(p.live().await);
        let by_round = pb::GetProgramSummaryRequest { round_id: round.clone(), ..Default::default() };
        answers.push(p.ask(by_round, if i % 2 == 0 { &officer } else { &p.auditor }).await.unwrap());
    }
    let start = p.before_b.seconds - 60;
    for offset in [0, 30, 59, 61, 120] {
        answers
            .push(p.as_of(pb::Point::RecordedAt(prost_types::Timestamp { seconds: start + offset, nanos: 0 })).await);
    }
    for position in 0..=p.logs[service::REPORTING].next_position() {
        // Everything of the other sources, the reporting log up to each of its positions.
        let up_to = |source: &str| if source == service::REPORTING { position } else { u64::MAX };
        let positions =
            pb::SourcePositions { next_positions: SOURCES.iter().map(|s| (s.to_string(), up_to(s))).collect() };
        answers.push(p.as_of(pb::Point::Positions(positions)).await);
    }
    let tables: BTreeSet<String> = answers.iter().map(|a| format!("{:?}", a.indicators)).collect();
    assert!(tables.len() <= 2, "{} different indicator tables", tables.len());
    let live: Vec<u64> = answers.iter().filter(|a| a.indicators_as_of.is_none()).map(|a| shown(young_men(a))).collect();
    assert!(live.windows(2).all(|w| w[0] == w[1]), "the same cell always shows the same value: {live:?}");
    let past: Vec<u64> = answers.iter().filter(|a| a.indicators_as_of.is_some()).map(|a| shown(young_men(a))).collect();
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64;
    let estimate = mean(&live) - mean(&past);
    assert_eq!(estimate, live[0] as f64 - past[0] as f64, "averaging removed no noise");
    assert_ne!(estimate, TARGET as f64);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_counts_are_stable_within_the_bound_and_survive_a_rebuild() {
    let p = program().await;
    let first = p.live().await;
    assert_eq!((first.suppression_k, first.perturbation_bound), (K, BOUND as u32));
    assert_eq!(first, p.live().await, "asked again: the same values");
    let table = indicator(&first).expect("the indicator is published");
    let exact_total = YOUNG_WOMEN + YOUNG_MEN + ADULT_WOMEN;
    let mut published = vec![(exact_total, table.total)];
    for margin in &table.by_sex {
        let exact = if margin.sex == Sex::Female as i32 { YOUNG_WOMEN + ADULT_WOMEN } else { YOUNG_MEN };
        published.push((exact, margin.count));
    }
    for margin in &table.by_age_band {
        let exact = if margin.age_band == Young as i32 { YOUNG_WOMEN + YOUNG_MEN } else { ADULT_WOMEN };
        published.push((exact, margin.count));
    }
    published.extend(table.by_disability.iter().map(|m| (exact_total, m.count)));
    for cell in &table.cells {
        let exact = match (cell.sex == Sex::Male as i32, cell.age_band == Young as i32) {
            (true, _) => YOUNG_MEN,
            (false, true) => YOUNG_WOMEN,
            (false, false) => ADULT_WOMEN,
        };
        published.push((exact, cell.count));
    }
    assert_eq!(published.len(), 1 + 2 + 2 + 1 + 3);
    for (exact, count) in &published {
        let count = count.expect("every count is sent");
        assert!(!count.suppressed, "no count here is below k");
        assert!(count.value.abs_diff(*exact) <= BOUND, "{} is more than {BOUND} from {exact}", count.value);
    }
    assert!(
        published.iter().any(|(exact, count)| count.unwrap().value != *exact),
        "the counts are perturbed: {published:?}"
    );

    // A rebuild from the logs gives the same models and publishes the same values.
    let admin = token(Role::Administrator, "admin-1", None);
    let mut grpc = p.grpc.clone();
    let digest = grpc.get_digest(authed(pb::GetDigestRequest {}, &admin)).await.unwrap().into_inner();
    grpc.rebuild(authed(pb::RebuildRequest {}, &admin)).await.unwrap();
    eventually_within("the rebuild to complete", Duration::from_secs(60), || {
        let (mut grpc, admin) = (grpc.clone(), admin.clone());
        async move {
            let status = grpc.get_rebuild_status(authed(pb::GetRebuildStatusRequest {}, &admin)).await.ok()?;
            (status.into_inner().state == pb::RebuildState::Completed as i32).then_some(())
        }
    })
    .await;
    let rebuilt = grpc.get_digest(authed(pb::GetDigestRequest {}, &admin)).await.unwrap().into_inner();
    assert_eq!((rebuilt.generation, &rebuilt.sha256), (digest.generation + 1, &digest.sha256));
    assert_eq!(p.live().await, first, "a rebuild publishes the same values");
    p.stop().await;
}

#[tokio::test]
async fn the_projector_refuses_to_listen_beyond_loopback_without_a_perturbation_secret() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = jwt();
    let run = |listen: &str, secret: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_projector"));
        command
            .args(["--listen", listen, "--without-bus", "--data-dir"])
            .arg(dir.path().join(service::PROJECTOR))
            .args(["--jwt-issuer", &jwt.issuer, "--jwt-audience", &jwt.audience])
            .env("GRANTS_JWT_SECRET", String::from_utf8(jwt.secret.clone()).unwrap())
            .env_remove("PROJECTOR_PERTURBATION_SECRET")
            .env("RUST_LOG", "error");
        if let Some(secret) = secret {
            command.env("PROJECTOR_PERTURBATION_SECRET", secret);
        }
        command.output().expect("the projector runs")
    };
    let refused = run("0.0.0.0:0", None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--perturbation-secret (PROJECTOR_PERTURBATION_SECRET) is required"), "{stderr}");
    let short = run("127.0.0.1:0", Some("too short"));
    assert!(!short.status.success());
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("`perturbation_secret` must be at least 32 bytes"), "{stderr}");
}
