//! Projection of every read model from given events: the logs are real (appended on disk), the models
//! are built in memory with the same projection the live consumer and rebuilds use.

mod support;

use std::collections::HashMap;

use contracts::names::{service, stream};
use contracts::projector::v1 as pb;
use contracts::reporting::v1::{AgeBand, Disability, Sex};
use event_log::EventLog;
use projector::disclosure::Disclosure;
use projector::perturbation::CellKey;
use projector::projection::{ProjectError, SOURCES, cell_key, project};
use projector::queries::{self, SummaryFilter};
use projector::store::MemStore;
use support::events::*;

struct Fixture {
    _dir: tempfile::TempDir,
    logs: HashMap<&'static str, EventLog>,
    g1: Grant,
    g2: Grant,
    round: String,
}

/// One round, two approved applications (KH 350 000 of 400 000, TH 150 000 of 200 000), both signed; the
/// first has a tranche of 140 000 released and its progress report accepted; the second's report is
/// submitted but not accepted.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let logs: HashMap<&'static str, EventLog> =
        SOURCES.iter().map(|s| (*s, EventLog::open(dir.path().join(s)).unwrap())).collect();
    let round = uuid::Uuid::new_v4().to_string();
    let (g1, g2) = (Grant::new(&round), Grant::new(&round));
    let mut events = vec![round_opened(&round)];
    events.extend(application_approved(&g1, "KH", 400_000, 350_000));
    events.extend(application_approved(&g2, "TH", 200_000, 150_000));
    events.extend(award_signed(&g1, "KH", 350_000));
    events.extend(award_signed(&g2, "TH", 150_000));
    events.push(tranche_released(&g1, "t1", 140_000, 140_000));
    events.push(obligations_scheduled(&g1));
    events.push(obligations_scheduled(&g2));
    use AgeBand::{Years18To24 as Young, Years25To59 as Adult};
    use Disability::WithoutDisability as Without;
    events.push(report_submitted(
        &g1,
        &[(Sex::Female, Young, Without, 12), (Sex::Male, Young, Without, 3), (Sex::Female, Adult, Without, 20)],
    ));
    events.push(report_accepted(&g1));
    events.push(report_submitted(&g2, &[(Sex::Female, Young, Without, 100)]));
    append_all(&logs, &events).await;
    Fixture { _dir: dir, logs, g1, g2, round }
}

fn project_all(fixture: &Fixture) -> MemStore {
    let mut store = MemStore::default();
    for source in SOURCES {
        for event in fixture.logs[source].read_all(0) {
            project(&mut store, source, &event.unwrap()).unwrap();
        }
    }
    store
}

fn day(y: u32, m: u32, d: u32) -> u32 {
    y * 10_000 + m * 100 + d
}

#[tokio::test]
async fn the_round_pipeline_counts_applications_by_stage_and_country() {
    let f = fixture().await;
    let store = project_all(&f);
    let pipeline = queries::round_pipeline(&store, &f.round).unwrap().expect("the round is known");
    assert_eq!(pipeline.status, "open");
    assert_eq!(
        pipeline.by_stage,
        vec![pb::StageCount { stage: pb::ApplicationStage::Approved as i32, applications: 2 }]
    );
    assert_eq!(pipeline.requested_total, usd(600_000));
    assert_eq!(pipeline.approved_total, usd(500_000));
    let kh = pipeline.by_country.iter().find(|c| c.country == "KH").unwrap();
    assert_eq!((kh.applications, kh.requested.clone(), kh.approved.clone()), (1, usd(400_000), usd(350_000)));
    assert!(queries::round_pipeline(&store, &uuid::Uuid::new_v4().to_string()).unwrap().is_none());
}

#[tokio::test]
async fn the_partner_portfolio_shows_money_next_report_and_overdue_obligations() {
    let f = fixture().await;
    let store = project_all(&f);
    let first = queries::portfolio(&store, &f.g1.org, day(2026, 7, 1)).unwrap().unwrap();
    assert_eq!(first.legal_name, "Safe Harbour");
    let award = &first.awards[0];
    assert_eq!(
        (award.committed.clone(), award.released.clone(), award.remaining.clone()),
        (usd(350_000), usd(140_000), usd(210_000))
    );
    assert_eq!(award.status, "active");
    assert!(award.overdue.is_empty(), "the report was submitted before its due date");
    assert!(first.next_report_due.is_none(), "its only obligation is accepted");

    // The second partner's report was submitted 2026-05-28 (before the due date): not overdue; but on a
    // date before the submission, after the due date... it was due 2026-06-10, so never overdue.
    let second = queries::portfolio(&store, &f.g2.org, day(2026, 6, 1)).unwrap().unwrap();
    assert_eq!(second.overdue_count, 0);
    assert!(second.next_report_due.is_none(), "submitted and awaiting review");
    assert!(queries::portfolio(&store, &uuid::Uuid::new_v4().to_string(), day(2026, 6, 1)).unwrap().is_none());
}

#[tokio::test]
async fn obligations_never_submitted_are_overdue_after_their_due_date() {
    let f = fixture().await;
    let late = Grant::new(&f.round);
    let mut events = application_approved(&late, "KH", 100_000, 100_000);
    events.extend(award_signed(&late, "KH", 100_000));
    events.push(obligations_scheduled(&late));
    append_all(&f.logs, &events).await;
    let store = project_all(&f);
    let (before, _) = queries::overdue(&store, day(2026, 6, 10), None, None, 50).unwrap();
    assert!(before.is_empty(), "not overdue on its due date");
    let (after, more) = queries::overdue(&store, day(2026, 7, 1), None, None, 50).unwrap();
    assert!(!more);
    assert_eq!(after.len(), 1);
    assert_eq!((after[0].award_id.as_str(), after[0].days_overdue), (late.award.as_str(), 21));
    let portfolio = queries::portfolio(&store, &late.org, day(2026, 6, 1)).unwrap().unwrap();
    assert_eq!(portfolio.next_report_due.unwrap().due_date, date(2026, 6, 10));
    let (other_org, _) = queries::overdue(&store, day(2026, 7, 1), Some(&f.g1.org), None, 50).unwrap();
    assert!(other_org.is_empty());
}

