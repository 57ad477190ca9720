//! Domain events of one grant's cycle across the three source services, as their services record them,
//! for projection tests and the benchmark.

#![allow(dead_code)]

use contracts::applications::v1 as apps;
use contracts::awards::v1 as aw;
use contracts::events::EventMessage;
use contracts::names::{service, stream};
use contracts::reporting::v1 as rp;
use event_log::{EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId};
pub use test_support::fixtures::{date, usd};

/// One event to append to a source's log.
#[derive(Clone, Debug)]
pub struct Ev {
    pub source: &'static str,
    pub stream: StreamId,
    pub event_type: &'static str,
    pub payload: Vec<u8>,
    pub subject: String,
}

/// The event `payload` of `source`, in `stream` (stream type, key), caused by `subject`.
fn ev<M: EventMessage>(source: &'static str, stream: (&str, &str), payload: M, subject: &str) -> Ev {
    Ev {
        source,
        stream: StreamId::new(stream.0, stream.1).expect("valid stream"),
        event_type: M::EVENT_TYPE,
        payload: payload.encode_to_vec(),
        subject: subject.to_owned(),
    }
}

#[derive(Clone, Debug)]
pub struct Grant {
    pub round: String,
    pub org: String,
    pub app: String,
    pub award: String,
    pub report: String,
}

impl Grant {
    pub fn new(round: &str) -> Grant {
        let app = uuid::Uuid::new_v4().to_string();
        Grant {
            round: round.to_owned(),
            org: uuid::Uuid::new_v4().to_string(),
            award: projector::projection::award_id_for(&app).expect("uuid"),
            app,
            report: uuid::Uuid::new_v4().to_string(),
        }
    }
}

impl Grant {
    /// A grant whose ids are derived from `name`: the same on every run, so that record keys (and the
    /// perturbations they pick) are too.
    pub fn named(round: &str, name: &str) -> Grant {
        let id = |what: &str| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{name}/{what}").as_bytes());
        let app = id("application").to_string();
        Grant {
            round: round.to_owned(),
            org: id("organisation").to_string(),
            award: projector::projection::award_id_for(&app).expect("uuid"),
            app,
            report: id("report").to_string(),
        }
    }
}

pub fn round_opened(round: &str) -> Ev {
    let e = apps::RoundOpened {
        round_id: round.into(),
        title: "Round 1".into(),
        budget_ceiling: usd(10_000_000),
        eligible_countries: vec!["KH".into(), "TH".into()],
        ..Default::default()
    };
    ev(service::APPLICATIONS, (stream::ROUND, round), e, "officer-1")
}

/// Registration, draft, submission, review and approval of `g`'s application.
pub fn application_approved(g: &Grant, country: &str, requested: i64, approved: i64) -> Vec<Ev> {
    let content = apps::ApplicationContent {
        title: format!("Shelter in {country}"),
        requested_amount: usd(requested),
        countries: vec![country.into()],
        services_offered: vec![apps::ServiceType::Shelter as i32, apps::ServiceType::LegalAid as i32],
        ..Default::default()
    };
    let app_stream = (stream::APPLICATION, g.app.as_str());
    vec![
        ev(
            service::APPLICATIONS,
            (stream::ORGANISATION, &g.org),
            apps::OrganisationRegistered {
                organisation_id: g.org.clone(),
                legal_name: "Safe Harbour".into(),
                country: country.into(),
                ..Default::default()
            },
            "officer-1",
        ),
        ev(
            service::APPLICATIONS,
            app_stream,
            apps::ApplicationDrafted {
                application_id: g.app.clone(),
                round_id: g.round.clone(),
                organisation_id: g.org.clone(),
                content: Some(content.clone()),
                sealed_text: None,
            },
            "partner-1",
        ),
        ev(
            service::APPLICATIONS,
            app_stream,
            apps::ApplicationSubmitted {
                application_id: g.app.clone(),
                round_id: g.round.clone(),
                organisation_id: g.org.clone(),
                content: Some(content),
                submitted_at: None,
                sealed_text: None,
            },
            "partner-1",
        ),
        ev(
            service::APPLICATIONS,
            app_stream,
            apps::ReviewerAssigned { application_id: g.app.clone(), reviewer_subject: "reviewer-1".into() },
            "officer-1",
        ),
        ev(
            service::APPLICATIONS,
            app_stream,
            apps::ReviewRecorded {
                application_id: g.app.clone(),
                reviewer_subject: "reviewer-1".into(),
                weighted_total_basis_points: 8000,
                ..Default::default()
            },
            "reviewer-1",
        ),
        ev(
            service::APPLICATIONS,
            app_stream,
            apps::ApplicationApproved {
                application_id: g.app.clone(),
                round_id: g.round.clone(),
                organisation_id: g.org.clone(),
                approved_amount: usd(approved),
                requested_amount: usd(requested),
                countries: vec![country.into()],
                services_offered: vec![apps::ServiceType::Shelter as i32, apps::ServiceType::LegalAid as i32],
                ..Default::default()
            },
            "officer-1",
        ),
    ]
}

