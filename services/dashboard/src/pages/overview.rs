//! The program overview: committed, released and remaining in total, by country and by service type, and
//! disbursements over time; for the whole program or one round. A partner sees its own organisation's.

use axum::extract::Query;
use axum::response::Response;
use contracts::names::service::PROJECTOR;
use contracts::projector::v1 as pj;
use futures::{StreamExt, stream};
use maud::{Markup, html};
use time::OffsetDateTime;

use super::{answer, country_text, enum_text, money_cell, note, portfolios, rounds};
use crate::backend::authed;
use crate::chart::{self, Bar, Series};
use crate::layout::{self, PageMeta, table_box};
use crate::money;
use crate::point::{self, PagePoint};
use crate::web::{App, AppState, PageQuery, PageResult, Viewer, respond};

/// Points of the disbursement chart, besides its start.
const STEPS: u32 = 12;
/// Grants whose timelines are read to find when disbursing began.
const TIMELINES_READ: usize = 20;
/// Calls to the projector one page makes at once (each as-of answer replays the logs).
const CALLS_AT_ONCE: usize = 4;

const COMMITTED: Series<'static> = Series { name: "Committed", class: "committed" };
const RELEASED: Series<'static> = Series { name: "Released", class: "released" };

pub async fn page(axum::extract::State(app): AppState, viewer: Viewer, Query(query): Query<PageQuery>) -> Response {
    respond(&app, &viewer, render(&app, &viewer, &query).await)
}

async fn render(app: &App, viewer: &Viewer, query: &PageQuery) -> PageResult {
    let point = query.point()?;
    let round = query.round();
    let summary = summary_at(app, viewer, round, point.as_of()).await?;
    let round_choice = if viewer.is_staff() { Some(rounds(&app.backend, viewer, point, 200).await?) } else { None };
    // The chart replays the logs at each of its points: when that fails (a source unreachable, or a log
    // whose records no longer verify), the rest of the page still stands, and says why the chart does not.
    let over_time = disbursements(app, viewer, point, round, &summary.totals).await;
    let scope = match (viewer.partner_of(), round) {
        (Some(_), _) => "Your organisation's awards.",
        (None, Some(_)) => "The awards of the chosen round.",
        (None, None) => "Every award of the program.",
    };
    let content = html! {
        @if let Some(rounds) = round_choice {
            form.filter method="get" {
                @if let PagePoint::EndOf(_) = point { input type="hidden" name="as_of" value=(point.param()); }
                label for="round" { "Round" }
                select #round name="round" {
                    option value="" selected[round.is_none()] { "Whole program" }
                    @for r in &rounds {
                        option value=(r.round_id) selected[round == Some(r.round_id.as_str())] { (r.title) }
                    }
                }
                button type="submit" { "Show" }
            }
        }
        p { (scope) }
        section aria-labelledby="totals-heading" {
            h2 #totals-heading { "Totals" }
            (totals_table(&summary.totals))
        }
        (breakdown_section("by-country", "Country", &currencies(&summary.totals),
            &summary.by_country.iter().map(|c| Breakdown { label: country_text(&c.country), currency: &c.currency,
                awards: c.awards, committed: c.committed_minor_units, released: c.released_minor_units }).collect::<Vec<_>>(),
            "An award working in several countries counts in each of them: rows do not add up to the totals."))
        (breakdown_section("by-service-type", "Service type", &currencies(&summary.totals),
            &summary.by_service_type.iter().map(|t| Breakdown { label: enum_text(&t.service_type), currency: &t.currency,
                awards: t.awards, committed: t.committed_minor_units, released: t.released_minor_units }).collect::<Vec<_>>(),
            "An award offering several services counts under each of them."))
        section aria-labelledby="disbursements-heading" {
            h2 #disbursements-heading { "Disbursements over time" }
            @match &over_time {
                Ok(over_time) => { (disbursement_view(over_time)) }
                Err(error) => { p.error #disbursements-error { "The amounts over time cannot be shown: " (error.describe()) } }
            }
        }
    };
    Ok(layout::page(viewer, PageMeta { id: "overview", title: "Program overview", point, round }, content))
}

