//! Every rule of the award aggregate: each rejection names its field, and a rejected command decides no
//! event (the aggregate is pure, so "no event decided" is "nothing written").

use contracts::applications::v1 as apps;
use contracts::awards::v1 as pb;
use contracts::reporting::v1::{ReportAccepted, ReportKind};
use contracts::values::WireValue;
use domain_kernel::{Country, Currency, Date, Money, Timestamp};

use test_support::decider::{fold, given, given_state};

use super::award::{self, Award, AwardCommand, AwardEvent, Context, Payment, Status};
use super::terms::{BudgetLine, Change, Move, Requirement, Terms, TrancheTerms};
use super::{Actor, ApplicationId, AwardId, Rejection, Role};

const APPLICATION: &str = "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab";
const ORGANISATION: &str = "11111111-2222-4333-8444-555555555555";
const ROUND: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

fn usd(minor_units: i64) -> Money {
    Money::new(minor_units, Currency::parse("c", "USD").unwrap())
}

fn thb(minor_units: i64) -> Money {
    Money::new(minor_units, Currency::parse("c", "THB").unwrap())
}

fn date(year: i32, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

fn staff(role: Role, subject: &str) -> Actor {
    Actor { subject: subject.into(), role, organisation: None }
}

fn officer() -> Actor {
    staff(Role::ProgramOfficer, "officer-1")
}

fn finance() -> Actor {
    staff(Role::FinanceOfficer, "finance-1")
}

fn approved(amount: Money) -> apps::ApplicationApproved {
    apps::ApplicationApproved {
        application_id: APPLICATION.into(),
        round_id: ROUND.into(),
        organisation_id: ORGANISATION.into(),
        approved_amount: Some(amount.to_wire()),
        decided_by: "officer-0".into(),
        title: "Shelter in Phnom Penh".into(),
        countries: vec!["KH".into()],
        ..Default::default()
    }
}

fn decide(actor: &Actor, command: AwardCommand) -> impl FnOnce(&Award) -> Result<Vec<AwardEvent>, Rejection> {
    move |state| award::handle(state, Context { actor, now: Timestamp::from_micros(1_000) }, command)
}

/// Runs a command that must succeed and folds its events.
fn ok(state: Award, actor: &Actor, command: AwardCommand) -> (Award, Vec<AwardEvent>) {
    given_state(state).when(decide(actor, command)).then_accept()
}

/// Runs a command that must be rejected; returns the rejection.
fn rejected(state: &Award, actor: &Actor, command: AwardCommand) -> Rejection {
    given_state(state.clone()).when(decide(actor, command)).then_reject()
}

fn field(rejection: &Rejection) -> &str {
    match rejection {
        Rejection::Invalid { field, .. } | Rejection::Precondition { field, .. } => field,
        other => panic!("no field in {other:?}"),
    }
}

fn is_precondition(rejection: &Rejection) -> bool {
    matches!(rejection, Rejection::Precondition { .. })
}

/// 100 000 USD cents: lines 60 000 + 40 000; tranches t1 (initial, 40 000, ungated), t2 (interim, 30 000,
/// gated by progress-1), t3 (final, 30 000, gated by final-1); threshold 10 %.
fn terms() -> Terms {
    Terms {
        amount: usd(100_000),
        period_start: date(2026, 1, 1),
        period_end: date(2026, 12, 31),
        budget_lines: vec![
            BudgetLine { line_id: "shelter".into(), category: "Shelter".into(), amount: usd(60_000) },
            BudgetLine { line_id: "legal".into(), category: "Legal aid".into(), amount: usd(40_000) },
        ],
        tranches: vec![
            tranche("t1", pb::TrancheKind::Initial, 40_000, date(2026, 1, 15), &[]),
            tranche("t2", pb::TrancheKind::Interim, 30_000, date(2026, 6, 15), &["progress-1"]),
            tranche("t3", pb::TrancheKind::Final, 30_000, date(2026, 12, 31), &["final-1"]),
        ],
        reports: vec![
            Requirement {
                report_ref: "progress-1".into(),
                kind: ReportKind::Progress,
                period_start: date(2026, 1, 1),
                period_end: date(2026, 5, 31),
                due_date: date(2026, 6, 10),
            },
            Requirement {
                report_ref: "final-1".into(),
                kind: ReportKind::Final,
                period_start: date(2026, 1, 1),
                period_end: date(2026, 12, 31),
                due_date: date(2026, 12, 31),
            },
        ],
        variance_threshold_percent: 10,
    }
}

fn tranche(id: &str, kind: pb::TrancheKind, amount: i64, due: Date, reports: &[&str]) -> TrancheTerms {
    TrancheTerms {
        tranche_id: id.into(),
        kind,
        amount: usd(amount),
        due_date: due,
        required_reports: reports.iter().map(|r| (*r).to_owned()).collect(),
    }
}

fn offered() -> Award {
    given([]).when(|none| award::offer(none, &approved(usd(100_000)))).then_accept().0
}

fn with_terms(terms: Terms) -> Award {
    ok(offered(), &officer(), AwardCommand::SetAgreement { terms }).0
}

fn signed() -> Award {
    ok(with_terms(terms()), &officer(), AwardCommand::Sign).0
}

fn acceptance(report_ref: &str, kind: ReportKind, by: &str) -> ReportAccepted {
    ReportAccepted {
        report_id: format!("report-{report_ref}"),
        award_id: award_id().to_string(),
        report_ref: report_ref.into(),
        kind: kind as i32,
        accepted_by: by.into(),
        accepted_at: Some(Timestamp::from_micros(5_000).to_wire()),
        ..Default::default()
    }
}

fn award_id() -> AwardId {
    AwardId::for_application(ApplicationId::parse("", APPLICATION).unwrap())
}

fn accept(state: Award, report_ref: &str, kind: ReportKind, by: &str) -> Award {
    let events = award::accept_report(&state, &acceptance(report_ref, kind, by)).unwrap();
    assert_eq!(events.len(), 1);
    fold(state, &events)
}

fn pay(amount: Money) -> Payment {
    Payment {
        paid_amount: amount,
        exchange_rate: String::new(),
        rate_source: String::new(),
        rate_value_date: None,
        payment_reference: "PAY-1".into(),
    }
}

fn release(tranche: &str, amount: i64) -> AwardCommand {
    AwardCommand::ReleaseTranche { tranche_id: tranche.into(), payment: pay(usd(amount)) }
}

fn data(state: &Award) -> &award::AwardData {
    state.0.as_ref().unwrap()
}

// ---------------------------------------------------------------------------------------------------------
// Offers

#[test]
fn an_approved_application_opens_one_offer_and_a_duplicate_changes_nothing() {
    let state = offered();
    let award = data(&state);
    assert_eq!(award.id, award_id());
    assert_eq!(award.status, Status::Offered);
    assert_eq!(award.approved_amount, usd(100_000));
    // Same application, whatever the message: no second offer.
    assert_eq!(award::offer(&state, &approved(usd(100_000))).unwrap(), Vec::new());
    assert_eq!(award::offer(&state, &approved(usd(999))).unwrap(), Vec::new());
}

#[test]
fn an_offer_needs_a_positive_approved_amount_and_valid_ids() {
    let rejection = award::offer(&Award::default(), &approved(usd(0))).unwrap_err();
    assert_eq!(field(&rejection), "approved_amount");
    let bad = apps::ApplicationApproved { organisation_id: "nope".into(), ..approved(usd(1)) };
    assert_eq!(field(&award::offer(&Award::default(), &bad).unwrap_err()), "organisation_id");
}

#[test]
fn an_offer_keeps_the_approved_countries_and_refuses_one_that_does_not_read() {
    let two = apps::ApplicationApproved { countries: vec!["KH".into(), "TH".into()], ..approved(usd(1)) };
    let (state, events) = given([]).when(|none| award::offer(none, &two)).then_accept();
    let [AwardEvent::Offered(offer)] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(offer.countries, ["KH", "TH"]);
    let countries = ["KH", "TH"].map(|c| Country::parse("c", c).unwrap());
    assert_eq!(data(&state).countries, countries);
    for (codes, named) in [(vec!["kh"], "countries[0]"), (vec!["KH", "XX"], "countries[1]")] {
        let unread =
            apps::ApplicationApproved { countries: codes.iter().map(|c| (*c).into()).collect(), ..two.clone() };
        assert_eq!(field(&award::offer(&Award::default(), &unread).unwrap_err()), named);
        let recorded = pb::AwardOffered { countries: unread.countries.clone(), ..offer.clone() };
        let error = award::apply(Award::default(), &AwardEvent::Offered(recorded)).unwrap_err();
        assert_eq!(error.field, named);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Agreement

#[test]
fn agreement_terms_are_checked_rule_by_rule() {
    let state = offered();
    let set = |terms: Terms| rejected(&state, &officer(), AwardCommand::SetAgreement { terms });
    let mut t = terms();
    t.tranches[2].amount = usd(29_999);
    let r = set(t);
    assert_eq!(field(&r), "terms.tranches");
    assert!(r.to_string().contains("must sum to the award amount 100000, they sum to 99999"));

    let mut t = terms();
    t.budget_lines[0].amount = usd(50_000);
    assert_eq!(field(&set(t)), "terms.budget_lines");

    let mut t = terms();
    t.amount = usd(100_001);
    t.budget_lines[0].amount = usd(60_001);
    t.tranches[0].amount = usd(40_001);
    let r = set(t);
    assert_eq!(field(&r), "terms.amount");
    assert!(r.to_string().contains("approved amount"));

    let mut t = terms();
    t.amount = thb(100_000);
    assert_eq!(field(&set(t)), "terms.amount.currency");

    let mut t = terms();
    t.tranches[0].kind = pb::TrancheKind::Interim;
    assert_eq!(field(&set(t)), "terms.tranches[0].kind");

    let mut t = terms();
    t.tranches[1].required_reports = vec!["nope".into()];
    assert_eq!(field(&set(t)), "terms.tranches[1].required_reports[0]");

    let mut t = terms();
    t.reports.retain(|r| r.kind != ReportKind::Final);
    t.tranches[2].required_reports.clear();
    assert_eq!(field(&set(t)), "terms.reports");

    let mut t = terms();
    t.tranches[2].due_date = date(2027, 1, 1);
    assert_eq!(field(&set(t)), "terms.tranches[2].due_date");

    let mut t = terms();
    t.tranches[1].due_date = date(2026, 1, 10);
    assert_eq!(field(&set(t)), "terms.tranches[1].due_date");

    let mut t = terms();
    t.tranches[1].tranche_id = "t1".into();
    assert_eq!(field(&set(t)), "terms.tranches[1].tranche_id");

    let mut t = terms();
    t.variance_threshold_percent = 101;
    assert_eq!(field(&set(t)), "terms.variance_threshold_percent");

    let mut t = terms();
    t.period_end = t.period_start;
    assert_eq!(field(&set(t)), "terms.period_end");

    let mut t = terms();
    t.reports[0].due_date = date(2026, 5, 1);
    assert_eq!(field(&set(t)), "terms.reports[0].due_date");

    let mut t = terms();
    t.budget_lines[1].line_id = "Legal Aid".into();
    assert_eq!(field(&set(t)), "terms.budget_lines[1].line_id");

    // A line of zero is what a reallocation may leave behind, never what an agreement starts with.
    let mut t = terms();
    t.budget_lines[0].amount = usd(0);
    t.budget_lines[1].amount = usd(100_000);
    let r = set(t);
    assert_eq!(field(&r), "terms.budget_lines[0].amount");
    assert!(r.to_string().contains("positive"), "{r}");
}

#[test]
fn an_agreement_below_the_approved_amount_is_accepted_and_can_be_replaced_before_signature() {
    let mut t = terms();
    t.amount = usd(90_000);
    t.budget_lines[0].amount = usd(50_000);
    t.tranches[0].amount = usd(30_000);
    let state = with_terms(t.clone());
    assert_eq!(data(&state).terms.as_ref(), Some(&t));
    let (state, _) = ok(state, &officer(), AwardCommand::SetAgreement { terms: terms() });
    assert_eq!(data(&state).terms.as_ref(), Some(&terms()));
}

#[test]
fn signing_needs_terms_and_freezes_them() {
    let r = rejected(&offered(), &officer(), AwardCommand::Sign);
    assert_eq!(field(&r), "terms");
    let (state, events) = ok(with_terms(terms()), &officer(), AwardCommand::Sign);
    assert_eq!(data(&state).status, Status::Active);
    let AwardEvent::AgreementSigned(signed) = &events[0] else { panic!("{events:?}") };
    // The reporting service schedules from this event alone.
    assert_eq!(signed.terms.as_ref().unwrap().reports.len(), 2);
    assert_eq!(signed.terms.as_ref().unwrap().tranches[1].required_reports, vec!["progress-1".to_owned()]);
    assert_eq!(signed.signed_by, "officer-1");
    let r = rejected(&state, &officer(), AwardCommand::SetAgreement { terms: terms() });
    assert_eq!(field(&r), "status");
    assert_eq!(field(&rejected(&state, &officer(), AwardCommand::Sign)), "status");
}

// ---------------------------------------------------------------------------------------------------------
// Releases

#[test]
fn nothing_is_released_before_signature() {
    let r = rejected(&with_terms(terms()), &finance(), release("t1", 40_000));
    assert_eq!(field(&r), "status");
    assert!(r.to_string().contains("signed"));
}

#[test]
fn a_gated_tranche_waits_for_its_report_and_then_is_released_once() {
    let state = signed();
    let (state, events) = ok(state, &finance(), release("t1", 40_000));
    let AwardEvent::TrancheReleased(e) = &events[0] else { panic!() };
    assert_eq!(e.released_total, Some(usd(40_000).to_wire()));
    assert_eq!(field(&rejected(&state, &finance(), release("t1", 40_000))), "tranche_id");

    let r = rejected(&state, &finance(), release("t2", 30_000));
    assert!(r.to_string().contains("waits for report `progress-1`"), "{r}");
    let state = accept(state, "progress-1", ReportKind::Progress, "reviewer-9");
    let (state, events) = ok(state, &finance(), release("t2", 30_000));
    let AwardEvent::TrancheReleased(e) = &events[0] else { panic!() };
    assert_eq!(e.gating_reports[0].accepted_by, "reviewer-9");
    assert_eq!(data(&state).released_total, usd(70_000));
}

#[test]
fn the_person_who_accepted_a_gating_report_cannot_release_the_tranche() {
    let state = accept(signed(), "progress-1", ReportKind::Progress, "finance-1");
    let r = rejected(&state, &finance(), release("t2", 30_000));
    assert_eq!(field(&r), "released_by");
    assert!(r.to_string().contains("segregation of duties"));
    ok(state, &staff(Role::FinanceOfficer, "finance-2"), release("t2", 30_000));
}

#[test]
fn whoever_approved_the_application_or_signed_the_agreement_cannot_release_a_tranche() {
    // The application was approved by officer-0 and the agreement signed by officer-1 (see `approved`,
    // `signed`); a token of another role with the same subject is still the same person.
    for (subject, deed) in [("officer-0", "approved the application"), ("officer-1", "signed the agreement")] {
        let r = rejected(&signed(), &staff(Role::FinanceOfficer, subject), release("t1", 40_000));
        assert_eq!(field(&r), "released_by");
        assert!(r.to_string().contains(deed) && r.to_string().contains("segregation of duties"), "{r}");
    }
    ok(signed(), &finance(), release("t1", 40_000));
}

#[test]
fn no_release_while_suspended_or_after_termination_or_close() {
    let (suspended, _) = ok(signed(), &officer(), AwardCommand::Suspend { reason: "audit finding".into() });
    let r = rejected(&suspended, &finance(), release("t1", 40_000));
    assert!(r.to_string().contains("SUSPENDED"), "{r}");
    let (resumed, _) = ok(suspended, &officer(), AwardCommand::Resume { reason: "resolved".into() });
    ok(resumed, &finance(), release("t1", 40_000));

    let (terminated, events) = ok(signed(), &officer(), AwardCommand::Terminate { reason: "fraud".into() });
    let AwardEvent::Terminated(e) = &events[0] else { panic!() };
    assert_eq!(e.cancelled_tranche_ids, vec!["t1", "t2", "t3"]);
    assert!(rejected(&terminated, &finance(), release("t1", 40_000)).to_string().contains("TERMINATED"));
}

#[test]
fn the_released_total_never_exceeds_the_award() {
    let mut state = signed();
    // Only reachable through corrupt history; the aggregate still refuses.
    state.0.as_mut().unwrap().released_total = usd(70_000);
    let r = rejected(&state, &finance(), release("t1", 40_000));
    assert!(r.to_string().contains("above the award amount"), "{r}");
}

#[test]
fn unknown_tranches_are_not_found() {
    assert!(matches!(rejected(&signed(), &finance(), release("t9", 1)), Rejection::NotFound { .. }));
}

#[test]
fn payments_in_the_award_currency_pay_the_tranche_exactly() {
    let r = rejected(&signed(), &finance(), release("t1", 39_999));
    assert_eq!(field(&r), "payment.paid_amount");
    let mut payment = pay(usd(40_000));
    payment.exchange_rate = "1".into();
    let r = rejected(&signed(), &finance(), AwardCommand::ReleaseTranche { tranche_id: "t1".into(), payment });
    assert_eq!(field(&r), "payment.exchange_rate");
}

#[test]
fn payments_in_another_currency_record_rate_source_and_value_date() {
    let command = |payment: Payment| AwardCommand::ReleaseTranche { tranche_id: "t1".into(), payment };
    let r = rejected(&signed(), &finance(), command(pay(thb(1_445_000))));
    assert_eq!(field(&r), "payment.exchange_rate");
    let full = Payment {
        exchange_rate: "36.125".into(),
        rate_source: "Bank of Thailand reference rate".into(),
        rate_value_date: Some(date(2026, 1, 14)),
        ..pay(thb(1_445_000))
    };
    let r = rejected(&signed(), &finance(), command(Payment { rate_source: String::new(), ..full.clone() }));
    assert_eq!(field(&r), "payment.rate_source");
    let r = rejected(&signed(), &finance(), command(Payment { rate_value_date: None, ..full.clone() }));
    assert_eq!(field(&r), "payment.rate_value_date");
    let (state, events) = ok(signed(), &finance(), command(full));
    let AwardEvent::TrancheReleased(e) = &events[0] else { panic!() };
    let payment = e.payment.as_ref().unwrap();
    assert_eq!(payment.exchange_rate, "36.125");
    assert_eq!(payment.rate_value_date, Some(date(2026, 1, 14).to_wire()));
    // What counts against the award is the tranche, in the award's currency.
    assert_eq!(data(&state).released_total, usd(40_000));
}

#[test]
fn exchange_rates_are_positive_decimal_strings() {
    for good in ["1", "36.125", "0.000000000001", "123456789012345678.123456789012"] {
        assert!(award::check_rate("r", good).is_ok(), "{good}");
    }
    for bad in ["", "0", "0.000", "-1", "1.", ".5", "1e3", "1,5", "1.0000000000001", "NaN", " 1"] {
        assert!(award::check_rate("r", bad).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Reports from the bus

#[test]
fn a_report_acceptance_must_match_a_requirement_of_a_signed_agreement() {
    let r = award::accept_report(&with_terms(terms()), &acceptance("progress-1", ReportKind::Progress, "r"));
    assert_eq!(field(&r.unwrap_err()), "award_id");
    let r = award::accept_report(&signed(), &acceptance("progress-9", ReportKind::Progress, "r"));
    assert_eq!(field(&r.unwrap_err()), "report_ref");
    let r = award::accept_report(&signed(), &acceptance("progress-1", ReportKind::Financial, "r"));
    assert_eq!(field(&r.unwrap_err()), "kind");
    let r = award::accept_report(&signed(), &acceptance("progress-1", ReportKind::Progress, ""));
    assert_eq!(field(&r.unwrap_err()), "accepted_by");
    let other = ReportAccepted { organisation_id: ROUND.into(), ..acceptance("progress-1", ReportKind::Progress, "r") };
    assert_eq!(field(&award::accept_report(&signed(), &other).unwrap_err()), "organisation_id");
    let own =
        ReportAccepted { organisation_id: ORGANISATION.into(), ..acceptance("progress-1", ReportKind::Progress, "r") };
    assert_eq!(award::accept_report(&signed(), &own).unwrap().len(), 1);
    let r = award::accept_report(&Award::default(), &acceptance("progress-1", ReportKind::Progress, "r"));
    assert!(matches!(r.unwrap_err(), Rejection::NotFound { .. }));
}

#[test]
fn a_second_acceptance_of_a_met_requirement_changes_nothing() {
    let state = accept(signed(), "progress-1", ReportKind::Progress, "reviewer-9");
    let again = acceptance("progress-1", ReportKind::Progress, "someone-else");
    let state = given_state(state).when(|state| award::accept_report(state, &again)).then_expect([]);
    assert_eq!(data(&state).met["progress-1"].accepted_by, "reviewer-9");
}

// ---------------------------------------------------------------------------------------------------------
// Budget reallocation and variations

fn moves(amount: i64) -> Vec<Move> {
    vec![Move { from_line_id: "shelter".into(), to_line_id: "legal".into(), amount: usd(amount) }]
}

#[test]
fn a_reallocation_within_the_threshold_applies_directly() {
    let command = AwardCommand::ReallocateBudget { moves: moves(10_000), reason: "more legal cases".into() };
    let (state, events) = ok(signed(), &officer(), command);
    let AwardEvent::BudgetReallocated(e) = &events[0] else { panic!() };
    assert_eq!(e.moved_basis_points, 1_000);
    let lines = &data(&state).terms.as_ref().unwrap().budget_lines;
    assert_eq!((lines[0].amount, lines[1].amount), (usd(50_000), usd(50_000)));
}

#[test]
fn a_reallocation_above_the_threshold_needs_an_approved_variation() {
    let command = AwardCommand::ReallocateBudget { moves: moves(10_001), reason: "more legal cases".into() };
    let r = rejected(&signed(), &officer(), command);
    assert_eq!(field(&r), "moves");
    assert!(r.to_string().contains("variance threshold of 10%"), "{r}");

    let request = AwardCommand::RequestVariation {
        variation_id: "v1".into(),
        change: Change::Reallocation(moves(20_000)),
        reason: "more legal cases".into(),
    };
    let (state, _) = ok(signed(), &officer(), request);
    let approve = || AwardCommand::ApproveVariation { variation_id: "v1".into(), comment: String::new() };
    // Whoever requested a variation cannot approve it.
    assert_eq!(field(&rejected(&state, &officer(), approve())), "approved_by");
    let (state, _) = ok(state, &staff(Role::ProgramOfficer, "officer-2"), approve());
    let lines = &data(&state).terms.as_ref().unwrap().budget_lines;
    assert_eq!((lines[0].amount, lines[1].amount), (usd(40_000), usd(60_000)));
    assert_eq!(data(&state).variations[0].status, award::VariationStatus::Approved);
    let r = rejected(&state, &staff(Role::ProgramOfficer, "officer-2"), approve());
    assert_eq!(field(&r), "variation_id");
}

#[test]
fn a_reallocation_cannot_take_a_line_below_zero_or_name_unknown_lines() {
    let command = AwardCommand::ReallocateBudget { moves: moves(60_001), reason: "x".into() };
    assert_eq!(field(&rejected(&signed(), &officer(), command)), "moves[0].amount");
    let bad = vec![Move { from_line_id: "travel".into(), to_line_id: "legal".into(), amount: usd(1) }];
    let command = AwardCommand::ReallocateBudget { moves: bad, reason: "x".into() };
    assert_eq!(field(&rejected(&signed(), &officer(), command)), "moves[0].from_line_id");
}

#[test]
fn a_line_emptied_by_a_reallocation_variation_stays_valid_through_later_variations() {
    let empty_legal = vec![Move { from_line_id: "legal".into(), to_line_id: "shelter".into(), amount: usd(40_000) }];
    let request = AwardCommand::RequestVariation {
        variation_id: "v1".into(),
        change: Change::Reallocation(empty_legal),
        reason: "legal aid funded elsewhere".into(),
    };
    let (state, _) = ok(signed(), &officer(), request);
    let approve = |id: &str| AwardCommand::ApproveVariation { variation_id: id.into(), comment: String::new() };
    let (state, _) = ok(state, &staff(Role::ProgramOfficer, "officer-2"), approve("v1"));
    assert_eq!(data(&state).terms.as_ref().unwrap().budget_lines[1].amount, usd(0));
    let later = AwardCommand::RequestVariation {
        variation_id: "v2".into(),
        change: Change::EndDate(date(2026, 12, 31)),
        reason: "same end, re-stated".into(),
    };
    let (state, _) = ok(state, &officer(), later);
    ok(state, &staff(Role::ProgramOfficer, "officer-2"), approve("v2"));
}

#[test]
fn an_amount_variation_may_exceed_the_approved_amount_and_keeps_every_sum() {
    let change = Change::Amount {
        new_amount: usd(120_000),
        tranche_amounts: vec![("t3".into(), usd(50_000))],
        line_amounts: vec![("shelter".into(), usd(80_000))],
    };
    let request = AwardCommand::RequestVariation { variation_id: "v1".into(), change, reason: "new shelter".into() };
    let partner = Actor { subject: "partner-1".into(), role: Role::Partner, organisation: Some(ORGANISATION.into()) };
    let (state, _) = ok(signed(), &partner, request);
    let approve = AwardCommand::ApproveVariation { variation_id: "v1".into(), comment: "ok".into() };
    let (state, _) = ok(state, &officer(), approve);
    assert_eq!(data(&state).terms.as_ref().unwrap().amount, usd(120_000));

    let unbalanced = Change::Amount { new_amount: usd(120_000), tranche_amounts: vec![], line_amounts: vec![] };
    let request = AwardCommand::RequestVariation { variation_id: "v2".into(), change: unbalanced, reason: "x".into() };
    assert_eq!(field(&rejected(&signed(), &officer(), request)), "change.budget_lines");
}

#[test]
fn an_amount_variation_can_cancel_a_pending_tranche_but_not_touch_a_released_one() {
    let (state, _) = ok(signed(), &finance(), release("t1", 40_000));
    let change = |tranche: &str, amount: i64| Change::Amount {
        new_amount: usd(70_000),
        tranche_amounts: vec![(tranche.into(), usd(amount))],
        line_amounts: vec![("shelter".into(), usd(30_000))],
    };
    let request = |change| AwardCommand::RequestVariation { variation_id: "v1".into(), change, reason: "x".into() };
    let r = rejected(&state, &officer(), request(change("t1", 10_000)));
    assert_eq!(field(&r), "change.amount.tranche_amounts[0].tranche_id");
    let (state, _) = ok(state, &officer(), request(change("t2", 0)));
    let approve = AwardCommand::ApproveVariation { variation_id: "v1".into(), comment: String::new() };
    let (state, events) = ok(state, &staff(Role::ProgramOfficer, "officer-2"), approve);
    let AwardEvent::VariationApproved(e) = &events[0] else { panic!() };
    assert_eq!(e.cancelled_tranche_ids, vec!["t2"]);
    assert!(data(&state).cancelled.contains("t2"));
    assert!(rejected(&state, &finance(), release("t2", 0)).to_string().contains("cancelled"));
}

#[test]
fn an_end_date_variation_cannot_cut_off_a_scheduled_tranche() {
    let request = |d| AwardCommand::RequestVariation {
        variation_id: "v1".into(),
        change: Change::EndDate(d),
        reason: "extension".into(),
    };
    let r = rejected(&signed(), &officer(), request(date(2026, 11, 30)));
    assert_eq!(field(&r), "change.end_date.new_end_date");
    let (state, _) = ok(signed(), &officer(), request(date(2027, 6, 30)));
    let approve = AwardCommand::ApproveVariation { variation_id: "v1".into(), comment: String::new() };
    let (state, _) = ok(state, &staff(Role::ProgramOfficer, "officer-2"), approve);
    assert_eq!(data(&state).terms.as_ref().unwrap().period_end, date(2027, 6, 30));
}

#[test]
fn a_declined_variation_keeps_its_history_and_changes_no_terms() {
    let request = AwardCommand::RequestVariation {
        variation_id: "v1".into(),
        change: Change::EndDate(date(2027, 6, 30)),
        reason: "extension".into(),
    };
    let (state, _) = ok(signed(), &officer(), request);
    let decline = |reason: &str| AwardCommand::DeclineVariation { variation_id: "v1".into(), reason: reason.into() };
    assert_eq!(field(&rejected(&state, &officer(), decline(""))), "reason");
    let (state, _) = ok(state, &officer(), decline("not justified"));
    let award = data(&state);
    assert_eq!(award.terms.as_ref().unwrap().period_end, date(2026, 12, 31));
    assert_eq!(award.variations.len(), 1);
    assert_eq!(award.variations[0].status, award::VariationStatus::Declined);
    assert_eq!(award.variations[0].decision_note, "not justified");
    let unknown = AwardCommand::DeclineVariation { variation_id: "v9".into(), reason: "x".into() };
    assert!(matches!(rejected(&state, &officer(), unknown), Rejection::NotFound { .. }));
}

#[test]
fn variations_need_a_signed_agreement_and_a_reason() {
    let request = |reason: &str| AwardCommand::RequestVariation {
        variation_id: "v1".into(),
        change: Change::EndDate(date(2027, 6, 30)),
        reason: reason.into(),
    };
    assert_eq!(field(&rejected(&with_terms(terms()), &officer(), request("x"))), "status");
    assert_eq!(field(&rejected(&signed(), &officer(), request(""))), "reason");
}

// ---------------------------------------------------------------------------------------------------------
// Suspension, termination, close-out, visibility

#[test]
fn status_changes_follow_the_lifecycle() {
    let suspend = || AwardCommand::Suspend { reason: "audit".into() };
    let resume = || AwardCommand::Resume { reason: "cleared".into() };
    assert_eq!(field(&rejected(&offered(), &officer(), suspend())), "status");
    assert_eq!(field(&rejected(&signed(), &officer(), resume())), "status");
    assert_eq!(field(&rejected(&signed(), &officer(), AwardCommand::Suspend { reason: String::new() })), "reason");
    let (terminated, _) = ok(offered(), &officer(), AwardCommand::Terminate { reason: "withdrawn".into() });
    assert_eq!(data(&terminated).status, Status::Terminated);
    let again = AwardCommand::Terminate { reason: "again".into() };
    assert_eq!(field(&rejected(&terminated, &officer(), again)), "status");
}

#[test]
fn a_suspension_records_exactly_its_reason() {
    let suspended = pb::AwardSuspended { award_id: award_id().to_string(), reason: "audit".into(), sealed_text: None };
    let suspend = AwardCommand::Suspend { reason: "audit".into() };
    given_state(signed()).when(decide(&officer(), suspend)).then_expect([AwardEvent::Suspended(suspended)]);
}

#[test]
fn closing_needs_every_tranche_settled_and_the_final_report_accepted() {
    let close = || AwardCommand::Close { comment: String::new() };
    let state = signed();
    let r = rejected(&state, &officer(), close());
    assert_eq!(field(&r), "tranches");
    let (state, _) = ok(state, &finance(), release("t1", 40_000));
    let state = accept(state, "progress-1", ReportKind::Progress, "reviewer-9");
    let (state, _) = ok(state, &finance(), release("t2", 30_000));
    // Cancel the last tranche by variation: settled, but the final report is still outstanding.
    let change = Change::Amount {
        new_amount: usd(70_000),
        tranche_amounts: vec![("t3".into(), usd(0))],
        line_amounts: vec![("shelter".into(), usd(30_000))],
    };
    let request = AwardCommand::RequestVariation { variation_id: "v1".into(), change, reason: "scope cut".into() };
    let (state, _) = ok(state, &officer(), request);
    let approve = AwardCommand::ApproveVariation { variation_id: "v1".into(), comment: String::new() };
    let (state, _) = ok(state, &staff(Role::ProgramOfficer, "officer-2"), approve);
    let r = rejected(&state, &officer(), close());
    assert_eq!(field(&r), "reports");
    let state = accept(state, "final-1", ReportKind::Final, "reviewer-9");
    let (state, events) = ok(state, &officer(), close());
    assert_eq!(data(&state).status, Status::Closed);
    let AwardEvent::Closed(e) = &events[0] else { panic!() };
    assert_eq!(e.released_total, Some(usd(70_000).to_wire()));
    assert!(rejected(&state, &finance(), release("t3", 0)).to_string().contains("CLOSED"));
}

#[test]
fn partners_act_only_on_their_own_organisations_awards() {
    let other = Actor { subject: "p".into(), role: Role::Partner, organisation: Some(ROUND.into()) };
    let request = AwardCommand::RequestVariation {
        variation_id: "v1".into(),
        change: Change::EndDate(date(2027, 6, 30)),
        reason: "extension".into(),
    };
    assert!(matches!(rejected(&signed(), &other, request.clone()), Rejection::NotFound { .. }));
    let own = Actor { subject: "p".into(), role: Role::Partner, organisation: Some(ORGANISATION.into()) };
    ok(signed(), &own, request);
    assert!(matches!(rejected(&Award::default(), &officer(), AwardCommand::Sign), Rejection::NotFound { .. }));
}

#[test]
fn rejections_are_preconditions_when_the_input_is_well_formed() {
    assert!(is_precondition(&rejected(&with_terms(terms()), &finance(), release("t1", 40_000))));
    assert!(!is_precondition(&rejected(&signed(), &officer(), AwardCommand::Suspend { reason: String::new() })));
}

// ---------------------------------------------------------------------------------------------------------
// Folding

#[test]
fn an_event_whose_values_do_not_read_is_a_fold_error_naming_the_value() {
    let paid = pb::TrancheReleased {
        award_id: award_id().to_string(),
        tranche_id: "t1".into(),
        amount: Some(usd(40_000).to_wire()),
        released_total: Some(usd(40_000).to_wire()),
        payment: Some(pay(usd(40_000)).to_wire()),
        released_by: "finance-1".into(),
        ..Default::default()
    };
    assert!(award::apply(signed(), &AwardEvent::TrancheReleased(paid.clone())).is_ok());
    let unpaid = AwardEvent::TrancheReleased(pb::TrancheReleased { payment: None, ..paid });
    assert_eq!(award::apply(signed(), &unpaid).unwrap_err().field, "payment");
    let unchanged =
        pb::VariationRequested { award_id: award_id().to_string(), variation_id: "v1".into(), ..Default::default() };
    let error = award::apply(signed(), &AwardEvent::VariationRequested(unchanged)).unwrap_err();
    assert_eq!(error.field, "change");
}
