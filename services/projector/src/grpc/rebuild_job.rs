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

impl ProjectorApi {
    /// Shows the last rebuild's state and progress in the service's `metrics`.
    pub fn show_rebuilds_in(&self, metrics: &service_runtime::Metrics) {
        let shared = self.rebuild.clone();
        let status = move || status_of(&shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let read = status.clone();
        metrics.add_gauges(
            "grants_projector_rebuild_state",
            "1 for the state of the last rebuild started through the API (idle before any)",
            "state",
            move || {
                let state = pb::RebuildState::try_from(read().state).unwrap_or(pb::RebuildState::Unspecified);
                let name = state.as_str_name().trim_start_matches("REBUILD_STATE_").to_lowercase();
                vec![(name, 1)]
            },
        );
        let read = status.clone();
        metrics.add_gauges(
            "grants_projector_rebuild_events_applied",
            "Events the last rebuild applied so far",
            "",
            move || vec![(String::new(), gauge(read().events_applied))],
        );
        let read = status.clone();
        metrics.add_gauges(
            "grants_projector_rebuild_applied_next_position",
            "Per source: the next position past what the last rebuild applied",
            "source",
            move || read().sources.into_iter().map(|s| (s.source, gauge(s.applied))).collect(),
        );
        metrics.add_gauges(
            "grants_projector_rebuild_source_head_position",
            "Per source: the head the last rebuild reads up to",
            "source",
            move || status().sources.into_iter().map(|s| (s.source, gauge(s.head))).collect(),
        );
        let models = self.models.clone();
        metrics.add_gauges("grants_projector_active_generation", "The read models' active generation", "", move || {
            vec![(String::new(), gauge(models.active().number))]
        });
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
