//! gRPC handlers: decode the request into domain values, run the domain through the runtime's command
//! helper, encode the result. Authentication and the role table are enforced before these run (see
//! `service_runtime::AuthLayer`); which awards an actor may touch is decided by the domain.

use contracts::awards::v1::{self as pb, AwardsService, SERVICE_NAME};
use contracts::names::stream;
use contracts::values::WireValue;
use domain_kernel::{Actor, Rejection, Role, Timestamp};
use service_runtime::command::stream_id;
use service_runtime::rpc_path;
use service_runtime::{CommandContext, EventStore, ServiceError, actor_of};
use service_runtime::{Page, Reply, reply};
use tonic::Request;

use crate::domain::award::{self, Award, AwardCommand, AwardData, Context, Payment};
use crate::domain::terms::{Change, Move, Terms};
use crate::domain::{AwardId, OrganisationId, RoundId};
use crate::index::Index;
use crate::view::award_view;

/// The `AwardsService` implementation.
#[derive(Clone, Debug)]
pub struct AwardsApi {
    store: EventStore,
    index: Index,
}

impl AwardsApi {
    pub fn new(store: EventStore, index: Index) -> AwardsApi {
        AwardsApi { store, index }
    }

    /// Runs a command on an existing award.
    async fn command(
        &self,
        ctx: &CommandContext,
        id: AwardId,
        expected_version: Option<u64>,
        command: AwardCommand,
    ) -> Result<pb::AwardResponse, ServiceError> {
        self.store
            .execute::<Award, _>(
                ctx,
                &id.to_string(),
                expected_version,
                |loaded| award::handle(&loaded.state, Context { actor: &ctx.actor, now: ctx.now }, command.clone()),
                |state, version| pb::AwardResponse {
                    award: state.0.as_ref().map(|a| award_view(a, version, Vec::new())),
                },
            )
            .await
    }

    fn get(&self, actor: &Actor, req: pb::GetAwardRequest) -> Result<pb::AwardResponse, ServiceError> {
        let id = award_id(&req.award_id)?;
        let (award, version) = self.store.load_visible::<Award>(actor, &id.to_string())?;
        let mut history = Vec::new();
        // As far as the loaded state goes: events appended since loading belong to the next read.
        let events = self.store.log().read_stream(&stream_id(stream::AWARD, &id.to_string())?, 0);
        for recorded in events.take(usize::try_from(version).unwrap_or(usize::MAX)) {
            let recorded = recorded?;
            history.push(pb::HistoryEntry {
                version: recorded.stream_version + 1,
                event_type: recorded.event_type,
                actor_subject: recorded.metadata.actor.subject,
                actor_role: recorded.metadata.actor.role,
                recorded_at: Some(Timestamp::from_micros(recorded.recorded_at.as_micros()).to_wire()),
                log_position: recorded.position,
            });
        }
        Ok(pb::AwardResponse { award: Some(award_view(&award, version, history)) })
    }

    fn list(&self, actor: &Actor, req: pb::ListAwardsRequest) -> Result<pb::ListAwardsResponse, ServiceError> {
        let page = Page::of(req.page)?;
        let (limit, after) = (page.limit, page.after_position()?);
        let organisation = match req.organisation_id.as_str() {
            "" => None,
            org => Some(OrganisationId::parse("organisation_id", org)?),
        };
        let round = match req.round_id.as_str() {
            "" => None,
            round => Some(RoundId::parse("round_id", round)?),
        };
        let status = match pb::AwardStatus::try_from(req.status) {
            Ok(pb::AwardStatus::Unspecified) => None,
            Ok(status) => Some(status),
            Err(_) => return Err(Rejection::invalid("status", "must be a known award status").into()),
        };
        let own_organisation = match actor.role {
            Role::Partner => Some(OrganisationId::parse("org", actor.organisation.as_deref().unwrap_or_default())?),
            _ => None,
        };
        self.index.catch_up(self.store.log())?;
        let found = self.index.read(|awards| {
            awards.list(after, limit + 1, |entry| {
                status.is_none_or(|s| entry.status.to_wire() == s)
                    && organisation.is_none_or(|o| entry.organisation_id == o)
                    && round.is_none_or(|r| entry.round_id == r)
                    && own_organisation.is_none_or(|o| entry.organisation_id == o)
            })
        });
        let next_page_token = page.next_token(&found);
        let mut awards = Vec::with_capacity(found.len().min(limit));
        for (_, id) in found.into_iter().take(limit) {
            let (award, version) = self.store.load_visible::<Award>(actor, &id.to_string())?;
            awards.push(award_view(&award, version, Vec::new()));
        }
        Ok(pb::ListAwardsResponse { awards, next_page_token })
    }
}

fn award_id(value: &str) -> Result<AwardId, ServiceError> {
    Ok(AwardId::parse("award_id", value)?)
}

