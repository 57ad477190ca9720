//! Integrity: for each service, its log's head, whether its hash chain verifies (recomputed here, from the
//! records the service's `EventLogService` sends, exactly as `grants verify` does), the last signed
//! checkpoint and its age; and the bus: each relay's backlog and each consumer's lag. Program officers,
//! auditors and administrators (the roles that may read the logs).
//!
//! The chain is checked afresh on every view, never from a cache: a log altered on disk while its service
//! was stopped shows as tampered the first time the page is shown after.

use axum::extract::{Query, State};
use axum::response::Response;
use contracts::operations::v1 as ops;
use event_log_grpc::{CheckpointAudit, LogClient};
use futures::future::join_all;
use maud::{Markup, html};
use time::OffsetDateTime;

use crate::backend::{LogUnreachable, SOURCES, authed};
use crate::layout::{self, PageMeta, table_box};
use crate::point::{self, PagePoint, age_text};
use crate::web::{App, AppState, PageError, PageQuery, PageResult, Viewer, respond};

pub async fn page(State(app): AppState, viewer: Viewer, Query(query): Query<PageQuery>) -> Response {
    respond(&app, &viewer, render(&app, &viewer, &query).await)
}

/// What checking one log found.
#[derive(Debug)]
struct LogCheck {
    service: &'static str,
    /// Events in the log now, and the hash of the last one.
    head: Option<(u64, String)>,
    verdict: Verdict,
    /// The last signed checkpoint at the page's point: the position it signs and when it was signed.
    checkpoint: Option<(u64, OffsetDateTime)>,
    /// Events the log held at the end of the page's day, when shown as of a past day.
    events_at_point: Option<u64>,
}

#[derive(Debug)]
enum Verdict {
    Verified {
        events: u64,
    },
    /// The chain breaks at `position` (at or before the page's point when shown as of a past day).
    Tampered {
        position: u64,
        reason: String,
    },
    /// The chain holds but a recorded checkpoint does not.
    CheckpointBroken {
        position: u64,
        reason: String,
    },
    Unreachable(String),
}

impl Verdict {
    fn is_verified(&self) -> bool {
        matches!(self, Verdict::Verified { .. })
    }

    fn name(&self) -> &'static str {
        match self {
            Verdict::Verified { .. } => "verified",
            Verdict::Tampered { .. } => "tampered",
            Verdict::CheckpointBroken { .. } => "checkpoint-broken",
            Verdict::Unreachable(_) => "unreachable",
        }
    }
}

async fn render(app: &App, viewer: &Viewer, query: &PageQuery) -> PageResult {
    if !viewer.reads_logs() {
        return Err(PageError::Forbidden(
            "Integrity is for program officers, auditors and administrators, who may read the logs.".into(),
        ));
    }
    let point = query.point()?;
    // One integrity check at a time: each reads every log in full.
    let _turn = app.integrity_turn.lock().await;
    let (checks, buses) = futures::join!(
        join_all(SOURCES.into_iter().map(|service| check_log(app, viewer, service, point))),
        join_all(app.backend.services().map(|service| bus_status(app, viewer, service)))
    );
    let problems: Vec<&LogCheck> = checks.iter().filter(|c| !c.verdict.is_verified()).collect();
    let now = OffsetDateTime::now_utc();
    let content = html! {
        @if problems.is_empty() {
            p.verdict.ok #integrity-verdict data-verdict="ok" role="status" {
                "Every log verifies: each chain was recomputed from the first event to the head just now."
            }
        } @else {
            p.verdict.problem #integrity-verdict data-verdict="problem" role="alert" {
                "A log does not verify or could not be checked: "
                (problems.iter().map(|c| c.service).collect::<Vec<_>>().join(", ")) ". See below."
            }
        }
        @if let PagePoint::EndOf(_) = point {
            p { "Shown as of a past day: the chain is checked as it stands now, and judged up to the events it held then; the bus figures are live." }
        }
        h2 { "Logs" }
        (table_box(html! {
            table #logs {
                caption { "Each service's log, its hash chain and its last signed checkpoint" }
                thead { tr {
                    th scope="col" { "Service" } th scope="col" { "Events" } th scope="col" { "Head hash" }
                    th scope="col" { "Chain" } th scope="col" { "Last signed checkpoint" }
                } }
                tbody {
                    @for check in &checks {
                        tr data-service=(check.service) data-verdict=(check.verdict.name())
                            class=(if check.verdict.is_verified() { "ok" } else { "problem" }) {
                            th scope="row" { (check.service) }
                            td.num {
                                @match check.head { Some((events, _)) => { (events) }, None => { "—" } }
                                @if let Some(then) = check.events_at_point { br; small { (then) " on that day" } }
                            }
                            td {
                                @match &check.head {
                                    // The first 16 digits tell heads apart at a glance; the whole hash is in the title.
                                    Some((_, hash)) => { code title=(hash) { (hash.get(..16).unwrap_or(hash)) "…" } }
                                    None => { "—" }
                                }
                            }
                            td { (verdict_text(&check.verdict)) }
                            td { (checkpoint_text(check.checkpoint, point.until().unwrap_or(now))) }
                        }
                    }
                }
            }
        }))
        h2 { "Bus" }
        (table_box(html! {
            table #bus {
                caption { "Each service's relay (events not yet published) and consumer (events not yet applied)" }
                thead { tr {
                    th scope="col" { "Service" } th scope="col" { "Relay" } th scope="col" { "Backlog" }
                    th scope="col" { "Consumer lag" }
                } }
                tbody {
                    @for (service, status) in app.backend.services().zip(&buses) {
                        (bus_row(service, status))
                    }
                }
            }
        }))
    };
    Ok(layout::page(viewer, PageMeta { id: "integrity", title: "Integrity", point, round: None }, content))
}

