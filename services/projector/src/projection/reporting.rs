//! What the reporting service's events change: obligations, pending reports and accepted indicator
//! counts, and the award's timeline (`obl/`, `pending/`, `ind/`, `tl/award/<id>/reporting/`).

use std::collections::BTreeMap;

use contracts::names::service;
use contracts::reporting::v1::{self as reporting, ReportingEvent as Event};
use event_log::RecordedEvent;

use super::days::{day, day_of_micros, day_of_timestamp};
use super::entries::{load, save, update, update_existing};
use super::keys::{ind_prefix, obl_key, pending_key};
use super::records::{Contribution, IndRec, IndicatorCounts, Obl, OblRec, OblStatus, PendingReport, cell_key};
use super::timeline::Timeline;
use super::{ProjectError, required};
use crate::store::Store;

/// The reporting service's steps of an award's timeline.
const TIMELINE: Timeline = Timeline { kind: "award", source: service::REPORTING };

pub(super) fn project(store: &mut impl Store, event: &RecordedEvent, decoded: Event) -> Result<(), ProjectError> {
    match decoded {
        Event::ObligationsScheduled(e) => scheduled(store, event, &e),
        Event::ObligationsRescheduled(e) => rescheduled(store, event, &e),
        Event::ObligationsSuspended(e) => suspended(store, event, &e),
        Event::ObligationsResumed(e) => resumed(store, event, &e),
        Event::ObligationsCancelled(e) => {
            let id = required("award_id", &e.award_id)?;
            update_existing(store, &obl_key(id), |r: &mut OblRec| cancel(r, &e.cancelled_report_refs))?;
            TIMELINE.step(
                store,
                event,
                id,
                "obligation",
                format!("{} obligations cancelled", e.cancelled_report_refs.len()),
            )
        }
        Event::ReportSubmitted(e) => submitted(store, event, &e),
        Event::RevisionRequested(e) => {
            let id = required("award_id", &e.award_id)?;
            set_status(store, id, &e.report_ref, OblStatus::RevisionRequested)?;
            TIMELINE.step(
                store,
                event,
                id,
                "report",
                format!("revision of report {} version {} requested", e.report_ref, e.version),
            )
        }
        Event::ReportAccepted(e) => accepted(store, event, &e),
        Event::DisbursementRecorded(e) => {
            let id = required("award_id", &e.award_id)?;
            TIMELINE.step(store, event, id, "release", format!("disbursement of tranche {} recorded", e.tranche_id))
        }
        // The read models hold no free text: nothing to erase.
        Event::ReportTextErased(_) => Ok(()),
    }
}

fn obligation_of(o: &reporting::Obligation) -> Obl {
    Obl { kind: o.kind, due: day(o.due_date.as_ref()).unwrap_or(0), status: OblStatus::Open, first_submitted_on: None }
}

/// Cancels the obligations `report_refs` names, except those already accepted.
fn cancel(record: &mut OblRec, report_refs: &[String]) {
    for reference in report_refs {
        if let Some(o) = record.obligations.get_mut(reference)
            && o.status != OblStatus::Accepted
        {
            o.status = OblStatus::Cancelled;
        }
    }
}

/// Sets the status of the award's obligation `report_ref`, if it has one.
fn set_status(store: &mut impl Store, award_id: &str, report_ref: &str, status: OblStatus) -> Result<(), ProjectError> {
    update_existing(store, &obl_key(award_id), |r: &mut OblRec| {
        if let Some(o) = r.obligations.get_mut(report_ref) {
            o.status = status;
        }
    })
}

fn counts_of(values: &[reporting::IndicatorValue]) -> BTreeMap<String, IndicatorCounts> {
    let mut out = BTreeMap::new();
    for value in values {
        let counts: &mut IndicatorCounts = out.entry(value.indicator_id.clone()).or_default();
        counts.total = counts.total.saturating_add(value.total);
        for cell in &value.cells {
            let slot = counts.cells.entry(cell_key(cell.sex, cell.age_band, cell.disability)).or_default();
            *slot = slot.saturating_add(cell.count);
        }
    }
    out
}

