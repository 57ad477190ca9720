//! Starts the real services on loopback ports with their logs in temporary directories, gives each test a
//! RabbitMQ vhost of its own (127.0.0.1:5672, guest/guest), stands in for the reporting service, and issues
//! tokens.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use contracts::awards::v1::AwardsServiceClient;
use contracts::reporting::v1::ReportAccepted;
use event_bus::{BacklogMonitor, BusConfig, Relay, RelayConfig};
use event_log::{EventLog, EventMetadata, ExpectedVersion, NewEvent, RecordedEvent, StreamId};
use prost::Message;
use service_runtime::{EventStore, JwtConfig, Role, ServerConfig, TokenIssuer};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub fn jwt() -> JwtConfig {
    JwtConfig {
        secret: b"test-secret-test-secret-test-secret".to_vec(),
        issuer: "grants-test".into(),
        audience: "grants".into(),
    }
}

pub fn token(role: Role, subject: &str, organisation: Option<&str>) -> String {
    TokenIssuer::new(&jwt()).unwrap().issue(role, subject, organisation, Duration::from_secs(600)).unwrap()
}

/// A request with a bearer token.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A vhost of its own, deleted when dropped (also when the test fails).
pub struct Vhost(pub String);

fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl").args(args).output().expect("rabbitmqctl runs");
    assert!(output.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

impl Vhost {
    pub fn create() -> Vhost {
        let name = format!("awards-test-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        let vhost = Vhost(name);
        rabbitmqctl(&["set_permissions", "-p", &vhost.0, "guest", ".*", ".*", ".*"]);
        vhost
    }

    pub fn uri(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.0)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["delete_vhost", &self.0]).output();
    }
}

/// A service running in this process until stopped.
pub struct Running {
    pub address: SocketAddr,
    pub dir: tempfile::TempDir,
    shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    async fn start<F, Fut>(dir: tempfile::TempDir, run: F) -> Running
    where
        F: FnOnce(tokio::net::TcpListener, std::path::PathBuf, CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(run(listener, dir.path().to_path_buf(), shutdown.clone()));
        Running { address, dir, shutdown, handle: Some(handle) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url()).unwrap().connect().await.unwrap()
    }

    pub async fn awards(&self) -> AwardsServiceClient<Channel> {
        AwardsServiceClient::new(self.channel().await)
    }

    /// Shuts the service down gracefully and waits until its log is closed; returns the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap();
        }
        self.dir
    }
}

fn server_config() -> ServerConfig {
    ServerConfig { drain_timeout: Duration::from_secs(2), ..ServerConfig::default() }
}

/// The awards service with its log in `dir/awards`.
pub async fn start_awards(
    dir: tempfile::TempDir,
    amqp_uri: Option<String>,
    source_logs: HashMap<String, String>,
) -> Running {
    Running::start(dir, move |listener, path, shutdown| async move {
        let config = awards::service::Config {
            data_dir: path.join("awards"),
            server: server_config(),
            jwt: jwt(),
            amqp_uri,
            source_logs,
        };
        awards::service::run(listener, config, shutdown).await.expect("awards service runs");
    })
    .await
}

/// The applications service with its data (log and keys) in `dir/applications`.
pub async fn start_applications(dir: tempfile::TempDir, amqp_uri: Option<String>) -> Running {
    Running::start(dir, move |listener, path, shutdown| async move {
        let config = applications::service::Config {
            data_dir: path.join("applications"),
            server: server_config(),
            jwt: jwt(),
            amqp_uri,
        };
        applications::service::run(listener, config, shutdown).await.expect("applications service runs");
    })
    .await
}

fn metadata(subject: &str, role: &str) -> EventMetadata {
    EventMetadata {
        actor: event_log::Actor { subject: subject.into(), role: role.into(), organisation: String::new() },
        correlation_id: uuid::Uuid::new_v4(),
        causation_id: uuid::Uuid::new_v4(),
        occurred_at: event_log::Timestamp::now(),
    }
}

/// Appends one event to `log` and returns it as recorded.
pub async fn append(log: &EventLog, stream: StreamId, event_type: &str, payload: Vec<u8>) -> RecordedEvent {
    let event = NewEvent {
        event_id: uuid::Uuid::new_v4(),
        event_type: event_type.into(),
        schema_version: 1,
        payload,
        metadata: metadata("someone", "reviewer"),
    };
    let result = log.append(stream, ExpectedVersion::Any, vec![event]).await.unwrap();
    log.event(result.first_position).unwrap().unwrap()
}