fn verdict_text(verdict: &Verdict) -> Markup {
    match verdict {
        Verdict::Verified { events } => html! { strong { "Verified" } " (" (events) " events recomputed)" },
        Verdict::Tampered { position, reason } => {
            html! { strong { "TAMPERED" } " at position " (position) ": " (reason) }
        }
        Verdict::CheckpointBroken { position, reason } => {
            html! { strong { "CHECKPOINT DOES NOT HOLD" } " (recorded at position " (position) "): " (reason) }
        }
        Verdict::Unreachable(why) => html! { strong { "Not checked" } ": " (why) },
    }
}

fn checkpoint_text(checkpoint: Option<(u64, OffsetDateTime)>, at: OffsetDateTime) -> Markup {
    match checkpoint {
        None => html! { "None recorded" },
        Some((position, signed_at)) => html! {
            "Position " (position) ", signed " (point::time_text(signed_at)) br;
            small.age { (age_text((at - signed_at).whole_seconds())) " old" }
        },
    }
}

/// How long checking one log may take before the page says it could not be checked.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Recomputes `service`'s chain and checks its recorded checkpoints, as the viewer.
async fn check_log(app: &App, viewer: &Viewer, service: &'static str, point: PagePoint) -> LogCheck {
    let unchecked = |why: String| LogCheck {
        service,
        head: None,
        verdict: Verdict::Unreachable(why),
        checkpoint: None,
        events_at_point: None,
    };
    match tokio::time::timeout(CHECK_TIMEOUT, check_log_now(app, viewer, service, point)).await {
        Ok(Ok(check)) => check,
        Ok(Err(error)) => unchecked(error.to_string()),
        Err(_) => unchecked(format!("no whole answer within {} s", CHECK_TIMEOUT.as_secs())),
    }
}