fn scheduled(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &reporting::ObligationsScheduled,
) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let record = OblRec {
        organisation_id: e.organisation_id.clone(),
        suspended_on: None,
        obligations: e.obligations.iter().map(|o| (o.report_ref.clone(), obligation_of(o))).collect(),
    };
    save(store, &obl_key(id), &record)?;
    TIMELINE.step(store, event, id, "obligation", format!("{} reporting obligations scheduled", e.obligations.len()))
}

fn rescheduled(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &reporting::ObligationsRescheduled,
) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    update_existing(store, &obl_key(id), |r: &mut OblRec| {
        for o in &e.obligations {
            let fresh = obligation_of(o);
            r.obligations
                .entry(o.report_ref.clone())
                .and_modify(|existing| {
                    if existing.status != OblStatus::Accepted {
                        existing.kind = fresh.kind;
                        existing.due = fresh.due;
                    }
                })
                .or_insert(fresh);
        }
        cancel(r, &e.cancelled_report_refs);
    })?;
    TIMELINE.step(store, event, id, "obligation", format!("obligations rescheduled ({})", e.cause))
}

fn suspended(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &reporting::ObligationsSuspended,
) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let on = day(e.suspended_on.as_ref()).unwrap_or_else(|| day_of_micros(event.recorded_at.as_micros()));
    update_existing(store, &obl_key(id), |r: &mut OblRec| r.suspended_on = Some(on))?;
    TIMELINE.step(store, event, id, "obligation", "obligations on hold".into())
}

fn resumed(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &reporting::ObligationsResumed,
) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    update_existing(store, &obl_key(id), |r: &mut OblRec| {
        r.suspended_on = None;
        for extension in &e.extensions {
            if let (Some(o), Some(due)) =
                (r.obligations.get_mut(&extension.report_ref), day(extension.due_date.as_ref()))
            {
                o.due = due;
            }
        }
    })?;
    TIMELINE.step(
        store,
        event,
        id,
        "obligation",
        format!("obligations resumed, {} due dates moved", e.extensions.len()),
    )
}

fn submitted(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &reporting::ReportSubmitted,
) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let report_id = required("report_id", &e.report_id)?;
    let on = day_of_timestamp(e.submitted_at.as_ref()).unwrap_or_else(|| day_of_micros(event.recorded_at.as_micros()));
    update_existing(store, &obl_key(id), |r: &mut OblRec| {
        if let Some(o) = r.obligations.get_mut(&e.report_ref) {
            o.status = OblStatus::Submitted;
            o.first_submitted_on.get_or_insert(on);
        }
    })?;
    // Only the last submitted version counts when the report is accepted.
    let indicators = e.progress.as_ref().map(|p| counts_of(&p.indicators)).unwrap_or_default();
    let pending = PendingReport { organisation_id: e.organisation_id.clone(), indicators };
    save(store, &pending_key(report_id), &pending)?;
    TIMELINE.step(store, event, id, "report", format!("report {} version {} submitted", e.report_ref, e.version))
}

fn accepted(store: &mut impl Store, event: &RecordedEvent, e: &reporting::ReportAccepted) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let report_id = required("report_id", &e.report_id)?;
    set_status(store, id, &e.report_ref, OblStatus::Accepted)?;
    if let Some(pending) = load::<PendingReport>(store, &pending_key(report_id))? {
        let accepted_at_micros = event.recorded_at.as_micros();
        for (indicator, counts) in pending.indicators {
            let key = format!("{}{indicator}", ind_prefix(id));
            update(store, &key, |r: &mut IndRec| {
                r.organisation_id = pending.organisation_id.clone();
                r.reports.insert(report_id.to_owned(), Contribution { accepted_at_micros, counts });
            })?;
        }
        store.remove(&pending_key(report_id))?;
    }
    TIMELINE.step(store, event, id, "report", format!("report {} accepted", e.report_ref))
}
