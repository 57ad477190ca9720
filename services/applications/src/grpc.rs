//! gRPC handlers: decode the request into domain values, run the domain through the runtime's command
//! helper, encode the result. Authentication and the role table are enforced before these run (see
//! `service_runtime::AuthLayer`); which objects an actor may touch is decided by the domain.

use contracts::applications::v1::{self as pb, ApplicationsService, SERVICE_NAME};
use contracts::values::WireValue;
use domain_kernel::{Actor, Country, Money, Rejection, Role, Timestamp};
use service_runtime::rpc_path;
use service_runtime::{CommandContext, EventStore, ServiceError, actor_of};
use service_runtime::{Page, Reply, reply};
use tonic::Request;

use crate::domain::application::{self, Application, ApplicationCommand, ApplicationData, Content, Review};
use crate::domain::organisation::{self, Organisation, RegisterOrganisation, SealedContact};
use crate::domain::round::{self, Criterion, OpenRound, Round, RoundCommand, RoundData};
use crate::domain::{ApplicationId, OrganisationId, RoundId};
use crate::index::Index;
use personal_data::{KeyVault, Sealed};
use prost::Message;

/// The `ApplicationsService` implementation.
#[derive(Clone, Debug)]
pub struct ApplicationsApi {
    store: EventStore,
    index: Index,
    /// Keys of the contact persons' sealed personal data.
    vault: KeyVault,
}

impl ApplicationsApi {
    pub fn new(store: EventStore, index: Index, vault: KeyVault) -> ApplicationsApi {
        ApplicationsApi { store, index, vault }
    }

    /// The organisation as `pb::Organisation`, its contact person unsealed unless erased.
    fn organisation_view(
        &self,
        organisation: &Organisation,
        version: u64,
    ) -> Result<Option<pb::Organisation>, ServiceError> {
        let Some(mut view) = organisation_summary(organisation, version) else { return Ok(None) };
        if let (Some(sealed), false) = (
            organisation.registered.as_ref().and_then(|o| o.sealed_contact_person.as_ref()),
            organisation.contact_person_erased,
        ) {
            view.contact_person = self.unseal_contact(sealed)?;
            view.contact_person_erased = view.contact_person.is_none();
        }
        Ok(Some(view))
    }

    fn unseal_contact(&self, sealed: &SealedContact) -> Result<Option<pb::ContactPerson>, ServiceError> {
        let Some(plaintext) = self
            .vault
            .unseal(&vault_form(sealed))
            .map_err(|e| ServiceError::internal_from("cannot open the contact person", e))?
        else {
            return Ok(None);
        };
        pb::ContactPerson::decode(plaintext.as_slice())
            .map(Some)
            .map_err(|e| ServiceError::internal_from("sealed contact person does not decode", e))
    }

    fn round_view(&self, round: &RoundData, version: u64) -> pb::Round {
        let approved = self.index.approved_total(round.id).unwrap_or(Money::zero(round.currency()));
        pb::Round {
            round_id: round.id.to_string(),
            title: round.title.clone(),
            description: round.description.clone(),
            budget_ceiling: Some(round.budget_ceiling.to_wire()),
            eligible_countries: round.eligible_countries.iter().map(|c| c.as_str().to_owned()).collect(),
            themes: round.themes.clone(),
            opens_at: Some(round.opens_at.to_wire()),
            closes_at: Some(round.closes_at.to_wire()),
            criteria: round.criteria.iter().map(Criterion::to_wire).collect(),
            required_reviews: round.required_reviews,
            status: if round.closed { pb::RoundStatus::Closed } else { pb::RoundStatus::Open } as i32,
            approved_total: Some(approved.to_wire()),
            version,
            accepting_submissions: round.accepts_submissions(Timestamp::now()),
        }
    }

    fn load_round(&self, id: RoundId) -> Result<(RoundData, u64), ServiceError> {
        let loaded = self.store.load::<Round>(&id.to_string())?;
        let version = loaded.version();
        loaded.state.0.map(|r| (r, version)).ok_or_else(|| Rejection::not_found("round", id).into())
    }

