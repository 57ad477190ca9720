//! What the applications service's events change: rounds, organisations, applications and their
//! timelines (`round/`, `org/`, `app/`, `tl/app/`).

use contracts::applications::v1::{self as apps, ApplicationsEvent as Event};
use contracts::names::service;
use event_log::RecordedEvent;

use super::entries::{save, update, update_existing};
use super::keys::{app_key, org_key, round_key};
use super::money::{currency, minor, money_text};
use super::records::{AppRec, OrgRec, RoundRec, Stage};
use super::timeline::Timeline;
use super::{ProjectError, required};
use crate::store::Store;

/// The applications' steps of an application's timeline.
const TIMELINE: Timeline = Timeline { kind: "app", source: service::APPLICATIONS };

pub(super) fn project(store: &mut impl Store, event: &RecordedEvent, decoded: Event) -> Result<(), ProjectError> {
    match decoded {
        Event::RoundOpened(e) => round_opened(store, &e),
        Event::RoundClosed(e) => round_closed(store, &e),
        Event::OrganisationRegistered(e) => organisation_registered(store, &e),
        Event::ApplicationDrafted(e) => drafted(store, event, e),
        Event::ApplicationEdited(e) => edited(store, event, e),
        Event::ApplicationSubmitted(e) => submitted(store, event, e),
        Event::ApplicationWithdrawn(e) => withdrawn(store, event, &e),
        Event::ReviewerAssigned(e) => reviewer_assigned(store, event, &e),
        Event::ConflictOfInterestDeclared(e) => conflict_of_interest_declared(store, event, &e),
        Event::ReviewRecorded(e) => review_recorded(store, event, &e),
        Event::ApplicationApproved(e) => approved(store, event, &e),
        Event::ApplicationRejected(e) => rejected(store, event, &e),
        // The read models hold no contact person and no free text: nothing to erase.
        Event::ContactPersonErased(_) | Event::ApplicationTextErased(_) => Ok(()),
    }
}

fn round_opened(store: &mut impl Store, e: &apps::RoundOpened) -> Result<(), ProjectError> {
    let id = required("round_id", &e.round_id)?;
    let round = RoundRec {
        title: e.title.clone(),
        currency: currency(e.budget_ceiling.as_ref()),
        budget_ceiling: minor(e.budget_ceiling.as_ref()),
        closed: false,
    };
    Ok(save(store, &round_key(id), &round)?)
}

fn round_closed(store: &mut impl Store, e: &apps::RoundClosed) -> Result<(), ProjectError> {
    update_existing(store, &round_key(required("round_id", &e.round_id)?), |r: &mut RoundRec| {
        r.closed = true;
    })
}

fn organisation_registered(store: &mut impl Store, e: &apps::OrganisationRegistered) -> Result<(), ProjectError> {
    let org = OrgRec { legal_name: e.legal_name.clone(), country: e.country.clone() };
    Ok(save(store, &org_key(required("organisation_id", &e.organisation_id)?), &org)?)
}

fn drafted(store: &mut impl Store, event: &RecordedEvent, e: apps::ApplicationDrafted) -> Result<(), ProjectError> {
    let id = required("application_id", &e.application_id)?;
    let content = e.content.unwrap_or_default();
    let app = AppRec {
        round_id: e.round_id.clone(),
        organisation_id: e.organisation_id.clone(),
        title: content.title.clone(),
        stage: Stage::Draft,
        currency: currency(content.requested_amount.as_ref()),
        requested: minor(content.requested_amount.as_ref()),
        approved: 0,
        countries: content.countries.clone(),
        services: content.services_offered.clone(),
    };
    save(store, &app_key(id), &app)?;
    TIMELINE.step(store, event, id, "application", format!("drafted \"{}\"", content.title))
}

