//! `grants projector`: a running projector's read models, rebuilt from every source log (with progress)
//! or summed up as a digest, through its gRPC API.

use std::time::Duration;

use clap::Subcommand;
use contracts::names::service;
use contracts::projector::v1::{self as pb, ProjectorServiceClient};
use domain_kernel::Role;
use tonic::transport::Channel;

use crate::Outcome;
use crate::endpoints::{Connection, authed, refused};
use crate::stdout::say;

/// How often a rebuild's progress is asked for and printed.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Subcommand)]
pub enum ProjectorCommand {
    /// Rebuild the read models from every source log into a new generation, printing progress until it
    /// is active (queries are answered from the current one meanwhile). Needs an administrator.
    Rebuild,
    /// Print the digest of the active read models (generation, entries, SHA-256), to compare replicas or a
    /// live generation with a rebuilt one.
    Digest,
}

pub async fn run(connection: &Connection, command: &ProjectorCommand) -> anyhow::Result<Outcome> {
    match command {
        ProjectorCommand::Digest => {
            let token = connection.token_as(Role::Auditor)?;
            let mut client = client(connection).await?;
            let request = authed(pb::GetDigestRequest {}, &token)?;
            let digest = client.get_digest(request).await.map_err(refused("projector digest"))?.into_inner();
            say!("generation {} entries {} sha256 {}", digest.generation, digest.entries, digest.sha256);
            Ok(Outcome::Verified)
        }
        ProjectorCommand::Rebuild => rebuild(connection).await,
    }
}

async fn client(connection: &Connection) -> anyhow::Result<ProjectorServiceClient<Channel>> {
    Ok(ProjectorServiceClient::new(connection.channel(service::PROJECTOR).await?))
}

async fn rebuild(connection: &Connection) -> anyhow::Result<Outcome> {
    let token = connection.token_as(Role::Administrator)?;
    let mut client = client(connection).await?;
    client.rebuild(authed(pb::RebuildRequest {}, &token)?).await.map_err(refused("projector rebuild"))?;
    loop {
        tokio::time::sleep(PROGRESS_INTERVAL).await;
        let request = authed(pb::GetRebuildStatusRequest {}, &token)?;
        let status =
            client.get_rebuild_status(request).await.map_err(refused("projector rebuild status"))?.into_inner();
        say!("{}", progress_line(&status));
        match pb::RebuildState::try_from(status.state) {
            Ok(pb::RebuildState::Completed) => {
                say!("rebuild completed: generation {} is active", status.generation);
                return Ok(Outcome::Verified);
            }
            Ok(pb::RebuildState::Failed) => anyhow::bail!("rebuild failed: {}", status.error),
            _ => {}
        }
    }
}

/// One line of progress: the generation, events applied and their rate, and each source's position.
fn progress_line(status: &pb::RebuildStatus) -> String {
    let sources: Vec<String> =
        status.sources.iter().map(|s| format!("{} {}/{}", s.source, s.applied, s.head)).collect();
    format!(
        "generation {}: {} events, {:.0} events/s [{}]",
        status.generation,
        status.events_applied,
        status.events_per_second,
        sources.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_names_every_source_with_its_position_and_head() {
        let status = pb::RebuildStatus {
            generation: 3,
            events_applied: 1500,
            events_per_second: 2999.6,
            sources: vec![
                pb::SourceProgress { source: "applications".into(), applied: 1000, head: 1200 },
                pb::SourceProgress { source: "awards".into(), applied: 500, head: 500 },
            ],
            ..Default::default()
        };
        assert_eq!(
            progress_line(&status),
            "generation 3: 1500 events, 3000 events/s [applications 1000/1200, awards 500/500]"
        );
    }
}
