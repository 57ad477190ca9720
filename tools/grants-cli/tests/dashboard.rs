//! The dashboard in a real browser (headless Chromium through Selenium, `tests/browser/dashboard.py`) over
//! the four real services in this process, the real RabbitMQ (a vhost of the test's own) and the demo
//! program seeded by `grants demo`: every page is read as a program officer and as a partner and checked
//! against what the projector answers; then one stored event of the awards log is altered on disk while
//! the service is stopped, and the integrity page must turn red.
//!
//! Screenshots of every page go to `dashboard-screenshots/` under the target's temporary directory, or to
//! `DASHBOARD_SCREENSHOTS_DIR` when it is set (the README's come from such a run).

#[path = "../../../tests/browser/browser_env.rs"]
mod browser_env;
mod platform_in_process;
#[path = "../../../shared/event-log/tests/tampering/mod.rs"]
mod tampering;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use contracts::names::service::{APPLICATIONS, AWARDS, EVENT_SOURCES, PROJECTOR, REPORTING};
use contracts::projector::v1::{self as pj, ProjectorServiceClient};
use domain_kernel::Role;
use event_log_grpc::LogClient;
use serde_json::json;
use service_runtime::{CheckpointConfig, ServerConfig, TokenIssuer};
use test_support::services::{listen, server_config, url_of};
use test_support::{Running, Vhost, eventually_within, start_projector};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Services that sign checkpoints of their logs (every second, so that the page has one to show). The
/// awards service signs none: a service with a checkpoint key refuses to start on an altered log (tested
/// with the services), and here the dashboard's own check of the chain is under test.
fn signing(seed: u8) -> ServerConfig {
    ServerConfig {
        checkpoint: Some(CheckpointConfig {
            seed: [seed; 32],
            previous_public_keys: Vec::new(),
            interval: Duration::from_secs(1),
        }),
        ..server_config()
    }
}

fn token(role: Role, subject: &str, organisation: Option<&str>) -> String {
    TokenIssuer::new(&test_support::jwt())
        .unwrap()
        .issue(role, subject, organisation, Duration::from_secs(3600))
        .unwrap()
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn start_awards(
    listener: TcpListener,
    dir: tempfile::TempDir,
    amqp: &str,
    sources: HashMap<String, String>,
) -> Running {
    let amqp = amqp.to_owned();
    Running::start(listener, AWARDS, dir, awards::service::run, move |data_dir| awards::service::Config {
        data_dir,
        server: server_config(),
        jwt: test_support::jwt(),
        amqp_uri: Some(amqp),
        source_logs: sources,
    })
}

/// The platform: three source services (applications and reporting signing checkpoints) and a projector.
struct Platform {
    applications: Running,
    awards: Running,
    reporting: Running,
    projector: Running,
    awards_sources: HashMap<String, String>,
}

impl Platform {
    async fn start(amqp: &str) -> Platform {
        let applications =
            Running::start(listen().await, APPLICATIONS, tempfile::tempdir().unwrap(), applications::service::run, {
                let amqp = amqp.to_owned();
                move |data_dir| applications::service::Config {
                    data_dir,
                    server: signing(1),
                    jwt: test_support::jwt(),
                    amqp_uri: Some(amqp),
                }
            });
        let reporting_listener = listen().await;
        let awards_sources = HashMap::from([
            (APPLICATIONS.to_owned(), applications.url()),
            (REPORTING.to_owned(), url_of(&reporting_listener)),
        ]);
        let awards = start_awards(listen().await, tempfile::tempdir().unwrap(), amqp, awards_sources.clone());
        let reporting =
            Running::start(reporting_listener, REPORTING, tempfile::tempdir().unwrap(), reporting::service::run, {
                let (amqp, awards_url) = (amqp.to_owned(), awards.url());
                move |data_dir| reporting::service::Config {
                    data_dir,
                    server: signing(3),
                    jwt: test_support::jwt(),
                    amqp_uri: Some(amqp),
                    source_logs: HashMap::from([(AWARDS.to_owned(), awards_url)]),
                    indicators: None,
                }
            });
        let sources = BTreeMap::from([
            (APPLICATIONS.to_owned(), applications.url()),
            (AWARDS.to_owned(), awards.url()),
            (REPORTING.to_owned(), reporting.url()),
        ]);
        let projector = start_projector!(amqp.to_owned(), sources);
        Platform { applications, awards, reporting, projector, awards_sources }
    }

    fn sources(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (APPLICATIONS.to_owned(), self.applications.url()),
            (AWARDS.to_owned(), self.awards.url()),
            (REPORTING.to_owned(), self.reporting.url()),
        ])
    }

    fn endpoints(&self) -> Vec<(String, String)> {
        let mut endpoints: Vec<(String, String)> = self.sources().into_iter().collect();
        endpoints.push((PROJECTOR.to_owned(), self.projector.url()));
        endpoints
    }
}

