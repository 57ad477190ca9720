//! `grants` as an operator meets it, run as its own process against event logs served read-only over gRPC
//! on loopback ports (sled files in temporary directories): only the endpoints given are used, `verify
//! --all` checks and reports every service, a closed standard output ends a command quietly, and `export`
//! writes whole lines only, says where to resume, cuts a torn line on resume, checks that what it resumes
//! links to what it exported before, and reports tampering as such.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use contracts::names::service::{APPLICATIONS, AWARDS, REPORTING};
use event_log::EventLog;
use test_support::services::serve_log;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[path = "../../../shared/event-log/tests/tampering/mod.rs"]
mod tampering;

mod command_output;
mod withdrawals;
use command_output::{run, stderr, stdout};
use withdrawals::APPLICATION;

const SECRET: &str = "operator-test-secret-operator-test-0123";

/// `count` events of one application in a new log at `dir`, each with a `reason` of about `reason_bytes`.
async fn write_log(dir: &Path, count: usize, reason_bytes: usize) -> EventLog {
    let log = EventLog::open(dir).unwrap();
    withdrawals::append(&log, count, reason_bytes).await;
    log
}

/// Changes one byte of the reason of the stored event at `position`, with the log closed: its hash no
/// longer matches its bytes.
fn tamper(dir: &Path, position: u64) {
    tampering::change_record(dir, position, |record| {
        let at = record.windows(7).position(|w| w == b"reason ").unwrap();
        record[at] = b'R';
    });
}

/// `log` served read-only on a loopback port, as every service serves its own; returns its URL.
async fn serve(log: EventLog) -> String {
    serve_log(log, APPLICATIONS, CancellationToken::new()).await
}