    async fn open_round(&self, actor: Actor, req: pb::OpenRoundRequest) -> Result<pb::RoundResponse, ServiceError> {
        let ctx = CommandContext::new(rpc_path!(SERVICE_NAME, "OpenRound"), &req.request_id, actor, &req)?;
        let ceiling = Money::from_wire("budget_ceiling", req.budget_ceiling.as_ref())?;
        let mut countries = Vec::new();
        for (i, c) in req.eligible_countries.iter().enumerate() {
            countries.push(Country::parse(&format!("eligible_countries[{i}]"), c)?);
        }
        let command = OpenRound {
            round_id: RoundId(ctx.derive_id("round")),
            title: req.title.clone(),
            description: req.description.clone(),
            budget_ceiling: ceiling,
            eligible_countries: countries,
            themes: req.themes.clone(),
            opens_at: Timestamp::from_wire("opens_at", req.opens_at.as_ref())?,
            closes_at: Timestamp::from_wire("closes_at", req.closes_at.as_ref())?,
            criteria: req.criteria.iter().map(Criterion::from_wire).collect(),
            required_reviews: req.required_reviews,
        };
        let key = command.round_id.to_string();
        self.store
            .execute::<Round, _>(
                &ctx,
                &key,
                None,
                |loaded| round::handle(&loaded.state, RoundCommand::Open(command.clone())),
                |state, version| pb::RoundResponse { round: state.0.as_ref().map(|r| self.round_view(r, version)) },
            )
            .await
    }

    async fn close_round(&self, actor: Actor, req: pb::CloseRoundRequest) -> Result<pb::RoundResponse, ServiceError> {
        let ctx = CommandContext::new(rpc_path!(SERVICE_NAME, "CloseRound"), &req.request_id, actor, &req)?;
        let id = RoundId::parse("round_id", &req.round_id)?;
        self.store
            .execute::<Round, _>(
                &ctx,
                &id.to_string(),
                None,
                |loaded| match loaded.exists() {
                    true => round::handle(&loaded.state, RoundCommand::Close { reason: req.reason.clone() }),
                    false => Err(Rejection::not_found("round", id)),
                },
                |state, version| pb::RoundResponse { round: state.0.as_ref().map(|r| self.round_view(r, version)) },
            )
            .await
    }

    fn get_round(&self, req: pb::GetRoundRequest) -> Result<pb::RoundResponse, ServiceError> {
        let id = RoundId::parse("round_id", &req.round_id)?;
        let (round, version) = self.load_round(id)?;
        Ok(pb::RoundResponse { round: Some(self.round_view(&round, version)) })
    }