/// Puts what the consumer would append for `event` (from another service) into the awards log in `dir`,
/// with the service stopped: how tests without a broker get an award offered.
pub async fn react_offline(dir: &Path, event: &RecordedEvent) -> bool {
    let log = EventLog::open(awards::service::log_dir(&dir.join("awards"))).unwrap();
    let reaction = awards::inbound::react(&EventStore::new(log.clone()), event).expect("the event is accepted");
    let Some(reaction) = reaction else { return false };
    let request = event_log::AppendRequest {
        stream: reaction.stream,
        expected: reaction.expected,
        events: reaction.events,
        marker: None,
    };
    log.append_request(request).await.unwrap();
    true
}

/// Stands in for the reporting service until it exists: its own log, published by a relay exactly as the
/// real service will publish it.
pub struct ReportingStandIn {
    pub log: EventLog,
    dir: tempfile::TempDir,
    monitor: BacklogMonitor,
    shutdown: CancellationToken,
    relay: tokio::task::JoinHandle<()>,
}

impl ReportingStandIn {
    pub fn start(amqp_uri: &str) -> ReportingStandIn {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path().join("reporting")).unwrap();
        let relay = Relay::new(log.clone(), RelayConfig::new(BusConfig::new(amqp_uri), "reporting")).unwrap();
        let monitor = relay.monitor();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let relay = tokio::spawn(async move { relay.run(token).await.expect("relay runs") });
        ReportingStandIn { log, dir, monitor, shutdown, relay }
    }

    /// Records that a report was accepted and waits until the broker confirmed its publication.
    pub async fn accept(&mut self, accepted: &ReportAccepted) -> RecordedEvent {
        let stream = StreamId::new("report", accepted.report_id.clone()).unwrap();
        let event = append(&self.log, stream, "ReportAccepted", accepted.encode_to_vec()).await;
        let published = tokio::time::timeout(Duration::from_secs(20), self.monitor.wait_published(event.position + 1));
        assert!(published.await.unwrap(), "the relay published the acceptance");
        event
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.relay.await.unwrap();
        drop(self.dir);
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most 20 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

pub mod fixtures {
    use contracts::applications::v1 as apps;
    use contracts::awards::v1 as pb;
    use contracts::common::v1::{Date, Money};
    use contracts::reporting::v1::ReportKind;
    use service_runtime::Role;

    use super::{authed, request_id, token};

    pub fn usd(minor_units: i64) -> Option<Money> {
        Some(Money { minor_units, currency: "USD".into() })
    }

    pub fn date(year: i32, month: i32, day: i32) -> Option<Date> {
        Some(Date { year, month, day })
    }

    /// 350 000 USD cents: shelter 210 000 + legal 140 000; t1 140 000 (initial, ungated), t2 105 000 (gated
    /// by `progress-1`), t3 105 000 (gated by `final-1`); variance threshold 10 %.
    pub fn agreement() -> pb::AgreementTerms {
        let tranche = |id: &str, kind: pb::TrancheKind, amount, month, reports: &[&str]| pb::Tranche {
            tranche_id: id.into(),
            kind: kind as i32,
            amount: usd(amount),
            due_date: date(2026, month, 15),
            required_reports: reports.iter().map(|r| (*r).to_owned()).collect(),
        };
        pb::AgreementTerms {
            amount: usd(350_000),
            period_start: date(2026, 1, 1),
            period_end: date(2026, 12, 31),
            budget_lines: vec![
                pb::BudgetLine { line_id: "shelter".into(), category: "Shelter".into(), amount: usd(210_000) },
                pb::BudgetLine { line_id: "legal".into(), category: "Legal aid".into(), amount: usd(140_000) },
            ],
            tranches: vec![
                tranche("t1", pb::TrancheKind::Initial, 140_000, 1, &[]),
                tranche("t2", pb::TrancheKind::Interim, 105_000, 6, &["progress-1"]),
                tranche("t3", pb::TrancheKind::Final, 105_000, 12, &["final-1"]),
            ],
            reports: vec![
                pb::ReportRequirement {
                    report_ref: "progress-1".into(),
                    kind: ReportKind::Progress as i32,
                    period_start: date(2026, 1, 1),
                    period_end: date(2026, 5, 31),
                    due_date: date(2026, 6, 10),
                },
                pb::ReportRequirement {
                    report_ref: "final-1".into(),
                    kind: ReportKind::Final as i32,
                    period_start: date(2026, 1, 1),
                    period_end: date(2026, 12, 31),
                    due_date: date(2026, 12, 31),
                },
            ],
            variance_threshold_percent: 10,
        }
    }

    pub fn payment(amount: i64) -> Option<pb::Payment> {
        Some(pb::Payment { paid_amount: usd(amount), payment_reference: "PAY-1".into(), ..Default::default() })
    }

    /// What the applications service publishes when it approves `application_id` (for tests without it).
    pub fn approved(application_id: &str, organisation_id: &str, round_id: &str) -> apps::ApplicationApproved {
        apps::ApplicationApproved {
            application_id: application_id.into(),
            round_id: round_id.into(),
            organisation_id: organisation_id.into(),
            approved_amount: usd(350_000),
            requested_amount: usd(400_000),
            decided_by: "officer-0".into(),
            title: "Shelter in Phnom Penh".into(),
            ..Default::default()
        }
    }

    /// Takes an application through the real applications service from round to approval of 350 000.
    /// Returns the approved application.
    pub async fn approve_application(channel: tonic::transport::Channel, organisation_id: &str) -> apps::Application {
        let mut client = apps::ApplicationsServiceClient::new(channel);
        let officer = token(Role::ProgramOfficer, "officer-0", None);
        let partner = token(Role::Partner, "partner-1", Some(organisation_id));
        let reviewer = token(Role::Reviewer, "reviewer-1", None);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let at = |offset: i64| Some(prost_types::Timestamp { seconds: now + offset, nanos: 0 });
        let open = apps::OpenRoundRequest {
            request_id: request_id(),
            title: "Round 1".into(),
            description: "Services for survivors".into(),
            budget_ceiling: usd(1_000_000),
            eligible_countries: vec!["KH".into()],
            themes: vec!["shelter".into()],
            opens_at: at(-3600),
            closes_at: at(86_400),
            criteria: vec![apps::Criterion {
                criterion_id: "relevance".into(),
                name: "Relevance".into(),
                guidance: String::new(),
                weight: 100,
                max_score: 10,
            }],
            required_reviews: 1,
        };
        let round = client.open_round(authed(open, &officer)).await.unwrap().into_inner().round.unwrap();
        let register = apps::RegisterOrganisationRequest {
            request_id: request_id(),
            organisation_id: organisation_id.into(),
            legal_name: "Safe Harbour Foundation".into(),
            country: "KH".into(),
            organisation_type: apps::OrganisationType::NationalNgo as i32,
            registration_number: format!("KH-{organisation_id}"),
            contact_person: Some(apps::ContactPerson {
                full_name: "Contact Person".into(),
                email: "c@example.org".into(),
                phone: String::new(),
            }),
        };
        client.register_organisation(authed(register, &officer)).await.unwrap();
        let content = apps::ApplicationContent {
            title: "Shelter in Phnom Penh".into(),
            summary: "Safe shelter and legal aid".into(),
            requested_amount: usd(400_000),
            budget_lines: vec![apps::BudgetLine { description: "Shelter".into(), amount: usd(400_000) }],
            countries: vec!["KH".into()],
            services_offered: vec![apps::ServiceType::Shelter as i32],
            target_groups: vec!["women returning from abroad".into()],
        };
        let draft = apps::DraftApplicationRequest {
            request_id: request_id(),
            round_id: round.round_id.clone(),
            content: Some(content),
        };
        let app = client.draft_application(authed(draft, &partner)).await.unwrap().into_inner().application.unwrap();
        let id = app.application_id.clone();
        let submit = apps::SubmitApplicationRequest {
            request_id: request_id(),
            application_id: id.clone(),
            expected_version: None,
        };
        client.submit_application(authed(submit, &partner)).await.unwrap();
        let assign = apps::AssignReviewerRequest {
            request_id: request_id(),
            application_id: id.clone(),
            reviewer_subject: "reviewer-1".into(),
        };
        client.assign_reviewer(authed(assign, &officer)).await.unwrap();
        let declare = apps::DeclareConflictOfInterestRequest {
            request_id: request_id(),
            application_id: id.clone(),
            has_conflict: false,
            statement: String::new(),
        };
        client.declare_conflict_of_interest(authed(declare, &reviewer)).await.unwrap();
        let review = apps::RecordReviewRequest {
            request_id: request_id(),
            application_id: id.clone(),
            scores: vec![apps::CriterionScore { criterion_id: "relevance".into(), score: 8 }],
            recommendation: apps::Recommendation::Fund as i32,
            comment: "Strong".into(),
        };
        client.record_review(authed(review, &reviewer)).await.unwrap();
        let approve = apps::ApproveApplicationRequest {
            request_id: request_id(),
            application_id: id,
            approved_amount: usd(350_000),
            reasons: vec!["Fits the round".into()],
        };
        client.approve_application(authed(approve, &officer)).await.unwrap().into_inner().application.unwrap()
    }
}