/// The program summary (money only is used here) at `as_of`.
async fn summary_at(
    app: &App,
    viewer: &Viewer,
    round: Option<&str>,
    as_of: Option<pj::AsOf>,
) -> Result<pj::ProgramSummary, crate::web::PageError> {
    let request = pj::GetProgramSummaryRequest {
        round_id: round.unwrap_or_default().to_owned(),
        organisation_id: String::new(),
        as_of,
    };
    answer(PROJECTOR, app.backend.projector().get_program_summary(authed(request, viewer.token())).await)
}

/// The currencies of the totals, in order.
fn currencies(totals: &[pj::CurrencyTotals]) -> Vec<String> {
    totals.iter().map(|t| t.currency.clone()).collect()
}

fn totals_table(totals: &[pj::CurrencyTotals]) -> Markup {
    table_box(html! {
        table #totals {
            caption { "Awards and amounts by currency" }
            thead { tr {
                th scope="col" { "Currency" } th scope="col" { "Awards" } th scope="col" { "Offered" }
                th scope="col" { "Committed" } th scope="col" { "Released" } th scope="col" { "Remaining" }
            } }
            tbody {
                @for t in totals {
                    tr data-currency=(t.currency) {
                        th scope="row" { (t.currency) }
                        td.num data-field="awards" { (t.awards) }
                        (money_cell(t.offered_minor_units, &t.currency))
                        (money_cell(t.committed_minor_units, &t.currency))
                        (money_cell(t.released_minor_units, &t.currency))
                        (money_cell(t.remaining_minor_units, &t.currency))
                    }
                }
                @if totals.is_empty() {
                    tr { td colspan="6" { "No award yet." } }
                }
            }
        }
    })
}

/// One row of a breakdown: a country's or a service type's awards and amounts in one currency.
struct Breakdown<'a> {
    label: String,
    currency: &'a str,
    awards: u64,
    committed: i64,
    released: i64,
}

/// A breakdown by `dimension`: a bar chart per currency, then one table of every row, then `note`.
fn breakdown_section(
    id: &str,
    dimension: &str,
    currencies: &[String],
    rows: &[Breakdown<'_>],
    note_text: &str,
) -> Markup {
    let heading = format!("{id}-heading");
    let lower = dimension.to_lowercase();
    html! {
        section aria-labelledby=(heading) {
            h2 #(heading) { "By " (lower) }
            @for currency in currencies {
                @let bars: Vec<Bar> = rows.iter().filter(|r| r.currency == currency).map(|r| Bar {
                    label: r.label.clone(),
                    values: vec![money::major(r.committed, currency), money::major(r.released, currency)],
                }).collect();
                (chart::bars(&format!("{id}-chart-{}", currency.to_lowercase()),
                    &format!("Committed and released by {lower}, {currency}"), &[COMMITTED, RELEASED], &bars, short_amount))
            }
            (table_box(html! {
                table #(id) {
                    caption { "Committed, released and remaining by " (lower) }
                    thead { tr {
                        th scope="col" { (dimension) } th scope="col" { "Currency" } th scope="col" { "Awards" }
                        th scope="col" { "Committed" } th scope="col" { "Released" } th scope="col" { "Remaining" }
                    } }
                    tbody {
                        @for r in rows {
                            tr {
                                th scope="row" { (r.label) }
                                td { (r.currency) }
                                td.num { (r.awards) }
                                (money_cell(r.committed, r.currency))
                                (money_cell(r.released, r.currency))
                                (money_cell(r.committed.saturating_sub(r.released), r.currency))
                            }
                        }
                    }
                }
            }))
            (note(note_text))
        }
    }
}

/// Released and committed amounts by currency at successive instants.
#[derive(Debug, Default)]
struct OverTime {
    points: Vec<(OffsetDateTime, Vec<pj::CurrencyTotals>)>,
}