/// Waits until the projector has applied every source's log up to its head.
async fn caught_up(projector: &mut ProjectorServiceClient<Channel>, auditor: &str) {
    eventually_within("the projector caught up with every source", Duration::from_secs(60), || {
        let mut projector = projector.clone();
        async move {
            let lag = projector.get_lag(authed(pj::GetLagRequest {}, auditor)).await.ok()?.into_inner();
            let all = lag.sources.len() == EVENT_SOURCES.len();
            (all && lag.sources.iter().all(|s| s.error.is_empty() && s.behind == 0)).then_some(())
        }
    })
    .await;
}

/// Where screenshots go: `DASHBOARD_SCREENSHOTS_DIR` (relative to the repository's root), or the target's
/// temporary directory.
fn screenshots() -> PathBuf {
    std::env::var_os("DASHBOARD_SCREENSHOTS_DIR")
        .map(|dir| browser_env::repository_root().join(dir))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots"))
}

async fn browse(url: String, expectations: PathBuf, phase: &'static str) -> String {
    let shots = screenshots();
    tokio::task::spawn_blocking(move || {
        browser_env::run(
            "dashboard.py",
            [url.into(), expectations.into_os_string(), shots.into_os_string(), phase.into()],
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_demo_program_in_a_real_browser_and_turns_red_when_a_log_is_altered() {
    browser_env::require_browser();
    let vhost = Vhost::create();
    let amqp = vhost.uri();
    let platform = Platform::start(&amqp).await;

    let endpoints = platform.endpoints();
    let demo =
        tokio::task::spawn_blocking(move || platform_in_process::grants(&endpoints, &["demo"]).output().unwrap())
            .await
            .unwrap();
    assert!(demo.status.success(), "grants demo: {}", String::from_utf8_lossy(&demo.stderr));

    let auditor = token(Role::Auditor, "auditor-1", None);
    let mut projector = platform.projector.client(ProjectorServiceClient::new).await;
    caught_up(&mut projector, &auditor).await;

    // What the pages must show, as the projector answers it.
    let summary = projector
        .get_program_summary(authed(pj::GetProgramSummaryRequest::default(), &auditor))
        .await
        .unwrap()
        .into_inner();
    assert!(!summary.totals.is_empty(), "the demo made awards");
    let suppressed =
        summary.indicators.iter().flat_map(|i| i.cells.iter().filter_map(|c| c.count.as_ref())).any(|c| c.suppressed);
    assert!(suppressed, "the demo's results have a suppressed cell for the page to mark");
    let rounds = projector
        .list_round_pipelines(authed(pj::ListRoundPipelinesRequest::default(), &auditor))
        .await
        .unwrap()
        .into_inner()
        .rounds;
    let portfolios = projector
        .list_portfolios(authed(pj::ListPortfoliosRequest::default(), &auditor))
        .await
        .unwrap()
        .into_inner()
        .portfolios;
    assert!(portfolios.len() >= 2, "the demo has several partners with awards");
    // The partner: the organisation of the grant with the longest history among those with a release; that
    // grant is the one whose timeline is checked (and shown in the README).
    let mut featured: Option<(pj::PartnerPortfolio, pj::GrantTimeline)> = None;
    for portfolio in &portfolios {
        for award in &portfolio.awards {
            let request = pj::GetGrantTimelineRequest {
                grant: Some(pj::Grant::AwardId(award.award_id.clone())),
                ..Default::default()
            };
            let timeline = projector.get_grant_timeline(authed(request, &auditor)).await.unwrap().into_inner();
            let longer = featured.as_ref().is_none_or(|(_, f)| timeline.entries.len() > f.entries.len());
            if timeline.entries.iter().any(|e| e.step == "release") && longer {
                featured = Some((portfolio.clone(), timeline));
            }
        }
    }
    let (partner, timeline) = featured.expect("a grant of the demo has a released tranche");
    let other = portfolios.iter().find(|p| p.organisation_id != partner.organisation_id).unwrap();
    let first_recorded = timeline.entries[0].recorded_at.unwrap();
    let day_before =
        time::OffsetDateTime::from_unix_timestamp(first_recorded.seconds).unwrap().date().previous_day().unwrap();

    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let partner_token = token(Role::Partner, "partner-staff-1", Some(&partner.organisation_id));
    let expectations = tempfile::NamedTempFile::new().unwrap();
    let expect = json!({
        "officer_token": officer,
        "partner_token": partner_token,
        "partner_org": partner.organisation_id,
        "other_org": other.organisation_id,
        "other_org_name": other.legal_name,
        "other_award": other.awards[0].award_id,
        "featured_award": timeline.award_id,
        "featured_steps": timeline.entries.len(),
        "round_id": rounds[0].round_id,
        "rounds": rounds.len(),
        "portfolios": portfolios.len(),
        "day_before": day_before.to_string(),
        "totals": summary.totals.iter().map(|t| json!({
            "currency": t.currency, "awards": t.awards, "offered": t.offered_minor_units,
            "committed": t.committed_minor_units, "released": t.released_minor_units,
            "remaining": t.remaining_minor_units,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(expectations.path(), serde_json::to_vec_pretty(&expect).unwrap()).unwrap();

    // The dashboard, as `deploy/local/start` runs it, on a port of its own.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dashboard_url = format!("http://{}", listener.local_addr().unwrap());
    let config = dashboard::Config {
        projector: platform.projector.url(),
        sources: platform.sources(),
        jwt: test_support::jwt(),
        tls: None,
        secure_cookie: false,
        session_lifetime: Duration::from_secs(3600),
        // The signing services' keys, as the operator gives them: their checkpoints must be signed by these.
        checkpoint_keys: BTreeMap::from([
            (APPLICATIONS.to_owned(), event_log_grpc::checkpoint::public_key_of(&[1; 32])),
            (REPORTING.to_owned(), event_log_grpc::checkpoint::public_key_of(&[3; 32])),
        ]),
    };
    let stop_dashboard = CancellationToken::new();
    let serving = tokio::spawn(dashboard::run(listener, config, stop_dashboard.clone()));

    let said = browse(dashboard_url.clone(), expectations.path().to_owned(), "pages").await;
    println!("{said}");
    assert!(said.contains("ok: every log verifies"), "{said}");

    // One stored event of the awards log altered on disk while the service is stopped: the record's first
    // field moved to its end, which every decoder reads as the same event, but its stored hash no longer
    // matches its bytes.
    let Platform { applications, awards, reporting, projector: projector_running, awards_sources } = platform;
    let address = awards.address;
    let mut awards_log = LogClient::connect(&awards.url(), Some(&auditor)).await.unwrap();
    let head = awards_log.head().await.unwrap().next_position;
    let altered = head / 2;
    let dir = awards.stop().await;
    let log_dir = awards::service::log_dir(&dir.path().join(AWARDS));
    tampering::change_record(&log_dir, altered, |record| *record = tampering::first_field_moved_to_end(record));
    let awards = start_awards(TcpListener::bind(address).await.unwrap(), dir, &amqp, awards_sources);
    let mut expect = expect;
    expect["tampered_service"] = json!(AWARDS);
    expect["tampered_position"] = json!(altered);
    std::fs::write(expectations.path(), serde_json::to_vec_pretty(&expect).unwrap()).unwrap();
    let said = browse(dashboard_url, expectations.path().to_owned(), "tampered").await;
    println!("{said}");
    assert!(said.contains("ok: the integrity page turns red"), "{said}");
    println!("screenshots in {}", screenshots().display());

    stop_dashboard.cancel();
    serving.await.unwrap().unwrap();
    for running in [projector_running, awards, reporting, applications] {
        running.stop().await;
    }
}
