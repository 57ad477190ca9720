//! gRPC handlers: decode the request into domain values, run the domain through the runtime's command
//! helper, encode the result. Authentication and the role table are enforced before these run (see
//! `service_runtime::AuthLayer`); which schedules and reports an actor may touch is decided by the domain.

use std::sync::Arc;

use contracts::reporting::v1::{self as pb, ReportingService, SERVICE_NAME};
use contracts::values::WireValue;
use domain_kernel::{Actor, Date, Rejection, Role, Timestamp};
use service_runtime::rpc_path;
use service_runtime::{CommandContext, EventStore, ServiceError, actor_of};
use service_runtime::{Page, Reply, reply};
use tonic::{Request, Response};

use crate::domain::catalogue::Catalogue;
use crate::domain::report::ReportContent;
use crate::domain::schedule::{self, Command, Context, ObligationState, Review, Schedule, ScheduleData, Submission};
use crate::domain::{AwardId, OrganisationId, dates};
use crate::index::Index;

/// The `ReportingService` implementation.
#[derive(Clone, Debug)]
pub struct ReportingApi {
    store: EventStore,
    index: Index,
    catalogue: Arc<Catalogue>,
}

fn today() -> Date {
    dates::date_of(Timestamp::now())
}

impl ReportingApi {
    pub fn new(store: EventStore, index: Index, catalogue: Arc<Catalogue>) -> ReportingApi {
        ReportingApi { store, index, catalogue }
    }

    /// Runs a command on an award's reporting; the response shows the report of `report_ref`.
    async fn command(
        &self,
        ctx: &CommandContext,
        id: AwardId,
        expected_version: Option<u64>,
        command: Command,
    ) -> Result<pb::ReportResponse, ServiceError> {
        let report_ref = match &command {
            Command::Submit(s) => s.report_ref.clone(),
            Command::RequestRevision { report_ref, .. }
            | Command::Accept { report_ref }
            | Command::EraseText { report_ref, .. } => report_ref.clone(),
        };
        let catalogue = &self.catalogue;
        self.store
            .execute::<Schedule, _>(
                ctx,
                &id.to_string(),
                expected_version,
                |loaded| {
                    schedule::handle(
                        &loaded.state,
                        Context { actor: &ctx.actor, now: ctx.now, catalogue },
                        command.clone(),
                    )
                },
                |state, version| pb::ReportResponse {
                    report: state
                        .0
                        .as_ref()
                        .and_then(|s| s.obligation(&report_ref).map(|o| report_view(s, o, version, today()))),
                },
            )
            .await
    }

    fn obligations(
        &self,
        actor: &Actor,
        req: pb::GetObligationsRequest,
    ) -> Result<pb::ObligationsResponse, ServiceError> {
        let id = AwardId::parse("award_id", &req.award_id)?;
        let as_of = match &req.as_of {
            None => today(),
            Some(d) => Date::from_wire("as_of", Some(d))?,
        };
        let (s, version) = self.store.load_visible::<Schedule>(actor, &id.to_string())?;
        Ok(pb::ObligationsResponse {
            award_id: s.award_id.to_string(),
            organisation_id: s.organisation_id.to_string(),
            as_of: Some(as_of.to_wire()),
            suspended: s.is_suspended(),
            terminated: s.terminated_on.is_some(),
            obligations: s.obligations.iter().map(|o| obligation_view(o, as_of, &s.suspensions)).collect(),
            award_amount: Some(s.award_amount.to_wire()),
            released_total: Some(s.released_total.to_wire()),
            budget_lines: s.budget_lines.iter().map(|l| l.to_wire()).collect(),
            version,
            period_end: Some(s.period_end.to_wire()),
        })
    }

    fn report(&self, actor: &Actor, req: pb::GetReportRequest) -> Result<pb::ReportResponse, ServiceError> {
        let (award_id, report_ref) = if req.report_id.is_empty() {
            (AwardId::parse("award_id", &req.award_id)?, req.report_ref.clone())
        } else {
            domain_kernel::parse_uuid("report_id", &req.report_id)?;
            self.index.catch_up(self.store.log())?;
            let entry = self
                .index
                .read(|reports| reports.report(&req.report_id))
                .ok_or_else(|| Rejection::not_found("report", &req.report_id))?;
            (entry.award_id, entry.report_ref)
        };
        let (s, version) = self.store.load_visible::<Schedule>(actor, &award_id.to_string())?;
        let o = s.obligation(&report_ref).ok_or_else(|| Rejection::not_found("report", &report_ref))?;
        Ok(pb::ReportResponse { report: Some(report_view(&s, o, version, today())) })
    }

    fn awaiting(
        &self,
        actor: &Actor,
        req: pb::ListReportsAwaitingReviewRequest,
    ) -> Result<pb::ListReportsResponse, ServiceError> {
        let page = Page::of(req.page)?;
        let (limit, after) = (page.limit, page.after_position()?);
        let organisation = match req.organisation_id.as_str() {
            "" => None,
            org => Some(OrganisationId::parse("organisation_id", org)?),
        };
        // Partners have no access to this RPC; the check is kept for defence in depth.
        if actor.role == Role::Partner {
            return Err(ServiceError::PermissionDenied("partners may not list reports awaiting review".into()));
        }
        self.index.catch_up(self.store.log())?;
        let found = self.index.read(|reports| {
            reports.awaiting(after, limit + 1, |e| organisation.is_none_or(|o| e.organisation_id == o))
        });
        let next_page_token = page.next_token(&found);
        let mut reports = Vec::with_capacity(found.len().min(limit));
        for (_, entry) in found.into_iter().take(limit) {
            let (s, version) = self.store.load_visible::<Schedule>(actor, &entry.award_id.to_string())?;
            if let Some(o) = s.obligation(&entry.report_ref) {
                reports.push(report_view(&s, o, version, today()));
            }
        }
        Ok(pb::ListReportsResponse { reports, next_page_token })
    }
}

