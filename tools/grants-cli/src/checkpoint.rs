//! `grants checkpoint` and `grants keygen`: signed checkpoints of a service's log.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use contracts::names;
use event_log_grpc::CheckpointAudit;
use event_log_grpc::checkpoint::key_from_hex;

use crate::Outcome;
use crate::endpoints::Connection;
use crate::stdout::say;
use crate::verify::CheckpointFile;

pub async fn run(
    connection: &Connection,
    service: &str,
    public_key: Option<&str>,
    save: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let expected = public_key.map(|k| key_from_hex("--public-key", k)).transpose()?;
    let mut client = connection.log_client(service).await?;
    // Every checkpoint in the log is checked against the chain recomputed here; the latest is the answer.
    let mut audit = CheckpointAudit::new(service, expected);
    let report = client
        .verify_observing(|_| {}, |position, hash, record| audit.observe(position, hash, record))
        .await
        .with_context(|| service.to_owned())?;
    if let Some(mismatch) = report.first_mismatch {
        say!("{service}: TAMPERED at position {}: {}", mismatch.position, mismatch.reason);
        return Ok(Outcome::Tampered);
    }
    if report.verified == 0 {
        // The projector's log stays empty: it only reads the others' events.
        if service == names::service::PROJECTOR {
            bail!("the projector records no events of its own; it has no checkpoints");
        }
        bail!("{service}'s log holds no events yet, so it has no checkpoints");
    }
    if let Some((event_position, failure)) = audit.first_failure() {
        say!("{service}: TAMPERED: the checkpoint recorded at position {event_position}: {failure}");
        return Ok(Outcome::Tampered);
    }
    let Some(checkpoint) = audit.checkpoints().last().and_then(|c| c.checkpoint.clone()) else {
        bail!("{service} has recorded no signed checkpoint (is it configured with --checkpoint-key-file?)");
    };
    let key = hex::encode(checkpoint.public_key);
    let trust =
        if expected.is_some() { "the expected key" } else { "the key it names (compare it with the operator's)" };
    let time = if checkpoint.covers_signing_time() {
        format!("signed at {}", crate::decode::rfc3339(checkpoint.signed_at.as_micros()))
    } else {
        "signed under statement v1, which does not cover when it was signed,".to_owned()
    };
    say!(
        "{service}: checkpoint verified: position {} hash {} {time} by {trust} {key}",
        checkpoint.position,
        checkpoint.head_hash
    );
    if let Some(path) = save {
        let file = CheckpointFile::signed(&checkpoint);
        std::fs::write(path, serde_json::to_string_pretty(&file)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Outcome::Verified)
}

/// Writes a new random Ed25519 seed as hex to `output` (owner-only) and prints the public key.
pub fn keygen(output: &Path) -> anyhow::Result<Outcome> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(output).with_context(|| format!("cannot create {}", output.display()))?;
    file.write_all(format!("{}\n", hex::encode(seed)).as_bytes())?;
    file.sync_all()?;
    let public = event_log_grpc::checkpoint::public_key_of(&seed);
    say!("{}", hex::encode(public));
    Ok(Outcome::Verified)
}
