//! Every rule of the schedule aggregate: each rejection names its field, and a rejected command decides no
//! event (the aggregate is pure, so "no event decided" is "nothing written").

use contracts::awards::v1 as awards;
use contracts::common::v1 as common;
use contracts::reporting::v1::{self as pb, ReportKind};
use contracts::values::WireError;
use domain_kernel::{Date, Timestamp};

use test_support::decider::{fold, given, given_state};

use super::catalogue::Catalogue;
use super::dates;
use super::report::ReportContent;
use super::schedule::{self, Command, Context, ReportingEvent, Schedule, Status, Submission};
use super::{Actor, AwardId, Rejection, Role, obligation_id, report_id};

const AWARD: &str = "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab";
const ORGANISATION: &str = "11111111-2222-4333-8444-555555555555";
const OTHER_ORGANISATION: &str = "99999999-2222-4333-8444-555555555555";

fn usd(minor_units: i64) -> Option<common::Money> {
    Some(common::Money { minor_units, currency: "USD".into() })
}

fn wdate(year: i32, month: i32, day: i32) -> Option<common::Date> {
    Some(common::Date { year, month, day })
}

fn date(year: i32, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

/// Noon UTC of a date.
fn at(d: Date) -> Timestamp {
    Timestamp::from_micros(dates::days(d) * 86_400_000_000 + 43_200_000_000)
}

fn requirement(
    report_ref: &str,
    kind: ReportKind,
    start: (i32, i32),
    end: (i32, i32, i32),
    due: (i32, i32, i32),
) -> awards::ReportRequirement {
    awards::ReportRequirement {
        report_ref: report_ref.into(),
        kind: kind as i32,
        period_start: wdate(start.0, start.1, 1),
        period_end: wdate(end.0, end.1, end.2),
        due_date: wdate(due.0, due.1, due.2),
    }
}

/// 350 000 USD cents: shelter 210 000 + legal 140 000; t2 gated by progress-1 and financial-1, t3 by
/// final-1.
fn terms() -> awards::AgreementTerms {
    let tranche = |id: &str, reports: &[&str]| awards::Tranche {
        tranche_id: id.into(),
        required_reports: reports.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    };
    awards::AgreementTerms {
        amount: usd(350_000),
        period_start: wdate(2026, 1, 1),
        period_end: wdate(2026, 12, 31),
        budget_lines: vec![
            awards::BudgetLine { line_id: "shelter".into(), category: "Shelter".into(), amount: usd(210_000) },
            awards::BudgetLine { line_id: "legal".into(), category: "Legal aid".into(), amount: usd(140_000) },
        ],
        tranches: vec![tranche("t1", &[]), tranche("t2", &["progress-1", "financial-1"]), tranche("t3", &["final-1"])],
        reports: vec![
            requirement("progress-1", ReportKind::Progress, (2026, 1), (2026, 5, 31), (2026, 6, 10)),
            requirement("financial-1", ReportKind::Financial, (2026, 1), (2026, 5, 31), (2026, 6, 10)),
            requirement("progress-2", ReportKind::Progress, (2026, 6), (2026, 9, 30), (2026, 10, 10)),
            requirement("final-1", ReportKind::Final, (2026, 1), (2026, 12, 31), (2027, 1, 31)),
        ],
        variance_threshold_percent: 10,
    }
}

fn signed() -> awards::AgreementSigned {
    awards::AgreementSigned {
        award_id: AWARD.into(),
        organisation_id: ORGANISATION.into(),
        round_id: "r".into(),
        application_id: "a".into(),
        terms: Some(terms()),
        signed_by: "officer-1".into(),
        signed_at: None,
    }
}

fn scheduled() -> Schedule {
    given([]).when(|none| schedule::on_agreement_signed(none, &signed())).then_accept().0
}

fn partner() -> Actor {
    Actor { subject: "partner-1".into(), role: Role::Partner, organisation: Some(ORGANISATION.into()) }
}

fn officer() -> Actor {
    Actor { subject: "officer-1".into(), role: Role::ProgramOfficer, organisation: None }
}

fn catalogue() -> Catalogue {
    Catalogue::embedded().unwrap()
}

/// A command as the service decodes it from a request: a submission's wire content is read first, and a
/// value that does not read is refused like a broken rule.
trait Decoded {
    fn decoded(self) -> Result<Command, Rejection>;
}

impl Decoded for Command {
    fn decoded(self) -> Result<Command, Rejection> {
        Ok(self)
    }
}

impl Decoded for Result<Command, WireError> {
    fn decoded(self) -> Result<Command, Rejection> {
        Ok(self?)
    }
}

/// A submission of the given wire sections, decoded as the service decodes a request.
fn submission(
    report_ref: &str,
    progress: Option<pb::ProgressContent>,
    financial: Option<pb::FinancialContent>,
    attestations: Option<pb::Attestations>,
) -> Result<Command, WireError> {
    let content = ReportContent::from_wire(progress.as_ref(), financial.as_ref(), attestations.as_ref())?;
    Ok(Command::Submit(Submission { report_ref: report_ref.into(), content }))
}

fn decide(state: &Schedule, actor: &Actor, now: Date, command: impl Decoded) -> Result<Vec<ReportingEvent>, Rejection> {
    let command = command.decoded()?;
    let catalogue = catalogue();
    schedule::handle(state, Context { actor, now: at(now), catalogue: &catalogue }, command)
}

/// Runs a command that must succeed and folds its events.
fn ok(state: Schedule, actor: &Actor, now: Date, command: impl Decoded) -> (Schedule, Vec<ReportingEvent>) {
    given_state(state).when(|state| decide(state, actor, now, command)).then_accept()
}

#[track_caller]
fn refused(state: &Schedule, actor: &Actor, command: impl Decoded, field: &str, rule_part: &str) {
    match decide(state, actor, date(2026, 6, 5), command) {
        Err(Rejection::Invalid { field: f, rule } | Rejection::Precondition { field: f, rule }) => {
            assert_eq!(f, field, "{rule}");
            assert!(rule.contains(rule_part), "`{rule}` should contain `{rule_part}`");
        }
        other => panic!("expected a rejection of `{field}`, got {other:?}"),
    }
}

fn attested() -> Option<pb::Attestations> {
    Some(pb::Attestations {
        consent_for_data_use: true,
        safeguarding_and_child_protection: true,
        fraud_and_anti_corruption: true,
    })
}

fn cell(sex: pb::Sex, age: pb::AgeBand, disability: pb::Disability, count: u64) -> pb::Cell {
    pb::Cell { sex: sex as i32, age_band: age as i32, disability: disability as i32, count }
}

fn progress_content() -> pb::ProgressContent {
    use pb::{AgeBand, Disability, Sex};
    pb::ProgressContent {
        narrative: "The shelter assisted 45 survivors in 2026; 12 were referred to legal aid.".into(),
        indicators: vec![
            pb::IndicatorValue {
                indicator_id: "persons_assisted_shelter".into(),
                total: 45,
                cells: vec![
                    cell(Sex::Female, AgeBand::Years12To17, Disability::WithoutDisability, 20),
                    cell(Sex::Female, AgeBand::Years18To24, Disability::WithDisability, 3),
                    cell(Sex::Male, AgeBand::Years25To59, Disability::NotAssessed, 22),
                ],
            },
            pb::IndicatorValue { indicator_id: "legal_cases_prosecution".into(), total: 4, cells: vec![] },
        ],
    }
}

fn progress(report_ref: &str, content: pb::ProgressContent) -> Result<Command, WireError> {
    submission(report_ref, Some(content), None, attested())
}

fn lines(shelter: i64, legal: i64) -> pb::FinancialContent {
    pb::FinancialContent {
        lines: vec![
            pb::LineExpenditure { line_id: "shelter".into(), spent: usd(shelter), explanation: String::new() },
            pb::LineExpenditure { line_id: "legal".into(), spent: usd(legal), explanation: "Court fees rose.".into() },
        ],
    }
}

fn financial(report_ref: &str, content: pb::FinancialContent) -> Result<Command, WireError> {
    submission(report_ref, None, Some(content), attested())
}

fn accept(report_ref: &str) -> Command {
    Command::Accept { report_ref: report_ref.into() }
}

fn status(state: &Schedule, report_ref: &str, on: Date) -> Status {
    let s = state.0.as_ref().unwrap();
    s.obligation(report_ref).unwrap().status_on(on, &s.suspensions)
}

#[test]
fn a_signed_agreement_schedules_one_obligation_per_requirement_once() {
    let events = schedule::on_agreement_signed(&Schedule::default(), &signed()).unwrap();
    let [ReportingEvent::Scheduled(e)] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(e.obligations.len(), 4);
    let award = AwardId::parse("", AWARD).unwrap();
    let first = &e.obligations[0];
    assert_eq!(first.obligation_id, obligation_id(award, "progress-1").to_string());
    assert_eq!(first.report_id, report_id(obligation_id(award, "progress-1")).to_string());
    assert_eq!(first.gates_tranches, ["t2"]);
    assert_eq!(e.obligations[3].gates_tranches, ["t3"]);
    // A duplicate (whatever its event id) schedules nothing.
    let state = fold(Schedule::default(), &events);
    assert!(schedule::on_agreement_signed(&state, &signed()).unwrap().is_empty());
    // A malformed requirement is refused with its field.
    let mut bad = signed();
    bad.terms.as_mut().unwrap().reports[1].report_ref = "Bad Ref".into();
    let error = schedule::on_agreement_signed(&Schedule::default(), &bad).unwrap_err();
    assert!(matches!(error, Rejection::Invalid { field, .. } if field == "terms.reports[1].report_ref"));
}

#[test]
fn a_progress_report_is_submitted_with_counts_and_attestations() {
    let (state, events) = ok(scheduled(), &partner(), date(2026, 6, 5), progress("progress-1", progress_content()));
    let [ReportingEvent::Submitted(e)] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!((e.version, e.kind, e.submitted_by.as_str()), (1, ReportKind::Progress as i32, "partner-1"));
    assert_eq!(e.catalogue_version, catalogue().version);
    assert_eq!(status(&state, "progress-1", date(2026, 6, 5)), Status::Submitted);
    // Submitted and waiting: no second submission.
    refused(&state, &partner(), progress("progress-1", progress_content()), "report_ref", "waits for review");
}

#[test]
fn partners_act_only_on_their_own_organisation() {
    let other = Actor { organisation: Some(OTHER_ORGANISATION.into()), ..partner() };
    let error = decide(&scheduled(), &other, date(2026, 6, 5), progress("progress-1", progress_content())).unwrap_err();
    assert!(matches!(error, Rejection::NotFound { .. }), "{error:?}");
    let unknown = decide(&scheduled(), &partner(), date(2026, 6, 5), progress("nope", progress_content())).unwrap_err();
    assert!(matches!(unknown, Rejection::NotFound { what: "obligation", .. }), "{unknown:?}");
    let unscheduled =
        decide(&Schedule::default(), &partner(), date(2026, 6, 5), progress("progress-1", progress_content()));
    assert!(matches!(unscheduled, Err(Rejection::NotFound { .. })));
}

#[test]
fn every_attestation_is_required() {
    let fields = [
        "attestations.consent_for_data_use",
        "attestations.safeguarding_and_child_protection",
        "attestations.fraud_and_anti_corruption",
    ];
    for (i, field) in fields.iter().enumerate() {
        let mut a = attested().unwrap();
        match i {
            0 => a.consent_for_data_use = false,
            1 => a.safeguarding_and_child_protection = false,
            _ => a.fraud_and_anti_corruption = false,
        }
        let command = submission("progress-1", Some(progress_content()), None, Some(a));
        refused(&scheduled(), &partner(), command, field, "must be attested");
    }
    let none = submission("progress-1", Some(progress_content()), None, None);
    refused(&scheduled(), &partner(), none, fields[0], "cannot be submitted without it");
}

#[test]
fn the_content_must_fit_the_obligations_kind() {
    refused(
        &scheduled(),
        &partner(),
        financial("progress-1", lines(1, 1)),
        "progress",
        "is required for a REPORT_KIND_PROGRESS",
    );
    refused(&scheduled(), &partner(), progress("financial-1", progress_content()), "progress", "must be absent");
    let only_progress = progress("final-1", progress_content());
    refused(&scheduled(), &partner(), only_progress, "financial", "is required for a REPORT_KIND_FINAL");
    let both = submission("progress-1", Some(progress_content()), Some(lines(1, 1)), attested());
    refused(&scheduled(), &partner(), both, "financial", "must be absent");
}

#[test]
fn narratives_that_identify_a_person_are_refused_naming_field_and_rule() {
    let cases = [
        ("Ms Sokha, 16, was referred to the hospital.", "personal-name"),
        ("The survivor can be reached on +855 12 345 678.", "phone-number"),
        ("Client DOB 12/03/2009 was admitted in May.", "date-of-birth"),
        ("Her passport N1234567 was retained by the employer.", "document-number"),
        ("Write to dara.k@gmail.com for follow-up.", "email-address"),
    ];
    for (narrative, rule) in cases {
        let content = pb::ProgressContent { narrative: narrative.into(), ..progress_content() };
        refused(
            &scheduled(),
            &partner(),
            progress("progress-1", content),
            "progress.narrative",
            &format!("rule `{rule}`"),
        );
    }
    let mut content = lines(1, 1);
    content.lines[1].explanation = "Paid to Mrs. Nguyen for her room.".into();
    refused(
        &scheduled(),
        &partner(),
        financial("financial-1", content),
        "financial.lines[1].explanation",
        "personal-name",
    );
}

#[test]
fn indicator_values_are_counts_of_the_catalogue_that_add_up() {
    use pb::{AgeBand, Disability, Sex};
    let with = |f: &dyn Fn(&mut pb::ProgressContent)| {
        let mut c = progress_content();
        f(&mut c);
        progress("progress-1", c)
    };
    let s = scheduled();
    let p = partner();
    refused(
        &s,
        &p,
        with(&|c| c.indicators[0].indicator_id = "victim_names".into()),
        "progress.indicators[0].indicator_id",
        "catalogue",
    );
    refused(
        &s,
        &p,
        with(&|c| c.indicators[0].total = 46),
        "progress.indicators[0].total",
        "sum of its cells (45), not 46",
    );
    refused(&s, &p, with(&|c| c.indicators[0].cells[1].sex = 0), "progress.indicators[0].cells[1].sex", "is required");
    refused(
        &s,
        &p,
        with(&|c| c.indicators[0].cells[0].disability = 42),
        "progress.indicators[0].cells[0].disability",
        "known value",
    );
    refused(
        &s,
        &p,
        with(&|c| c.indicators[1].cells.push(cell(Sex::Female, AgeBand::Years0To11, Disability::NotAssessed, 1))),
        "progress.indicators[1].cells",
        "not disaggregated",
    );
    refused(
        &s,
        &p,
        with(&|c| {
            let again = c.indicators[0].cells[0];
            c.indicators[0].cells.push(again);
            c.indicators[0].total += again.count;
        }),
        "progress.indicators[0].cells[3]",
        "repeats",
    );
    refused(
        &s,
        &p,
        with(&|c| c.indicators.push(c.indicators[1].clone())),
        "progress.indicators[2].indicator_id",
        "repeated",
    );
    refused(&s, &p, with(&|c| c.narrative = String::new()), "progress.narrative", "is required");
    refused(&s, &p, with(&|c| c.narrative = "x".repeat(8_001)), "progress.narrative", "at most 8000");
    refused(&s, &p, with(&|c| c.indicators[1].total = 10_000_001), "progress.indicators[1].total", "at most");
}

#[test]
fn expenditure_covers_every_budget_line_in_the_awards_currency() {
    let s = scheduled();
    let p = partner();
    let mut missing = lines(1, 1);
    missing.lines.pop();
    refused(&s, &p, financial("financial-1", missing), "financial.lines", "`legal` is missing");
    let mut unknown = lines(1, 1);
    unknown.lines[0].line_id = "travel".into();
    refused(&s, &p, financial("financial-1", unknown), "financial.lines[0].line_id", "not a budget line");
    let mut thb = lines(1, 1);
    thb.lines[0].spent = Some(common::Money { minor_units: 1, currency: "THB".into() });
    refused(&s, &p, financial("financial-1", thb), "financial.lines[0].spent.currency", "must be USD");
    refused(&s, &p, financial("financial-1", lines(-1, 1)), "financial.lines[0].spent", "negative");
    let mut twice = lines(1, 1);
    twice.lines.push(twice.lines[0].clone());
    refused(&s, &p, financial("financial-1", twice), "financial.lines[2].line_id", "repeated");
}

/// Tranche t1, 140 000 USD cents, released.
fn first_tranche_released() -> awards::TrancheReleased {
    awards::TrancheReleased {
        award_id: AWARD.into(),
        tranche_id: "t1".into(),
        amount: usd(140_000),
        released_total: usd(140_000),
        ..Default::default()
    }
}

fn summary(events: &[ReportingEvent]) -> pb::FinancialSummary {
    let [ReportingEvent::Submitted(e)] = events else { panic!("{events:?}") };
    e.financial_summary.clone().unwrap()
}

#[test]
fn variances_are_cumulative_in_minor_units_and_basis_points_and_the_final_report_shows_the_unspent_balance() {
    let (state, events) =
        ok(scheduled(), &partner(), date(2026, 6, 5), financial("financial-1", lines(100_000, 40_000)));
    let first = summary(&events);
    assert_eq!(first.lines[0].variance, usd(-110_000));
    assert_eq!(first.lines[0].variance_basis_points, -5_238); // -110 000 / 210 000, toward zero
    assert_eq!(first.total_variance, usd(-210_000));
    assert_eq!(first.total_variance_basis_points, -6_000);
    assert_eq!(first.unspent_balance, None, "only a final report shows the unspent balance");
    let (state, _) = ok(state, &officer(), date(2026, 6, 6), accept("financial-1"));

    // 140 000 released; the final report counts the accepted earlier period.
    let released = first_tranche_released();
    let disbursed = schedule::on_tranche_released(&state, &released).unwrap();
    let state = fold(state, &disbursed);
    assert!(schedule::on_tranche_released(&state, &released).unwrap().is_empty(), "a tranche is recorded once");
    let final_report = submission("final-1", Some(progress_content()), Some(lines(120_000, 110_000)), attested());
    let (_, events) = ok(state, &partner(), date(2027, 1, 20), final_report);
    let last = summary(&events);
    assert_eq!(last.lines[0].cumulative_spent, usd(220_000));
    assert_eq!(last.lines[0].variance, usd(10_000));
    assert_eq!(last.lines[0].variance_basis_points, 476);
    assert_eq!(last.total_cumulative_spent, usd(370_000));
    assert_eq!(last.released_total, usd(140_000));
    assert_eq!(last.unspent_balance, usd(140_000 - 370_000));
}

#[test]
fn review_requests_revisions_keeps_every_version_and_accepts_once() {
    let (state, _) = ok(scheduled(), &partner(), date(2026, 6, 5), progress("progress-1", progress_content()));
    refused(
        &state,
        &officer(),
        Command::RequestRevision { report_ref: "progress-1".into(), reasons: vec![] },
        "reasons",
        "1 to 20",
    );
    let named =
        Command::RequestRevision { report_ref: "progress-1".into(), reasons: vec!["Remove Mr Dara's details".into()] };
    refused(&state, &officer(), named, "reasons[0]", "personal-name");
    let revise = Command::RequestRevision {
        report_ref: "progress-1".into(),
        reasons: vec!["Shelter totals do not match the quarterly summary.".into()],
    };
    let (state, events) = ok(state, &officer(), date(2026, 6, 7), revise);
    assert!(
        matches!(&events[..], [ReportingEvent::RevisionRequested(e)] if e.version == 1 && e.requested_by == "officer-1")
    );
    assert_eq!(status(&state, "progress-1", date(2026, 6, 8)), Status::RevisionRequested);
    refused(&state, &officer(), accept("progress-1"), "report_ref", "waits for the partner's revision");

    let (state, events) = ok(state, &partner(), date(2026, 6, 9), progress("progress-1", progress_content()));
    assert!(matches!(&events[..], [ReportingEvent::Submitted(e)] if e.version == 2));
    let (state, events) = ok(state, &officer(), date(2026, 6, 10), accept("progress-1"));
    let [ReportingEvent::Accepted(e)] = events.as_slice() else { panic!("{events:?}") };
    let award = AwardId::parse("", AWARD).unwrap();
    assert_eq!(e.report_id, report_id(obligation_id(award, "progress-1")).to_string());
    assert_eq!(
        (e.award_id.as_str(), e.report_ref.as_str(), e.kind),
        (AWARD, "progress-1", ReportKind::Progress as i32)
    );
    assert_eq!((e.accepted_by.as_str(), e.organisation_id.as_str()), ("officer-1", ORGANISATION));
    assert_eq!(e.period_end, wdate(2026, 5, 31));
    let o = state.0.as_ref().unwrap().obligation("progress-1").unwrap();
    assert_eq!(o.versions.len(), 2, "history kept");
    assert_eq!(status(&state, "progress-1", date(2026, 6, 10)), Status::Accepted);
    refused(&state, &officer(), accept("progress-1"), "report_ref", "accepted already");
    refused(&state, &partner(), progress("progress-1", progress_content()), "report_ref", "accepted already");
    refused(&scheduled(), &officer(), accept("progress-1"), "report_ref", "is not submitted");
}

#[test]
fn obligations_become_overdue_when_the_due_date_passes_without_a_submission_as_of_any_date() {
    let state = scheduled();
    assert_eq!(status(&state, "progress-1", date(2026, 6, 10)), Status::Open, "due today is not overdue");
    assert_eq!(status(&state, "progress-1", date(2026, 6, 13)), Status::Overdue { days: 3 });
    let (state, _) = ok(state, &partner(), date(2026, 6, 20), progress("progress-1", progress_content()));
    assert_eq!(status(&state, "progress-1", date(2026, 6, 19)), Status::Overdue { days: 9 }, "as it was that day");
    assert_eq!(status(&state, "progress-1", date(2026, 6, 20)), Status::Submitted);
    assert_eq!(status(&state, "progress-2", date(2026, 6, 20)), Status::Open);
}

#[test]
fn suspension_holds_open_obligations_and_resumption_extends_their_due_dates() {
    let state = scheduled();
    let suspend = awards::AwardSuspended { award_id: AWARD.into(), reason: "audit".into(), sealed_text: None };
    let events = schedule::on_suspended(&state, &suspend, date(2026, 6, 1)).unwrap();
    let state = fold(state, &events);
    assert!(schedule::on_suspended(&state, &suspend, date(2026, 6, 2)).unwrap().is_empty(), "suspended once");
    assert_eq!(status(&state, "progress-1", date(2026, 6, 20)), Status::OnHold);
    assert_eq!(status(&state, "progress-1", date(2026, 5, 31)), Status::Open);
    // Reports may still be submitted while suspended.
    assert!(decide(&state, &partner(), date(2026, 6, 5), financial("financial-1", lines(1, 1))).is_ok());

    let resume = awards::AwardResumed { award_id: AWARD.into(), reason: "cleared".into(), sealed_text: None };
    let events = schedule::on_resumed(&state, &resume, date(2026, 7, 1)).unwrap();
    let [ReportingEvent::Resumed(e)] = events.as_slice() else { panic!("{events:?}") };
    // 30 days suspended: every open obligation due on or after 1 June moves by 30 days.
    assert_eq!(e.extensions.len(), 4);
    assert_eq!(e.extensions[0].due_date, wdate(2026, 7, 10));
    let state = fold(state, &events);
    assert!(schedule::on_resumed(&state, &resume, date(2026, 7, 2)).unwrap().is_empty(), "resumed once");
    assert_eq!(status(&state, "progress-1", date(2026, 7, 5)), Status::Open);
    assert_eq!(status(&state, "progress-1", date(2026, 7, 12)), Status::Overdue { days: 2 });
}

#[test]
fn termination_cancels_open_obligations_but_the_final_report_and_ended_periods() {
    let (state, _) = ok(scheduled(), &partner(), date(2026, 6, 5), progress("progress-1", progress_content()));
    let terminate = awards::AwardTerminated { award_id: AWARD.into(), reason: "fraud".into(), ..Default::default() };
    let events = schedule::on_terminated(&state, &terminate, date(2026, 7, 15)).unwrap();
    let [ReportingEvent::Cancelled(e)] = events.as_slice() else { panic!("{events:?}") };
    // progress-1 is submitted, financial-1's period ended, final-1 is the final report.
    assert_eq!(e.cancelled_report_refs, ["progress-2"]);
    let state = fold(state, &events);
    assert_eq!(status(&state, "progress-2", date(2026, 7, 20)), Status::Cancelled);
    assert_eq!(status(&state, "progress-2", date(2026, 7, 1)), Status::Open, "not cancelled before the day");
    refused(&state, &partner(), progress("progress-2", progress_content()), "report_ref", "cancelled");
    assert!(schedule::on_terminated(&state, &terminate, date(2026, 7, 16)).unwrap().is_empty());
    // An award terminated before signature had nothing scheduled.
    assert!(schedule::on_terminated(&Schedule::default(), &terminate, date(2026, 7, 16)).unwrap().is_empty());
}

#[test]
fn an_approved_variation_replaces_open_obligations_and_keeps_submitted_ones() {
    let (state, _) = ok(scheduled(), &partner(), date(2026, 6, 5), progress("progress-1", progress_content()));
    let mut next = terms();
    next.reports.retain(|r| r.report_ref != "progress-2");
    next.reports[0].due_date = wdate(2026, 6, 30); // submitted already: keeps its terms
    next.reports[1].due_date = wdate(2026, 6, 30); // open: moves
    next.reports.push(requirement("progress-3", ReportKind::Progress, (2026, 6), (2026, 11, 30), (2026, 12, 10)));
    next.budget_lines[0].amount = usd(200_000);
    next.budget_lines[1].amount = usd(150_000);
    let variation = awards::VariationApproved {
        award_id: AWARD.into(),
        variation_id: "v1".into(),
        terms: Some(next),
        ..Default::default()
    };
    let events = schedule::on_variation_approved(&state, &variation, date(2026, 6, 8)).unwrap();
    let [ReportingEvent::Rescheduled(e)] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(e.cancelled_report_refs, ["progress-2"]);
    let state = fold(state, &events);
    let s = state.0.as_ref().unwrap();
    assert_eq!(s.obligation("progress-1").unwrap().terms.due_date, date(2026, 6, 10));
    assert_eq!(s.obligation("financial-1").unwrap().terms.due_date, date(2026, 6, 30));
    assert!(s.obligation("progress-3").is_some());
    assert_eq!(status(&state, "progress-2", date(2026, 6, 8)), Status::Cancelled);
    assert_eq!(s.budget_lines[0].amount.minor_units, 200_000);
    assert!(schedule::on_variation_approved(&state, &variation, date(2026, 6, 9)).unwrap().is_empty(), "applied once");
}

#[test]
fn a_reallocation_updates_the_budget_financial_reports_are_checked_against() {
    let state = scheduled();
    let reallocated = awards::BudgetReallocated {
        award_id: AWARD.into(),
        budget_lines: vec![
            awards::BudgetLine { line_id: "shelter".into(), category: "Shelter".into(), amount: usd(200_000) },
            awards::BudgetLine { line_id: "legal".into(), category: "Legal aid".into(), amount: usd(150_000) },
        ],
        ..Default::default()
    };
    let events = schedule::on_budget_reallocated(&state, &reallocated, date(2026, 3, 1)).unwrap();
    let state = fold(state, &events);
    assert!(schedule::on_budget_reallocated(&state, &reallocated, date(2026, 3, 2)).unwrap().is_empty());
    let (_, events) = ok(state, &partner(), date(2026, 6, 5), financial("financial-1", lines(0, 150_000)));
    assert_eq!(summary(&events).lines[1].variance, usd(0));
}

#[test]
fn awards_events_for_an_unscheduled_award_are_refused_except_termination() {
    let suspend = awards::AwardSuspended { award_id: AWARD.into(), reason: "x".into(), sealed_text: None };
    let error = schedule::on_suspended(&Schedule::default(), &suspend, date(2026, 1, 1)).unwrap_err();
    assert!(matches!(error, Rejection::Precondition { field, .. } if field == "award_id"));
}

#[test]
fn a_submission_whose_spending_does_not_read_is_a_fold_error_naming_the_value() {
    let (_, events) = ok(scheduled(), &partner(), date(2026, 6, 5), financial("financial-1", lines(100_000, 40_000)));
    let [ReportingEvent::Submitted(submitted)] = events.as_slice() else { panic!("{events:?}") };
    let mut unread = submitted.clone();
    unread.financial.as_mut().unwrap().lines[1].spent = None;
    let error = schedule::apply(scheduled(), &ReportingEvent::Submitted(unread)).unwrap_err();
    assert_eq!(error.field, "financial.lines[1].spent");
    let unstamped = pb::ReportSubmitted { submitted_at: None, ..submitted.clone() };
    let error = schedule::apply(scheduled(), &ReportingEvent::Submitted(unstamped)).unwrap_err();
    assert_eq!(error.field, "submitted_at");
}

#[test]
fn a_folded_submission_shows_exactly_what_was_recorded() {
    let released = first_tranche_released();
    let state = fold(scheduled(), &schedule::on_tranche_released(&scheduled(), &released).unwrap());
    let report = submission("final-1", Some(progress_content()), Some(lines(120_000, 110_000)), attested());
    let (state, events) = ok(state, &partner(), date(2027, 1, 20), report);
    let [ReportingEvent::Submitted(recorded)] = events.as_slice() else { panic!("{events:?}") };
    assert!(recorded.financial_summary.as_ref().is_some_and(|s| s.unspent_balance.is_some()));
    let s = state.0.as_ref().unwrap();
    let o = s.obligation("final-1").unwrap();
    assert_eq!(o.versions[0].to_wire(s, &o.terms), *recorded);
}

#[test]
fn spending_of_earlier_periods_too_large_to_add_up_is_refused_not_left_out() {
    let (state, _) = ok(scheduled(), &partner(), date(2026, 6, 5), financial("financial-1", lines(i64::MAX, 0)));
    let (mut state, _) = ok(state, &officer(), date(2026, 6, 6), accept("financial-1"));
    // A second accepted period with the same spending: the two cannot be added up.
    let s = state.0.as_mut().unwrap();
    let accepted = s.obligation("financial-1").unwrap().versions[0].clone();
    s.obligations.iter_mut().find(|o| o.terms.report_ref == "progress-1").unwrap().versions.push(accepted);
    let final_report = submission("final-1", Some(progress_content()), Some(lines(0, 0)), attested());
    refused(&state, &partner(), final_report, "financial.lines", "too large to add up");
}
