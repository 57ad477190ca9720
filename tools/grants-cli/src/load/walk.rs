//! One client's walk: grants taken one after another from a round through reviews and a decision, over the
//! bus to an award, its agreement and initial tranche, a progress report and its acceptance, and over the
//! bus again to the interim tranche; each step as the person who would take it, with the demo's requests
//! under ids of the walk's own. Where a step depends on what another service learns over the bus, the
//! client polls for it, as the demo does.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use contracts::names::service::{APPLICATIONS, AWARDS, REPORTING};
use domain_kernel::Role;
use tokio_util::sync::CancellationToken;

use super::pacing::Pacer;
use super::projection::Projection;
use super::stats::{Milestone, Rpc, Stats};
use crate::demo::funding::{agreement_request, award_of, get_award, release, signing, tranche_amount, unlocked};
use crate::demo::program::{
    Decision, PARTNERS, Partner, REVIEWERS, organisation_id, partner_subject, request_id, round,
};
use crate::demo::reports::{acceptance, obligations, progress_report};
use crate::demo::selection::{ReviewRequests, approval, draft, registration, rejection, submission};
use crate::demo::waiting::eventually_every;
use crate::demo::{Clients, Tokens};
use crate::endpoints::{Connection, authed};

/// A client opens a new round after this many grants (a round's ceiling holds them all).
const GRANTS_PER_ROUND: u64 = 8;
/// An organisation applies this many times before the client registers another.
const GRANTS_PER_ORGANISATION: u64 = 3;
/// How often a client asks whether what it waits for has come over the bus.
const WAIT_POLL: Duration = Duration::from_millis(50);
/// How long a client pauses after a failure before it starts a new grant.
const FAILURE_PAUSE: Duration = Duration::from_millis(100);

const OPEN_ROUND: Rpc = Rpc { service: APPLICATIONS, method: "OpenRound" };
const REGISTER: Rpc = Rpc { service: APPLICATIONS, method: "RegisterOrganisation" };
const DRAFT: Rpc = Rpc { service: APPLICATIONS, method: "DraftApplication" };
const SUBMIT: Rpc = Rpc { service: APPLICATIONS, method: "SubmitApplication" };
const ASSIGN: Rpc = Rpc { service: APPLICATIONS, method: "AssignReviewer" };
const DECLARE: Rpc = Rpc { service: APPLICATIONS, method: "DeclareConflictOfInterest" };
const REVIEW: Rpc = Rpc { service: APPLICATIONS, method: "RecordReview" };
const APPROVE: Rpc = Rpc { service: APPLICATIONS, method: "ApproveApplication" };
const REJECT: Rpc = Rpc { service: APPLICATIONS, method: "RejectApplication" };
const SET_AGREEMENT: Rpc = Rpc { service: AWARDS, method: "SetAgreement" };
const SIGN: Rpc = Rpc { service: AWARDS, method: "SignAgreement" };
const RELEASE: Rpc = Rpc { service: AWARDS, method: "ReleaseTranche" };
const SUBMIT_REPORT: Rpc = Rpc { service: REPORTING, method: "SubmitReport" };
const ACCEPT_REPORT: Rpc = Rpc { service: REPORTING, method: "AcceptReport" };

/// The waits on the bus, as the report names them.
pub(super) const AWARD_OFFERED: &str = "award offered";
pub(super) const OBLIGATIONS_SCHEDULED: &str = "obligations scheduled";
pub(super) const TRANCHE_UNLOCKED: &str = "interim tranche unlocked";

/// Why a grant's walk ended early.
#[derive(Debug)]
enum Halt {
    /// The run is over.
    Stopped,
    /// A command or a wait failed (recorded in the stats).
    Failed,
}

type Step<T> = Result<T, Halt>;

/// What every client of a run shares (not `Debug`: it holds tokens).
pub(super) struct Run {
    pub(super) connection: Connection,
    pub(super) tokens: Tokens,
    pub(super) stats: Stats,
    pub(super) projection: Arc<Projection>,
    pub(super) pacer: Option<Pacer>,
    pub(super) stop: CancellationToken,
    /// Names this run's ids, so that no request of an earlier run is replayed.
    pub(super) key: String,
    pub(super) year: i32,
    /// One command in this many is followed to the projector.
    pub(super) sample_every: u64,
    commands: AtomicU64,
}

impl Run {
    pub(super) fn new(
        connection: Connection,
        tokens: Tokens,
        projection: Arc<Projection>,
        pacer: Option<Pacer>,
        stop: CancellationToken,
        year: i32,
        sample_every: u64,
    ) -> Run {
        let key = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let stats = Stats::new();
        Run { connection, tokens, stats, projection, pacer, stop, key, year, sample_every, commands: AtomicU64::new(0) }
    }