async fn check_log_now(
    app: &App,
    viewer: &Viewer,
    service: &'static str,
    point: PagePoint,
) -> Result<LogCheck, LogUnreachable> {
    let mut client = app.backend.log(service, viewer.token()).await?;
    let head = client.head().await?;
    let remembered = app.verified_head(service);
    let mut rewritten = None;
    let mut audit = CheckpointAudit::new(service, app.checkpoint_key(service));
    let report = client
        .verify_observing(
            |_| {},
            |position, hash, record| {
                audit.observe(position, hash, record);
                if remembered.as_ref().is_some_and(|r| r.position == position && r.hash != *hash) {
                    rewritten = Some(position);
                }
            },
        )
        .await?;
    // The day shown is judged within what verified, so that a broken record is never read as an answer.
    let until = match point.until() {
        Some(until) => Some(events_until(&mut client, report.verified, until).await?),
        None => None,
    };
    let within = |position: u64| until.is_none_or(|until| position < until);
    let checkpoint = audit
        .checkpoints()
        .iter()
        .filter(|c| within(c.event_position))
        .filter_map(|c| c.checkpoint.as_ref())
        .next_back()
        .and_then(|c| {
            let signed = OffsetDateTime::from_unix_timestamp_nanos(i128::from(c.signed_at.as_micros()) * 1_000);
            signed.ok().map(|at| (c.position, at))
        });
    // Whatever day is shown, a log that does not verify now is reported: it is the log auditors would read.
    let verdict = if let Some(mismatch) = report.first_mismatch {
        Verdict::Tampered { position: mismatch.position, reason: mismatch.reason }
    } else if let Some(position) = rewritten {
        Verdict::Tampered {
            position,
            reason: "the event there is not the one this dashboard verified there before: the log was rewritten".into(),
        }
    } else if let Some(r) = remembered.as_ref().filter(|r| report.verified <= r.position) {
        Verdict::Tampered {
            position: report.verified,
            reason: format!(
                "the log ends there, but held {} events when this dashboard checked it before",
                r.position + 1
            ),
        }
    } else if report.verified < head.next_position {
        Verdict::Unreachable(format!(
            "the log service sent {} of the {} events it holds",
            report.verified, head.next_position
        ))
    } else if let Some(broken) = audit.checkpoints().iter().find(|c| c.failure.is_some()) {
        Verdict::CheckpointBroken {
            position: broken.event_position,
            reason: broken.failure.as_ref().map(ToString::to_string).unwrap_or_default(),
        }
    } else {
        if let Some(last) = report.last_verified {
            app.remember_verified_head(service, last);
        }
        Verdict::Verified { events: until.unwrap_or(report.verified) }
    };
    Ok(LogCheck {
        service,
        head: Some((head.next_position, head.head_hash.map(|h| h.to_hex()).unwrap_or_default())),
        verdict,
        checkpoint,
        events_at_point: until,
    })
}

/// How many of the log's `head` events were recorded at or before `until`: the log records time in commit
/// order, so the first event recorded later is found by bisection, one event read per step.
async fn events_until(
    client: &mut LogClient,
    head: u64,
    until: OffsetDateTime,
) -> Result<u64, event_log_grpc::ClientError> {
    let until_micros = i64::try_from(until.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX);
    let (mut low, mut high) = (0u64, head);
    while low < high {
        let middle = low + (high - low) / 2;
        let recorded = client.read_range(middle, middle + 1).await?;
        match recorded.first() {
            Some(event) if event.recorded_at.as_micros() <= until_micros => low = middle + 1,
            _ => high = middle,
        }
    }
    Ok(low)
}

/// `service`'s bus status as the viewer may read it, or why not.
async fn bus_status(app: &App, viewer: &Viewer, service: &str) -> Result<ops::BusStatus, String> {
    let mut client = ops::OperationsServiceClient::new(app.backend.channel(service));
    client
        .get_bus_status(authed(ops::GetBusStatusRequest {}, viewer.token()))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

fn bus_row(service: &str, status: &Result<ops::BusStatus, String>) -> Markup {
    match status {
        Err(why) => html! {
            tr.problem data-service=(service) { th scope="row" { (service) } td colspan="3" { "Not available: " (why) } }
        },
        Ok(status) => html! {
            tr data-service=(service) {
                th scope="row" { (service) }
                @match &status.relay {
                    None => { td { "No relay (publishes nothing)" } td.num { "—" } }
                    Some(relay) => {
                        td { @if relay.connected { "Connected" } @else { strong { "Not connected" } } ", published up to position " (relay.published_next_position) }
                        td.num data-backlog=(relay.backlog_events) {
                            (relay.backlog_events)
                            @if let Some(age) = relay.oldest_unpublished_age.as_ref() {
                                br; small { "oldest waiting " (age_text(age.seconds)) }
                            }
                        }
                    }
                }
                td {
                    @match &status.consumer {
                        None => { "Consumes nothing" }
                        Some(consumer) => {
                            ul.lag {
                                @for source in &consumer.sources {
                                    li data-source=(source.source) data-behind=[source.behind] {
                                        (source.source) ": "
                                        @match source.behind {
                                            Some(behind) if source.error.is_empty() => { (behind) " events behind" }
                                            _ => { "lag unknown (" (source.error) ")" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    }
}
