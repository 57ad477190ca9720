//! Awards: offered from an approved application, agreement set and signed, tranches released when their
//! reports are accepted, varied, suspended, resumed, terminated, closed.

use std::collections::{BTreeMap, BTreeSet};

use contracts::applications::v1 as apps;
use contracts::awards::v1 as pb;
use contracts::common::v1::ErasureReason;
use contracts::reporting::v1::{ReportAccepted, ReportKind};
use contracts::values::{WireError, WireValue};
use domain_kernel::{Date, Money, Timestamp};

use super::terms::{Change, Move, Terms, TermsStage};
use super::{Actor, ApplicationId, AwardId, OrganisationId, Rejection, Role, RoundId, check_text};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Offered,
    Active,
    Suspended,
    Terminated,
    Closed,
}

impl Status {
    pub fn to_wire(self) -> pb::AwardStatus {
        match self {
            Status::Offered => pb::AwardStatus::Offered,
            Status::Active => pb::AwardStatus::Active,
            Status::Suspended => pb::AwardStatus::Suspended,
            Status::Terminated => pb::AwardStatus::Terminated,
            Status::Closed => pb::AwardStatus::Closed,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Offered => "OFFERED",
            Status::Active => "ACTIVE",
            Status::Suspended => "SUSPENDED",
            Status::Terminated => "TERMINATED",
            Status::Closed => "CLOSED",
        }
    }
}

/// An accepted report that meets a requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    pub report_id: String,
    pub accepted_by: String,
    pub accepted_at: Timestamp,
}

/// A released tranche.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    pub amount: Money,
    pub payment: pb::Payment,
    pub released_by: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariationStatus {
    Requested,
    Approved,
    Declined,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Variation {
    pub variation_id: String,
    pub change: pb::VariationChange,
    pub reason: String,
    pub requested_by: String,
    pub status: VariationStatus,
    pub decided_by: String,
    pub decision_note: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AwardData {
    pub id: AwardId,
    pub application_id: ApplicationId,
    pub round_id: RoundId,
    pub organisation_id: OrganisationId,
    pub title: String,
    pub approved_amount: Money,
    /// Who approved the application this award was offered from (from `AwardOffered`).
    pub approved_by: String,
    pub countries: Vec<String>,
    pub status: Status,
    pub terms: Option<Terms>,
    pub signed_by: Option<String>,
    pub released: BTreeMap<String, Release>,
    pub cancelled: BTreeSet<String>,
    /// Met reporting requirements by `report_ref`.
    pub met: BTreeMap<String, Acceptance>,
    pub variations: Vec<Variation>,
    pub released_total: Money,
    pub status_reason: String,
}

impl AwardData {
    /// Staff see every award; partners only their own organisation's.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        match actor.role {
            Role::Partner => actor.organisation.as_deref() == Some(self.organisation_id.to_string().as_str()),
            _ => true,
        }
    }

    fn released_amounts(&self) -> BTreeMap<String, Money> {
        self.released.iter().map(|(id, r)| (id.clone(), r.amount)).collect()
    }

    fn signed_terms(&self) -> Result<&Terms, Rejection> {
        match (&self.terms, self.status) {
            (Some(terms), status) if status != Status::Offered => Ok(terms),
            _ => Err(Rejection::precondition("status", "the agreement must be signed first")),
        }
    }

    fn variation(&self, id: &str) -> Result<&Variation, Rejection> {
        self.variations.iter().find(|v| v.variation_id == id).ok_or_else(|| Rejection::not_found("variation", id))
    }
}

/// An award's state: `None` until offered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Award(pub Option<AwardData>);

#[derive(Clone, Debug, PartialEq)]
pub enum AwardEvent {
    Offered(pb::AwardOffered),
    AgreementSet(pb::AgreementSet),
    AgreementSigned(pb::AgreementSigned),
    ReportConditionMet(pb::ReportConditionMet),
    TrancheReleased(pb::TrancheReleased),
    BudgetReallocated(pb::BudgetReallocated),
    VariationRequested(pb::VariationRequested),
    VariationApproved(pb::VariationApproved),
    VariationDeclined(pb::VariationDeclined),
    Suspended(pb::AwardSuspended),
    Resumed(pb::AwardResumed),
    Terminated(pb::AwardTerminated),
    Closed(pb::AwardClosed),
    TextErased(pb::AwardTextErased),
    VariationTextErased(pb::VariationTextErased),
}