/// Offer and signature of `g`'s award for `amount`, with a progress report due 2026-06-10.
pub fn award_signed(g: &Grant, country: &str, amount: i64) -> Vec<Ev> {
    let terms = aw::AgreementTerms {
        amount: usd(amount),
        reports: vec![aw::ReportRequirement {
            report_ref: "progress-1".into(),
            kind: rp::ReportKind::Progress as i32,
            due_date: date(2026, 6, 10),
            ..Default::default()
        }],
        ..Default::default()
    };
    let award_stream = (stream::AWARD, g.award.as_str());
    vec![
        ev(
            service::AWARDS,
            award_stream,
            aw::AwardOffered {
                award_id: g.award.clone(),
                application_id: g.app.clone(),
                round_id: g.round.clone(),
                organisation_id: g.org.clone(),
                title: format!("Shelter in {country}"),
                approved_amount: usd(amount),
                countries: vec![country.into()],
                ..Default::default()
            },
            "officer-1",
        ),
        ev(
            service::AWARDS,
            award_stream,
            aw::AgreementSigned {
                award_id: g.award.clone(),
                organisation_id: g.org.clone(),
                round_id: g.round.clone(),
                application_id: g.app.clone(),
                terms: Some(terms),
                signed_by: "officer-1".into(),
                signed_at: None,
            },
            "officer-1",
        ),
    ]
}

pub fn tranche_released(g: &Grant, tranche: &str, amount: i64, released_total: i64) -> Ev {
    ev(
        service::AWARDS,
        (stream::AWARD, &g.award),
        aw::TrancheReleased {
            award_id: g.award.clone(),
            organisation_id: g.org.clone(),
            tranche_id: tranche.into(),
            amount: usd(amount),
            released_total: usd(released_total),
            released_by: "finance-1".into(),
            ..Default::default()
        },
        "finance-1",
    )
}

pub fn obligations_scheduled(g: &Grant) -> Ev {
    ev(
        service::REPORTING,
        (stream::OBLIGATIONS, &g.award),
        rp::ObligationsScheduled {
            award_id: g.award.clone(),
            organisation_id: g.org.clone(),
            round_id: g.round.clone(),
            application_id: g.app.clone(),
            obligations: vec![rp::Obligation {
                report_ref: "progress-1".into(),
                kind: rp::ReportKind::Progress as i32,
                due_date: date(2026, 6, 10),
                ..Default::default()
            }],
            ..Default::default()
        },
        "service:reporting",
    )
}

/// A progress report with `cells` of indicator `persons-assisted`: (sex, age band, disability, count).
pub fn report_submitted(g: &Grant, cells: &[(rp::Sex, rp::AgeBand, rp::Disability, u64)]) -> Ev {
    let indicator = rp::IndicatorValue {
        indicator_id: "persons-assisted".into(),
        total: cells.iter().map(|c| c.3).sum(),
        cells: cells
            .iter()
            .map(|(s, a, d, n)| rp::Cell { sex: *s as i32, age_band: *a as i32, disability: *d as i32, count: *n })
            .collect(),
    };
    ev(
        service::REPORTING,
        (stream::OBLIGATIONS, &g.award),
        rp::ReportSubmitted {
            report_id: g.report.clone(),
            award_id: g.award.clone(),
            report_ref: "progress-1".into(),
            kind: rp::ReportKind::Progress as i32,
            version: 1,
            organisation_id: g.org.clone(),
            progress: Some(rp::ProgressContent { narrative: String::new(), indicators: vec![indicator] }),
            submitted_at: Some(prost_types::Timestamp { seconds: 1_780_000_000, nanos: 0 }),
            ..Default::default()
        },
        "partner-1",
    )
}

pub fn report_accepted(g: &Grant) -> Ev {
    ev(
        service::REPORTING,
        (stream::OBLIGATIONS, &g.award),
        rp::ReportAccepted {
            report_id: g.report.clone(),
            award_id: g.award.clone(),
            report_ref: "progress-1".into(),
            kind: rp::ReportKind::Progress as i32,
            organisation_id: g.org.clone(),
            accepted_by: "officer-2".into(),
            ..Default::default()
        },
        "officer-2",
    )
}

/// Appends `events` in order, each to its source's log, one append per event.
pub async fn append_all(logs: &std::collections::HashMap<&'static str, EventLog>, events: &[Ev]) {
    for event in events {
        let new = NewEvent {
            event_id: uuid::Uuid::new_v4(),
            event_type: event.event_type.into(),
            schema_version: 1,
            payload: event.payload.clone(),
            metadata: EventMetadata {
                actor: event_log::Actor {
                    subject: event.subject.clone(),
                    role: "staff".into(),
                    organisation: String::new(),
                },
                correlation_id: uuid::Uuid::new_v4(),
                causation_id: uuid::Uuid::new_v4(),
                occurred_at: event_log::Timestamp::now(),
                trace: None,
            },
        };
        logs[event.source].append(event.stream.clone(), ExpectedVersion::Any, vec![new]).await.expect("appends");
    }
}