    async fn register_organisation(
        &self,
        actor: Actor,
        req: pb::RegisterOrganisationRequest,
    ) -> Result<pb::OrganisationResponse, ServiceError> {
        let ctx = CommandContext::new(rpc_path!(SERVICE_NAME, "RegisterOrganisation"), &req.request_id, actor, &req)?;
        let organisation_id = match (req.organisation_id.is_empty(), ctx.actor.role, ctx.actor.organisation.as_deref())
        {
            (true, Role::Partner, Some(own)) => OrganisationId::parse("org", own)?,
            (true, _, _) => OrganisationId(ctx.derive_id("organisation")),
            (false, Role::Partner, own) if own != Some(req.organisation_id.as_str()) => {
                return Err(Rejection::NotAllowed(
                    "`organisation_id` partners may only register the organisation named in their token".into(),
                )
                .into());
            }
            (false, _, _) => OrganisationId::parse("organisation_id", &req.organisation_id)?,
        };
        let country = Country::parse("country", &req.country)?;
        let organisation_type = pb::OrganisationType::try_from(req.organisation_type)
            .map_err(|_| Rejection::invalid("organisation_type", "must be a known organisation type"))?;
        let contact_person = req.contact_person.clone().unwrap_or_default();
        if let Some(response) = self.store.stored_response(&ctx)? {
            return Ok(response);
        }
        // Check before sealing, so that refused input leaves no key behind.
        organisation::check_contact_person(&contact_person)?;
        let sealed = self
            .vault
            .seal(&contact_person.encode_to_vec())
            .map_err(|e| ServiceError::unavailable_from("cannot seal the contact person", e))?;
        let key_id = sealed.key_id;
        let sealed_contact_person = recorded_form(sealed);
        // Registration numbers are unique per country: check and append under the index's lock.
        let _guard = self.index.lock_for_decision().await;
        self.index.catch_up(self.store.log())?;
        let command = RegisterOrganisation {
            organisation_id,
            legal_name: req.legal_name.clone(),
            country,
            organisation_type,
            registration_number: req.registration_number.clone(),
            contact_person,
            sealed_contact_person,
            registration_number_taken: self.index.registration_taken(country.as_str(), &req.registration_number),
        };
        // The response is stored for retries beside the log, so it carries no personal data.
        let outcome = self
            .store
            .execute::<Organisation, _>(
                &ctx,
                &organisation_id.to_string(),
                None,
                |loaded| organisation::handle(&loaded.state, command.clone()),
                |state, version| pb::OrganisationResponse { organisation: organisation_summary(state, version) },
            )
            .await;
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                // Nothing was recorded under this key: destroy it rather than keep an orphan.
                let _ = self.vault.erase(key_id);
                return Err(error);
            }
        };
        self.index.catch_up(self.store.log())?;
        Ok(response)
    }

    fn get_organisation(
        &self,
        actor: &Actor,
        req: pb::GetOrganisationRequest,
    ) -> Result<pb::OrganisationResponse, ServiceError> {
        let id = OrganisationId::parse("organisation_id", &req.organisation_id)?;
        let not_found = || ServiceError::from(Rejection::not_found("organisation", id));
        if actor.role == Role::Partner && actor.organisation.as_deref() != Some(id.to_string().as_str()) {
            return Err(not_found());
        }
        let loaded = self.store.load::<Organisation>(&id.to_string())?;
        let organisation = self.organisation_view(&loaded.state, loaded.version())?.ok_or_else(not_found)?;
        Ok(pb::OrganisationResponse { organisation: Some(organisation) })
    }

    /// Destroys the contact person's key first (erasure must happen even if recording it fails; a retry
    /// records it), then records the erasure.
    async fn erase_contact_person(
        &self,
        actor: Actor,
        req: pb::EraseContactPersonRequest,
    ) -> Result<pb::OrganisationResponse, ServiceError> {
        let ctx = CommandContext::new(rpc_path!(SERVICE_NAME, "EraseContactPerson"), &req.request_id, actor, &req)?;
        let id = OrganisationId::parse("organisation_id", &req.organisation_id)?;
        if let Some(response) = self.store.stored_response(&ctx)? {
            return Ok(response);
        }
        let loaded = self.store.load::<Organisation>(&id.to_string())?;
        let registered = loaded.state.registered.as_ref().ok_or_else(|| Rejection::not_found("organisation", id))?;
        let command = organisation::EraseContactPerson { reason: req.reason.clone() };
        // Check the rules before destroying anything.
        organisation::handle_erase(&loaded.state, command.clone())?;
        if let Some(sealed) = &registered.sealed_contact_person {
            self.vault
                .erase(sealed.key_id)
                .map_err(|e| ServiceError::unavailable_from("cannot erase the contact person's key", e))?;
        }
        self.store
            .execute::<Organisation, _>(
                &ctx,
                &id.to_string(),
                None,
                |loaded| organisation::handle_erase(&loaded.state, command.clone()),
                |state, version| pb::OrganisationResponse { organisation: organisation_summary(state, version) },
            )
            .await
    }

    /// Runs a command on an existing application (or a new one, for drafts) and catches the index up.
    async fn application_command(
        &self,
        ctx: &CommandContext,
        id: ApplicationId,
        round_id: Option<RoundId>,
        expected_version: Option<u64>,
        command: ApplicationCommand,
    ) -> Result<pb::ApplicationResponse, ServiceError> {
        if let Some(response) = self.store.stored_response(ctx)? {
            return Ok(response);
        }
        let round_id = match round_id {
            Some(r) => Some(r),
            None => self.store.load::<Application>(&id.to_string())?.state.0.map(|a| a.round_id),
        };
        let round = match round_id {
            Some(r) => self.store.load::<Round>(&r.to_string())?.state.0,
            None => None,
        };
        let actor = ctx.actor.clone();
        let response = self
            .store
            .execute::<Application, _>(
                ctx,
                &id.to_string(),
                expected_version,
                |loaded| {
                    let context = application::Context { actor: &ctx.actor, now: ctx.now, round: round.as_ref() };
                    application::handle(&loaded.state, context, command.clone())
                },
                |state, version| pb::ApplicationResponse {
                    application: state.0.as_ref().map(|a| application_view(a, version, &actor)),
                },
            )
            .await?;
        self.index.catch_up(self.store.log())?;
        Ok(response)
    }

    async fn approve(
        &self,
        ctx: &CommandContext,
        req: &pb::ApproveApplicationRequest,
    ) -> Result<pb::ApplicationResponse, ServiceError> {
        let id = ApplicationId::parse("application_id", &req.application_id)?;
        let amount = Money::from_wire("approved_amount", req.approved_amount.as_ref())?;
        // The ceiling spans the round's applications: check and append under the index's lock.
        let _guard = self.index.lock_for_decision().await;
        self.index.catch_up(self.store.log())?;
        let round_id = self.store.load::<Application>(&id.to_string())?.state.0.map(|a| a.round_id);
        let approved_total =
            round_id.and_then(|r| self.index.approved_total(r)).unwrap_or(Money::zero(amount.currency));
        let command = ApplicationCommand::Approve {
            approved_amount: amount,
            reasons: req.reasons.clone(),
            round_approved_total: approved_total,
        };
        self.application_command(ctx, id, round_id, None, command).await
    }

    fn list(
        &self,
        actor: &Actor,
        req: pb::ListApplicationsRequest,
    ) -> Result<pb::ListApplicationsResponse, ServiceError> {
        let round_id = RoundId::parse("round_id", &req.round_id)?;
        self.load_round(round_id)?;
        let page = Page::of(req.page)?;
        let (limit, after) = (page.limit, page.after_position()?);
        let organisation = match req.organisation_id.as_str() {
            "" => None,
            org => Some(OrganisationId::parse("organisation_id", org)?),
        };
        let status = req.status;
        let own_organisation = match actor.role {
            Role::Partner => Some(OrganisationId::parse("org", actor.organisation.as_deref().unwrap_or_default())?),
            _ => None,
        };
        let found = self.index.list(round_id, after, limit + 1, |entry| {
            (status == 0 || entry.status == status)
                && organisation.is_none_or(|o| entry.organisation_id == o)
                && own_organisation.is_none_or(|o| entry.organisation_id == o)
                && (actor.role != Role::Reviewer || entry.reviewers.contains(&actor.subject))
        });
        let next_page_token = page.next_token(&found);
        let mut applications = Vec::with_capacity(limit);
        for (_, id) in found.into_iter().take(limit) {
            let (app, version) = self.store.load_visible::<Application>(actor, &id.to_string())?;
            applications.push(application_view(&app, version, actor));
        }
        Ok(pb::ListApplicationsResponse { applications, next_page_token })
    }
}