/// A URL nobody listens on: a port bound and released.
async fn unreachable() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// `grants` with these `--endpoint NAME=URL`s and arguments, the test's secret, and no address from the
/// environment.
fn grants(endpoints: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
    for (name, url) in endpoints {
        command.arg("--endpoint").arg(format!("{name}={url}"));
    }
    command.args(args).env("GRANTS_JWT_SECRET", SECRET).env_remove("GRANTS_TOKEN").env_remove("GRANTS_ENDPOINTS");
    command
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "{} ends with a torn line: {:?}", path.display(), text.lines().last());
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_endpoints_given_are_used_and_each_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let applications = serve(write_log(dir.path(), 5, 10).await).await;

    // Only the one service given is verified; nothing is tried on the default ports.
    let verified = run(grants(&[(APPLICATIONS, &applications)], &["verify", "--all"])).await;
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert_eq!(stdout(&verified).lines().count(), 1, "{}", stdout(&verified));
    assert!(stdout(&verified).starts_with("applications: verified 5 events"), "{}", stdout(&verified));
    assert!(stderr(&verified).contains(&format!("applications at {applications}")), "{}", stderr(&verified));

    // The same from GRANTS_ENDPOINTS, as `deploy/local/start` prints it.
    let mut from_environment = grants(&[], &["verify", "--all"]);
    from_environment.env("GRANTS_ENDPOINTS", format!("{APPLICATIONS}={applications},"));
    let from_environment = run(from_environment).await;
    assert_eq!(from_environment.status.code(), Some(0), "{from_environment:?}");
    assert_eq!(stdout(&from_environment), stdout(&verified));

    // A command that needs a service not given says which, in one line.
    let history = run(grants(&[(APPLICATIONS, &applications)], &["history", "--application", APPLICATION])).await;
    assert_eq!(history.status.code(), Some(2), "{history:?}");
    assert_eq!(stderr(&history).trim_end().lines().count(), 1, "{}", stderr(&history));
    assert!(stderr(&history).contains("no address for `awards`"), "{}", stderr(&history));
    assert!(stdout(&history).is_empty(), "nothing is read before every address is known: {}", stdout(&history));

    let twice =
        run(grants(&[(APPLICATIONS, &applications), (APPLICATIONS, &applications)], &["verify", "--all"])).await;
    assert_eq!(twice.status.code(), Some(2), "{twice:?}");
    assert!(stderr(&twice).contains("names `applications` twice"), "{}", stderr(&twice));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_all_reports_every_service_and_tampering_outranks_what_could_not_be_checked() {
    let dir = tempfile::tempdir().unwrap();
    let intact = serve(write_log(&dir.path().join("intact"), 4, 10).await).await;
    drop(write_log(&dir.path().join("tampered"), 4, 10).await);
    tamper(&dir.path().join("tampered"), 2);
    let tampered = serve(EventLog::open(dir.path().join("tampered")).unwrap()).await;
    let down = unreachable().await;

    // An unreachable service in the middle: reported, and the one after it still verified.
    let partly =
        run(grants(&[(APPLICATIONS, &intact), (AWARDS, &down), (REPORTING, &intact)], &["verify", "--all"])).await;
    assert_eq!(partly.status.code(), Some(2), "{partly:?}");
    let report: Vec<String> = stdout(&partly).lines().map(str::to_owned).collect();
    assert_eq!(report.len(), 3, "{report:?}");
    assert!(report[0].starts_with("applications: verified 4 events"), "{report:?}");
    assert!(report[1].starts_with("awards: could not check: "), "{report:?}");
    assert!(report[1].contains(&down), "the reason names the address: {report:?}");
    assert!(report[2].starts_with("reporting: verified 4 events"), "{report:?}");

    // Tampered anywhere is exit 1, also when another service could not be checked.
    let both = run(grants(
        &[(APPLICATIONS, &down), (AWARDS, &tampered), (REPORTING, &intact)],
        &["verify", "--all", "--json"],
    ))
    .await;
    assert_eq!(both.status.code(), Some(1), "{both:?}");
    let verdicts: Vec<serde_json::Value> =
        stdout(&both).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(verdicts.len(), 3, "{verdicts:?}");
    assert_eq!(verdicts[0]["service"], "applications");
    assert_eq!(verdicts[0]["endpoint"], down.as_str());
    assert!(verdicts[0]["could_not_check"].as_str().is_some_and(|r| !r.is_empty()), "{verdicts:?}");
    assert_eq!(verdicts[1]["service"], "awards");
    assert_eq!(verdicts[1]["first_mismatch"], 2);
    assert_eq!(verdicts[2]["service"], "reporting");
    assert_eq!(verdicts[2]["verified_events"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_standard_output_ends_every_printing_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(&dir.path().join("log"), 20, 10).await;
    let seed = [7u8; 32];
    event_log_grpc::CheckpointSigner::new(log.clone(), APPLICATIONS, &seed).sign_now().await.unwrap();
    let url = serve(log).await;
    let endpoints = [(APPLICATIONS, url.as_str()), (AWARDS, url.as_str()), (REPORTING, url.as_str())];
    let key_file = dir.path().join("new.key");
    let commands: [&[&str]; 5] = [
        &["verify", "--all"],
        &["history", "--application", APPLICATION],
        &["export", "--service", APPLICATIONS],
        &["checkpoint", "--service", APPLICATIONS],
        &["keygen", "--output", key_file.to_str().unwrap()],
    ];
    for args in commands {
        // Like `grants … | head -0`: the reader is gone before anything is written.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut command = grants(&endpoints, args);
        command.stdout(writer).stderr(Stdio::piped());
        let output = run(command).await;
        assert_eq!(output.status.code(), Some(141), "{args:?}: {output:?}");
        assert!(!stderr(&output).contains("panicked"), "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).contains("Broken pipe"), "{args:?}: {}", stderr(&output));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_of_a_tampered_log_exits_1_and_names_the_position() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_log(dir.path(), 6, 10).await);
    tamper(dir.path(), 3);
    let url = serve(EventLog::open(dir.path()).unwrap()).await;
    let output = run(grants(&[(APPLICATIONS, &url)], &["export", "--service", APPLICATIONS])).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("applications: TAMPERED at position 3"), "{}", stderr(&output));
    let positions: Vec<u64> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [0, 1, 2], "the events before the tampered one are exported");
}

/// A TCP proxy to `upstream` that passes at most `limit` bytes back to the client, then holds the
/// connection open without passing more: a read through it stalls part way, as over a stopped network.
async fn stalling_proxy(upstream: &str, limit: usize) -> String {
    let upstream: SocketAddr = upstream.trim_start_matches("http://").parse().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let server = TcpStream::connect(upstream).await.unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut server_write).await });
                let mut buffer = vec![0; 16 * 1024];
                let mut passed = 0;
                while passed < limit {
                    let room = buffer.len().min(limit - passed);
                    let read = server_read.read(&mut buffer[..room]).await.unwrap_or(0);
                    if read == 0 || client_write.write_all(&buffer[..read]).await.is_err() {
                        return;
                    }
                    passed += read;
                }
                std::future::pending::<()>().await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_export_ends_with_a_whole_line_and_names_where_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    // Four batches of the log service (256 events each) of about 1.3 KB an event.
    let url = serve(write_log(&dir.path().join("log"), 1024, 1200).await).await;
    let full = dir.path().join("full.jsonl");
    let reference = run(grants(
        &[(APPLICATIONS, &url)],
        &["export", "--service", APPLICATIONS, "--output", full.to_str().unwrap()],
    ))
    .await;
    assert_eq!(reference.status.code(), Some(0), "{reference:?}");
    let expected = lines(&full);
    assert_eq!(expected.len(), 1024);

    // Through a connection that stalls in the middle of the second batch.
    let record_bytes = expected[0]["record_hex"].as_str().unwrap().len() / 2;
    let proxy = stalling_proxy(&url, 384 * (record_bytes + 40)).await;
    let part = dir.path().join("part.jsonl");
    let mut command =
        grants(&[(APPLICATIONS, &proxy)], &["export", "--service", APPLICATIONS, "--output", part.to_str().unwrap()]);
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&part).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the export wrote nothing before it stalled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let interrupt = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupt.success());
    let interrupted = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(interrupted.status.code(), Some(130), "{interrupted:?}");

    let written = lines(&part);
    assert!(!written.is_empty() && written.len() < expected.len(), "{} lines", written.len());
    assert_eq!(written[..], expected[..written.len()], "whole lines, in order, as the full export has them");
    let from = written.len().to_string();
    let message = stderr(&interrupted);
    assert!(
        message.contains(&format!("--service applications --from {from} --output {}", part.display())),
        "{message}"
    );

    let resumed = run(grants(
        &[(APPLICATIONS, &url)],
        &["export", "--service", APPLICATIONS, "--from", &from, "--output", part.to_str().unwrap()],
    ))
    .await;
    assert_eq!(resumed.status.code(), Some(0), "{resumed:?}");
    assert_eq!(lines(&part), expected, "the resumed export completes the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_into_a_torn_export_cuts_the_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = serve(write_log(&dir.path().join("log"), 10, 100).await).await;
    let full = dir.path().join("full.jsonl");
    let export = |from: &str, path: &Path| {
        grants(
            &[(APPLICATIONS, &url)],
            &["export", "--service", APPLICATIONS, "--from", from, "--output", path.to_str().unwrap()],
        )
    };
    assert_eq!(run(export("0", &full)).await.status.code(), Some(0));
    let text = std::fs::read_to_string(&full).unwrap();

    // What a killed export leaves: four whole lines and half of the fifth.
    let fifth_line_start: usize = text.split_inclusive('\n').take(4).map(str::len).sum();
    let fifth_line_len = text[fifth_line_start..].find('\n').unwrap();
    let torn = dir.path().join("torn.jsonl");
    std::fs::write(&torn, &text[..fifth_line_start + fifth_line_len / 2]).unwrap();

    let resumed = run(export("4", &torn)).await;
    assert_eq!(resumed.status.code(), Some(0), "{resumed:?}");
    assert!(stderr(&resumed).contains("torn line"), "{}", stderr(&resumed));
    assert_eq!(std::fs::read_to_string(&torn).unwrap(), text);

    // A resume from the wrong position is refused, naming the right one.
    let wrong = run(export("7", &torn)).await;
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    assert!(stderr(&wrong).contains("ends with applications position 9: resume with --from 10"), "{}", stderr(&wrong));
    assert_eq!(std::fs::read_to_string(&torn).unwrap(), text, "nothing is appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_an_export_of_a_history_since_rewritten_reports_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let earlier = serve(write_log(&dir.path().join("earlier"), 10, 10).await).await;
    // The service's log as an insider left it afterwards: other events from the start, every link within
    // it intact.
    let rewritten = serve(write_log(&dir.path().join("rewritten"), 10, 10).await).await;
    let export = |url: &str, from: &str, path: &Path| {
        grants(
            &[(APPLICATIONS, url)],
            &["export", "--service", APPLICATIONS, "--from", from, "--output", path.to_str().unwrap()],
        )
    };
    let full = dir.path().join("full.jsonl");
    assert_eq!(run(export(&earlier, "0", &full)).await.status.code(), Some(0));
    let text = std::fs::read_to_string(&full).unwrap();
    // The first five lines, as an export interrupted there leaves them.
    let five: String = text.split_inclusive('\n').take(5).collect();
    let part = dir.path().join("part.jsonl");
    std::fs::write(&part, &five).unwrap();

    let resumed = run(export(&rewritten, "5", &part)).await;
    assert_eq!(resumed.status.code(), Some(1), "{resumed:?}");
    assert!(stderr(&resumed).contains("applications: TAMPERED at position 5"), "{}", stderr(&resumed));
    assert!(stderr(&resumed).contains("not to the hash of the line exported before it"), "{}", stderr(&resumed));
    assert_eq!(std::fs::read_to_string(&part).unwrap(), five, "nothing is appended");
    // From the log it was exported from, the same resume completes the file.
    assert_eq!(run(export(&earlier, "5", &part)).await.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&part).unwrap(), text);
}
