//! `grants load` for a few seconds against the four real services running in this process (data in
//! temporary directories, the real RabbitMQ on a vhost of the test's own): its report has every part, its
//! commands succeeded, and what they did reached the projector. Figures are not checked: they depend on the
//! machine.

use std::process::Command;

use contracts::common::v1::PageRequest;
use contracts::projector::v1::{self as pj, ProjectorServiceClient};
use domain_kernel::Role;
use test_support::{Vhost, authed, token};

mod command_output;
mod platform_in_process;
use command_output::{count_before, run, stderr, stdout};

/// `grants load` with `args` against `endpoints`, acting with the test services' secret.
fn load(endpoints: &[(String, String)], args: &[&str]) -> Command {
    let mut args = args.to_vec();
    args.insert(0, "load");
    platform_in_process::grants(endpoints, &args)
}

/// The line of `report` that starts with `label`.
fn line<'a>(report: &'a str, label: &str) -> &'a str {
    report.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no `{label}`:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_load_reports_every_part_and_its_effects_reach_the_projector() {
    let vhost = Vhost::create();
    let (sources, projector, endpoints) = platform_in_process::start(vhost.uri()).await;

    // Every command is followed to the projector.
    let output = run(load(&endpoints, &["--clients", "3", "--duration", "3s", "--sample-every", "1"])).await;
    let (report, progress) = (stdout(&output), stderr(&output));
    assert!(output.status.success(), "exit {:?}\n{report}\n{progress}", output.status.code());

    assert!(line(&report, "load:").contains("3 clients, closed loop"), "{report}");
    let commands = line(&report, "commands:");
    let succeeded: u64 = count_before(commands, "succeeded");
    assert!(succeeded > 0, "{report}");
    assert_eq!(count_before::<u64>(commands, "failed"), 0, "{report}");
    assert!(count_before::<u64>(line(&report, "grants:"), "started") > 0, "{report}");

    // Latency per RPC, and all of them together.
    assert!(line(&report, "command latency (ms)").ends_with("count       p50       p99       max"), "{report}");
    let all: Vec<&str> = line(&report, "all commands").split_whitespace().collect();
    assert_eq!(all[2].parse::<u64>().unwrap(), succeeded, "{report}");
    let opened: u64 = line(&report, "applications.OpenRound").split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(opened >= 1, "every client opens a round first:\n{report}");
    let reads: Vec<&str> = line(&report, "reference: GetHead").split_whitespace().collect();
    assert_eq!(reads[4].parse::<u64>().unwrap(), succeeded, "a head read after every sampled command:\n{report}");
    line(&report, "waits on the bus (ms)");

    // Every sampled command reached the projector, and nothing is left behind.
    let projected: Vec<&str> = line(&report, "1 command in 1 ").split_whitespace().collect();
    assert_eq!(projected[4].parse::<u64>().unwrap(), succeeded, "every command sampled:\n{report}");
    assert_eq!(line(&report, "not projected:"), "not projected: 0 (source head unreadable: 0)");
    assert!(line(&report, "p99 command latency (at half load)").contains(" ms / 5 ms = "), "{report}");
    assert!(line(&report, "p99 command -> projected").contains(" ms / 50 ms = "), "{report}");
    let backlog = line(&report, "backlog at end:");
    for source in ["applications", "awards", "reporting"] {
        assert!(backlog.contains(source), "{backlog}");
    }
    assert!(line(&report, "drained in:").ends_with(" s") && !report.contains("not within"), "{report}");

    // The services run inside this test, not as processes of their own names.
    let memory = report.split("resident memory (start -> end):\n").nth(1).unwrap_or_else(|| panic!("{report}"));
    for (service, _) in &endpoints {
        let memory = line(memory, &format!("{service} "));
        assert!(memory.contains(&format!("no local process named {service}")), "{memory}");
    }
    assert!(progress.lines().any(|l| l.starts_with("load ") && l.contains(" commands (")), "{progress}");

    // The projector holds what the load did: every round it opened.
    let client = projector.client(ProjectorServiceClient::new).await;
    let request = pj::ListRoundPipelinesRequest {
        page: Some(PageRequest { page_size: 500, page_token: String::new() }),
        as_of: None,
    };
    let staff = token(Role::ProgramOfficer, "officer-1", None);
    let rounds = client.clone().list_round_pipelines(authed(request, &staff)).await.unwrap().into_inner().rounds;
    assert_eq!(rounds.len() as u64, opened, "{report}");

    projector.stop().await;
    for service in [sources.reporting, sources.awards, sources.applications] {
        service.stop().await;
    }
}

#[tokio::test]
async fn bad_options_are_named_with_their_rule() {
    let output = run(load(&[], &["--duration", "30"])).await;
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(error.contains("--duration") && error.contains("must be a whole number followed by ms, s or m"), "{error}");
    let output = run(load(&[], &["--rate", "0"])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("must be a number of commands per second above zero"), "{}", stderr(&output));
}