fn obligation_view(o: &ObligationState, on: Date, suspensions: &[(Date, Option<Date>)]) -> pb::ObligationView {
    let status = o.status_on(on, suspensions);
    let submitted: Vec<_> = o.versions.iter().filter(|v| dates::date_of(v.submitted_at) <= on).collect();
    let accepted = o.accepted().filter(|(_, at)| dates::date_of(*at) <= on);
    pb::ObligationView {
        obligation: Some(o.terms.to_wire()),
        status: status.to_wire() as i32,
        days_overdue: match status {
            schedule::Status::Overdue { days } => days,
            _ => 0,
        },
        versions: submitted.len() as u32,
        first_submitted_at: submitted.first().map(|v| v.submitted_at.to_wire()),
        accepted_by: accepted.map(|(by, _)| by.to_owned()).unwrap_or_default(),
        accepted_at: accepted.map(|(_, at)| at.to_wire()),
    }
}

fn report_view(s: &ScheduleData, o: &ObligationState, version: u64, on: Date) -> pb::Report {
    pb::Report {
        report_id: o.terms.report_id.to_string(),
        award_id: s.award_id.to_string(),
        report_ref: o.terms.report_ref.clone(),
        kind: o.terms.kind as i32,
        organisation_id: s.organisation_id.to_string(),
        obligation: Some(o.terms.to_wire()),
        status: o.status_on(on, &s.suspensions).to_wire() as i32,
        versions: o
            .versions
            .iter()
            .map(|v| {
                let (review_status, revision_reasons, reviewed_by, reviewed_at) = match &v.review {
                    Review::Awaiting => (pb::ReviewStatus::AwaitingReview, Vec::new(), String::new(), None),
                    Review::RevisionRequested { reasons, by, at } => {
                        (pb::ReviewStatus::RevisionRequested, reasons.clone(), by.clone(), Some(at.to_wire()))
                    }
                    Review::Accepted { by, at } => {
                        (pb::ReviewStatus::Accepted, Vec::new(), by.clone(), Some(at.to_wire()))
                    }
                };
                pb::ReportVersion {
                    submission: Some(v.to_wire(s, &o.terms)),
                    review_status: review_status as i32,
                    revision_reasons,
                    reviewed_by,
                    reviewed_at,
                }
            })
            .collect(),
        version,
    }
}

fn award_id(value: &str) -> Result<AwardId, ServiceError> {
    Ok(AwardId::parse("award_id", value)?)
}

#[tonic::async_trait]
impl ReportingService for ReportingApi {
    async fn submit_report(&self, request: Request<pb::SubmitReportRequest>) -> Reply<pb::ReportResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "SubmitReport"), |ctx, req| {
            let award_id = award_id(&req.award_id)?;
            let content =
                ReportContent::from_wire(req.progress.as_ref(), req.financial.as_ref(), req.attestations.as_ref())?;
            let command = Command::Submit(Submission { report_ref: req.report_ref.clone(), content });
            (award_id, req.expected_version, command)
        })
    }

    async fn request_revision(&self, request: Request<pb::RequestRevisionRequest>) -> Reply<pb::ReportResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "RequestRevision"), |ctx, req| {
            let command = Command::RequestRevision { report_ref: req.report_ref.clone(), reasons: req.reasons.clone() };
            (award_id(&req.award_id)?, None, command)
        })
    }

    async fn accept_report(&self, request: Request<pb::AcceptReportRequest>) -> Reply<pb::ReportResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "AcceptReport"), |ctx, req| {
            (award_id(&req.award_id)?, req.expected_version, Command::Accept { report_ref: req.report_ref.clone() })
        })
    }

    async fn erase_report_text(&self, request: Request<pb::EraseReportTextRequest>) -> Reply<pb::ReportResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "EraseReportText"), |ctx, req| {
            let reason = contracts::free_text::erasure_reason("reason", req.reason)?;
            (award_id(&req.award_id)?, None, Command::EraseText { report_ref: req.report_ref.clone(), reason })
        })
    }

    async fn get_obligations(&self, request: Request<pb::GetObligationsRequest>) -> Reply<pb::ObligationsResponse> {
        let actor = actor_of(&request)?;
        reply(self.obligations(&actor, request.into_inner()))
    }

    async fn get_report(&self, request: Request<pb::GetReportRequest>) -> Reply<pb::ReportResponse> {
        let actor = actor_of(&request)?;
        reply(self.report(&actor, request.into_inner()))
    }

    async fn list_reports_awaiting_review(
        &self,
        request: Request<pb::ListReportsAwaitingReviewRequest>,
    ) -> Reply<pb::ListReportsResponse> {
        let actor = actor_of(&request)?;
        reply(self.awaiting(&actor, request.into_inner()))
    }

    async fn get_indicator_catalogue(
        &self,
        _request: Request<pb::GetIndicatorCatalogueRequest>,
    ) -> Reply<pb::IndicatorCatalogue> {
        Ok(Response::new(self.catalogue.to_wire()))
    }
}

impl service_runtime::Guarded for Schedule {
    type Data = ScheduleData;
    const WHAT: &'static str = "award reporting schedule";
    fn visible_to(self, actor: &Actor) -> Option<ScheduleData> {
        self.0.filter(|data| data.visible_to(actor))
    }
}