#[tokio::test]
async fn the_program_summary_totals_by_country_and_service_and_suppresses_small_cells() {
    let f = fixture().await;
    let store = project_all(&f);
    let disclosure = Disclosure::development(5);
    let summary = queries::program_summary(&store, &SummaryFilter::default(), &disclosure).unwrap();
    let usd_totals = &summary.totals[0];
    assert_eq!(
        (usd_totals.awards, usd_totals.committed_minor_units, usd_totals.released_minor_units),
        (2, 500_000, 140_000)
    );
    assert_eq!(usd_totals.remaining_minor_units, 360_000);
    let kh = summary.by_country.iter().find(|c| c.country == "KH").unwrap();
    assert_eq!((kh.awards, kh.committed_minor_units), (1, 350_000));
    let shelter = summary.by_service_type.iter().find(|s| s.service_type == "SHELTER").unwrap();
    assert_eq!(shelter.awards, 2);

    // Only the accepted report counts: 12 + 3 + 20 = 35, shown with the perturbation of the total's cell
    // key (the sum of the record keys of the report's three cells).
    let indicator = &summary.indicators[0];
    let total_key: CellKey =
        [(Sex::Female, AgeBand::Years18To24), (Sex::Male, AgeBand::Years18To24), (Sex::Female, AgeBand::Years25To59)]
            .into_iter()
            .map(|(sex, age)| {
                let cell = cell_key(sex as i32, age as i32, Disability::WithoutDisability as i32);
                disclosure.keys.key(&f.g1.report, "persons-assisted", &cell)
            })
            .sum();
    let published_total = disclosure.table.publish(35, total_key);
    assert_eq!(indicator.total, Some(pb::ProtectedCount { value: published_total, suppressed: false }));
    assert!(published_total.abs_diff(35) <= 2);
    let cell = |sex: Sex, age: AgeBand| {
        indicator.cells.iter().find(|c| c.sex == sex as i32 && c.age_band == age as i32).unwrap().count.unwrap()
    };
    // 3 is below k; the male margin (3) equals it and is withheld; the young band (15 = 12 + 3) would give
    // it away by subtraction, so 12 is withheld too.
    assert_eq!(cell(Sex::Male, AgeBand::Years18To24), pb::ProtectedCount { value: 0, suppressed: true });
    assert!(cell(Sex::Female, AgeBand::Years18To24).suppressed);
    assert!(summary.primary_suppressed >= 2 && summary.complementary_suppressed >= 1, "{summary:?}");
    for margin in &indicator.by_sex {
        let count = margin.count.unwrap();
        assert!(!count.suppressed || count.value == 0, "a withheld count carries no value");
    }

    // A partner-limited summary covers only that organisation's awards.
    let only_second = SummaryFilter { organisation_id: Some(f.g2.org.clone()), ..SummaryFilter::default() };
    let second = queries::program_summary(&store, &only_second, &disclosure).unwrap();
    assert_eq!(second.totals[0].committed_minor_units, 150_000);
    assert!(second.indicators.is_empty(), "its report is not accepted");
}

#[tokio::test]
async fn the_grant_timeline_joins_application_award_and_reports_in_order() {
    let f = fixture().await;
    let store = project_all(&f);
    let timeline = queries::grant_timeline(&store, Some(&f.g1.app), None).unwrap().unwrap();
    assert_eq!(timeline.award_id, f.g1.award);
    assert_eq!(timeline.organisation_id, f.g1.org);
    let types: Vec<&str> = timeline.entries.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "ApplicationDrafted",
            "ApplicationSubmitted",
            "ReviewerAssigned",
            "ReviewRecorded",
            "ApplicationApproved",
            "AwardOffered",
            "AgreementSigned",
            "TrancheReleased",
            "ObligationsScheduled",
            "ReportSubmitted",
            "ReportAccepted",
        ]
    );
    assert_eq!(timeline.entries[7].step, "release");
    assert_eq!(timeline.entries[7].actor_subject, "finance-1");
    let by_award = queries::grant_timeline(&store, None, Some(&f.g1.award)).unwrap().unwrap();
    assert_eq!(by_award, timeline);
}

#[tokio::test]
async fn an_event_that_does_not_decode_is_rejected_naming_the_field_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs: HashMap<&'static str, EventLog> =
        SOURCES.iter().map(|s| (*s, EventLog::open(dir.path().join(s)).unwrap())).collect();
    let g = Grant::new(&uuid::Uuid::new_v4().to_string());
    let mut broken = tranche_released(&g, "t1", 1, 1);
    broken.payload = vec![0xff, 0xff, 0xff];
    let mut orphan = tranche_released(&g, "t1", 1, 1);
    orphan.stream = event_log::StreamId::new(stream::AWARD, uuid::Uuid::new_v4().to_string()).unwrap();
    append_all(&logs, &[broken, orphan]).await;
    let mut store = MemStore::default();
    let events: Vec<_> = logs[service::AWARDS].read_all(0).map(Result::unwrap).collect();
    match project(&mut store, service::AWARDS, &events[0]) {
        Err(ProjectError::Rejected(reason)) => assert!(reason.contains("`payload`"), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    match project(&mut store, service::AWARDS, &events[1]) {
        Err(ProjectError::Rejected(reason)) => assert!(reason.contains(&format!("award/{}", g.award)), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(store.entries.is_empty());
}
