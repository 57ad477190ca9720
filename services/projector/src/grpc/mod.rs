//! The query API: decode, authorise per object, answer from the active generation (or an as-of replay),
//! encode. Rebuilds run in the background; their progress is kept for `GetRebuildStatus`. The rules that
//! bound which indicator tables can be asked for (see [`crate::disclosure`]) are applied here.

mod rebuild_job;
mod requests;

use std::sync::{Arc, Mutex};

use contracts::projector::v1::{self as pb, ProjectorService};
use domain_kernel::Rejection;
use service_runtime::{LogSources, ServiceError, actor_of};
use tonic::{Request, Response, Status};

use self::rebuild_job::{RebuildState, status_of};
use self::requests::{judging_day, optional_id, page, parse_as_of, parse_date, partner_org, required_id, today};
use crate::as_of::{Point, Replayed, replay_to};
use crate::disclosure::{Disclosure, month_end_at_or_before};
use crate::models::{Models, read_checkpoint};
use crate::projection::SOURCES;
use crate::queries::{self, SummaryFilter, date_of};
use crate::store::{StoreError, View};

#[derive(Clone, Debug)]
pub struct ProjectorApi {
    models: Models,
    sources: LogSources,
    disclosure: Arc<Disclosure>,
    rebuild: Arc<Mutex<RebuildState>>,
}

impl ProjectorApi {
    pub fn new(models: Models, sources: LogSources, disclosure: Disclosure) -> ProjectorApi {
        ProjectorApi { models, sources, disclosure: Arc::new(disclosure), rebuild: Arc::default() }
    }

    /// Runs `answer` on the live generation or on an as-of replay.
    async fn answer<T>(
        &self,
        as_of: Option<&Point>,
        answer: impl FnOnce(&dyn ViewRef) -> Result<T, StoreError>,
    ) -> Result<T, Status> {
        match as_of {
            None => answer(&self.models.active().tree).map_err(store_error),
            Some(point) => answer(&self.replayed(point).await?.store).map_err(store_error),
        }
    }

    async fn replayed(&self, point: &Point) -> Result<Replayed, Status> {
        replay_to(&self.sources, point)
            .await
            .map_err(|e| Status::from(ServiceError::unavailable_from("cannot replay the sources", e)))
    }

    /// The program summary live, or as of `point` with indicator counts at the month end at or before it.
    async fn summary_at(&self, point: Option<&Point>, mut filter: SummaryFilter) -> Result<pb::ProgramSummary, Status> {
        let disclosure = &self.disclosure;
        let Some(point) = point else {
            let view = &self.models.active().tree;
            return queries::program_summary(view, &filter, disclosure).map_err(store_error);
        };
        let replayed = self.replayed(point).await?;
        let latest = match point {
            Point::RecordedAt(at) => Some(at.as_micros()),
            Point::Positions(_) => replayed.latest_recorded_at.map(|at| at.as_micros()),
        };
        // Nothing included: no report either; the cut is then the month end before the epoch's month.
        filter.indicators_until = Some(month_end_at_or_before(latest.unwrap_or(0)));
        queries::program_summary(&replayed.store, &filter, disclosure).map_err(store_error)
    }
}

fn store_error(e: StoreError) -> Status {
    ServiceError::internal_from("the read models failed", e).into()
}

/// A [`View`] behind a reference, so that one closure answers from either store.
pub trait ViewRef {
    fn view_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn view_scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

impl<V: View> ViewRef for V {
    fn view_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(key)
    }
    fn view_scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.scan_limit(prefix, after, limit)
    }
}

impl View for &dyn ViewRef {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        // Through the trait object itself: `self.view_get` would pick the blanket impl for this very
        // reference type and recurse.
        (**self).view_get(key)
    }
    fn scan_limit(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        (**self).view_scan(prefix, after, limit)
    }
}

