//! Writes the migration test's fixture with the log as it is: a log directory in format
//! `grants-event-log/1`, and `expected.txt`, what this code reads back from it, packed into
//! `tests/migration/format-1.tar.gz`. Run once, before the format changed: `cargo run -p event-log
//! --example write_format_1_fixture`.

#[path = "../tests/migration/fixture.rs"]
mod fixture;

use std::fmt::Write as _;

use event_log::EventLog;
use fixture::Step;
use sha2::{Digest, Sha256};

fn main() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let dir = work.path().join("log");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut expected = String::new();
    {
        let log = EventLog::open(&dir)?;
        for (i, step) in fixture::steps().into_iter().enumerate() {
            match step {
                Step::Append(request) => {
                    let r = runtime.block_on(log.append_request(request))?;
                    writeln!(expected, "result {i} {} {} {}", r.first_position, r.last_position, r.stream_version)?;
                }
                Step::PutMarker(marker) => runtime.block_on(log.put_marker(&marker.name, marker.value))?,
            }
        }
        let head = log.head()?.expect("events were appended");
        writeln!(expected, "head {} {}", head.position, head.hash)?;
        for stored in log.read_all(0).stored() {
            let stored = stored?;
            let record_digest = hex::encode(Sha256::digest(&stored.record));
            writeln!(expected, "event {} {} {record_digest}", stored.position, stored.hash)?;
        }
        for stream in fixture::streams() {
            let positions: Vec<String> =
                log.read_stream(&stream, 0).map(|e| e.map(|e| e.position.to_string())).collect::<Result<_, _>>()?;
            writeln!(expected, "stream {stream} {}", positions.join(","))?;
        }
        for name in [
            "consumer/0",
            "consumer/1",
            "consumer/2",
            "consumer/3",
            "relay/0",
            "relay/1",
            "relay/2",
            "relay/3",
            "relay/4",
            "relay/5",
        ] {
            let value = log.marker(name)?.map_or("none".to_owned(), hex::encode);
            writeln!(expected, "marker {name} {value}")?;
        }
        let report = log.verify(..)?;
        anyhow::ensure!(report.is_intact(), "the fixture does not verify: {report:?}");
        writeln!(expected, "verified {}", report.verified)?;
    }
    std::fs::write(work.path().join("expected.txt"), &expected)?;
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/migration/format-1.tar.gz");
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&out)?, flate2::Compression::best());
    let mut archive = tar::Builder::new(gz);
    archive.append_dir_all("log", &dir)?;
    archive.append_path_with_name(work.path().join("expected.txt"), "expected.txt")?;
    archive.into_inner()?.finish()?;
    println!("wrote {}", out.display());
    Ok(())
}
