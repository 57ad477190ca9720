//! The query requests' fields decoded and checked: pages, ids, dates, as-of points, and the organisation
//! a partner is limited to.

use std::collections::BTreeMap;

use contracts::common::v1::{Date, PageRequest};
use contracts::projector::v1 as pb;
use contracts::values::WireValue;
use domain_kernel::{Actor, Rejection, Role};
use service_runtime::ServiceError;
use tonic::Status;

use crate::as_of::Point;
use crate::projection::{Day, SOURCES, day, day_of, day_of_micros};

pub(super) fn page(page: Option<PageRequest>) -> Result<(usize, Option<String>), Status> {
    let page = service_runtime::Page::of(page).map_err(ServiceError::from)?;
    Ok((page.limit, page.token))
}

pub(super) fn optional_id(field: &str, value: &str) -> Result<Option<String>, Status> {
    if value.is_empty() {
        return Ok(None);
    }
    domain_kernel::parse_uuid(field, value).map_err(|e| Status::from(ServiceError::from(e)))?;
    Ok(Some(value.to_owned()))
}

pub(super) fn required_id(field: &str, value: &str) -> Result<String, Status> {
    domain_kernel::parse_uuid(field, value).map_err(|e| Status::from(ServiceError::from(e)))?;
    Ok(value.to_owned())
}

pub(super) fn today() -> Day {
    day_of(time::OffsetDateTime::now_utc().date())
}

pub(super) fn parse_date(field: &str, date: Option<&Date>) -> Result<Option<Day>, Status> {
    let Some(d) = date else { return Ok(None) };
    domain_kernel::Date::from_wire(field, Some(d)).map_err(|e| Status::from(ServiceError::from(e)))?;
    Ok(day(Some(d)))
}

pub(super) fn parse_as_of(as_of: Option<pb::AsOf>) -> Result<Option<Point>, Status> {
    let Some(as_of) = as_of else { return Ok(None) };
    match as_of.point {
        None => Err(ServiceError::from(Rejection::invalid("as_of", "must set `recorded_at` or `positions`")).into()),
        Some(pb::Point::RecordedAt(ts)) => {
            let at = domain_kernel::Timestamp::from_wire("as_of.recorded_at", Some(&ts))
                .map_err(|e| Status::from(ServiceError::from(e)))?;
            Ok(Some(Point::RecordedAt(event_log::Timestamp::from_micros(at.as_micros()))))
        }
        Some(pb::Point::Positions(p)) => {
            for name in p.next_positions.keys() {
                if !SOURCES.contains(&name.as_str()) {
                    return Err(ServiceError::from(Rejection::invalid(
                        "as_of.positions.next_positions",
                        format!("names unknown source `{name}`; sources are {}", SOURCES.join(", ")),
                    ))
                    .into());
                }
            }
            Ok(Some(Point::Positions(p.next_positions.into_iter().collect::<BTreeMap<_, _>>())))
        }
    }
}

/// The day obligations are judged on: `on_date` when given, else the day of a recorded-at point, else
/// today.
pub(super) fn judging_day(on_date: Option<&Date>, point: Option<&Point>) -> Result<Day, Status> {
    Ok(match (parse_date("on_date", on_date)?, point) {
        (Some(on), _) => on,
        (None, Some(Point::RecordedAt(at))) => day_of_micros(at.as_micros()),
        (None, _) => today(),
    })
}

/// The organisation a partner is limited to; `None` for everyone else.
pub(super) fn partner_org(actor: &Actor) -> Option<String> {
    (actor.role == Role::Partner).then(|| actor.organisation.clone().unwrap_or_default())
}
