//! `grants as-of`: what the platform knew about an application or an award at a past point, rebuilt from
//! the owning service's log alone with the services' own aggregate code: the stream's events are decoded
//! and folded with the same `apply` functions the services use to decide commands, so the state printed
//! here is exactly the state a command at that point would have been decided on. The program summary as of
//! a time is asked of the projector, which rebuilds its read models at that point.

use anyhow::{Context, bail};
use contracts::awards::v1 as aw;
use contracts::names::service;
use contracts::projector::v1::{self as projector, ProjectorServiceClient};
use contracts::values::WireValue;
use domain_kernel::{Date, Money, Timestamp};
use event_log::RecordedEvent;
use prost::Message;
use serde_json::{Value, json};
use service_runtime::{Aggregate, DomainEvent};

use crate::Outcome;
use crate::decode::{PayloadDecoder, rfc3339};
use crate::endpoints::Connection;
use crate::stdout::say;

/// `grants as-of`: what to rebuild, and at which point.
#[derive(Debug, clap::Args)]
pub struct AsOfArgs {
    /// An application, rebuilt from the applications log.
    #[arg(long, value_name = "ID", group = "subject")]
    pub application: Option<uuid::Uuid>,
    /// An award, rebuilt from the awards log.
    #[arg(long, value_name = "ID", group = "subject")]
    pub award: Option<uuid::Uuid>,
    /// The program summary (totals by currency, country and service type, indicators) from the projector.
    #[arg(long, group = "subject")]
    pub program: bool,
    /// With --program: only this round.
    #[arg(long, value_name = "ID", requires = "program")]
    pub round: Option<uuid::Uuid>,
    /// Every event recorded at or before this time (RFC 3339, e.g. 2022-03-01T09:00:00Z).
    #[arg(long, value_name = "TIME", group = "point")]
    pub at: Option<String>,
    /// Every event recorded on or before this day (UTC), e.g. 2022-03-01.
    #[arg(long, value_name = "YYYY-MM-DD", group = "point")]
    pub date: Option<String>,
    /// Every event below this position of the owning service's log (the state when its head was N).
    #[arg(long, value_name = "N", group = "point")]
    pub position: Option<u64>,
}

pub async fn run(connection: &Connection, args: &AsOfArgs) -> anyhow::Result<Outcome> {
    let point = Point::parse(args.at.as_deref(), args.date.as_deref(), args.position)?;
    match (args.application, args.award) {
        (Some(id), _) => application(connection, id, point).await,
        (None, Some(id)) => award(connection, id, point).await,
        (None, None) if args.program => program(connection, args.round, point).await,
        (None, None) => bail!("name what to rebuild: --application ID, --award ID or --program"),
    }
}

/// The point in the past to answer at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// Every event recorded at or before this time (microseconds since the Unix epoch).
    RecordedAtOrBefore(i64),
    /// Every event below this position of the owning service's log.
    Below(u64),
    /// Everything recorded so far.
    Now,
}

impl Point {
    /// From the command line's `--at`, `--date` and `--position` (at most one is given).
    pub fn parse(at: Option<&str>, date: Option<&str>, position: Option<u64>) -> anyhow::Result<Point> {
        if let Some(at) = at {
            let time = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .with_context(|| format!("`--at {at}` must be an RFC 3339 time such as 2022-03-01T00:00:00Z"))?;
            return Ok(Point::RecordedAtOrBefore(micros(time)?));
        }
        if let Some(text) = date {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let day = time::Date::parse(text, &format)
                .with_context(|| format!("`--date {text}` must be a date such as 2022-03-01"))?;
            let next = day.next_day().context("`--date` is the last representable day")?;
            // The whole day (UTC): everything recorded before the next day began.
            return Ok(Point::RecordedAtOrBefore(micros(next.midnight().assume_utc())? - 1));
        }
        Ok(position.map_or(Point::Now, Point::Below))
    }

    /// The projector's `AsOf` for a point in time (`None` for now; a position has none: the caller says so).
    pub fn projector_as_of(self) -> Option<projector::AsOf> {
        match self {
            Point::RecordedAtOrBefore(micros) => Some(projector::AsOf {
                point: Some(projector::Point::RecordedAt(prost_types::Timestamp {
                    seconds: micros.div_euclid(1_000_000),
                    nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
                })),
            }),
            Point::Below(_) | Point::Now => None,
        }
    }

    pub fn includes(self, event: &RecordedEvent) -> bool {
        match self {
            Point::RecordedAtOrBefore(micros) => event.recorded_at.as_micros() <= micros,
            Point::Below(position) => event.position < position,
            Point::Now => true,
        }
    }