/// A variation id names a variation the service derived from the request that asked for it: a UUID, so a
/// malformed one is refused as input rather than looked up.
fn variation_id(value: &str) -> Result<String, ServiceError> {
    Ok(domain_kernel::parse_uuid("variation_id", value)?.to_string())
}

#[tonic::async_trait]
impl AwardsService for AwardsApi {
    async fn set_agreement(&self, request: Request<pb::SetAgreementRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "SetAgreement"), |ctx, req| {
            let terms = Terms::from_wire("terms", req.terms.as_ref())?;
            (award_id(&req.award_id)?, req.expected_version, AwardCommand::SetAgreement { terms })
        })
    }

    async fn sign_agreement(&self, request: Request<pb::SignAgreementRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "SignAgreement"), |ctx, req| {
            (award_id(&req.award_id)?, req.expected_version, AwardCommand::Sign)
        })
    }

    async fn release_tranche(&self, request: Request<pb::ReleaseTrancheRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "ReleaseTranche"), |ctx, req| {
            let payment = Payment::from_wire("payment", req.payment.as_ref())?;
            let command = AwardCommand::ReleaseTranche { tranche_id: req.tranche_id.clone(), payment };
            (award_id(&req.award_id)?, None, command)
        })
    }

    async fn reallocate_budget(&self, request: Request<pb::ReallocateBudgetRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "ReallocateBudget"), |ctx, req| {
            let moves = Move::many_from_wire("moves", &req.moves)?;
            (award_id(&req.award_id)?, None, AwardCommand::ReallocateBudget { moves, reason: req.reason.clone() })
        })
    }

    async fn request_variation(&self, request: Request<pb::RequestVariationRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "RequestVariation"), |ctx, req| {
            let change = Change::from_wire("change", req.change.as_ref())?;
            let command = AwardCommand::RequestVariation {
                variation_id: ctx.derive_id("variation").to_string(),
                change,
                reason: req.reason.clone(),
            };
            (award_id(&req.award_id)?, None, command)
        })
    }

    async fn approve_variation(&self, request: Request<pb::ApproveVariationRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "ApproveVariation"), |ctx, req| {
            let command = AwardCommand::ApproveVariation {
                variation_id: variation_id(&req.variation_id)?,
                comment: req.comment.clone(),
            };
            (award_id(&req.award_id)?, None, command)
        })
    }

    async fn decline_variation(&self, request: Request<pb::DeclineVariationRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "DeclineVariation"), |ctx, req| {
            let command = AwardCommand::DeclineVariation {
                variation_id: variation_id(&req.variation_id)?,
                reason: req.reason.clone(),
            };
            (award_id(&req.award_id)?, None, command)
        })
    }

    async fn suspend_award(&self, request: Request<pb::SuspendAwardRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "SuspendAward"), |ctx, req| {
            (award_id(&req.award_id)?, None, AwardCommand::Suspend { reason: req.reason.clone() })
        })
    }

    async fn resume_award(&self, request: Request<pb::ResumeAwardRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "ResumeAward"), |ctx, req| {
            (award_id(&req.award_id)?, None, AwardCommand::Resume { reason: req.reason.clone() })
        })
    }

    async fn terminate_award(&self, request: Request<pb::TerminateAwardRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "TerminateAward"), |ctx, req| {
            (award_id(&req.award_id)?, None, AwardCommand::Terminate { reason: req.reason.clone() })
        })
    }

    async fn close_award(&self, request: Request<pb::CloseAwardRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "CloseAward"), |ctx, req| {
            (award_id(&req.award_id)?, None, AwardCommand::Close { comment: req.comment.clone() })
        })
    }

    async fn erase_award_text(&self, request: Request<pb::EraseAwardTextRequest>) -> Reply<pb::AwardResponse> {
        service_runtime::command_rpc!(self, request, rpc_path!(SERVICE_NAME, "EraseAwardText"), |ctx, req| {
            let variation_id = match req.variation_id.as_str() {
                "" => None,
                id => Some(variation_id(id)?),
            };
            let reason = contracts::free_text::erasure_reason("reason", req.reason)?;
            (award_id(&req.award_id)?, None, AwardCommand::EraseText { variation_id, reason })
        })
    }

    async fn get_award(&self, request: Request<pb::GetAwardRequest>) -> Reply<pb::AwardResponse> {
        let actor = actor_of(&request)?;
        reply(self.get(&actor, request.into_inner()))
    }

    async fn list_awards(&self, request: Request<pb::ListAwardsRequest>) -> Reply<pb::ListAwardsResponse> {
        let actor = actor_of(&request)?;
        reply(self.list(&actor, request.into_inner()))
    }
}

impl service_runtime::Guarded for Award {
    type Data = AwardData;
    const WHAT: &'static str = "award";
    fn visible_to(self, actor: &Actor) -> Option<AwardData> {
        self.0.filter(|data| data.visible_to(actor))
    }
}