#[tonic::async_trait]
impl ProjectorService for ProjectorApi {
    async fn list_round_pipelines(
        &self,
        request: Request<pb::ListRoundPipelinesRequest>,
    ) -> Result<Response<pb::ListRoundPipelinesResponse>, Status> {
        let req = request.into_inner();
        let (limit, after) = page(req.page)?;
        let point = parse_as_of(req.as_of)?;
        let (rounds, more) =
            self.answer(point.as_ref(), |v| queries::round_pipelines(&v, after.as_deref(), limit)).await?;
        let next_page_token =
            if more { rounds.last().map(|r| r.round_id.clone()).unwrap_or_default() } else { String::new() };
        Ok(Response::new(pb::ListRoundPipelinesResponse { rounds, next_page_token }))
    }

    async fn get_round_pipeline(
        &self,
        request: Request<pb::GetRoundPipelineRequest>,
    ) -> Result<Response<pb::RoundPipeline>, Status> {
        let req = request.into_inner();
        let round_id = required_id("round_id", &req.round_id)?;
        let point = parse_as_of(req.as_of)?;
        let found = self.answer(point.as_ref(), |v| queries::round_pipeline(&v, &round_id)).await?;
        found.map(Response::new).ok_or_else(|| ServiceError::from(Rejection::not_found("round", &round_id)).into())
    }

    async fn list_portfolios(
        &self,
        request: Request<pb::ListPortfoliosRequest>,
    ) -> Result<Response<pb::ListPortfoliosResponse>, Status> {
        let req = request.into_inner();
        let (limit, after) = page(req.page)?;
        let round = optional_id("round_id", &req.round_id)?;
        let point = parse_as_of(req.as_of)?;
        let on = judging_day(req.on_date.as_ref(), point.as_ref())?;
        let (portfolios, more) = self
            .answer(point.as_ref(), |v| queries::portfolios(&v, round.as_deref(), after.as_deref(), limit, on))
            .await?;
        let next_page_token =
            if more { portfolios.last().map(|p| p.organisation_id.clone()).unwrap_or_default() } else { String::new() };
        Ok(Response::new(pb::ListPortfoliosResponse { portfolios, next_page_token }))
    }

