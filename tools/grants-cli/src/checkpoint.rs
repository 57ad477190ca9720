//! `grants checkpoint` and `grants keygen`: signed checkpoints of a service's log.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
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
    let recorded = client.signed_checkpoints(service).await.with_context(|| service.to_owned())?;
    let Some(latest) = recorded.into_iter().last() else {
        bail!("{service} has recorded no signed checkpoint (is it configured with --checkpoint-key-file?)");
    };
    let checkpoint = match latest {
        Ok(checkpoint) => checkpoint,
        Err(e) => {
            say!("{service}: TAMPERED: the latest checkpoint is malformed: {e}");
            return Ok(Outcome::Tampered);
        }
    };
    if let Err(e) = checkpoint.verify(expected.as_ref()) {
        say!("{service}: TAMPERED: checkpoint at position {}: {e}", checkpoint.position);
        return Ok(Outcome::Tampered);
    }
    // The signature covers a hash; the log must hold that hash at that position in a chain that verifies.
    let mut at_position = None;
    let report = client
        .verify_observing(
            |_| {},
            |position, hash| {
                if position == checkpoint.position {
                    at_position = Some(*hash);
                }
            },
        )
        .await
        .with_context(|| service.to_owned())?;
    if let Some(mismatch) = report.first_mismatch.filter(|m| m.position <= checkpoint.position) {
        say!("{service}: TAMPERED at position {}: {}", mismatch.position, mismatch.reason);
        return Ok(Outcome::Tampered);
    }
    if at_position != Some(checkpoint.head_hash) {
        say!("{service}: TAMPERED: the log does not hold the signed head at position {}", checkpoint.position);
        return Ok(Outcome::Tampered);
    }
    let key = hex::encode(checkpoint.public_key);
    let trust =
        if expected.is_some() { "the expected key" } else { "the key it names (compare it with the operator's)" };
    say!(
        "{service}: checkpoint verified: position {} hash {} signed by {trust} {key}",
        checkpoint.position,
        checkpoint.head_hash
    );
    if let Some(path) = save {
        let file = CheckpointFile {
            service: service.to_owned(),
            position: checkpoint.position,
            hash: checkpoint.head_hash.to_hex(),
            public_key: Some(key),
            signature: Some(hex::encode(checkpoint.signature)),
        };
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
