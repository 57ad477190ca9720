//! `grants verify`: recompute each log's chain here, and optionally prove that it still extends a
//! checkpoint kept elsewhere.

use std::path::Path;

use anyhow::{Context, bail};
use event_log::Hash;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Outcome;
use crate::endpoints::Connection;
use crate::stdout::say;

/// A log head an auditor keeps elsewhere: the log must still contain exactly this event at this position.
/// Written by `verify --record` (unsigned) or `checkpoint --save` (with the service's signature).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointFile {
    pub service: String,
    pub position: u64,
    /// Hex SHA-256 of the event at `position`.
    pub hash: String,
    /// The service's Ed25519 public key, hex, when the checkpoint was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The service's Ed25519 signature of the checkpoint statement, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

struct Verdict {
    service: String,
    verified: u64,
    head: Option<(u64, Hash)>,
    mismatch: Option<(u64, String)>,
}

pub async fn run(
    connection: &Connection,
    service: Option<&str>,
    all: bool,
    against: Option<&Path>,
    record: Option<&Path>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let names: Vec<String> = match (service, all) {
        (_, true) => connection.services()?.into_iter().map(|(name, _)| name).collect(),
        (Some(name), false) => vec![name.to_owned()],
        (None, false) => bail!("name a service with --service, or pass --all"),
    };
    let kept = against.map(read_checkpoint).transpose()?;
    if let (Some(kept), Some(name)) = (&kept, service)
        && kept.service != name
    {
        bail!("the checkpoint in --against is of `{}`, not `{name}`", kept.service);
    }
    // Missing credentials or addresses are bad input, said once, not a verdict on each service.
    connection.token()?;
    let endpoints = names.iter().map(|name| connection.url_of(name)).collect::<anyhow::Result<Vec<_>>>()?;
    let targets: Vec<String> = names.iter().zip(&endpoints).map(|(name, url)| format!("{name} at {url}")).collect();
    eprintln!("grants: verifying {}", targets.join(", "));
    let (mut tampered, mut unchecked) = (false, false);
    for (name, endpoint) in names.into_iter().zip(endpoints) {
        // Each service is checked and reported, whatever the others' state: one unreachable service must
        // not hide what the rest show.
        let verdict = match verify_one(connection, &name, kept.as_ref()).await {
            Ok(verdict) => verdict,
            Err(error) => {
                print_unchecked(&name, &endpoint, &error, json);
                unchecked = true;
                continue;
            }
        };
        tampered |= verdict.mismatch.is_some();
        print_verdict(&verdict, &endpoint, json);
        if let (Some(path), None, Some((position, hash))) = (record, &verdict.mismatch, verdict.head) {
            let checkpoint = CheckpointFile {
                service: name.clone(),
                position,
                hash: hash.to_hex(),
                public_key: None,
                signature: None,
            };
            std::fs::write(path, serde_json::to_string_pretty(&checkpoint)? + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(match (tampered, unchecked) {
        (true, _) => Outcome::Tampered,
        (false, true) => Outcome::CouldNotCheck,
        (false, false) => Outcome::Verified,
    })
}

async fn verify_one(connection: &Connection, service: &str, kept: Option<&CheckpointFile>) -> anyhow::Result<Verdict> {
    let mut client = connection.log_client(service).await?;
    let head = client.head().await.with_context(|| service.to_owned())?;
    let bar = ProgressBar::new(head.next_position).with_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(service.to_owned());
    let mut seen_at_checkpoint = None;
    let report = client
        .verify_observing(
            |checked| bar.set_position(checked),
            |position, hash| {
                if kept.is_some_and(|k| k.position == position) {
                    seen_at_checkpoint = Some(*hash);
                }
            },
        )
        .await
        .with_context(|| service.to_owned())?;
    bar.finish_and_clear();

    let mut mismatch = report.first_mismatch.as_ref().map(|m| (m.position, m.reason.clone()));
    if mismatch.is_none() && report.verified < head.next_position {
        mismatch = Some((report.verified, format!("the log ends before the head it reports ({})", head.next_position)));
    }
    if mismatch.is_none()
        && let Some(kept) = kept
    {
        match seen_at_checkpoint {
            None => {
                mismatch = Some((kept.position, "the log no longer reaches the kept checkpoint".into()));
            }
            Some(hash) if hash.to_hex() != kept.hash.to_lowercase() => {
                mismatch =
                    Some((kept.position, format!("hash {hash} differs from the kept checkpoint's {}", kept.hash)));
            }
            Some(_) => {}
        }
    }
    Ok(Verdict {
        service: service.to_owned(),
        verified: report.verified,
        head: report.last_verified.map(|h| (h.position, h.hash)),
        mismatch,
    })
}

fn read_checkpoint(path: &Path) -> anyhow::Result<CheckpointFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let checkpoint: CheckpointFile =
        serde_json::from_str(&text).with_context(|| format!("{} is not a checkpoint file", path.display()))?;
    let Some(hash) = Hash::from_hex(&checkpoint.hash) else {
        bail!("{}: `hash` must be 64 hexadecimal digits", path.display());
    };
    // A signed checkpoint file must still carry a valid signature: an edited file proves nothing.
    if let (Some(public_key), Some(signature)) = (&checkpoint.public_key, &checkpoint.signature) {
        let signed = event_log_grpc::SignedCheckpoint {
            service: checkpoint.service.clone(),
            position: checkpoint.position,
            head_hash: hash,
            signed_at: event_log::Timestamp::default(),
            public_key: event_log_grpc::checkpoint::key_from_hex("public_key", public_key)?,
            signature: hex::decode(signature)
                .ok()
                .and_then(|s| s.try_into().ok())
                .with_context(|| format!("{}: `signature` must be 128 hexadecimal digits", path.display()))?,
        };
        signed.verify(None).with_context(|| format!("{}", path.display()))?;
    }
    Ok(checkpoint)
}

fn print_unchecked(service: &str, endpoint: &str, error: &anyhow::Error, as_json: bool) {
    let reason = format!("{error:#}");
    // The errors already name the service; the line names it once.
    let reason = reason.strip_prefix(&format!("{service}: ")).unwrap_or(&reason);
    if as_json {
        say!("{}", json!({ "service": service, "endpoint": endpoint, "could_not_check": reason }));
    } else {
        say!("{service}: could not check: {reason}");
    }
}

fn print_verdict(verdict: &Verdict, endpoint: &str, as_json: bool) {
    if as_json {
        let value = json!({
            "service": verdict.service,
            "endpoint": endpoint,
            "verified_events": verdict.verified,
            "head_position": verdict.head.map(|(p, _)| p),
            "head_hash": verdict.head.map(|(_, h)| h.to_hex()),
            "first_mismatch": verdict.mismatch.as_ref().map(|(p, _)| p),
            "reason": verdict.mismatch.as_ref().map(|(_, r)| r),
        });
        say!("{value}");
        return;
    }
    let head = match verdict.head {
        Some((position, hash)) => format!("head {position} {hash}"),
        None => "empty log".to_owned(),
    };
    match &verdict.mismatch {
        None => say!("{}: verified {} events, {head}", verdict.service, verdict.verified),
        Some((position, reason)) => say!(
            "{}: TAMPERED at position {position}: {reason} ({} events verified before it)",
            verdict.service,
            verdict.verified
        ),
    }
}