    async fn get_partner_portfolio(
        &self,
        request: Request<pb::GetPartnerPortfolioRequest>,
    ) -> Result<Response<pb::PartnerPortfolio>, Status> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        let organisation_id = required_id("organisation_id", &req.organisation_id)?;
        let not_found = || Status::from(ServiceError::from(Rejection::not_found("organisation", &organisation_id)));
        if partner_org(&actor).is_some_and(|own| own != organisation_id) {
            return Err(not_found());
        }
        let point = parse_as_of(req.as_of)?;
        let on = judging_day(req.on_date.as_ref(), point.as_ref())?;
        let found = self.answer(point.as_ref(), |v| queries::portfolio(&v, &organisation_id, on)).await?;
        found.map(Response::new).ok_or_else(not_found)
    }

    async fn get_program_summary(
        &self,
        request: Request<pb::GetProgramSummaryRequest>,
    ) -> Result<Response<pb::ProgramSummary>, Status> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        let mut filter = SummaryFilter {
            round_id: optional_id("round_id", &req.round_id)?,
            organisation_id: optional_id("organisation_id", &req.organisation_id)?,
            indicators_until: None,
        };
        match partner_org(&actor) {
            Some(own) => {
                if filter.organisation_id.as_ref().is_some_and(|o| *o != own) {
                    return Err(ServiceError::from(Rejection::not_found(
                        "organisation",
                        filter.organisation_id.unwrap_or_default(),
                    ))
                    .into());
                }
                filter.organisation_id = Some(own);
            }
            // Subtracting one organisation's table from the program's would publish everyone else's.
            None if filter.organisation_id.is_some() => {
                return Err(ServiceError::from(Rejection::precondition(
                    "organisation_id",
                    "may be set only by partners of that organisation: organisation is not a published \
                     dimension of the summary (one organisation's figures: GetPartnerPortfolio, and the \
                     reporting service's GetReport for exact indicators)",
                ))
                .into());
            }
            None => {}
        }
        let point = parse_as_of(req.as_of)?;
        Ok(Response::new(self.summary_at(point.as_ref(), filter).await?))
    }

    async fn get_grant_timeline(
        &self,
        request: Request<pb::GetGrantTimelineRequest>,
    ) -> Result<Response<pb::GrantTimeline>, Status> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        let (application_id, award_id) = match req.grant {
            Some(pb::Grant::ApplicationId(id)) => (Some(required_id("application_id", &id)?), None),
            Some(pb::Grant::AwardId(id)) => (None, Some(required_id("award_id", &id)?)),
            None => {
                return Err(
                    ServiceError::from(Rejection::invalid("grant", "must set `application_id` or `award_id`")).into()
                );
            }
        };
        let id = application_id.clone().or_else(|| award_id.clone()).unwrap_or_default();
        let point = parse_as_of(req.as_of)?;
        let found = self
            .answer(point.as_ref(), |v| queries::grant_timeline(&v, application_id.as_deref(), award_id.as_deref()))
            .await?;
        match found {
            Some(timeline) if partner_org(&actor).is_none_or(|own| own == timeline.organisation_id) => {
                Ok(Response::new(timeline))
            }
            _ => Err(ServiceError::from(Rejection::not_found("grant", id)).into()),
        }
    }

    async fn list_overdue_obligations(
        &self,
        request: Request<pb::ListOverdueObligationsRequest>,
    ) -> Result<Response<pb::ListOverdueObligationsResponse>, Status> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        let (limit, after) = page(req.page)?;
        let on = parse_date("as_of_date", req.as_of_date.as_ref())?.unwrap_or_else(today);
        let mut organisation = optional_id("organisation_id", &req.organisation_id)?;
        if let Some(own) = partner_org(&actor) {
            if organisation.as_ref().is_some_and(|o| *o != own) {
                return Err(
                    ServiceError::from(Rejection::not_found("organisation", organisation.unwrap_or_default())).into()
                );
            }
            organisation = Some(own);
        }
        let (obligations, more) =
            self.answer(None, |v| queries::overdue(&v, on, organisation.as_deref(), after.as_deref(), limit)).await?;
        let next_page_token = match (more, obligations.last()) {
            (true, Some(last)) => format!("{}/{}", last.award_id, last.report_ref),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListOverdueObligationsResponse { obligations, next_page_token, as_of_date: date_of(on) }))
    }

    async fn get_lag(&self, _request: Request<pb::GetLagRequest>) -> Result<Response<pb::Lag>, Status> {
        let generation = self.models.active();
        let mut sources = Vec::new();
        for source in SOURCES {
            if !self.sources.has(source) {
                continue;
            }
            let applied = read_checkpoint(&generation.tree, source).map_err(store_error)?.next_position;
            let head = match self.sources.connect(source).await {
                Ok(mut client) => client.head().await.map(|h| h.next_position).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            sources.push(match head {
                Ok(head) => pb::SourceLag {
                    source: source.to_owned(),
                    applied_next_position: applied,
                    head_next_position: head,
                    behind: head.saturating_sub(applied),
                    error: String::new(),
                },
                Err(error) => pb::SourceLag {
                    source: source.to_owned(),
                    applied_next_position: applied,
                    error,
                    ..Default::default()
                },
            });
        }
        Ok(Response::new(pb::Lag { sources, generation: generation.number }))
    }

    async fn rebuild(&self, _request: Request<pb::RebuildRequest>) -> Result<Response<pb::RebuildStatus>, Status> {
        self.start_rebuild().map_err(Status::from)?;
        let state = self.rebuild.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        Ok(Response::new(status_of(&state)))
    }

    async fn get_rebuild_status(
        &self,
        _request: Request<pb::GetRebuildStatusRequest>,
    ) -> Result<Response<pb::RebuildStatus>, Status> {
        let state = self.rebuild.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        Ok(Response::new(status_of(&state)))
    }

    async fn get_digest(&self, _request: Request<pb::GetDigestRequest>) -> Result<Response<pb::Digest>, Status> {
        let (generation, sha256, entries) = self.models.digest().map_err(store_error)?;
        Ok(Response::new(pb::Digest { generation, sha256, entries }))
    }
}