/// The program's (or round's, or partner's) totals at [`STEPS`] even steps from when its first visible
/// grant began to the page's point, each asked of the projector as of that instant, and
/// `totals_at_end`, the page's own, at the point itself.
async fn disbursements(
    app: &App,
    viewer: &Viewer,
    point: PagePoint,
    round: Option<&str>,
    totals_at_end: &[pj::CurrencyTotals],
) -> Result<OverTime, crate::web::PageError> {
    let end = point.until().unwrap_or_else(OffsetDateTime::now_utc);
    let awards: Vec<String> = portfolios(&app.backend, viewer, point, round, 1_000)
        .await?
        .into_iter()
        .flat_map(|p| p.awards)
        .filter(|a| round.is_none_or(|r| a.round_id == r))
        .map(|a| a.award_id)
        .take(TIMELINES_READ)
        .collect();
    let timelines: Vec<_> = stream::iter(awards.into_iter().map(|award_id| {
        let mut projector = app.backend.projector();
        let request = pj::GetGrantTimelineRequest { grant: Some(pj::Grant::AwardId(award_id)), as_of: point.as_of() };
        async move { projector.get_grant_timeline(authed(request, viewer.token())).await }
    }))
    .buffered(CALLS_AT_ONCE)
    .collect()
    .await;
    let mut start: Option<OffsetDateTime> = None;
    for timeline in timelines {
        let timeline = answer(PROJECTOR, timeline)?;
        // Entries come in recorded order: the first is when the grant began.
        let first = timeline.entries.first().and_then(|e| e.recorded_at.as_ref()).and_then(point::instant);
        if let Some(first) = first {
            start = Some(start.map_or(first, |s| s.min(first)));
        }
    }
    let Some(start) = start else { return Ok(OverTime::default()) };
    let span = end - start;
    // The last step is the page's own point, whose totals the page already holds.
    let instants: Vec<OffsetDateTime> = (0..STEPS).map(|i| start + span * (f64::from(i) / f64::from(STEPS))).collect();
    let points: Vec<pj::AsOf> = instants.iter().map(|at| point::at(*at)).collect();
    let answers: Vec<_> = stream::iter(points.into_iter().map(|as_of| summary_at(app, viewer, round, Some(as_of))))
        .buffered(CALLS_AT_ONCE)
        .collect()
        .await;
    let mut over_time = OverTime::default();
    for (at, summary) in instants.into_iter().zip(answers) {
        over_time.points.push((at, summary?.totals));
    }
    over_time.points.push((end, totals_at_end.to_vec()));
    Ok(over_time)
}

fn disbursement_view(over_time: &OverTime) -> Markup {
    let mut currencies: Vec<String> =
        over_time.points.iter().flat_map(|(_, totals)| totals.iter().map(|t| t.currency.clone())).collect();
    currencies.sort();
    currencies.dedup();
    let at = |totals: &[pj::CurrencyTotals], currency: &str| {
        totals
            .iter()
            .find(|t| t.currency == currency)
            .map_or((0, 0), |t| (t.committed_minor_units, t.released_minor_units))
    };
    html! {
        @if over_time.points.is_empty() {
            p { "Nothing has been committed or released yet." }
        }
        @for currency in &currencies {
            @let points: Vec<(String, f64)> = over_time.points.iter()
                .map(|(when, totals)| (point::time_text(*when), money::major(at(totals, currency).1, currency))).collect();
            (chart::line(&format!("disbursements-chart-{}", currency.to_lowercase()),
                &format!("Released in total over time, {currency}"), RELEASED, &points, short_amount))
        }
        @if !over_time.points.is_empty() {
            (table_box(html! {
                table #disbursements {
                    caption { "Committed and released in total at each time (UTC)" }
                    thead { tr {
                        th scope="col" { "Time (UTC)" }
                        @for currency in &currencies {
                            th scope="col" { "Committed, " (currency) } th scope="col" { "Released, " (currency) }
                        }
                    } }
                    tbody {
                        @for (when, totals) in &over_time.points {
                            tr {
                                th scope="row" { (point::time_text(*when)) }
                                @for currency in &currencies {
                                    @let (committed, released) = at(totals, currency);
                                    (money_cell(committed, currency))
                                    (money_cell(released, currency))
                                }
                            }
                        }
                    }
                }
            }))
            (note("Each row is the projector's answer as of that instant, at even steps from when the first grant shown began."))
        }
    }
}

/// A chart label: "12.5k", "3.2M", "950".
fn short_amount(value: f64) -> String {
    match value.abs() {
        v if v >= 1e9 => format!("{:.1}B", value / 1e9),
        v if v >= 1e6 => format!("{:.1}M", value / 1e6),
        v if v >= 1e3 => format!("{:.1}k", value / 1e3),
        _ => format!("{value:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_labels_are_short() {
        assert_eq!(short_amount(950.0), "950");
        assert_eq!(short_amount(12_500.0), "12.5k");
        assert_eq!(short_amount(3_200_000.0), "3.2M");
        assert_eq!(short_amount(0.0), "0");
    }
}
