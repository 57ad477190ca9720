//! `grants`'s platform commands run as their own process: `--help` names every command, `grants token`
//! issues tokens a running service accepts, and `grants bus` lists, shows and replays a consumer's dead
//! letters on the real broker (RabbitMQ on 127.0.0.1:5672, a vhost of the test's own).

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use contracts::applications::v1::{self as apps, ApplicationsServiceClient};
use contracts::names::service::{APPLICATIONS, PROJECTOR};
use contracts::names::stream;
use domain_kernel::Role;
use event_bus::lapin::options::BasicPublishOptions;
use event_bus::lapin::types::ShortString;
use event_bus::lapin::{BasicProperties, Connection, ConnectionProperties};
use event_bus::{
    BusConfig, CancellationToken, Consumer, ConsumerConfig, DeadLetters, LogHandler, Rejection, Relay, RelayConfig,
};
use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
use service_runtime::TokenVerifier;
use test_support::services::{data_dir, listen};
use test_support::{Vhost, eventually_within};

mod command_output;
use command_output::{run, stderr, stdout};

/// `grants` with `args`, and nothing from the environment that would change what it does.
fn grants(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
    command.args(args);
    for variable in
        ["GRANTS_TOKEN", "GRANTS_ENDPOINTS", "GRANTS_JWT_SECRET", "GRANTS_AMQP_URL", "BUS_AMQP_URI", "BUS_CONSUMER"]
    {
        command.env_remove(variable);
    }
    command
}