    /// Sends one command when the schedule allows, and records its latency, or its failure.
    async fn command<T>(
        &self,
        rpc: Rpc,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Step<T> {
        match &self.pacer {
            Some(pacer) => tokio::select! {
                lateness = pacer.turn() => self.stats.started_late(lateness),
                () = self.stop.cancelled() => return Err(Halt::Stopped),
            },
            None if self.stop.is_cancelled() => return Err(Halt::Stopped),
            None => {}
        }
        let sent = Instant::now();
        match call.await {
            Ok(response) => {
                let answered = Instant::now();
                self.stats.succeeded(rpc, answered - sent);
                if self.commands.fetch_add(1, Ordering::Relaxed).is_multiple_of(self.sample_every) {
                    self.projection.sample(rpc.service, answered);
                }
                Ok(response.into_inner())
            }
            Err(status) => {
                self.stats.failed(format!("{rpc} {:?}", status.code()), status.message().to_owned());
                Err(Halt::Failed)
            }
        }
    }

    /// Polls `check` until it finds what `kind` waits for, recording how long that took; ends early when
    /// the run stops.
    async fn wait<T, F, Fut>(&self, kind: &'static str, what: &str, check: F) -> Step<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let started = Instant::now();
        tokio::select! {
            found = eventually_every(WAIT_POLL, what, check) => match found {
                Ok(found) => {
                    self.stats.waited(kind, started.elapsed());
                    Ok(found)
                }
                Err(error) => Err(self.failure(&format!("waiting for the {kind}"), &error)),
            },
            () = self.stop.cancelled() => Err(Halt::Stopped),
        }
    }

    fn failure(&self, what: &str, error: &anyhow::Error) -> Halt {
        self.stats.failed(what.to_owned(), format!("{error:#}"));
        Halt::Failed
    }

    /// `message` with `token`, or the failure to make it.
    fn authed<T>(&self, message: T, token: &str) -> Step<tonic::Request<T>> {
        authed(message, token).map_err(|e| self.failure("a request's token", &e))
    }
}

/// An organisation a client registered, and applies with until it has applied [`GRANTS_PER_ORGANISATION`]
/// times.
struct Organisation {
    partner: &'static Partner,
    token: String,
    grants: u64,
}

/// One client: its own connections, walking one grant at a time until the run stops.
pub(super) struct Walker {
    id: usize,
    clients: Clients,
    run: Arc<Run>,
    round_id: Option<String>,
    organisation: Option<Organisation>,
    grants: u64,
}

impl Walker {
    pub(super) async fn connect(id: usize, run: Arc<Run>) -> anyhow::Result<Walker> {
        let clients = Clients::connect(&run.connection).await?;
        Ok(Walker { id, clients, run, round_id: None, organisation: None, grants: 0 })
    }

    /// Walks grants until the run stops; after a failure, starts again with a new round and organisation.
    pub(super) async fn walk(mut self) {
        loop {
            match self.grant().await {
                Ok(()) => {}
                Err(Halt::Stopped) => return,
                Err(Halt::Failed) => {
                    (self.round_id, self.organisation) = (None, None);
                    tokio::select! {
                        () = tokio::time::sleep(FAILURE_PAUSE) => {}
                        () = self.run.stop.cancelled() => return,
                    }
                }
            }
        }
    }

    async fn grant(&mut self) -> Step<()> {
        let number = self.grants;
        self.grants += 1;
        let key = format!("load-{}-{}-{number}", self.run.key, self.id);
        let round_id = self.round(&key, number).await?;
        let (partner, partner_token) = self.organisation(&key).await?;
        let run = Arc::clone(&self.run);
        let (tokens, apps) = (&run.tokens, &mut self.clients.applications);
        run.stats.reached(Milestone::Started);

        let request = run.authed(draft(partner, &key, &round_id), &partner_token)?;
        let drafted = run.command(DRAFT, apps.draft_application(request)).await?;
        let Some(application) = drafted.application else {
            return Err(run.failure("drafting", &anyhow::anyhow!("the application was not returned")));
        };
        let application_id = application.application_id;
        let request = run.authed(submission(&key, &application_id), &partner_token)?;
        run.command(SUBMIT, apps.submit_application(request)).await?;
        let fund = matches!(partner.decision, Decision::Approve(_));
        for (reviewer, reviewer_token) in tokens.reviewers.iter().enumerate().take(REVIEWERS.len()) {
            let requests = ReviewRequests::new(&key, &application_id, reviewer, fund);
            run.command(ASSIGN, apps.assign_reviewer(run.authed(requests.assign, &tokens.officer)?)).await?;
            let declare = run.authed(requests.declare, reviewer_token)?;
            run.command(DECLARE, apps.declare_conflict_of_interest(declare)).await?;
            run.command(REVIEW, apps.record_review(run.authed(requests.review, reviewer_token)?)).await?;
        }
        let amount = match partner.decision {
            Decision::Approve(amount) => amount,
            Decision::Reject(reason) => {
                let request = run.authed(rejection(&key, &application_id, reason), &tokens.officer)?;
                run.command(REJECT, apps.reject_application(request)).await?;
                run.stats.reached(Milestone::Rejected);
                return Ok(());
            }
        };
        let request = run.authed(approval(&key, &application_id, amount), &tokens.officer)?;
        run.command(APPROVE, apps.approve_application(request)).await?;
        self.fund(&key, partner, &partner_token, &application_id).await
    }

