//! One grant's timeline across the services, as `grants history` tells it: each step with who did it (role
//! and subject) and when. A partner sees only its own grants; another's reads as not found.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use contracts::names::service::PROJECTOR;
use contracts::projector::v1 as pj;
use maud::html;

use super::{answer, enum_text, note};
use crate::backend::authed;
use crate::layout::{self, PageMeta, link, table_box};
use crate::point;
use crate::web::{App, AppState, PageQuery, PageResult, Viewer, respond};

pub async fn by_award(
    State(app): AppState,
    viewer: Viewer,
    Path(award_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    respond(&app, &viewer, render(&app, &viewer, pj::Grant::AwardId(award_id), &query).await)
}

pub async fn by_application(
    State(app): AppState,
    viewer: Viewer,
    Path(application_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    respond(&app, &viewer, render(&app, &viewer, pj::Grant::ApplicationId(application_id), &query).await)
}

async fn render(app: &App, viewer: &Viewer, grant: pj::Grant, query: &PageQuery) -> PageResult {
    let point = query.point()?;
    let request = pj::GetGrantTimelineRequest { grant: Some(grant), as_of: point.as_of() };
    let timeline =
        answer(PROJECTOR, app.backend.projector().get_grant_timeline(authed(request, viewer.token())).await)?;
    let content = html! {
        dl.facts #grant data-application-id=(timeline.application_id) data-award-id=(timeline.award_id) {
            dt { "Application" } dd { code { (timeline.application_id) } }
            dt { "Award" } dd { @if timeline.award_id.is_empty() { "Not offered yet" } @else { code { (timeline.award_id) } } }
            dt { "Organisation" } dd {
                a href=(link(&format!("/portfolios/{}", timeline.organisation_id), point)) { code { (timeline.organisation_id) } }
            }
            dt { "Steps" } dd { (timeline.entries.len()) }
        }
        (table_box(html! {
            table #timeline {
                caption { "Every step of the grant, in the order it was recorded" }
                thead { tr {
                    th scope="col" { "Recorded (UTC)" } th scope="col" { "Step" } th scope="col" { "What happened" }
                    th scope="col" { "Who" } th scope="col" { "Service and position" }
                } }
                tbody {
                    @for e in &timeline.entries {
                        tr data-step=(e.step) data-event-type=(e.event_type) {
                            td { time { (point::timestamp_text(e.recorded_at.as_ref())) } }
                            td { (enum_text(&e.step)) }
                            td { (e.summary) }
                            td { (e.actor_role.replace('_', " ")) br; small { (e.actor_subject) } }
                            td { (e.source) " #" (e.position) }
                        }
                    }
                }
            }
        }))
        (note("Each step is an event in the log of the service that recorded it; an auditor can find it there by its position."))
    };
    let title = format!("Grant timeline: {}", short_id(&timeline.application_id));
    Ok(layout::page(viewer, PageMeta { id: "timeline", title: &title, point, round: None }, content))
}

/// The first block of a UUID, enough to tell grants apart in a title.
fn short_id(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}