/// How a tranche was paid, as decoded from the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentInput {
    pub paid_amount: Money,
    pub exchange_rate: String,
    pub rate_source: String,
    pub rate_value_date: Option<Date>,
    pub payment_reference: String,
}

impl PaymentInput {
    pub fn from_wire(field: &str, p: Option<&pb::Payment>) -> Result<PaymentInput, WireError> {
        let p = p.ok_or_else(|| WireError::new(field, "is required"))?;
        Ok(PaymentInput {
            paid_amount: Money::from_wire(&format!("{field}.paid_amount"), p.paid_amount.as_ref())?,
            exchange_rate: p.exchange_rate.clone(),
            rate_source: p.rate_source.clone(),
            rate_value_date: match &p.rate_value_date {
                None => None,
                Some(d) => Some(Date::from_wire(&format!("{field}.rate_value_date"), Some(d))?),
            },
            payment_reference: p.payment_reference.clone(),
        })
    }

    fn to_wire(&self) -> pb::Payment {
        pb::Payment {
            paid_amount: Some(self.paid_amount.to_wire()),
            exchange_rate: self.exchange_rate.clone(),
            rate_source: self.rate_source.clone(),
            rate_value_date: self.rate_value_date.map(Date::to_wire),
            payment_reference: self.payment_reference.clone(),
        }
    }

    /// A payment in the award's currency pays exactly the tranche; in another currency it records the rate,
    /// its source and its value date.
    fn check(&self, tranche_amount: Money) -> Result<(), Rejection> {
        check_text("payment.payment_reference", &self.payment_reference, 0, 200)?;
        if !self.paid_amount.is_positive() {
            return Err(Rejection::invalid("payment.paid_amount", "must be positive"));
        }
        if self.paid_amount.currency == tranche_amount.currency {
            if self.paid_amount != tranche_amount {
                return Err(Rejection::precondition(
                    "payment.paid_amount",
                    format!("must equal the tranche's amount {} when paid in the award's currency", tranche_amount),
                ));
            }
            if !self.exchange_rate.is_empty() || !self.rate_source.is_empty() || self.rate_value_date.is_some() {
                return Err(Rejection::invalid(
                    "payment.exchange_rate",
                    "must be empty (with `rate_source` and `rate_value_date`) for a payment in the award's currency",
                ));
            }
            return Ok(());
        }
        check_rate("payment.exchange_rate", &self.exchange_rate)?;
        check_text("payment.rate_source", &self.rate_source, 1, 200)?;
        if self.rate_value_date.is_none() {
            return Err(Rejection::invalid(
                "payment.rate_value_date",
                "is required for a payment in another currency than the award's",
            ));
        }
        Ok(())
    }
}