fn edited(store: &mut impl Store, event: &RecordedEvent, e: apps::ApplicationEdited) -> Result<(), ProjectError> {
    let id = required("application_id", &e.application_id)?;
    let content = e.content.unwrap_or_default();
    update_existing(store, &app_key(id), |a: &mut AppRec| {
        a.title = content.title.clone();
        a.currency = currency(content.requested_amount.as_ref());
        a.requested = minor(content.requested_amount.as_ref());
        a.countries = content.countries.clone();
        a.services = content.services_offered.clone();
    })?;
    TIMELINE.step(store, event, id, "application", "edited".into())
}

fn submitted(store: &mut impl Store, event: &RecordedEvent, e: apps::ApplicationSubmitted) -> Result<(), ProjectError> {
    let id = required("application_id", &e.application_id)?;
    let content = e.content.unwrap_or_default();
    let requested = content.requested_amount.as_ref();
    update(store, &app_key(id), |a: &mut AppRec| {
        a.round_id = e.round_id.clone();
        a.organisation_id = e.organisation_id.clone();
        a.title = content.title.clone();
        a.stage = Stage::Submitted;
        a.currency = currency(requested);
        a.requested = minor(requested);
        a.countries = content.countries.clone();
        a.services = content.services_offered.clone();
    })?;
    TIMELINE.step(store, event, id, "application", format!("submitted, requesting {}", money_text(requested)))
}

fn withdrawn(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &apps::ApplicationWithdrawn,
) -> Result<(), ProjectError> {
    let id = required("application_id", &e.application_id)?;
    update_existing(store, &app_key(id), |a: &mut AppRec| a.stage = Stage::Withdrawn)?;
    TIMELINE.step(store, event, id, "application", "withdrawn".into())
}

fn reviewer_assigned(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &apps::ReviewerAssigned,
) -> Result<(), ProjectError> {
    let id = required("application_id", &e.application_id)?;
    update_existing(store, &app_key(id), |a: &mut AppRec| {
        if a.stage == Stage::Submitted {
            a.stage = Stage::UnderReview;
        }
    })?;
    TIMELINE.step(store, event, id, "review", format!("reviewer {} assigned", e.reviewer_subject))
}

fn conflict_of_interest_declared(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &apps::ConflictOfInterestDeclared,
) -> Result<(), ProjectError> {
    let id = required("application_id", &e.application_id)?;
    let summary = if e.has_conflict { "declared a conflict of interest" } else { "declared no conflict of interest" };
    TIMELINE.step(store, event, id, "review", format!("{} {summary}", e.reviewer_subject))
}

fn review_recorded(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &apps::ReviewRecorded,
) -> Result<(), ProjectError> {
    let id = required("application_id", &e.application_id)?;
    let summary = format!("review by {}: {} basis points", e.reviewer_subject, e.weighted_total_basis_points);
    TIMELINE.step(store, event, id, "review", summary)
}

fn approved(store: &mut impl Store, event: &RecordedEvent, e: &apps::ApplicationApproved) -> Result<(), ProjectError> {
    let id = required("application_id", &e.application_id)?;
    let approved = e.approved_amount.as_ref();
    update(store, &app_key(id), |a: &mut AppRec| {
        a.round_id = e.round_id.clone();
        a.organisation_id = e.organisation_id.clone();
        a.stage = Stage::Approved;
        a.approved = minor(approved);
        if a.currency.is_empty() {
            a.currency = currency(approved);
        }
        if !e.title.is_empty() {
            a.title = e.title.clone();
        }
        if !e.countries.is_empty() {
            a.countries = e.countries.clone();
        }
        if !e.services_offered.is_empty() {
            a.services = e.services_offered.clone();
        }
    })?;
    TIMELINE.step(store, event, id, "decision", format!("approved {}", money_text(approved)))
}

fn rejected(store: &mut impl Store, event: &RecordedEvent, e: &apps::ApplicationRejected) -> Result<(), ProjectError> {
    let id = required("application_id", &e.application_id)?;
    update(store, &app_key(id), |a: &mut AppRec| {
        a.round_id = e.round_id.clone();
        a.organisation_id = e.organisation_id.clone();
        a.stage = Stage::Rejected;
    })?;
    TIMELINE.step(store, event, id, "decision", "rejected".into())
}
