//! `grants load`: drives the running platform over its public gRPC APIs with a realistic mix (clients
//! walking grants through their whole life cycle, see [`walk`]) and reports throughput, latency per RPC,
//! how long answers take to reach the projector, the backlog left at the end and each service's memory.

mod memory;
mod pacing;
mod projection;
mod report;
mod stats;
mod walk;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use contracts::names::service::{APPLICATIONS, AWARDS, PROJECTOR, REPORTING};
use contracts::projector::v1::ProjectorServiceClient;
use tokio_util::sync::CancellationToken;

use self::pacing::Pacer;
use self::projection::{Projection, drain};
use self::report::{Ending, Setup, backlog_line, progress_line};
use self::walk::{Run, Walker};
use crate::Outcome;
use crate::demo::Tokens;
use crate::endpoints::Connection;

/// How long the projector may take to apply what its sources hold once the load has stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);
/// How often a progress line is printed.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// How many clients walk grants at the same time, each with connections of its own.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
    clients: u16,
    /// How long to drive the platform: a number with ms, s or m, as 30s.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Commands per second over all clients, started on a fixed schedule whatever the answers (open loop;
    /// the report shows how late starts were when no client was free). Without it, closed loop: each client
    /// sends its next command as soon as the previous one is answered.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
    /// Follow one command in this many to the projector.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    sample_every: u64,
}

/// `--duration`: a whole number with its unit.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let rule = "must be a whole number followed by ms, s or m, as 30s";
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().map_err(|_| format!("`{text}` {rule}"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        _ => return Err(format!("`{text}` {rule}")),
    };
    if duration.is_zero() {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(duration)
}

/// `--rate`: commands per second, more than zero.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("`{text}` must be a number of commands per second above zero, as 250 or 12.5")),
    }
}

pub async fn run(connection: &Connection, args: &LoadArgs) -> anyhow::Result<Outcome> {
    let tokens = Tokens::issue(connection)?;
    let projector = ProjectorServiceClient::new(connection.channel(PROJECTOR).await?);
    let mut logs = BTreeMap::new();
    for source in [APPLICATIONS, AWARDS, REPORTING] {
        logs.insert(source, connection.log_client(source).await?);
    }
    let projection = Arc::new(Projection::new(projector, tokens.auditor.clone(), logs));
    projection.lag().await.context("the projector must answer GetLag before the load starts")?;
    let memory_at_start = memory(connection)?;

    let pacer = args.rate.map(Pacer::new);
    let year = time::OffsetDateTime::now_utc().year();
    let stop = CancellationToken::new();
    let run = Arc::new(Run::new(connection.clone(), tokens, projection, pacer, stop, year, args.sample_every));
    let mut walkers = Vec::with_capacity(usize::from(args.clients));
    for id in 0..usize::from(args.clients) {
        walkers.push(Walker::connect(id, Arc::clone(&run)).await?);
    }
    let watch_stop = CancellationToken::new();
    let watcher = {
        let (run, watch_stop) = (Arc::clone(&run), watch_stop.clone());
        tokio::spawn(async move { run.projection.watch(&run.stats, watch_stop).await })
    };
    let (elapsed, interrupted) = drive(&run, walkers, args.duration).await?;

    let backlog = run.projection.lag().await.context("the backlog at the end")?;
    eprintln!("load stopped after {:.1} s; backlog: {}", elapsed.as_secs_f64(), backlog_line(&backlog));
    let drained = drain(&run.projection, DRAIN_LIMIT, |lag| eprintln!("draining: {}", backlog_line(lag))).await?;
    // Samples answered just before the end are projected by now, once the watcher has looked again.
    tokio::time::sleep(Duration::from_millis(50)).await;
    watch_stop.cancel();
    watcher.await.context("the projection watcher ended abnormally")??;
    let memory_at_end = memory(connection)?;

    let snapshot = run.stats.snapshot();
    let setup = Setup { clients: usize::from(args.clients), rate: args.rate, sample_every: args.sample_every };
    let memory = memory_at_start
        .into_iter()
        .zip(memory_at_end)
        .map(|((service, start), (_, end))| (service, start, end))
        .collect();
    let ending = Ending {
        elapsed,
        backlog,
        drained,
        drain_limit: DRAIN_LIMIT,
        unresolved: run.projection.unresolved(),
        lag_polls: run.projection.polls(),
        head_reads: run.projection.head_reads(),
        memory,
    };
    report::print(&setup, &snapshot, &ending);
    let complete = snapshot.failed() == 0 && drained.is_some() && ending.unresolved == (0, 0);
    Ok(match (complete, interrupted) {
        (false, _) => Outcome::CouldNotCheck,
        (true, true) => Outcome::Interrupted,
        (true, false) => Outcome::Verified,
    })
}

/// Lets the clients walk until `duration` has passed (or ctrl-c), with a progress line a second; then stops
/// them and waits for their last commands' answers. Returns how long they ran, and whether ctrl-c ended it.
async fn drive(run: &Run, walkers: Vec<Walker>, duration: Duration) -> anyhow::Result<(Duration, bool)> {
    let started = Instant::now();
    let clients: Vec<_> = walkers.into_iter().map(|walker| tokio::spawn(walker.walk())).collect();
    let deadline = started + duration;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let (mut total, mut stopped_early) = (0, false);
    while !stopped_early && Instant::now() < deadline {
        let next = (Instant::now() + PROGRESS_INTERVAL).min(deadline);
        stopped_early = tokio::select! {
            () = tokio::time::sleep_until(next.into()) => false,
            _ = &mut interrupted => true,
        };
        let (window, grants, projected) = run.stats.take_window();
        total += window.succeeded;
        eprintln!("{}", progress_line(started.elapsed(), total, &window, &grants, &projected));
        if stopped_early {
            eprintln!("interrupted: stopping the clients and reporting what was measured");
        }
    }
    run.stop.cancel();
    for client in clients {
        client.await.context("a client ended abnormally")?;
    }
    Ok((started.elapsed(), stopped_early))
}

/// Each service's resident memory, by the address it is reached at.
fn memory(connection: &Connection) -> anyhow::Result<Vec<(String, memory::Resident)>> {
    let services = connection.services()?;
    Ok(services.into_iter().map(|(service, url)| (service.clone(), memory::resident(&service, &url))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_rates_a_positive_number() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["30", "s", "1.5s", "-3s", "3h"] {
            assert_eq!(
                parse_duration(bad),
                Err(format!("`{bad}` must be a whole number followed by ms, s or m, as 30s"))
            );
        }
        assert_eq!(parse_duration("0s"), Err("`0s` must be longer than zero".to_owned()));
        assert_eq!(parse_rate("12.5"), Ok(12.5));
        for bad in ["0", "-1", "fast", "inf"] {
            assert!(parse_rate(bad).unwrap_err().contains("above zero"), "{bad}");
        }
    }
}