    /// From the award offered over the bus to the interim tranche.
    async fn fund(&mut self, key: &str, partner: &Partner, partner_token: &str, application_id: &str) -> Step<()> {
        let run = Arc::clone(&self.run);
        let (tokens, clients) = (&run.tokens, &mut self.clients);
        let award_id = award_of(application_id).map_err(|e| run.failure("naming the award", &e))?;
        let what = format!("the award offer {award_id}");
        let award =
            run.wait(AWARD_OFFERED, &what, || get_award(clients.awards.clone(), &tokens.auditor, &award_id)).await?;
        let Some(amount) = award.approved_amount.map(|m| m.minor_units) else {
            return Err(run.failure("reading the award", &anyhow::anyhow!("award {award_id} has no approved amount")));
        };
        let request = run.authed(agreement_request(key, &award_id, amount, run.year), &tokens.officer)?;
        run.command(SET_AGREEMENT, clients.awards.set_agreement(request)).await?;
        let request = run.authed(signing(key, &award_id), &tokens.officer)?;
        run.command(SIGN, clients.awards.sign_agreement(request)).await?;
        let initial = amount * 40 / 100;
        let request = run.authed(release(key, &award_id, "t1", initial), &tokens.finance)?;
        run.command(RELEASE, clients.awards.release_tranche(request)).await?;
        run.stats.reached(Milestone::Funded);

        let what = format!("the obligations of award {award_id}");
        run.wait(OBLIGATIONS_SCHEDULED, &what, || async {
            let found = obligations(clients.reporting.clone(), &tokens.auditor, &award_id).await?;
            Ok(found.filter(|o| !o.obligations.is_empty()).map(|_| ()))
        })
        .await?;
        let index = PARTNERS.iter().position(|p| std::ptr::eq(p, partner)).unwrap_or(0);
        let request = run.authed(progress_report(partner, key, &award_id, index), partner_token)?;
        run.command(SUBMIT_REPORT, clients.reporting.submit_report(request)).await?;
        let request = run.authed(acceptance(key, &award_id), &tokens.officer)?;
        run.command(ACCEPT_REPORT, clients.reporting.accept_report(request)).await?;
        run.stats.reached(Milestone::Reported);

        let what = format!("the interim tranche of award {award_id}");
        let award = run
            .wait(TRANCHE_UNLOCKED, &what, || async {
                let award = get_award(clients.awards.clone(), &tokens.auditor, &award_id).await?;
                Ok(award.filter(|a| unlocked(a, "t2")))
            })
            .await?;
        let interim = tranche_amount(&award, "t2").map_err(|e| run.failure("reading the award", &e))?;
        let request = run.authed(release(key, &award_id, "t2", interim), &tokens.finance)?;
        run.command(RELEASE, clients.awards.release_tranche(request)).await?;
        run.stats.reached(Milestone::Completed);
        Ok(())
    }

    /// The round this grant applies to: a new one every [`GRANTS_PER_ROUND`] grants.
    async fn round(&mut self, key: &str, number: u64) -> Step<String> {
        if let Some(round_id) = self.round_id.as_ref().filter(|_| !number.is_multiple_of(GRANTS_PER_ROUND)) {
            return Ok(round_id.clone());
        }
        let run = &self.run;
        let mut request = round(run.year).map_err(|e| run.failure("the round's dates", &e))?;
        request.request_id = request_id(&format!("round/{key}"));
        let request = run.authed(request, &run.tokens.officer)?;
        let opened = run.command(OPEN_ROUND, self.clients.applications.open_round(request)).await?;
        let Some(round) = opened.round else {
            return Err(run.failure("opening a round", &anyhow::anyhow!("the round was not returned")));
        };
        self.round_id = Some(round.round_id.clone());
        Ok(round.round_id)
    }

    /// The organisation that applies for this grant, and its staff's token: a new one, registered under
    /// the grant's key, every [`GRANTS_PER_ORGANISATION`] grants, with one of the demo's partners' texts.
    async fn organisation(&mut self, key: &str) -> Step<(&'static Partner, String)> {
        if let Some(organisation) = self.organisation.as_mut().filter(|o| o.grants < GRANTS_PER_ORGANISATION) {
            organisation.grants += 1;
            return Ok((organisation.partner, organisation.token.clone()));
        }
        let run = &self.run;
        let partner = &PARTNERS[(self.id + usize::try_from(self.grants).unwrap_or(0)) % PARTNERS.len()];
        // Registration numbers are unique in a country: each organisation gets one of its own.
        let number = format!("{}/{key}", partner.registration_number);
        let request = run.authed(registration(partner, key, &number), &run.tokens.officer)?;
        run.command(REGISTER, self.clients.applications.register_organisation(request)).await?;
        let token = run
            .connection
            .issue(Role::Partner, &partner_subject(key), Some(&organisation_id(key)))
            .map_err(|e| run.failure("a partner's token", &e))?;
        self.organisation = Some(Organisation { partner, token: token.clone(), grants: 1 });
        Ok((partner, token))
    }
}
