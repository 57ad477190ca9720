//! What the awards service's events change: awards and their timelines (`award/`, `tl/award/<id>/awards/`).

use contracts::awards::v1::{self as awards, AwardsEvent as Event};
use contracts::names::service;
use event_log::RecordedEvent;

use super::entries::{save, update_existing};
use super::keys::award_key;
use super::money::{currency, minor, money_text};
use super::records::AwardRec;
use super::timeline::Timeline;
use super::{ProjectError, required};
use crate::store::Store;

/// The awards service's steps of an award's timeline.
const TIMELINE: Timeline = Timeline { kind: "award", source: service::AWARDS };

pub(super) fn project(store: &mut impl Store, event: &RecordedEvent, decoded: Event) -> Result<(), ProjectError> {
    match decoded {
        Event::AwardOffered(e) => offered(store, event, &e),
        Event::AgreementSet(e) => {
            let amount = e.terms.as_ref().and_then(|t| t.amount.as_ref());
            let summary = format!("terms set for {}", money_text(amount));
            TIMELINE.step(store, event, required("award_id", &e.award_id)?, "agreement", summary)
        }
        Event::AgreementSigned(e) => agreement_signed(store, event, &e),
        Event::TrancheReleased(e) => tranche_released(store, event, &e),
        Event::BudgetReallocated(e) => {
            let summary = format!("budget reallocated ({} basis points)", e.moved_basis_points);
            TIMELINE.step(store, event, required("award_id", &e.award_id)?, "variation", summary)
        }
        Event::VariationRequested(e) => variation_step(store, event, &e.award_id, &e.variation_id, "requested"),
        Event::VariationApproved(e) => variation_approved(store, event, &e),
        Event::VariationDeclined(e) => variation_step(store, event, &e.award_id, &e.variation_id, "declined"),
        Event::ReportConditionMet(e) => {
            let summary = format!("report {} counts towards its tranches", e.report_ref);
            TIMELINE.step(store, event, required("award_id", &e.award_id)?, "report", summary)
        }
        Event::AwardSuspended(e) => status_changed(store, event, &e.award_id, "suspended", "suspended"),
        Event::AwardResumed(e) => status_changed(store, event, &e.award_id, "active", "resumed"),
        Event::AwardTerminated(e) => terminated(store, event, &e),
        Event::AwardClosed(e) => closed(store, event, &e),
        // The read models hold no free text: nothing to erase.
        Event::AwardTextErased(_) | Event::VariationTextErased(_) => Ok(()),
    }
}

/// A variation's step that changes nothing else: `what` became of variation `variation_id`.
fn variation_step(
    store: &mut impl Store,
    event: &RecordedEvent,
    award_id: &str,
    variation_id: &str,
    what: &str,
) -> Result<(), ProjectError> {
    let summary = format!("variation {variation_id} {what}");
    TIMELINE.step(store, event, required("award_id", award_id)?, "variation", summary)
}

fn offered(store: &mut impl Store, event: &RecordedEvent, e: &awards::AwardOffered) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let amount = e.approved_amount.as_ref();
    let award = AwardRec {
        application_id: e.application_id.clone(),
        round_id: e.round_id.clone(),
        organisation_id: e.organisation_id.clone(),
        title: e.title.clone(),
        status: "offered".into(),
        currency: currency(amount),
        offered: minor(amount),
        committed: 0,
        released: 0,
        countries: e.countries.clone(),
    };
    save(store, &award_key(id), &award)?;
    TIMELINE.step(store, event, id, "award", format!("offered {}", money_text(amount)))
}

fn agreement_signed(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &awards::AgreementSigned,
) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let amount = e.terms.as_ref().and_then(|t| t.amount.as_ref());
    update_existing(store, &award_key(id), |a: &mut AwardRec| {
        a.status = "active".into();
        a.committed = minor(amount);
        if let Some(m) = amount {
            a.currency = m.currency.clone();
        }
    })?;
    TIMELINE.step(store, event, id, "agreement", format!("signed for {}", money_text(amount)))
}

fn tranche_released(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &awards::TrancheReleased,
) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let total = e.released_total.as_ref();
    update_existing(store, &award_key(id), |a: &mut AwardRec| a.released = minor(total))?;
    let summary = format!("tranche {} released: {}", e.tranche_id, money_text(e.amount.as_ref()));
    TIMELINE.step(store, event, id, "release", summary)
}

fn variation_approved(
    store: &mut impl Store,
    event: &RecordedEvent,
    e: &awards::VariationApproved,
) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let amount = e.terms.as_ref().and_then(|t| t.amount.as_ref());
    update_existing(store, &award_key(id), |a: &mut AwardRec| {
        if let Some(m) = amount {
            a.committed = m.minor_units;
        }
    })?;
    TIMELINE.step(store, event, id, "variation", format!("variation {} approved", e.variation_id))
}

/// A suspension or resumption: the award's status, and the step shown as `summary`.
fn status_changed(
    store: &mut impl Store,
    event: &RecordedEvent,
    award_id: &str,
    status: &str,
    summary: &str,
) -> Result<(), ProjectError> {
    let id = required("award_id", award_id)?;
    update_existing(store, &award_key(id), |a: &mut AwardRec| a.status = status.into())?;
    TIMELINE.step(store, event, id, "status", summary.into())
}

fn terminated(store: &mut impl Store, event: &RecordedEvent, e: &awards::AwardTerminated) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let total = minor(e.released_total.as_ref());
    update_existing(store, &award_key(id), |a: &mut AwardRec| {
        a.status = "terminated".into();
        a.released = total;
        // Nothing more will be paid: what was released is all that stays committed.
        a.committed = total;
    })?;
    TIMELINE.step(store, event, id, "status", "terminated".into())
}

fn closed(store: &mut impl Store, event: &RecordedEvent, e: &awards::AwardClosed) -> Result<(), ProjectError> {
    let id = required("award_id", &e.award_id)?;
    let total = minor(e.released_total.as_ref());
    update_existing(store, &award_key(id), |a: &mut AwardRec| {
        a.status = "closed".into();
        a.released = total;
    })?;
    TIMELINE.step(store, event, id, "status", "closed out".into())
}