/// A contact person as the key vault sealed it, as the domain records it.
fn recorded_form(sealed: Sealed) -> SealedContact {
    SealedContact { key_id: sealed.key_id, nonce: sealed.nonce, ciphertext: sealed.ciphertext }
}

/// A recorded contact person as the key vault opens it.
fn vault_form(sealed: &SealedContact) -> Sealed {
    Sealed { key_id: sealed.key_id, nonce: sealed.nonce.clone(), ciphertext: sealed.ciphertext.clone() }
}

/// An organisation without its contact person: what command responses carry, since they are stored for
/// retries where erasure could not reach them.
fn organisation_summary(organisation: &Organisation, version: u64) -> Option<pb::Organisation> {
    let o = organisation.registered.as_ref()?;
    Some(pb::Organisation {
        organisation_id: o.organisation_id.to_string(),
        legal_name: o.legal_name.clone(),
        country: o.country.as_str().to_owned(),
        organisation_type: o.organisation_type as i32,
        registration_number: o.registration_number.clone(),
        contact_person: None,
        version,
        contact_person_erased: organisation.contact_person_erased,
    })
}

/// An application as `viewer` may see it: partners do not see reviewers or their scores.
fn application_view(app: &ApplicationData, version: u64, viewer: &Actor) -> pb::Application {
    let reviewers = match viewer.role {
        Role::Partner => Vec::new(),
        _ => app
            .reviewers
            .iter()
            .filter(|r| viewer.role != Role::Reviewer || r.subject == viewer.subject)
            .map(|r| pb::ReviewerView {
                reviewer_subject: r.subject.clone(),
                declared: r.declaration.is_some(),
                has_conflict: r.declaration.as_ref().is_some_and(|d| d.0),
                conflict_statement: r.declaration.as_ref().map(|d| d.1.clone()).unwrap_or_default(),
                review: r.review.as_ref().map(Review::to_wire),
            })
            .collect(),
    };
    pb::Application {
        application_id: app.id.to_string(),
        round_id: app.round_id.to_string(),
        organisation_id: app.organisation_id.to_string(),
        status: app.status.to_wire() as i32,
        content: Some(app.content.to_wire()),
        version,
        submitted_at: app.submitted_at.map(Timestamp::to_wire),
        reviewers,
        completed_reviews: u32::try_from(app.completed_reviews().len()).unwrap_or(u32::MAX),
        decision: app.decision.as_ref().map(|d| pb::Decision {
            outcome: if d.approved { pb::ApplicationStatus::Approved } else { pb::ApplicationStatus::Rejected } as i32,
            approved_amount: d.approved_amount.map(Money::to_wire),
            reasons: d.reasons.clone(),
            decided_by: d.decided_by.clone(),
        }),
        withdrawal_reason: app.withdrawal_reason.clone(),
    }
}