/// An exchange rate is a positive decimal string: digits, an optional '.', at most 12 fractional digits.
/// Kept as text so that what the finance system used is recorded exactly, never through a float.
pub fn check_rate(field: &str, rate: &str) -> Result<(), Rejection> {
    let rule = "must be a positive decimal such as \"36.125\" (at most 18 integer and 12 fractional digits)";
    let (int, frac) = rate.split_once('.').unwrap_or((rate, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = !int.is_empty()
        && int.len() <= 18
        && frac.len() <= 12
        && digits(int)
        && digits(frac)
        && !(rate.contains('.') && frac.is_empty());
    if !well_formed || rate.bytes().all(|b| b == b'0' || b == b'.') {
        return Err(Rejection::invalid(field, rule));
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub enum AwardCommand {
    SetAgreement {
        terms: Terms,
    },
    Sign,
    ReleaseTranche {
        tranche_id: String,
        payment: PaymentInput,
    },
    ReallocateBudget {
        moves: Vec<Move>,
        reason: String,
    },
    RequestVariation {
        variation_id: String,
        change: Change,
        reason: String,
    },
    ApproveVariation {
        variation_id: String,
        comment: String,
    },
    DeclineVariation {
        variation_id: String,
        reason: String,
    },
    Suspend {
        reason: String,
    },
    Resume {
        reason: String,
    },
    Terminate {
        reason: String,
    },
    Close {
        comment: String,
    },
    /// A safeguarding erasure of a variation's free text, or of the award's own (the runtime destroys the key).
    EraseText {
        variation_id: Option<String>,
        reason: ErasureReason,
    },
}

/// Who decides, and when.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now: Timestamp,
}

fn require_status(award: &AwardData, allowed: &[Status], action: &str) -> Result<(), Rejection> {
    if allowed.contains(&award.status) {
        return Ok(());
    }
    let names: Vec<_> = allowed.iter().map(|s| s.name()).collect();
    Err(Rejection::precondition(
        "status",
        format!("must be {} to {action}, the award is {}", names.join(" or "), award.status.name()),
    ))
}

fn reason(field: &str, value: &str) -> Result<(), Rejection> {
    check_text(field, value, 1, 2_000)
}

/// Decides a command on an award.
pub fn handle(state: &Award, ctx: Context<'_>, command: AwardCommand) -> Result<Vec<AwardEvent>, Rejection> {
    let award = match &state.0 {
        Some(award) if award.visible_to(ctx.actor) => award,
        // Another organisation's award reads as unknown.
        _ => return Err(Rejection::not_found("award", "named in `award_id`")),
    };
    let id = award.id.to_string();
    let subject = ctx.actor.subject.clone();
    match command {
        AwardCommand::SetAgreement { terms } => {
            require_status(award, &[Status::Offered], "set the agreement (after signature use a variation)")?;
            terms.check("terms", TermsStage::Agreement { approved: award.approved_amount })?;
            Ok(vec![AwardEvent::AgreementSet(pb::AgreementSet { award_id: id, terms: Some(terms.to_wire()) })])
        }
        AwardCommand::Sign => {
            require_status(award, &[Status::Offered], "sign the agreement")?;
            let terms = award
                .terms
                .as_ref()
                .ok_or_else(|| Rejection::precondition("terms", "must be set (SetAgreement) before signing"))?;
            Ok(vec![AwardEvent::AgreementSigned(pb::AgreementSigned {
                award_id: id,
                organisation_id: award.organisation_id.to_string(),
                round_id: award.round_id.to_string(),
                application_id: award.application_id.to_string(),
                terms: Some(terms.to_wire()),
                signed_by: subject,
                signed_at: Some(ctx.now.to_wire()),
            })])
        }
        AwardCommand::ReleaseTranche { tranche_id, payment } => release(award, ctx, tranche_id, payment),
        AwardCommand::ReallocateBudget { moves, reason: why } => {
            let terms = award.signed_terms()?;
            require_status(award, &[Status::Active], "reallocate its budget")?;
            reason("reason", &why)?;
            let (lines, moved) = terms.reallocate("moves", &moves)?;
            let moved_basis_points = terms.basis_points_of_amount(moved);
            if terms.needs_variation(moved) {
                return Err(Rejection::precondition(
                    "moves",
                    format!(
                        "move {moved_basis_points} basis points of the award amount, above the agreement's variance \
                         threshold of {}%: request a reallocation variation instead",
                        terms.variance_threshold_percent
                    ),
                ));
            }
            let budget_lines = Terms { budget_lines: lines, ..terms.clone() }.to_wire().budget_lines;
            Ok(vec![AwardEvent::BudgetReallocated(pb::BudgetReallocated {
                award_id: id,
                moves: moves.iter().map(Move::to_wire).collect(),
                reason: why,
                budget_lines,
                moved_basis_points,
                sealed_text: None,
            })])
        }
        AwardCommand::RequestVariation { variation_id, change, reason: why } => {
            let terms = award.signed_terms()?;
            require_status(award, &[Status::Active, Status::Suspended], "request a variation")?;
            reason("reason", &why)?;
            if award.variations.iter().any(|v| v.variation_id == variation_id) {
                return Err(Rejection::duplicate("variation", variation_id));
            }
            // Checked now so that a variation that could never apply is not even recorded.
            change.apply_to(terms, &award.released_amounts(), &award.cancelled)?;
            Ok(vec![AwardEvent::VariationRequested(pb::VariationRequested {
                award_id: id,
                variation_id,
                change: Some(change.to_wire()),
                reason: why,
                requested_by: subject,
                sealed_text: None,
            })])
        }
        AwardCommand::ApproveVariation { variation_id, comment } => {
            let terms = award.signed_terms()?;
            let variation = award.variation(&variation_id)?;
            require_status(award, &[Status::Active, Status::Suspended], "approve a variation")?;
            if variation.status != VariationStatus::Requested {
                return Err(Rejection::precondition("variation_id", "the variation is decided already"));
            }
            if variation.requested_by == subject {
                return Err(Rejection::precondition(
                    "approved_by",
                    "the person who requested a variation cannot approve it (segregation of duties)",
                ));
            }
            check_text("comment", &comment, 0, 2_000)?;
            let change = Change::from_wire("change", Some(&variation.change))?;
            // Decided against the award as it is now: it may have moved on since the request.
            let (next, cancelled) = change.apply_to(terms, &award.released_amounts(), &award.cancelled)?;
            Ok(vec![AwardEvent::VariationApproved(pb::VariationApproved {
                award_id: id,
                variation_id,
                change: Some(variation.change.clone()),
                approved_by: subject,
                comment,
                terms: Some(next.to_wire()),
                cancelled_tranche_ids: cancelled,
                sealed_text: None,
            })])
        }
        AwardCommand::DeclineVariation { variation_id, reason: why } => {
            let variation = award.variation(&variation_id)?;
            if variation.status != VariationStatus::Requested {
                return Err(Rejection::precondition("variation_id", "the variation is decided already"));
            }
            reason("reason", &why)?;
            Ok(vec![AwardEvent::VariationDeclined(pb::VariationDeclined {
                award_id: id,
                variation_id,
                declined_by: subject,
                reason: why,
                sealed_text: None,
            })])
        }
        AwardCommand::Suspend { reason: why } => {
            require_status(award, &[Status::Active], "suspend it")?;
            reason("reason", &why)?;
            Ok(vec![AwardEvent::Suspended(pb::AwardSuspended { award_id: id, reason: why, sealed_text: None })])
        }
        AwardCommand::Resume { reason: why } => {
            require_status(award, &[Status::Suspended], "resume it")?;
            reason("reason", &why)?;
            Ok(vec![AwardEvent::Resumed(pb::AwardResumed { award_id: id, reason: why, sealed_text: None })])
        }
        AwardCommand::Terminate { reason: why } => {
            require_status(award, &[Status::Offered, Status::Active, Status::Suspended], "terminate it")?;
            reason("reason", &why)?;
            let cancelled_tranche_ids = award
                .terms
                .iter()
                .filter(|_| award.status != Status::Offered)
                .flat_map(|t| &t.tranches)
                .filter(|t| !award.released.contains_key(&t.tranche_id) && !award.cancelled.contains(&t.tranche_id))
                .map(|t| t.tranche_id.clone())
                .collect();
            Ok(vec![AwardEvent::Terminated(pb::AwardTerminated {
                award_id: id,
                reason: why,
                released_total: Some(award.released_total.to_wire()),
                cancelled_tranche_ids,
                sealed_text: None,
            })])
        }
        AwardCommand::EraseText { variation_id: Some(variation_id), reason } => {
            award.variation(&variation_id)?;
            Ok(vec![AwardEvent::VariationTextErased(pb::VariationTextErased {
                award_id: id,
                variation_id,
                reason: reason as i32,
                erased_by: subject,
            })])
        }
        AwardCommand::EraseText { variation_id: None, reason } => {
            Ok(vec![AwardEvent::TextErased(pb::AwardTextErased {
                award_id: id,
                reason: reason as i32,
                erased_by: subject,
            })])
        }
        AwardCommand::Close { comment } => {
            let terms = award.signed_terms()?;
            require_status(award, &[Status::Active], "close it")?;
            check_text("comment", &comment, 0, 2_000)?;
            if let Some(t) = terms
                .tranches
                .iter()
                .find(|t| !award.released.contains_key(&t.tranche_id) && !award.cancelled.contains(&t.tranche_id))
            {
                return Err(Rejection::precondition(
                    "tranches",
                    format!("tranche `{}` must be released or cancelled before the award is closed", t.tranche_id),
                ));
            }
            if let Some(r) =
                terms.reports.iter().find(|r| r.kind == ReportKind::Final && !award.met.contains_key(&r.report_ref))
            {
                return Err(Rejection::precondition(
                    "reports",
                    format!("the final report `{}` must be accepted before the award is closed", r.report_ref),
                ));
            }
            Ok(vec![AwardEvent::Closed(pb::AwardClosed {
                award_id: id,
                released_total: Some(award.released_total.to_wire()),
                comment,
                sealed_text: None,
            })])
        }
    }
}

fn release(
    award: &AwardData,
    ctx: Context<'_>,
    tranche_id: String,
    payment: PaymentInput,
) -> Result<Vec<AwardEvent>, Rejection> {
    let terms = award
        .signed_terms()
        .map_err(|_| Rejection::precondition("status", "the agreement must be signed before a tranche is released"))?;
    match award.status {
        Status::Active => {}
        Status::Suspended => {
            return Err(Rejection::precondition("status", "the award is SUSPENDED: no release until it is resumed"));
        }
        other => {
            return Err(Rejection::precondition(
                "status",
                format!("the award is {}: no further release", other.name()),
            ));
        }
    }
    let tranche = terms.tranche(&tranche_id).ok_or_else(|| Rejection::not_found("tranche", &tranche_id))?;
    if award.released.contains_key(&tranche_id) {
        return Err(Rejection::precondition("tranche_id", format!("tranche `{tranche_id}` is released already")));
    }
    if award.cancelled.contains(&tranche_id) {
        return Err(Rejection::precondition("tranche_id", format!("tranche `{tranche_id}` is cancelled")));
    }
    // Maker-checker: whoever decided to pay (approved the application, signed the agreement, accepted a
    // gating report) may not also pay.
    let segregation = |what: String| {
        Rejection::precondition(
            "released_by",
            format!("{} {what} and cannot release tranche `{tranche_id}` (segregation of duties)", ctx.actor.subject),
        )
    };
    if award.approved_by == ctx.actor.subject {
        return Err(segregation("approved the application".into()));
    }
    if award.signed_by.as_deref() == Some(ctx.actor.subject.as_str()) {
        return Err(segregation("signed the agreement".into()));
    }
    let mut gating_reports = Vec::with_capacity(tranche.required_reports.len());
    for report_ref in &tranche.required_reports {
        let acceptance = award.met.get(report_ref).ok_or_else(|| {
            Rejection::precondition(
                "tranche_id",
                format!("tranche `{tranche_id}` waits for report `{report_ref}` to be accepted"),
            )
        })?;
        if acceptance.accepted_by == ctx.actor.subject {
            return Err(segregation(format!("accepted gating report `{report_ref}`")));
        }
        gating_reports.push(pb::GatingReport {
            report_ref: report_ref.clone(),
            report_id: acceptance.report_id.clone(),
            accepted_by: acceptance.accepted_by.clone(),
        });
    }
    let released_total = award
        .released_total
        .checked_add(tranche.amount)
        .filter(|total| total.minor_units <= terms.amount.minor_units)
        .ok_or_else(|| {
            Rejection::precondition(
                "tranche_id",
                format!(
                    "releasing {} would take the released total above the award amount {}",
                    tranche.amount.minor_units, terms.amount.minor_units
                ),
            )
        })?;
    payment.check(tranche.amount)?;
    Ok(vec![AwardEvent::TrancheReleased(pb::TrancheReleased {
        award_id: award.id.to_string(),
        organisation_id: award.organisation_id.to_string(),
        tranche_id,
        amount: Some(tranche.amount.to_wire()),
        released_total: Some(released_total.to_wire()),
        payment: Some(payment.to_wire()),
        released_by: ctx.actor.subject.clone(),
        gating_reports,
    })])
}

/// What an `ApplicationApproved` means for the award of that application: an offer, or nothing when the
/// award exists already (a duplicate, whatever its event id).
pub fn offer(state: &Award, approved: &apps::ApplicationApproved) -> Result<Vec<AwardEvent>, Rejection> {
    let application_id = ApplicationId::parse("application_id", &approved.application_id)?;
    if state.0.is_some() {
        return Ok(Vec::new());
    }
    let round_id = RoundId::parse("round_id", &approved.round_id)?;
    let organisation_id = OrganisationId::parse("organisation_id", &approved.organisation_id)?;
    let amount = Money::from_wire("approved_amount", approved.approved_amount.as_ref())?;
    if !amount.is_positive() {
        return Err(Rejection::invalid("approved_amount", "must be positive"));
    }
    Ok(vec![AwardEvent::Offered(pb::AwardOffered {
        award_id: AwardId::for_application(application_id).to_string(),
        application_id: application_id.to_string(),
        round_id: round_id.to_string(),
        organisation_id: organisation_id.to_string(),
        title: approved.title.clone(),
        approved_amount: Some(amount.to_wire()),
        approved_by: approved.decided_by.clone(),
        countries: approved.countries.clone(),
    })])
}

/// What a `ReportAccepted` means for its award: the matching requirement is met, or nothing when it was
/// met already. An acceptance that matches no requirement of a signed agreement is refused.
pub fn accept_report(state: &Award, accepted: &ReportAccepted) -> Result<Vec<AwardEvent>, Rejection> {
    let award = state.0.as_ref().ok_or_else(|| Rejection::not_found("award", &accepted.award_id))?;
    let terms = award.signed_terms().map_err(|_| {
        Rejection::precondition("award_id", "the award's agreement is not signed: no report is required")
    })?;
    let requirement = terms.requirement(&accepted.report_ref).ok_or_else(|| {
        Rejection::precondition(
            "report_ref",
            format!("`{}` is not a reporting requirement of award {}", accepted.report_ref, award.id),
        )
    })?;
    if accepted.kind != requirement.kind as i32 {
        return Err(Rejection::precondition(
            "kind",
            format!("must be {} as the requirement `{}` says", requirement.kind.as_str_name(), requirement.report_ref),
        ));
    }
    if !accepted.organisation_id.is_empty() && accepted.organisation_id != award.organisation_id.to_string() {
        return Err(Rejection::precondition(
            "organisation_id",
            format!("must be the award's organisation {}", award.organisation_id),
        ));
    }
    check_text("accepted_by", &accepted.accepted_by, 1, 200)?;
    check_text("report_id", &accepted.report_id, 1, 200)?;
    let accepted_at = Timestamp::from_wire("accepted_at", accepted.accepted_at.as_ref())?;
    if award.met.contains_key(&accepted.report_ref) {
        return Ok(Vec::new());
    }
    let tranche_ids = terms
        .tranches
        .iter()
        .filter(|t| t.required_reports.contains(&accepted.report_ref))
        .map(|t| t.tranche_id.clone())
        .collect();
    Ok(vec![AwardEvent::ReportConditionMet(pb::ReportConditionMet {
        award_id: award.id.to_string(),
        report_ref: accepted.report_ref.clone(),
        report_id: accepted.report_id.clone(),
        kind: accepted.kind,
        accepted_by: accepted.accepted_by.clone(),
        accepted_at: Some(accepted_at.to_wire()),
        tranche_ids,
    })])
}

/// Folds an event into the award. Events were checked when they were decided; a value that does not
/// decode leaves the state as it was.
pub fn apply(state: Award, event: &AwardEvent) -> Award {
    if let AwardEvent::Offered(e) = event {
        return Award(offered(e));
    }
    let Some(mut award) = state.0 else { return Award(None) };
    match event {
        AwardEvent::Offered(_) => {}
        AwardEvent::AgreementSet(e) => award.terms = Terms::from_wire("terms", e.terms.as_ref()).ok(),
        AwardEvent::AgreementSigned(e) => {
            award.terms = Terms::from_wire("terms", e.terms.as_ref()).ok().or(award.terms);
            award.signed_by = Some(e.signed_by.clone());
            award.status = Status::Active;
        }
        AwardEvent::ReportConditionMet(e) => {
            award.met.insert(
                e.report_ref.clone(),
                Acceptance {
                    report_id: e.report_id.clone(),
                    accepted_by: e.accepted_by.clone(),
                    accepted_at: Timestamp::from_wire("", e.accepted_at.as_ref()).unwrap_or_default(),
                },
            );
        }
        AwardEvent::TrancheReleased(e) => {
            if let (Ok(amount), Ok(total)) =
                (Money::from_wire("", e.amount.as_ref()), Money::from_wire("", e.released_total.as_ref()))
            {
                award.released.insert(
                    e.tranche_id.clone(),
                    Release {
                        amount,
                        payment: e.payment.clone().unwrap_or_default(),
                        released_by: e.released_by.clone(),
                    },
                );
                award.released_total = total;
            }
        }
        AwardEvent::BudgetReallocated(e) => {
            if let Some(terms) = award.terms.as_mut() {
                let wire = pb::AgreementTerms { budget_lines: e.budget_lines.clone(), ..terms.to_wire() };
                if let Ok(next) = Terms::from_wire("", Some(&wire)) {
                    *terms = next;
                }
            }
        }
        AwardEvent::VariationRequested(e) => award.variations.push(Variation {
            variation_id: e.variation_id.clone(),
            change: e.change.clone().unwrap_or_default(),
            reason: e.reason.clone(),
            requested_by: e.requested_by.clone(),
            status: VariationStatus::Requested,
            decided_by: String::new(),
            decision_note: String::new(),
        }),
        AwardEvent::VariationApproved(e) => {
            if let Ok(terms) = Terms::from_wire("", e.terms.as_ref()) {
                award.terms = Some(terms);
            }
            award.cancelled.extend(e.cancelled_tranche_ids.iter().cloned());
            decide_variation(&mut award, &e.variation_id, VariationStatus::Approved, &e.approved_by, &e.comment);
        }
        AwardEvent::VariationDeclined(e) => {
            decide_variation(&mut award, &e.variation_id, VariationStatus::Declined, &e.declined_by, &e.reason);
        }
        AwardEvent::Suspended(e) => {
            award.status = Status::Suspended;
            award.status_reason = e.reason.clone();
        }
        AwardEvent::Resumed(e) => {
            award.status = Status::Active;
            award.status_reason = e.reason.clone();
        }
        AwardEvent::Terminated(e) => {
            award.status = Status::Terminated;
            award.status_reason = e.reason.clone();
            award.cancelled.extend(e.cancelled_tranche_ids.iter().cloned());
        }
        AwardEvent::Closed(_) => award.status = Status::Closed,
        // What was erased reads as erased when the stream is loaded; the award itself does not change.
        AwardEvent::TextErased(_) | AwardEvent::VariationTextErased(_) => {}
    }
    Award(Some(award))
}

fn offered(e: &pb::AwardOffered) -> Option<AwardData> {
    let approved_amount = Money::from_wire("", e.approved_amount.as_ref()).ok()?;
    Some(AwardData {
        id: AwardId::parse("", &e.award_id).ok()?,
        application_id: ApplicationId::parse("", &e.application_id).ok()?,
        round_id: RoundId::parse("", &e.round_id).ok()?,
        organisation_id: OrganisationId::parse("", &e.organisation_id).ok()?,
        title: e.title.clone(),
        approved_amount,
        approved_by: e.approved_by.clone(),
        countries: e.countries.clone(),
        status: Status::Offered,
        terms: None,
        signed_by: None,
        released: BTreeMap::new(),
        cancelled: BTreeSet::new(),
        met: BTreeMap::new(),
        variations: Vec::new(),
        released_total: Money::zero(approved_amount.currency),
        status_reason: String::new(),
    })
}

fn decide_variation(award: &mut AwardData, id: &str, status: VariationStatus, by: &str, note: &str) {
    if let Some(v) = award.variations.iter_mut().find(|v| v.variation_id == id) {
        v.status = status;
        v.decided_by = by.to_owned();
        v.decision_note = note.to_owned();
    }
}
