//! Reporting obligations: which are overdue on a day, and which is due next.

use contracts::projector::v1 as pb;

use super::{all, date_of, days_between};
use crate::projection::{Day, OblRec, OblStatus};
use crate::store::{StoreError, View};

/// Whether obligation `o` was overdue on `on` (see `ListOverdueObligationsRequest`).
fn overdue_on(record: &OblRec, due: Day, status: OblStatus, first_submitted_on: Option<Day>, on: Day) -> bool {
    let on_hold = record.suspended_on.is_some_and(|s| s <= on);
    let unsubmitted_then = first_submitted_on.is_none_or(|s| s > on);
    status != OblStatus::Cancelled && !on_hold && due != 0 && due < on && unsubmitted_then
}

fn obligation_due(
    award_id: &str,
    organisation_id: &str,
    report_ref: &str,
    kind: i32,
    due: Day,
    on: Day,
) -> pb::ObligationDue {
    pb::ObligationDue {
        award_id: award_id.to_owned(),
        organisation_id: organisation_id.to_owned(),
        report_ref: report_ref.to_owned(),
        kind,
        due_date: date_of(due),
        days_overdue: if due < on { days_between(due, on) } else { 0 },
    }
}

pub(super) fn overdue_of(award_id: &str, record: &OblRec, on: Day) -> Vec<pb::ObligationDue> {
    record
        .obligations
        .iter()
        .filter(|(_, o)| overdue_on(record, o.due, o.status, o.first_submitted_on, on))
        .map(|(reference, o)| obligation_due(award_id, &record.organisation_id, reference, o.kind, o.due, on))
        .collect()
}

pub(super) fn next_due_of(award_id: &str, record: &OblRec, on: Day) -> Option<pb::ObligationDue> {
    record
        .obligations
        .iter()
        .filter(|(_, o)| matches!(o.status, OblStatus::Open | OblStatus::RevisionRequested) && o.due != 0)
        .min_by_key(|(reference, o)| (o.due, (*reference).clone()))
        .map(|(reference, o)| obligation_due(award_id, &record.organisation_id, reference, o.kind, o.due, on))
}

/// Obligations overdue on `on`, ordered by award id and report ref, after `after` (`<award>/<ref>`).
pub fn overdue(
    view: &impl View,
    on: Day,
    organisation: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<pb::ObligationDue>, bool), StoreError> {
    let mut out = Vec::new();
    for (award_id, record) in all::<OblRec>(view, "obl/")? {
        if organisation.is_some_and(|org| org != record.organisation_id) {
            continue;
        }
        for item in overdue_of(&award_id, &record, on) {
            let token = format!("{}/{}", item.award_id, item.report_ref);
            if after.is_some_and(|after| token.as_str() <= after) {
                continue;
            }
            out.push(item);
            if out.len() > limit {
                out.truncate(limit);
                return Ok((out, true));
            }
        }
    }
    Ok((out, false))
}
