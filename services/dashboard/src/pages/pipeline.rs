//! The round pipeline: each round's applications by status, and what was requested against what was
//! approved, per country. Staff and auditors.

use axum::extract::{Query, State};
use axum::response::Response;
use contracts::projector::v1 as pj;
use maud::{Markup, html};

use super::{country_text, enum_text, money_cell, note, rounds};
use crate::chart::{self, Bar, Series};
use crate::layout::{self, PageMeta, link, table_box};
use crate::money;
use crate::point::PagePoint;
use crate::web::{App, AppState, PageError, PageQuery, PageResult, Viewer, respond};

const REQUESTED: Series<'static> = Series { name: "Requested", class: "requested" };
const APPROVED: Series<'static> = Series { name: "Approved", class: "approved" };
const APPLICATIONS: Series<'static> = Series { name: "Applications", class: "applications" };

pub async fn page(State(app): AppState, viewer: Viewer, Query(query): Query<PageQuery>) -> Response {
    respond(&app, &viewer, render(&app, &viewer, &query).await)
}

async fn render(app: &App, viewer: &Viewer, query: &PageQuery) -> PageResult {
    if !viewer.is_staff() {
        return Err(PageError::Forbidden("The pipeline is for program staff and auditors.".into()));
    }
    let point = query.point()?;
    let rounds = rounds(&app.backend, viewer, point, 200).await?;
    let content = html! {
        @if rounds.is_empty() { p { "No round has been opened yet." } }
        @for (i, round) in rounds.iter().enumerate() {
            (round_section(i, round, point))
        }
    };
    Ok(layout::page(viewer, PageMeta { id: "pipeline", title: "Round pipeline", point, round: None }, content))
}

fn stage_name(stage: i32) -> String {
    pj::ApplicationStage::try_from(stage)
        .map(|s| enum_text(s.as_str_name().trim_start_matches("APPLICATION_STAGE_")))
        .unwrap_or_else(|_| format!("stage {stage}"))
}

fn round_section(index: usize, round: &pj::RoundPipeline, point: PagePoint) -> Markup {
    let heading = format!("round-{index}-heading");
    let currency = round.budget_ceiling.as_ref().map(|m| m.currency.clone()).unwrap_or_default();
    let minor = |m: Option<&contracts::common::v1::Money>| m.map_or(0, |m| m.minor_units);
    html! {
        section.round aria-labelledby=(heading) data-round-id=(round.round_id) {
            h2 #(heading) { (round.title) }
            dl.facts {
                dt { "Status" } dd { (round.status) }
                dt { "Budget ceiling" } dd { (money::wire_text(round.budget_ceiling.as_ref())) }
                dt { "Requested (submitted applications)" } dd { (money::wire_text(round.requested_total.as_ref())) }
                dt { "Approved" } dd { (money::wire_text(round.approved_total.as_ref())) }
            }
            h3 { "Applications by status" }
            (chart::bars(&format!("round-{index}-stages-chart"), &format!("Applications by status, {}", round.title),
                &[APPLICATIONS],
                &round.by_stage.iter().map(|s| Bar { label: stage_name(s.stage), values: vec![s.applications as f64] }).collect::<Vec<_>>(),
                |v| format!("{v:.0}")))
            (table_box(html! {
                table.stages {
                    caption { "Applications by status" }
                    thead { tr { th scope="col" { "Status" } th scope="col" { "Applications" } } }
                    tbody {
                        @for s in &round.by_stage {
                            tr { th scope="row" { (stage_name(s.stage)) } td.num { (s.applications) } }
                        }
                    }
                }
            }))
            h3 { "Requested and approved by country" }
            (chart::bars(&format!("round-{index}-countries-chart"), &format!("Requested and approved by country, {}", round.title),
                &[REQUESTED, APPROVED],
                &round.by_country.iter().map(|c| Bar { label: country_text(&c.country), values: vec![
                    money::major(minor(c.requested.as_ref()), &currency), money::major(minor(c.approved.as_ref()), &currency)] }).collect::<Vec<_>>(),
                |v| format!("{v:.0} {currency}")))
            (table_box(html! {
                table.countries {
                    caption { "Requested and approved by country" }
                    thead { tr {
                        th scope="col" { "Country" } th scope="col" { "Applications" }
                        th scope="col" { "Requested" } th scope="col" { "Approved" }
                    } }
                    tbody {
                        @for c in &round.by_country {
                            tr {
                                th scope="row" { (country_text(&c.country)) }
                                td.num { (c.applications) }
                                (money_cell(minor(c.requested.as_ref()), &currency))
                                (money_cell(minor(c.approved.as_ref()), &currency))
                            }
                        }
                    }
                }
            }))
            (note("An application working in several countries counts in each of them: rows do not add up to the totals."))
            p { a href=(link(&format!("/overview?round={}", round.round_id), point)) { "This round's overview" } }
        }
    }
}