    fn describe(self) -> Value {
        match self {
            Point::RecordedAtOrBefore(micros) => json!({ "recorded_at_or_before": rfc3339(micros) }),
            Point::Below(position) => json!({ "below_position": position }),
            Point::Now => json!("now"),
        }
    }
}

fn micros(time: time::OffsetDateTime) -> anyhow::Result<i64> {
    i64::try_from(time.unix_timestamp_nanos() / 1_000).context("the time is out of range")
}

/// What a stream folded to at a point, and which of its events made it.
struct Folded<A> {
    state: A,
    applied: usize,
    total: usize,
    last: Option<(u64, i64, String)>,
}

/// Reads the stream `A::STREAM_TYPE/key` from `service`'s log and folds the events included at `point`
/// with the aggregate's own `apply`.
async fn fold<A: Aggregate>(
    connection: &Connection,
    service: &str,
    key: &str,
    point: Point,
) -> anyhow::Result<Folded<A>> {
    let mut client = connection.log_client(service).await?;
    let events = client
        .read_stream(A::STREAM_TYPE, key, 0)
        .await
        .with_context(|| format!("{service}: cannot read stream {}/{key}", A::STREAM_TYPE))?;
    if events.is_empty() {
        bail!("the {service} log has no {} {key}", A::STREAM_TYPE);
    }
    let mut folded = Folded { state: A::default(), applied: 0, total: events.len(), last: None };
    for event in events.iter().filter(|e| point.includes(e)) {
        let decoded = A::Event::decode_payload(&event.event_type, &event.payload)
            .map_err(|e| anyhow::anyhow!("{service}: event at position {} does not decode: {e}", event.position))?;
        folded.state = folded
            .state
            .apply(&decoded)
            .with_context(|| format!("{service}: event at position {} cannot be folded", event.position))?;
        folded.applied += 1;
        folded.last = Some((event.position, event.recorded_at.as_micros(), event.event_type.clone()));
    }
    Ok(folded)
}

fn envelope<A>(kind: &str, id: &str, service: &str, point: Point, folded: &Folded<A>, state: Value) -> Value {
    json!({
        kind: id,
        "service": service,
        "as_of": point.describe(),
        "events_applied": folded.applied,
        "events_in_stream": folded.total,
        "last_event": folded.last.as_ref().map(|(position, recorded_at, event_type)| json!({
            "position": position,
            "recorded_at": rfc3339(*recorded_at),
            "event_type": event_type,
        })),
        "state": state,
    })
}

fn money(m: &Money) -> Value {
    json!({ "minor_units": m.minor_units, "currency": m.currency.as_str() })
}