#[test]
fn help_lists_every_command_by_group_with_a_description() {
    let output = grants(&["--help"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let help = stdout(&output);
    let section = |heading: &str| -> Vec<String> {
        let start = help.find(heading).unwrap_or_else(|| panic!("no {heading} in\n{help}"));
        help[start + heading.len()..].lines().skip(1).take_while(|l| !l.trim().is_empty()).map(str::to_owned).collect()
    };
    let audit = section("Audit commands:");
    let open_data = section("Open data commands:");
    let platform = section("Platform commands:");
    let names = |lines: &[String]| -> Vec<String> {
        lines.iter().map(|l| l.split_whitespace().next().unwrap_or_default().to_owned()).collect()
    };
    assert_eq!(names(&audit), ["verify", "checkpoint", "export", "history", "as-of"], "{help}");
    assert_eq!(names(&open_data), ["publish"], "{help}");
    assert_eq!(
        names(&platform),
        ["demo", "load", "token", "bus", "projector", "backup", "keygen", "dev-certs"],
        "{help}"
    );
    for line in audit.iter().chain(&open_data).chain(&platform) {
        assert!(line.split_whitespace().count() > 3, "a command without a description: {line:?}");
    }
    // Every command also has its own help.
    for name in names(&audit).iter().chain(&names(&open_data)).chain(&names(&platform)) {
        let output = grants(&[name, "--help"]).output().unwrap();
        assert!(output.status.success(), "{name} --help: {}", stderr(&output));
    }
    // Each standard `publish` writes, with the publisher's identity and its environment variables.
    for (format, flags) in [
        ("iati", ["--reporting-org-ref", "GRANTS_IATI_REPORTING_ORG_REF", "--funder-ref", "--as-of", "--output"]),
        ("360giving", ["--prefix", "GRANTS_360GIVING_PREFIX", "--funder-name", "--as-of", "--output"]),
    ] {
        let output = grants(&["publish", format, "--help"]).output().unwrap();
        assert!(output.status.success(), "publish {format} --help: {}", stderr(&output));
        for flag in flags {
            assert!(stdout(&output).contains(flag), "publish {format} --help names {flag}:\n{}", stdout(&output));
        }
    }
}

/// The test services' secret and issuer (`test_support::jwt`).
fn token(role: &str, extra: &[&str]) -> Output {
    let secret = String::from_utf8(test_support::jwt().secret).unwrap();
    let issuer = test_support::jwt().issuer;
    let mut args = vec!["--jwt-secret", &secret, "--jwt-issuer", &issuer, "token", "--role", role];
    args.extend_from_slice(extra);
    grants(&args).output().unwrap()
}

fn issued(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    let text = stdout(output);
    assert_eq!(text.lines().count(), 1, "the token alone: {text}");
    text.trim().to_owned()
}

async fn get_round(client: &mut ApplicationsServiceClient<tonic::transport::Channel>, token: &str) -> tonic::Code {
    let request = apps::GetRoundRequest { round_id: uuid::Uuid::new_v4().to_string() };
    let mut request = tonic::Request::new(request);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    client.get_round(request).await.err().map_or(tonic::Code::Ok, |status| status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_issued_by_grants_token_are_accepted_by_the_services() {
    let applications = test_support::start_applications!(listen().await, data_dir(), None);
    let mut client = applications.client(ApplicationsServiceClient::new).await;
    let verifier = TokenVerifier::new(&test_support::jwt()).unwrap();

    let officer = issued(&token("program_officer", &["--subject", "po-1"]));
    let actor = verifier.verify(&officer).unwrap();
    assert_eq!((actor.role, actor.subject.as_str()), (Role::ProgramOfficer, "po-1"));
    // Past authentication and the role table: the round is simply not there.
    assert_eq!(get_round(&mut client, &officer).await, tonic::Code::NotFound);

    let organisation = uuid::Uuid::new_v4().to_string();
    let partner = issued(&token("partner", &["--subject", "p-1", "--organisation", &organisation]));
    let actor = verifier.verify(&partner).unwrap();
    assert_eq!((actor.role, actor.organisation), (Role::Partner, Some(organisation)));
    assert_eq!(get_round(&mut client, &partner).await, tonic::Code::NotFound);

    // An auditor's token reads the service's log.
    let auditor = issued(&token("auditor", &["--subject", "a-1", "--ttl-seconds", "120"]));
    let endpoint = format!("{APPLICATIONS}={}", applications.url());
    let verified = run(grants(&["--endpoint", &endpoint, "--token", &auditor, "verify", "--service", APPLICATIONS]));
    let verified = verified.await;
    assert!(verified.status.success(), "{}{}", stdout(&verified), stderr(&verified));

    // The same command with another secret issues a token the service refuses.
    let mut other = grants(&[
        "--jwt-secret",
        "another-secret-another-secret-another-secret",
        "token",
        "--role",
        "program_officer",
        "--subject",
        "po-1",
    ]);
    let other = issued(&other.output().unwrap());
    assert_eq!(get_round(&mut client, &other).await, tonic::Code::Unauthenticated);

    // Mistakes are one line each.
    for (output, expected) in [
        (token("partner", &["--subject", "p-1"]), "organisation"),
        (token("officer", &["--subject", "po-1"]), "must be one of partner, program_officer"),
        (grants(&["token", "--role", "auditor", "--subject", "a-1"]).output().unwrap(), "--jwt-secret"),
    ] {
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert_eq!(text.trim().lines().count(), 1, "{text}");
        assert!(text.starts_with("grants: token: ") && text.contains(expected), "{text}");
    }
    applications.stop().await;
}

const SOURCE: &str = APPLICATIONS;

fn event(event_type: &str, payload: &[u8]) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::new_v4(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.to_vec(),
        metadata: EventMetadata {
            actor: Actor { subject: "officer-1".into(), role: "program_officer".into(), organisation: String::new() },
            correlation_id: uuid::Uuid::new_v4(),
            causation_id: uuid::Uuid::new_v4(),
            occurred_at: Timestamp::now(),
            trace: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_bus_lists_shows_and_replays_dead_letters_on_the_broker() {
    let vhost = Vhost::create();
    let uri = vhost.uri();
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("source")).unwrap();
    let own_log = EventLog::open(dir.path().join("consumer")).unwrap();
    let bus = BusConfig::new(uri.clone());
    let config = ConsumerConfig::new(bus.clone(), PROJECTOR, &[SOURCE]);

    // The consumer refuses poison until the test lifts the ban, as a fixed consumer would after a release.
    let refuse_poison = Arc::new(AtomicBool::new(true));
    let poison_applied = Arc::new(AtomicUsize::new(0));
    let (refuse, applied) = (refuse_poison.clone(), poison_applied.clone());
    let handler = LogHandler::by_source(own_log, move |_source: &str, event: &event_log::RecordedEvent| {
        if event.event_type == "Poison" {
            if refuse.load(Ordering::SeqCst) {
                return Err(Rejection::new("poison is refused"));
            }
            applied.fetch_add(1, Ordering::SeqCst);
        }
        Ok(None)
    });
    let consumer = Consumer::new(config.clone(), handler, log.clone()).unwrap();
    let progress = consumer.progress();
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    eventually_within("the consumer to connect", Duration::from_secs(20), || {
        let connected = progress.borrow().connected;
        async move { connected.then_some(()) }
    })
    .await;

    // Garbage published straight to the exchange, and two poison events between good ones.
    let connection = Connection::connect(&uri, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    for n in [1u8, 2] {
        let properties = BasicProperties::default().with_message_id(ShortString::from(format!("garbage-{n}")));
        let routing_key = ShortString::from(format!("{SOURCE}.Garbage"));
        let body = [0xff, n, 0xff, 0x00];
        let publish = channel.basic_publish(
            ShortString::from("grants.events"),
            routing_key,
            BasicPublishOptions::default(),
            &body,
            properties,
        );
        publish.await.unwrap().await.unwrap();
    }
    let poisoned = StreamId::new(stream::APPLICATION, "poisoned").unwrap();
    let good = StreamId::new(stream::APPLICATION, "good").unwrap();
    for (stream, event_type) in [(&good, "Good"), (&poisoned, "Poison"), (&good, "Good"), (&poisoned, "Poison")] {
        log.append(stream.clone(), ExpectedVersion::Any, vec![event(event_type, b"1")]).await.unwrap();
    }
    let relay = Relay::new(log.clone(), RelayConfig::new(bus, SOURCE)).unwrap();
    let relaying = tokio::spawn(relay.run(shutdown.clone()));
    eventually_within("four dead letters", Duration::from_secs(30), || {
        let dead_lettered = progress.borrow().dead_lettered;
        async move { (dead_lettered == 4).then_some(()) }
    })
    .await;
    let dead_letters = DeadLetters::new(config);
    let listed = dead_letters.list().await.unwrap();
    let poison: Vec<_> = listed.iter().filter(|l| l.reason == "rejected: poison is refused").collect();
    assert_eq!(poison.len(), 2, "{listed:?}");

    // The command line sees the same dead letters, and reports a bad id in one line.
    let bus_command = |args: &[&str]| {
        let mut command = grants(&["bus", "--amqp-url", &uri, "--consumer", PROJECTOR]);
        command.args(args);
        command
    };
    let list = run(bus_command(&["dead-letters", "list"])).await;
    assert!(list.status.success(), "{}", stderr(&list));
    let list = stdout(&list);
    assert!(list.contains(&poison[1].id) && list.contains("garbage-2") && list.contains("4 dead letter(s)"), "{list}");
    assert!(list.contains(&format!("{SOURCE}@{}", poison[1].position.unwrap())), "{list}");
    let show = run(bus_command(&["dead-letters", "show", &poison[1].id])).await;
    assert!(show.status.success(), "{}", stderr(&show));
    let show = stdout(&show);
    assert!(show.contains("rejected: poison is refused"), "{show}");
    // Headers read as text and times as RFC 3339 in UTC, not as byte arrays and microseconds.
    let line = |key: &str| show.lines().find(|l| l.starts_with(key)).unwrap_or_default().to_owned();
    assert!(line("header stream-id ").ends_with(" application/poisoned"), "{show}");
    for time in ["dead-lettered ", "recorded ", "header x-dead-lettered-at "] {
        let value = line(time).rsplit(' ').next().unwrap_or_default().to_owned();
        assert!(value.len() > 20 && value.starts_with("20") && value.ends_with('Z'), "{time}in {show}");
    }
    assert!(!show.contains("LongString") && !show.contains("µs"), "{show}");
    // The broker is named as the services name it; the variable read before is refused, not ignored.
    let mut by_variable = grants(&["bus", "--consumer", PROJECTOR, "dead-letters", "list"]);
    by_variable.env("GRANTS_AMQP_URL", &uri);
    assert!(stdout(&run(by_variable).await).contains("4 dead letter(s)"));
    let mut by_consumer_variable = grants(&["bus", "--amqp-url", &uri, "dead-letters", "list"]);
    by_consumer_variable.env("BUS_CONSUMER", PROJECTOR);
    assert!(stdout(&run(by_consumer_variable).await).contains("4 dead letter(s)"));
    let mut retired = grants(&["bus", "--consumer", PROJECTOR, "dead-letters", "list"]);
    retired.env("BUS_AMQP_URI", &uri);
    let retired = run(retired).await;
    let text = stderr(&retired);
    assert!(!retired.status.success() && text.trim().lines().count() == 1, "{text}");
    assert!(text.contains("GRANTS_AMQP_URL"), "{text}");
    let missing = run(bus_command(&["dead-letters", "show", "no-such-id"])).await;
    assert_eq!(missing.status.code(), Some(2));
    let text = stderr(&missing);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(text.starts_with("grants: bus: ") && text.contains("no dead letter with message id no-such-id"), "{text}");

    // Once the consumer accepts poison, a replay through the command is applied exactly once.
    refuse_poison.store(false, Ordering::SeqCst);
    let replay = run(bus_command(&["dead-letters", "replay", &poison[1].id])).await;
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert!(stdout(&replay).starts_with(&format!("replayed {}", poison[1].id)), "{}", stdout(&replay));
    eventually_within("the replay applied", Duration::from_secs(30), || {
        let applied = poison_applied.load(Ordering::SeqCst);
        async move { (applied == 1).then_some(()) }
    })
    .await;
    let again = run(bus_command(&["dead-letters", "replay", &poison[1].id])).await;
    assert_eq!(again.status.code(), Some(2), "a dead letter replays once");
    let remaining = dead_letters.list().await.unwrap();
    let mut ids: Vec<&str> = remaining.iter().map(|l| l.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec!["garbage-1", "garbage-2", poison[0].id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    shutdown.cancel();
    consuming.await.unwrap().unwrap();
    relaying.await.unwrap().unwrap();
    assert_eq!(poison_applied.load(Ordering::SeqCst), 1);
    let _ = connection.close(200, ShortString::from("bye")).await;
}
