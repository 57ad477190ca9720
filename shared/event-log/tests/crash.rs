//! Crash safety: a child process appends from many tasks and prints the id of every event the log
//! acknowledged; the parent kills it with SIGKILL at random moments, reopens the log, and checks that every
//! acknowledged event is there, that positions have no gap, and that the hash chain verifies.

mod sample_events;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_log::{EventLog, ExpectedVersion};
use uuid::Uuid;

const CHILD_DIR_VAR: &str = "EVENT_LOG_CRASH_CHILD_DIR";
const KILLS: usize = 24;
const APPENDING_TASKS: u32 = 32;

fn main() {
    match std::env::var(CHILD_DIR_VAR) {
        Ok(dir) => child(&dir),
        Err(_) => parent(),
    }
}

/// Appends forever from many tasks, printing each acknowledged event id on its own line.
fn child(dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let log = EventLog::open(dir).expect("child opens the log");
        let stdout = Arc::new(Mutex::new(std::io::stdout()));
        let mut tasks = Vec::new();
        for task in 0..APPENDING_TASKS {
            let (log, stdout) = (log.clone(), stdout.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let count = 1 + (n % 3) as usize;
                    let events: Vec<_> = (0..count)
                        .map(|i| sample_events::new_event(format!("task {task} append {n} event {i}").as_bytes()))
                        .collect();
                    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
                    let stream = sample_events::stream(task % 8);
                    log.append(stream, ExpectedVersion::Any, events).await.expect("append");
                    let mut out = stdout.lock().unwrap();
                    for id in ids {
                        writeln!(out, "{id}").unwrap();
                    }
                    out.flush().unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged: HashSet<Uuid> = HashSet::new();
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut stored = 0u64;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .env(CHILD_DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first_ack_tx, first_ack) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            // Only complete lines count: a line cut by the kill was never fully acknowledged to us.
            let mut ids = Vec::new();
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                if let Ok(id) = Uuid::try_parse_ascii(&line) {
                    if ids.is_empty() {
                        let _ = first_ack_tx.send(());
                    }
                    ids.push(id);
                }
            }
            ids
        });
        // Kill while appends are in full flight: a random moment 0 to 250 ms after the first acknowledgement.
        first_ack.recv_timeout(Duration::from_secs(60)).expect("child acknowledged an append");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 250_000));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let acked_this_round = reader.join().unwrap();
        acknowledged.extend(acked_this_round.iter().copied());

        let log = EventLog::open(dir.path()).expect("log reopens after SIGKILL");
        let events: Vec<_> = log.read_all(0).collect::<Result<_, _>>().expect("every position readable, no gap");
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event.position, i as u64, "gap before position {i}");
        }
        let present: HashSet<Uuid> = events.iter().map(|e| e.event_id).collect();
        let lost: Vec<_> = acknowledged.difference(&present).collect();
        assert!(lost.is_empty(), "round {round}: {} acknowledged events lost, e.g. {:?}", lost.len(), lost.first());
        let report = log.verify(..).unwrap();
        assert!(report.is_intact(), "round {round}: chain broken: {report:?}");
        assert_eq!(report.verified, events.len() as u64);
        println!(
            "round {round:2}: {:5} acknowledged this round, {:6} stored in total, chain verified",
            acked_this_round.len(),
            events.len()
        );
        stored = events.len() as u64;
    }
    assert!(acknowledged.len() > KILLS, "the child acknowledged too few events to test anything");
    println!("crash test: {KILLS} kills, {} acknowledged events all present among {stored} stored", acknowledged.len());
    println!("1 passed, 0 failed");
}
