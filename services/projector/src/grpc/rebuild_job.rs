//! Rebuilds started through the API: one at a time, in the background, their progress and outcome kept
//! for `GetRebuildStatus`.

use contracts::projector::v1 as pb;
use contracts::values::WireValue;
use domain_kernel::Rejection;
use service_runtime::ServiceError;

use super::ProjectorApi;
use crate::models::RebuildProgress;

/// The state of the last rebuild started through the API.
#[derive(Clone, Debug, Default)]
pub(super) struct RebuildState {
    running: bool,
    progress: RebuildProgress,
    error: Option<String>,
    started_at: Option<prost_types::Timestamp>,
    finished_at: Option<prost_types::Timestamp>,
}

impl ProjectorApi {
    /// Starts a rebuild of the read models from the source logs in the background (see
    /// [`crate::models::Models::rebuild`]); its progress is in [`RebuildState`]. Refused while one runs.
    pub fn start_rebuild(&self) -> Result<(), ServiceError> {
        {
            let mut state = self.rebuild.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if state.running {
                return Err(Rejection::precondition("rebuild", "is already running").into());
            }
            *state = RebuildState { running: true, started_at: now_timestamp(), ..RebuildState::default() };
        }
        let (models, sources, shared) = (self.models.clone(), self.sources.clone(), self.rebuild.clone());
        tokio::spawn(async move {
            let progress_state = shared.clone();
            let result = models
                .rebuild(&sources, |progress| {
                    progress_state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).progress =
                        progress.clone();
                })
                .await;
            let mut state = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            state.running = false;
            state.finished_at = now_timestamp();
            match result {
                Ok(progress) => {
                    tracing::info!(
                        generation = progress.generation,
                        events = progress.events_applied,
                        "rebuild completed"
                    );
                    state.progress = progress;
                }
                Err(e) => {
                    tracing::error!(error = %e, "rebuild failed; the previous generation stays active");
                    state.error = Some(e.to_string());
                }
            }
        });
        Ok(())
    }
}

pub(super) fn status_of(state: &RebuildState) -> pb::RebuildStatus {
    let rebuild_state = if state.running {
        pb::RebuildState::Running
    } else if state.error.is_some() {
        pb::RebuildState::Failed
    } else if state.progress.finished {
        pb::RebuildState::Completed
    } else {
        pb::RebuildState::Idle
    };
    pb::RebuildStatus {
        state: rebuild_state as i32,
        generation: state.progress.generation,
        sources: state
            .progress
            .sources
            .iter()
            .map(|(source, applied, head)| pb::SourceProgress {
                source: source.clone(),
                applied: *applied,
                head: *head,
            })
            .collect(),
        events_applied: state.progress.events_applied,
        events_per_second: state.progress.events_per_second(),
        started_at: state.started_at,
        finished_at: state.finished_at,
        error: state.error.clone().unwrap_or_default(),
    }
}

fn now_timestamp() -> Option<prost_types::Timestamp> {
    Some(domain_kernel::Timestamp::now().to_wire())
}
