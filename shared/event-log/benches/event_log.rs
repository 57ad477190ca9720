//! Event log benchmark: durable append throughput and latency for 1, 16 and 64 concurrent appenders
//! next to the ceiling of this disk (one small write + fdatasync at a time, same directory, same run),
//! then reading and verifying a log of one million events.
//!
//! Run with `cargo bench -p event-log`. Set `EVENT_LOG_BENCH_DIR` to measure on another disk and
//! `EVENT_LOG_BENCH_EVENTS` to change the size of the read/verify log.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use event_log::{Actor, Durability, EventLog, EventMetadata, ExpectedVersion, NewEvent, Options, StreamId, Timestamp};
use hdrhistogram::Histogram;
use uuid::Uuid;

const RUN_FOR: Duration = Duration::from_secs(3);

fn main() -> anyhow::Result<()> {
    // Run again by itself to open a log in a fresh process, so that its memory is measured alone.
    if let Some(dir) = std::env::var_os(OPEN_ONLY) {
        return open_and_measure(std::path::Path::new(&dir));
    }
    let base = std::env::var_os("EVENT_LOG_BENCH_DIR").map(std::path::PathBuf::from);
    let root = match &base {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Other work on the machine slows every figure: say how much there was.
    println!("load average at start: {}", load_average());

    let ceiling = fdatasync_ceiling(root.path(), false)?;
    let kind_ceiling = fdatasync_ceiling(root.path(), true)?;
    println!("ceiling: single-threaded 128-byte append + fdatasync: {ceiling:.0} per second");
    println!("         the same into a preallocated file (no metadata to sync): {kind_ceiling:.0} per second");
    let sled_ceiling = sled_insert_ceiling(root.path())?;
    println!(
        "         sled alone, no sync: one 16 KiB entry per {SLED_BATCH} events: {sled_ceiling:.0} events per second"
    );
    println!();
    // The disk's rate drifts while other work shares the machine: each row is also set against the
    // fdatasync rate measured right before and after it.
    println!(
        "{:<16} {:>10} {:>12} {:>10} {:>10} {:>8} {:>15} {:>14}",
        "durability", "appenders", "appends/s", "p50 ms", "p99 ms", "ratio", "ratio (prealloc)", "ratio (beside)"
    );
    for durability in [Durability::Fdatasync, Durability::WriteOnly] {
        for appenders in [1usize, 16, 64] {
            let dir = root.path().join(format!("append-{durability:?}-{appenders}"));
            let options = Options { durability, ..Options::default() };
            let log = EventLog::open_with(&dir, options)?;
            let before = fdatasync_rate(root.path(), BESIDE)?;
            let (rate, histogram) = runtime.block_on(append_load(&log, appenders));
            let beside = (before + fdatasync_rate(root.path(), BESIDE)?) / 2.0;
            println!(
                "{:<16} {:>10} {:>12.0} {:>10.2} {:>10.2} {:>7.1}x {:>15.1}x {:>7.2}x of {beside:.0}",
                format!("{durability:?}"),
                appenders,
                rate,
                histogram.value_at_quantile(0.50) as f64 / 1000.0,
                histogram.value_at_quantile(0.99) as f64 / 1000.0,
                rate / ceiling,
                rate / kind_ceiling,
                rate / beside
            );
            if appenders == 64 {
                println!(
                    "{:<16} {:>10} {:>12} of what sled alone inserts",
                    "",
                    "",
                    format!("{:.2}", rate / sled_ceiling)
                );
            }
        }
    }

    let total: u64 = std::env::var("EVENT_LOG_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    println!();
    let log = EventLog::open(root.path().join("replay"))?;
    let started = Instant::now();
    runtime.block_on(fill(&log, total))?;
    println!("wrote {total} events in {:.1} s (batches of 1000 events)", started.elapsed().as_secs_f64());
    drop(log);
    println!("on disk: {:.0} MiB", size_of_dir(&root.path().join("replay")) as f64 / (1024.0 * 1024.0));

    // "Cold": the log was just reopened, so nothing is in sled's cache (the operating system may still
    // hold the file's pages, as it would after a service restart). "Warm": right after another read.
    let replay = root.path().join("replay");
    let log = EventLog::open(&replay)?;
    let (seconds, bytes) = read_all(&log, total)?;
    report("read all, cold", total, seconds, &format!("{bytes} payload bytes decoded"));
    let (seconds, bytes) = read_all(&log, total)?;
    report("read all, warm", total, seconds, &format!("{bytes} payload bytes decoded"));
    drop(log);

    let log = EventLog::open(&replay)?;
    report("verify, cold", total, verify(&log, total)?, "hash chain recomputed");
    report("verify, warm", total, verify(&log, total)?, "hash chain recomputed");
    drop(log);

    println!("load average after reading: {}", load_average());
    // With the indexes saved when the log closed, then without them (as after a crash).
    for saved in [true, false] {
        if !saved {
            std::fs::remove_file(replay.join("indexes"))?;
        }
        println!(
            "{}",
            if saved { "opening with the saved indexes:" } else { "opening without them (indexing every event):" }
        );
        let status = std::process::Command::new(std::env::current_exe()?).env(OPEN_ONLY, &replay).status()?;
        anyhow::ensure!(status.success(), "opening the log in a process of its own failed: {status}");
    }
    Ok(())
}

/// Set to a log's directory, the benchmark only opens that log and reports time and memory.
const OPEN_ONLY: &str = "EVENT_LOG_BENCH_OPEN_ONLY";

/// Opens the log in `dir` in this fresh process: how long rebuilding its indexes takes, and the process's
/// resident memory after opening, after reading every event and after a burst of appends.
fn open_and_measure(dir: &std::path::Path) -> anyhow::Result<()> {
    let before = resident_mib()?;
    let started = Instant::now();
    let log = EventLog::open(dir)?;
    let events = log.next_position();
    println!(
        "  open {events} events in {:.2} s; resident memory {:.1} MiB before opening, {:.1} MiB after",
        started.elapsed().as_secs_f64(),
        before,
        resident_mib()?
    );
    let (_, _) = read_all(&log, events)?;
    println!("  after reading every event: {:.1} MiB", resident_mib()?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (rate, _) = runtime.block_on(append_load(&log, 64));
    println!("  after appending for {} s ({rate:.0}/s, 64 appenders): {:.1} MiB", RUN_FOR.as_secs(), resident_mib()?);
    Ok(())
}

/// The 1, 5 and 15 minute load averages, as the kernel reports them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|line| line.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// This process's resident memory (VmRSS), in MiB.
fn resident_mib() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/self/status"))?;
    Ok(kib / 1024.0)
}

/// Reads and decodes every event; returns the seconds it took and the payload bytes seen.
fn read_all(log: &EventLog, total: u64) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let mut read = 0u64;
    let mut bytes = 0usize;
    for event in log.read_all(0) {
        bytes += event?.payload.len();
        read += 1;
    }
    anyhow::ensure!(read == total, "read {read} events of {total}");
    Ok((started.elapsed().as_secs_f64(), bytes))
}

/// Verifies the whole chain; returns the seconds it took.
fn verify(log: &EventLog, total: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let report = log.verify(..)?;
    anyhow::ensure!(report.is_intact() && report.verified == total, "verification failed: {report:?}");
    Ok(started.elapsed().as_secs_f64())
}

fn report(what: &str, events: u64, seconds: f64, detail: &str) {
    println!("{what:<16} {events} events in {seconds:.2} s = {:>7.0} events/s ({detail})", events as f64 / seconds);
}

/// The most durable small writes per second one thread gets from this directory's disk: a 128-byte write
/// followed by fdatasync, appended to a growing file (as a log writes), or, `preallocated`, into a file
/// written in full beforehand, so that no file size has to be synced either (the kindest case for the disk).
fn fdatasync_ceiling(dir: &std::path::Path, preallocated: bool) -> anyhow::Result<f64> {
    fdatasync_rate_for(dir, preallocated, RUN_FOR)
}

/// How long the fdatasync rate is measured before and after each row.
const BESIDE: Duration = Duration::from_secs(1);

/// The appending fdatasync rate measured for `run_for`.
fn fdatasync_rate(dir: &std::path::Path, run_for: Duration) -> anyhow::Result<f64> {
    fdatasync_rate_for(dir, false, run_for)
}

fn fdatasync_rate_for(dir: &std::path::Path, preallocated: bool, run_for: Duration) -> anyhow::Result<f64> {
    let path = dir.join(if preallocated { "ceiling-preallocated" } else { "ceiling-append" });
    let mut file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(path)?;
    if preallocated {
        file.write_all(&vec![0u8; 64 * 1024 * 1024])?;
        file.sync_all()?;
    }
    let record = [0x42u8; 128];
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < run_for {
        if preallocated {
            file.write_all_at(&record, (count * 128) % (64 * 1024 * 1024))?;
        } else {
            file.write_all(&record)?;
        }
        file.sync_data()?;
        count += 1;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Events per batch in the sled-only ceiling: about what 64 appenders gather into one group commit.
const SLED_BATCH: u64 = 32;

/// What sled itself costs, without any sync, hashing or coordination: one entry per [`SLED_BATCH`] events
/// of about 500 bytes each (the log cuts its entries smaller, at 6 KiB), keyed by the first position,
/// applied one batch at a time as the writer applies them. No log can append
/// faster than this on the machine, whatever the disk.
fn sled_insert_ceiling(dir: &std::path::Path) -> anyhow::Result<f64> {
    let db = sled::Config::new().path(dir.join("sled-ceiling")).open()?;
    let tree = db.open_tree("ceiling")?;
    let entry = vec![0x61u8; 510 * SLED_BATCH as usize];
    let started = Instant::now();
    let mut position = 0u64;
    while started.elapsed() < RUN_FOR {
        let mut batch = sled::Batch::default();
        let mut key = b"C".to_vec();
        key.extend_from_slice(&position.to_be_bytes());
        batch.insert(key, entry.clone());
        tree.apply_batch(batch)?;
        position += SLED_BATCH;
    }
    Ok(position as f64 / started.elapsed().as_secs_f64())
}

fn event(payload_len: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "ApplicationSubmitted".into(),
        schema_version: 1,
        payload: vec![0x61; payload_len],
        metadata: EventMetadata {
            actor: Actor { subject: "partner-7".into(), role: "partner".into(), organisation: "org-7".into() },
            correlation_id: Uuid::new_v4(),
            causation_id: Uuid::new_v4(),
            occurred_at: Timestamp::now(),
            trace: None,
        },
    }
}

/// `appenders` tasks each append one event at a time for [`RUN_FOR`]; returns appends per second and the
/// latency histogram in microseconds.
async fn append_load(log: &EventLog, appenders: usize) -> (f64, Histogram<u64>) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..appenders)
        .map(|a| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new(3).expect("histogram");
                let stream = StreamId::new("application", format!("bench-{a}")).expect("stream id");
                while started.elapsed() < RUN_FOR {
                    let begun = Instant::now();
                    log.append(stream.clone(), ExpectedVersion::Any, vec![event(200)]).await.expect("append");
                    histogram.record(begun.elapsed().as_micros() as u64).expect("record");
                }
                histogram
            })
        })
        .collect();
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    for task in tasks {
        histogram.add(task.await.expect("appender")).expect("merge");
    }
    (histogram.len() as f64 / started.elapsed().as_secs_f64(), histogram)
}

/// Appends `total` events of 200-byte payloads across 10,000 streams, showing progress.
async fn fill(log: &EventLog, total: u64) -> anyhow::Result<()> {
    let log = Arc::new(log.clone());
    let batches = total.div_ceil(1000);
    let mut written = 0u64;
    for batch in 0..batches {
        let count = (total - written).min(1000) as usize;
        let stream = StreamId::new("application", format!("bench-{}", batch % 10_000))?;
        log.append(stream, ExpectedVersion::Any, (0..count).map(|_| event(200)).collect()).await?;
        written += count as u64;
        if written.is_multiple_of(100_000) || written == total {
            eprintln!("writing: {written}/{total} events");
        }
    }
    Ok(())
}

/// Bytes of the files under `dir`.
fn size_of_dir(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => size_of_dir(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
