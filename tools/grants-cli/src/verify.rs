//! `grants verify`: recompute each log's chain here, and optionally prove that it still extends a
//! checkpoint kept elsewhere.

use std::path::Path;

use anyhow::{Context, bail};
use event_log::{Hash, Timestamp};
use event_log_grpc::checkpoint::{StatementVersion, key_from_hex};
use event_log_grpc::{CheckpointAudit, SignedCheckpoint};
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
    /// Which statement the signature covers: 2 (`grants-checkpoint/v2`, with `signed_at_micros`), or 1 (the
    /// default, for files saved before there was a v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_version: Option<u32>,
    /// When the service signed it, microseconds since the Unix epoch; covered by a v2 signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at_micros: Option<i64>,
}

impl CheckpointFile {
    /// The file that keeps a verified signed checkpoint.
    pub fn signed(checkpoint: &SignedCheckpoint) -> CheckpointFile {
        CheckpointFile {
            service: checkpoint.service.clone(),
            position: checkpoint.position,
            hash: checkpoint.head_hash.to_hex(),
            public_key: Some(hex::encode(checkpoint.public_key)),
            signature: Some(hex::encode(checkpoint.signature)),
            statement_version: Some(checkpoint.version.schema_version()),
            signed_at_micros: Some(checkpoint.signed_at.as_micros()),
        }
    }

    /// The signed checkpoint the file keeps; `None` for an unsigned one (written by `verify --record`).
    fn to_signed(&self, hash: Hash) -> anyhow::Result<Option<SignedCheckpoint>> {
        let (Some(public_key), Some(signature)) = (&self.public_key, &self.signature) else {
            return Ok(None);
        };
        let version = StatementVersion::from_schema_version(self.statement_version.unwrap_or(1))?;
        let signed_at = match (version, self.signed_at_micros) {
            (StatementVersion::V2, None) => bail!("`signed_at_micros` is required with `statement_version` 2"),
            (_, micros) => Timestamp::from_micros(micros.unwrap_or_default()),
        };
        Ok(Some(SignedCheckpoint {
            service: self.service.clone(),
            position: self.position,
            head_hash: hash,
            signed_at,
            public_key: key_from_hex("public_key", public_key)?,
            signature: hex::decode(signature)
                .ok()
                .and_then(|s| s.try_into().ok())
                .context("`signature` must be 128 hexadecimal digits")?,
            version,
        }))
    }
}

struct Verdict {
    service: String,
    verified: u64,
    head: Option<(u64, Hash)>,
    mismatch: Option<(u64, String)>,
    /// Signed checkpoints recorded in the log that were checked against the recomputed chain.
    checkpoints: usize,
}

pub async fn run(
    connection: &Connection,
    service: Option<&str>,
    all: bool,
    against: Option<&Path>,
    public_key: Option<&str>,
    record: Option<&Path>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let names: Vec<String> = match (service, all) {
        (_, true) => connection.services()?.into_iter().map(|(name, _)| name).collect(),
        (Some(name), false) => vec![name.to_owned()],
        (None, false) => bail!("name a service with --service, or pass --all"),
    };
    let expected_key = public_key.map(|k| key_from_hex("--public-key", k)).transpose()?;
    let kept = against.map(|path| read_checkpoint(path, expected_key.as_ref())).transpose()?;
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
        let verdict = match verify_one(connection, &name, kept.as_ref(), expected_key).await {
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
                statement_version: None,
                signed_at_micros: None,
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

async fn verify_one(
    connection: &Connection,
    service: &str,
    kept: Option<&CheckpointFile>,
    expected_key: Option<[u8; 32]>,
) -> anyhow::Result<Verdict> {
    let mut client = connection.log_client(service).await?;
    let head = client.head().await.with_context(|| service.to_owned())?;
    let bar = ProgressBar::new(head.next_position).with_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(service.to_owned());
    let mut seen_at_checkpoint = None;
    let mut audit = CheckpointAudit::new(service, expected_key);
    let report = client
        .verify_observing(
            |checked| bar.set_position(checked),
            |position, hash, record| {
                if kept.is_some_and(|k| k.position == position) {
                    seen_at_checkpoint = Some(*hash);
                }
                audit.observe(position, hash, record);
            },
        )
        .await
        .with_context(|| service.to_owned())?;
    bar.finish_and_clear();

    let mut mismatch = report.first_mismatch.as_ref().map(|m| (m.position, m.reason.clone()));
    if mismatch.is_none() && report.verified < head.next_position {
        mismatch = Some((report.verified, format!("the log ends before the head it reports ({})", head.next_position)));
    }
    if mismatch.is_none() {
        mismatch = recorded_checkpoint_failure(&audit);
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
        checkpoints: audit.checkpoints().len(),
    })
}

/// The first signed checkpoint recorded in the log that contradicts the recomputed chain (bad signature,
/// not signing the head just before it, or a head hash the chain does not hold), as a mismatch at the
/// checkpoint's own position.
fn recorded_checkpoint_failure(audit: &CheckpointAudit) -> Option<(u64, String)> {
    let (event_position, failure) = audit.first_failure()?;
    let others = match audit.failures() - 1 {
        0 => String::new(),
        n => format!(" ({n} later checkpoints fail too)"),
    };
    Some((event_position, format!("signed checkpoint recorded here does not hold: {failure}{others}")))
}

/// Reads a kept checkpoint. A signed one must still carry a valid signature (an edited file proves
/// nothing), by `expected_key` when the auditor pins one; without it, the key the file names is trusted and
/// a warning says so.
fn read_checkpoint(path: &Path, expected_key: Option<&[u8; 32]>) -> anyhow::Result<CheckpointFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let checkpoint: CheckpointFile =
        serde_json::from_str(&text).with_context(|| format!("{} is not a checkpoint file", path.display()))?;
    let Some(hash) = Hash::from_hex(&checkpoint.hash) else {
        bail!("{}: `hash` must be 64 hexadecimal digits", path.display());
    };
    let signed = checkpoint.to_signed(hash).with_context(|| format!("{}", path.display()))?;
    match (signed, expected_key) {
        (Some(signed), _) => {
            signed.verify(expected_key).with_context(|| format!("{}", path.display()))?;
            if expected_key.is_none() {
                eprintln!(
                    "warning: {} is signed by the key it names, {}, which was not compared with the operator's \
                     (pass --public-key)",
                    path.display(),
                    hex::encode(signed.public_key)
                );
            }
        }
        (None, Some(_)) => bail!(
            "{} is not signed (written by --record), so --public-key cannot apply to it; omit --public-key or \
             keep a checkpoint saved by `grants checkpoint --save`",
            path.display()
        ),
        (None, None) => {}
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
            "signed_checkpoints": verdict.checkpoints,
        });
        say!("{value}");
        return;
    }
    let head = match verdict.head {
        Some((position, hash)) => format!("head {position} {hash}"),
        None => "empty log".to_owned(),
    };
    match &verdict.mismatch {
        None => say!(
            "{}: verified {} events, {head}, {} signed checkpoints hold",
            verdict.service,
            verdict.verified,
            verdict.checkpoints
        ),
        Some((position, reason)) => say!(
            "{}: TAMPERED at position {position}: {reason} ({} events verified before it)",
            verdict.service,
            verdict.verified
        ),
    }
}