/// Parses the application id of a request.
fn application_id(value: &str) -> Result<ApplicationId, ServiceError> {
    Ok(ApplicationId::parse("application_id", value)?)
}

#[tonic::async_trait]
impl ApplicationsService for ApplicationsApi {
    async fn open_round(&self, request: Request<pb::OpenRoundRequest>) -> Reply<pb::RoundResponse> {
        let actor = actor_of(&request)?;
        reply(ApplicationsApi::open_round(self, actor, request.into_inner()).await)
    }

    async fn close_round(&self, request: Request<pb::CloseRoundRequest>) -> Reply<pb::RoundResponse> {
        let actor = actor_of(&request)?;
        reply(ApplicationsApi::close_round(self, actor, request.into_inner()).await)
    }

    async fn get_round(&self, request: Request<pb::GetRoundRequest>) -> Reply<pb::RoundResponse> {
        reply(ApplicationsApi::get_round(self, request.into_inner()))
    }

    async fn register_organisation(
        &self,
        request: Request<pb::RegisterOrganisationRequest>,
    ) -> Reply<pb::OrganisationResponse> {
        let actor = actor_of(&request)?;
        reply(ApplicationsApi::register_organisation(self, actor, request.into_inner()).await)
    }

    async fn get_organisation(&self, request: Request<pb::GetOrganisationRequest>) -> Reply<pb::OrganisationResponse> {
        let actor = actor_of(&request)?;
        reply(ApplicationsApi::get_organisation(self, &actor, request.into_inner()))
    }

    async fn erase_contact_person(
        &self,
        request: Request<pb::EraseContactPersonRequest>,
    ) -> Reply<pb::OrganisationResponse> {
        let actor = actor_of(&request)?;
        reply(ApplicationsApi::erase_contact_person(self, actor, request.into_inner()).await)
    }

