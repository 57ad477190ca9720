//! Partner portfolios: every organisation's awards with committed, released, remaining, the next report
//! due and overdue obligations. Staff see every organisation; a partner sees only its own, and the
//! projector answers another's as not found.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use contracts::names::service::PROJECTOR;
use contracts::projector::v1 as pj;
use maud::{Markup, html};

use super::{answer, country_text, enum_text, money_cell, note, portfolios};
use crate::backend::authed;
use crate::layout::{self, PageMeta, link, table_box};
use crate::point::{PagePoint, wire_date_text};
use crate::web::{App, AppState, PageQuery, PageResult, Viewer, respond};

pub async fn list(State(app): AppState, viewer: Viewer, Query(query): Query<PageQuery>) -> Response {
    if let Some(own) = viewer.partner_of() {
        let point = query.point().map(|p| p.param()).unwrap_or_default();
        let target =
            if point.is_empty() { format!("/portfolios/{own}") } else { format!("/portfolios/{own}?as_of={point}") };
        return Redirect::to(&target).into_response();
    }
    respond(&app, &viewer, render_list(&app, &viewer, &query).await)
}

async fn render_list(app: &App, viewer: &Viewer, query: &PageQuery) -> PageResult {
    let point = query.point()?;
    let round = query.round();
    let all = portfolios(&app.backend, viewer, point, round, 2_000).await?;
    let content = html! {
        @if round.is_some() { p { "Organisations with an award in the chosen round." } }
        (table_box(html! {
            table #portfolios {
                caption { "Partner organisations and their awards" }
                thead { tr {
                    th scope="col" { "Organisation" } th scope="col" { "Country" } th scope="col" { "Awards" }
                    th scope="col" { "Committed" } th scope="col" { "Released" } th scope="col" { "Remaining" }
                    th scope="col" { "Next report due" } th scope="col" { "Overdue" }
                } }
                tbody {
                    @for p in &all {
                        @for (i, t) in p.totals.iter().enumerate() {
                            tr data-organisation-id=(p.organisation_id) {
                                @if i == 0 {
                                    th scope="row" rowspan=(p.totals.len()) {
                                        a href=(link(&format!("/portfolios/{}", p.organisation_id), point)) { (p.legal_name) }
                                    }
                                    td rowspan=(p.totals.len()) { (country_text(&p.country)) }
                                }
                                td.num { (t.awards) }
                                (money_cell(t.committed_minor_units, &t.currency))
                                (money_cell(t.released_minor_units, &t.currency))
                                (money_cell(t.remaining_minor_units, &t.currency))
                                @if i == 0 {
                                    td rowspan=(p.totals.len()) { (due_text(p.next_report_due.as_ref())) }
                                    td.num rowspan=(p.totals.len()) class=(if p.overdue_count > 0 { "num overdue" } else { "num" }) {
                                        (p.overdue_count)
                                    }
                                }
                            }
                        }
                    }
                    @if all.is_empty() { tr { td colspan="8" { "No organisation has an award yet." } } }
                }
            }
        }))
    };
    Ok(layout::page(viewer, PageMeta { id: "portfolios", title: "Partner portfolios", point, round }, content))
}

pub async fn one(
    State(app): AppState,
    viewer: Viewer,
    Path(organisation_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    respond(&app, &viewer, render_one(&app, &viewer, &organisation_id, &query).await)
}

async fn render_one(app: &App, viewer: &Viewer, organisation_id: &str, query: &PageQuery) -> PageResult {
    let point = query.point()?;
    let request = pj::GetPartnerPortfolioRequest {
        organisation_id: organisation_id.to_owned(),
        as_of: point.as_of(),
        on_date: None,
    };
    let portfolio =
        answer(PROJECTOR, app.backend.projector().get_partner_portfolio(authed(request, viewer.token())).await)?;
    let content = portfolio_view(&portfolio, point);
    let title = format!("Portfolio: {}", portfolio.legal_name);
    Ok(layout::page(viewer, PageMeta { id: "portfolios", title: &title, point, round: None }, content))
}

fn due_text(due: Option<&pj::ObligationDue>) -> String {
    due.map_or_else(
        || "None open".to_owned(),
        |d| format!("{} ({})", wire_date_text(d.due_date.as_ref()), kind_text(d.kind)),
    )
}

fn kind_text(kind: i32) -> String {
    contracts::reporting::v1::ReportKind::try_from(kind)
        .map(|k| enum_text(k.as_str_name().trim_start_matches("REPORT_KIND_")).to_lowercase() + " report")
        .unwrap_or_else(|_| "report".to_owned())
}

fn portfolio_view(p: &pj::PartnerPortfolio, point: PagePoint) -> Markup {
    html! {
        dl.facts #organisation data-organisation-id=(p.organisation_id) {
            dt { "Country" } dd { (country_text(&p.country)) }
            dt { "Next report due" } dd { (due_text(p.next_report_due.as_ref())) }
            dt { "Overdue obligations" } dd { (p.overdue_count) }
            dt { "Obligations judged on" } dd { (wire_date_text(p.as_of_date.as_ref())) }
        }
        h2 { "Totals" }
        (table_box(html! {
            table #portfolio-totals {
                caption { "Awards and amounts by currency" }
                thead { tr {
                    th scope="col" { "Currency" } th scope="col" { "Awards" } th scope="col" { "Committed" }
                    th scope="col" { "Released" } th scope="col" { "Remaining" }
                } }
                tbody {
                    @for t in &p.totals {
                        tr {
                            th scope="row" { (t.currency) } td.num { (t.awards) }
                            (money_cell(t.committed_minor_units, &t.currency))
                            (money_cell(t.released_minor_units, &t.currency))
                            (money_cell(t.remaining_minor_units, &t.currency))
                        }
                    }
                }
            }
        }))
        h2 { "Awards" }
        (table_box(html! {
            table #awards {
                caption { "Each award, with its next report and overdue obligations" }
                thead { tr {
                    th scope="col" { "Award" } th scope="col" { "Status" } th scope="col" { "Committed" }
                    th scope="col" { "Released" } th scope="col" { "Remaining" } th scope="col" { "Next report due" }
                    th scope="col" { "Overdue" }
                } }
                tbody {
                    @for a in &p.awards {
                        @let currency = a.committed.as_ref().map(|m| m.currency.as_str()).unwrap_or_default();
                        @let minor = |m: Option<&contracts::common::v1::Money>| m.map_or(0, |m| m.minor_units);
                        tr data-award-id=(a.award_id) {
                            th scope="row" {
                                a href=(link(&format!("/grants/award/{}", a.award_id), point)) { (a.title) }
                            }
                            td { (a.status) }
                            (money_cell(minor(a.committed.as_ref()), currency))
                            (money_cell(minor(a.released.as_ref()), currency))
                            (money_cell(minor(a.remaining.as_ref()), currency))
                            td { (due_text(a.next_report_due.as_ref())) }
                            td {
                                @if a.overdue.is_empty() { "None" }
                                @for o in &a.overdue {
                                    span.overdue { (o.report_ref) " (" (kind_text(o.kind)) "), " (o.days_overdue) " days" } " "
                                }
                            }
                        }
                    }
                }
            }
        }))
        (note("Committed is the signed agreement's amount (what was released, once an award is terminated)."))
    }
}
