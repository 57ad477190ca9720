//! `grants export`: a log as JSON lines (envelope, metadata, hash and decoded payload), resumable.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Outcome;
use crate::decode::PayloadDecoder;
use crate::endpoints::Connection;

pub async fn run(
    connection: &Connection,
    service: Option<&str>,
    all: bool,
    from: u64,
    output: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let names: Vec<String> = match (service, all) {
        (_, true) => connection.services()?.into_iter().map(|(name, _)| name).collect(),
        (Some(name), false) => vec![name.to_owned()],
        (None, false) => bail!("name a service with --service, or pass --all"),
    };
    let decoder = PayloadDecoder::new()?;
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for name in names {
        let mut client = connection.log_client(&name).await?;
        let head = client.head().await.with_context(|| name.clone())?;
        let bar = ProgressBar::new(head.next_position.saturating_sub(from)).with_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} events {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(name.clone());
        let mut events = std::pin::pin!(client.read_all(from).await.with_context(|| name.clone())?);
        while let Some(event) = events.next().await {
            let event = event.with_context(|| format!("{name}: export stopped; resume with --from"))?;
            serde_json::to_writer(&mut out, &decoder.event(&name, &event))?;
            out.write_all(b"\n")?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        eprintln!("{name}: exported positions {from}..{} ", head.next_position.max(from));
    }
    out.flush()?;
    Ok(Outcome::Verified)
}