fn day(d: &Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

fn time_of(t: &Timestamp) -> String {
    rfc3339(t.as_micros())
}

/// A contract message as JSON, with the contracts' field names.
fn message_json<M: Message>(decoder: &PayloadDecoder, service: &str, name: &str, message: &M) -> Value {
    decoder.payload(service, name, &message.encode_to_vec())
}

pub async fn application(connection: &Connection, id: uuid::Uuid, point: Point) -> anyhow::Result<Outcome> {
    use applications::domain::application::Application;
    let decoder = PayloadDecoder::new()?;
    let key = id.to_string();
    let folded: Folded<Application> = fold(connection, service::APPLICATIONS, &key, point).await?;
    let state = match &folded.state.0 {
        None => Value::Null,
        Some(app) => json!({
            "status": app.status.to_wire().as_str_name().trim_start_matches("APPLICATION_STATUS_"),
            "round_id": app.round_id.to_string(),
            "organisation_id": app.organisation_id.to_string(),
            "content": message_json(&decoder, service::APPLICATIONS, "ApplicationContent", &app.content.to_wire()),
            "submitted_at": app.submitted_at.as_ref().map(time_of),
            "reviewers": app.reviewers.iter().map(|r| json!({
                "subject": r.subject,
                "declared": r.declaration.is_some(),
                "has_conflict": r.declaration.as_ref().is_some_and(|(conflict, _)| *conflict),
                "review": r.review.as_ref().map(|review| message_json(&decoder, service::APPLICATIONS, "Review", &review.to_wire())),
            })).collect::<Vec<_>>(),
            "completed_reviews": app.completed_reviews().len(),
            "decision": app.decision.as_ref().map(|d| json!({
                "approved": d.approved,
                "approved_amount": d.approved_amount.as_ref().map(money),
                "reasons": d.reasons,
                "decided_by": d.decided_by,
            })),
            "withdrawal_reason": app.withdrawal_reason,
            "award_id": awards::domain::AwardId::for_application(awards::domain::ApplicationId(id)).to_string(),
        }),
    };
    print_json(&envelope("application_id", &key, service::APPLICATIONS, point, &folded, state))
}

pub async fn award(connection: &Connection, id: uuid::Uuid, point: Point) -> anyhow::Result<Outcome> {
    use awards::domain::award::Award;
    let decoder = PayloadDecoder::new()?;
    let key = id.to_string();
    let folded: Folded<Award> = fold(connection, service::AWARDS, &key, point).await?;
    let state = match &folded.state.0 {
        None => Value::Null,
        Some(award) => award_state(award, &decoder, u64::try_from(folded.applied).unwrap_or(u64::MAX)),
    };
    print_json(&envelope("award_id", &key, service::AWARDS, point, &folded, state))
}

/// The award after `applied` events: the awards service's own view of it, shown under this command's names.
fn award_state(award: &awards::domain::award::AwardData, decoder: &PayloadDecoder, applied: u64) -> Value {
    let view = awards::view::award_view(award, applied, Vec::new());
    let tranches = tranches_json(&view);
    let terms = view.terms.as_ref();
    json!({
        "status": enum_name(aw::AwardStatus::try_from(view.status).map(|s| s.as_str_name()), "AWARD_STATUS_"),
        "status_reason": view.status_reason,
        "application_id": view.application_id,
        "round_id": view.round_id,
        "organisation_id": view.organisation_id,
        "title": view.title,
        "approved_amount": wire_money(view.approved_amount.as_ref()),
        // Where the work happens is not part of the service's view.
        "countries": award.countries.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "signed": view.signed,
        "signed_by": view.signed.then_some(view.signed_by.as_str()),
        "amount": terms.map(|t| wire_money(t.amount.as_ref())),
        "period_start": terms.map(|t| wire_day(t.period_start.as_ref())),
        "period_end": terms.map(|t| wire_day(t.period_end.as_ref())),
        "budget_lines": terms.iter().flat_map(|t| &t.budget_lines).map(|l| json!({
            "line_id": l.line_id, "category": l.category, "amount": wire_money(l.amount.as_ref()),
        })).collect::<Vec<_>>(),
        "released_total": wire_money(view.released_total.as_ref()),
        "tranches_released": tranches.iter().filter(|t| t["released"] == true).count(),
        "tranches": tranches,
        "conditions": conditions_json(&view),
        "conditions_met": view.conditions.iter().filter(|c| c.met).count(),
        "variations": variations_json(&view, decoder),
    })
}

/// The agreement's tranches, and which were released and by whom.
fn tranches_json(view: &aw::Award) -> Vec<Value> {
    view.tranches
        .iter()
        .filter_map(|t| Some((t, t.tranche.as_ref()?)))
        .map(|(t, tranche)| {
            let released = t.status == aw::TrancheStatus::Released as i32;
            json!({
                "tranche_id": tranche.tranche_id,
                "kind": enum_name(aw::TrancheKind::try_from(tranche.kind).map(|k| k.as_str_name()), "TRANCHE_KIND_"),
                "amount": wire_money(tranche.amount.as_ref()),
                "due_date": wire_day(tranche.due_date.as_ref()),
                "required_reports": tranche.required_reports,
                "conditions_met": t.conditions_met,
                "released": released,
                "released_amount": released.then(|| wire_money(tranche.amount.as_ref())),
                "released_by": released.then(|| t.released_by.clone()),
                "cancelled": t.status == aw::TrancheStatus::Cancelled as i32,
            })
        })
        .collect()
}

/// The reports the tranches wait for, and whether each was accepted.
fn conditions_json(view: &aw::Award) -> Vec<Value> {
    view.conditions
        .iter()
        .filter_map(|c| Some((c, c.requirement.as_ref()?)))
        .map(|(c, r)| {
            let kind = contracts::reporting::v1::ReportKind::try_from(r.kind).map(|k| k.as_str_name());
            json!({
                "report_ref": r.report_ref,
                "kind": enum_name(kind, "REPORT_KIND_"),
                "due_date": wire_day(r.due_date.as_ref()),
                "met": c.met,
                "report_id": c.met.then(|| c.report_id.clone()),
                "accepted_by": c.met.then(|| c.accepted_by.clone()),
                "accepted_at": c.accepted_at.as_ref().and_then(|t| Timestamp::from_wire("", Some(t)).ok()).map(|t| time_of(&t)),
            })
        })
        .collect()
}

/// The variations requested, and how each was decided.
fn variations_json(view: &aw::Award, decoder: &PayloadDecoder) -> Vec<Value> {
    view.variations
        .iter()
        .map(|v| {
            json!({
                "variation_id": v.variation_id,
                "status": enum_name(aw::VariationStatus::try_from(v.status).map(|s| s.as_str_name()), "VARIATION_STATUS_"),
                "change": message_json(decoder, service::AWARDS, "VariationChange", &v.change.clone().unwrap_or_default()),
                "reason": v.reason,
                "requested_by": v.requested_by,
                "decided_by": v.decided_by,
                "decision_note": v.decision_note,
            })
        })
        .collect()
}

/// A protobuf enum value's name without its type's prefix (`TRANCHE_KIND_INTERIM` -> `INTERIM`).
pub(crate) fn enum_name<E>(name: Result<&'static str, E>, prefix: &str) -> &'static str {
    name.map_or("UNSPECIFIED", |name| name.strip_prefix(prefix).unwrap_or(name))
}

/// Money of a contract message as [`money`] shows it.
fn wire_money(m: Option<&contracts::common::v1::Money>) -> Value {
    Money::from_wire("", m).map_or(Value::Null, |m| money(&m))
}

/// A date of a contract message as [`day`] shows it.
fn wire_day(d: Option<&contracts::common::v1::Date>) -> Value {
    Date::from_wire("", d).map_or(Value::Null, |d| day(&d).into())
}

/// The projector's program summary as of a time (or now), optionally for one round.
pub async fn program(connection: &Connection, round: Option<uuid::Uuid>, point: Point) -> anyhow::Result<Outcome> {
    if let Point::Below(_) = point {
        bail!("`--position` names a position of one service's log; use --at or --date with --program")
    }
    let as_of = point.projector_as_of();
    let request = projector::GetProgramSummaryRequest {
        round_id: round.map(|r| r.to_string()).unwrap_or_default(),
        organisation_id: String::new(),
        as_of,
    };
    let mut request = tonic::Request::new(request);
    let token = connection.token()?;
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().context("the token is not a valid header value")?);
    let mut client = ProjectorServiceClient::new(connection.channel(service::PROJECTOR).await?);
    let summary = client
        .get_program_summary(request)
        .await
        .map_err(|status| anyhow::anyhow!("projector: {:?}: {}", status.code(), status.message()))?
        .into_inner();
    let decoder = PayloadDecoder::new()?;
    let output = json!({
        "as_of": point.describe(),
        "round_id": round.map(|r| r.to_string()),
        "program_summary": message_json(&decoder, service::PROJECTOR, "ProgramSummary", &summary),
    });
    print_json(&output)
}

fn print_json(value: &Value) -> anyhow::Result<Outcome> {
    say!("{}", serde_json::to_string_pretty(value).context("cannot print the state")?);
    Ok(Outcome::Verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_from_a_time_a_day_or_a_position() {
        let at = Point::parse(Some("2022-03-01T09:30:00.000001Z"), None, None).unwrap();
        assert_eq!(at, Point::RecordedAtOrBefore(1_646_127_000_000_001));
        let day = Point::parse(None, Some("2022-03-01"), None).unwrap();
        assert_eq!(day, Point::RecordedAtOrBefore(1_646_179_200_000_000 - 1), "the whole day is included");
        assert_eq!(Point::parse(None, None, Some(7)).unwrap(), Point::Below(7));
        assert_eq!(Point::parse(None, None, None).unwrap(), Point::Now);
        let error = Point::parse(None, Some("1 March 2022"), None).unwrap_err();
        assert!(format!("{error:#}").starts_with("`--date 1 March 2022` must be a date"), "{error:#}");
        assert!(Point::parse(Some("yesterday"), None, None).is_err());
    }

    #[test]
    fn an_awards_countries_are_shown_as_their_codes() {
        use awards::domain::award::{Award, AwardEvent, apply};
        let offer = aw::AwardOffered {
            award_id: "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab".into(),
            application_id: "11111111-2222-4333-8444-555555555555".into(),
            round_id: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee".into(),
            organisation_id: "99999999-8888-4777-8666-555555555555".into(),
            approved_amount: Some(contracts::common::v1::Money { minor_units: 100, currency: "USD".into() }),
            countries: vec!["KH".into(), "TH".into()],
            ..Default::default()
        };
        let Award(Some(award)) = apply(Award::default(), &AwardEvent::Offered(offer)).unwrap() else {
            panic!("the offer opens the award")
        };
        let state = award_state(&award, &PayloadDecoder::new().unwrap(), 1);
        assert_eq!(state["countries"], json!(["KH", "TH"]));
    }
}