    async fn draft_application(&self, request: Request<pb::DraftApplicationRequest>) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx =
                    CommandContext::new(rpc_path!(SERVICE_NAME, "DraftApplication"), &req.request_id, actor, &req)?;
                let round_id = RoundId::parse("round_id", &req.round_id)?;
                let content = Content::from_wire("content", req.content.as_ref())?;
                let organisation_registered = match ctx.actor.organisation.as_deref() {
                    Some(org) => self.store.load::<Organisation>(org)?.exists(),
                    None => false,
                };
                let id = ApplicationId(ctx.derive_id("application"));
                let command = ApplicationCommand::Draft { application_id: id, organisation_registered, content };
                self.application_command(&ctx, id, Some(round_id), None, command).await
            }
            .await,
        )
    }

    async fn edit_application(&self, request: Request<pb::EditApplicationRequest>) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx =
                    CommandContext::new(rpc_path!(SERVICE_NAME, "EditApplication"), &req.request_id, actor, &req)?;
                let id = application_id(&req.application_id)?;
                let content = Content::from_wire("content", req.content.as_ref())?;
                self.application_command(&ctx, id, None, req.expected_version, ApplicationCommand::Edit { content })
                    .await
            }
            .await,
        )
    }

    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx =
                    CommandContext::new(rpc_path!(SERVICE_NAME, "SubmitApplication"), &req.request_id, actor, &req)?;
                let id = application_id(&req.application_id)?;
                self.application_command(&ctx, id, None, req.expected_version, ApplicationCommand::Submit).await
            }
            .await,
        )
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx =
                    CommandContext::new(rpc_path!(SERVICE_NAME, "WithdrawApplication"), &req.request_id, actor, &req)?;
                let id = application_id(&req.application_id)?;
                let command = ApplicationCommand::Withdraw { reason: req.reason.clone() };
                self.application_command(&ctx, id, None, None, command).await
            }
            .await,
        )
    }

    async fn assign_reviewer(&self, request: Request<pb::AssignReviewerRequest>) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx = CommandContext::new(rpc_path!(SERVICE_NAME, "AssignReviewer"), &req.request_id, actor, &req)?;
                let id = application_id(&req.application_id)?;
                let command = ApplicationCommand::AssignReviewer { reviewer_subject: req.reviewer_subject.clone() };
                self.application_command(&ctx, id, None, None, command).await
            }
            .await,
        )
    }

    async fn declare_conflict_of_interest(
        &self,
        request: Request<pb::DeclareConflictOfInterestRequest>,
    ) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx = CommandContext::new(
                    rpc_path!(SERVICE_NAME, "DeclareConflictOfInterest"),
                    &req.request_id,
                    actor,
                    &req,
                )?;
                let id = application_id(&req.application_id)?;
                let command = ApplicationCommand::DeclareConflictOfInterest {
                    has_conflict: req.has_conflict,
                    statement: req.statement.clone(),
                };
                self.application_command(&ctx, id, None, None, command).await
            }
            .await,
        )
    }

    async fn record_review(&self, request: Request<pb::RecordReviewRequest>) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx = CommandContext::new(rpc_path!(SERVICE_NAME, "RecordReview"), &req.request_id, actor, &req)?;
                let id = application_id(&req.application_id)?;
                let recommendation = pb::Recommendation::try_from(req.recommendation)
                    .map_err(|_| Rejection::invalid("recommendation", "must be a known recommendation"))?;
                let command = ApplicationCommand::RecordReview {
                    scores: req.scores.iter().map(|s| (s.criterion_id.clone(), s.score)).collect(),
                    recommendation,
                    comment: req.comment.clone(),
                };
                self.application_command(&ctx, id, None, None, command).await
            }
            .await,
        )
    }

    async fn approve_application(
        &self,
        request: Request<pb::ApproveApplicationRequest>,
    ) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx =
                    CommandContext::new(rpc_path!(SERVICE_NAME, "ApproveApplication"), &req.request_id, actor, &req)?;
                self.approve(&ctx, &req).await
            }
            .await,
        )
    }

    async fn reject_application(
        &self,
        request: Request<pb::RejectApplicationRequest>,
    ) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx =
                    CommandContext::new(rpc_path!(SERVICE_NAME, "RejectApplication"), &req.request_id, actor, &req)?;
                let id = application_id(&req.application_id)?;
                let command = ApplicationCommand::Reject { reasons: req.reasons.clone() };
                self.application_command(&ctx, id, None, None, command).await
            }
            .await,
        )
    }

    async fn erase_application_text(
        &self,
        request: Request<pb::EraseApplicationTextRequest>,
    ) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply(
            async {
                let ctx =
                    CommandContext::new(rpc_path!(SERVICE_NAME, "EraseApplicationText"), &req.request_id, actor, &req)?;
                let id = application_id(&req.application_id)?;
                let reason = contracts::free_text::erasure_reason("reason", req.reason)?;
                self.application_command(&ctx, id, None, None, ApplicationCommand::EraseText { reason }).await
            }
            .await,
        )
    }

    async fn get_application(&self, request: Request<pb::GetApplicationRequest>) -> Reply<pb::ApplicationResponse> {
        let actor = actor_of(&request)?;
        let req = request.into_inner();
        reply((|| {
            let (app, version) =
                self.store.load_visible::<Application>(&actor, &application_id(&req.application_id)?.to_string())?;
            Ok(pb::ApplicationResponse { application: Some(application_view(&app, version, &actor)) })
        })())
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Reply<pb::ListApplicationsResponse> {
        let actor = actor_of(&request)?;
        reply(self.list(&actor, request.into_inner()))
    }
}

impl service_runtime::Guarded for Application {
    type Data = ApplicationData;
    const WHAT: &'static str = "application";
    fn visible_to(self, actor: &Actor) -> Option<ApplicationData> {
        self.0.filter(|data| data.visible_to(actor))
    }
}
