//! Results: each victim-service indicator as the projector publishes it: suppressed and perturbed, by sex,
//! age band and disability. A withheld count is shown as withheld, with why; never as a number.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Response;
use contracts::names::service::{PROJECTOR, REPORTING};
use contracts::projector::v1 as pj;
use contracts::reporting::v1::{self as rp, AgeBand, Disability, Sex};
use maud::{Markup, html};

use super::{answer, enum_text};
use crate::backend::authed;
use crate::layout::{self, PageMeta, table_box};
use crate::point;
use crate::web::{App, AppState, PageQuery, PageResult, Viewer, respond};

pub async fn page(State(app): AppState, viewer: Viewer, Query(query): Query<PageQuery>) -> Response {
    respond(&app, &viewer, render(&app, &viewer, &query).await)
}

async fn render(app: &App, viewer: &Viewer, query: &PageQuery) -> PageResult {
    let point = query.point()?;
    let round = query.round();
    let request = pj::GetProgramSummaryRequest {
        round_id: round.unwrap_or_default().to_owned(),
        organisation_id: String::new(),
        as_of: point.as_of(),
    };
    let summary =
        answer(PROJECTOR, app.backend.projector().get_program_summary(authed(request, viewer.token())).await)?;
    let catalogue = answer(
        REPORTING,
        app.backend
            .reporting()
            .get_indicator_catalogue(authed(rp::GetIndicatorCatalogueRequest {}, viewer.token()))
            .await,
    )?;
    let definitions: BTreeMap<&str, &rp::IndicatorDefinition> =
        catalogue.indicators.iter().map(|d| (d.indicator_id.as_str(), d)).collect();
    let withheld = summary.primary_suppressed + summary.complementary_suppressed;
    let content = html! {
        section #protection aria-labelledby="protection-heading" {
            h2 #protection-heading { "How these figures protect the people counted" }
            p {
                "Counts come from accepted reports only. A count of 1 to " (summary.suppression_k.saturating_sub(1))
                " people, and any count from which such a one could be worked out by subtraction, is "
                strong { "withheld" } " (k = " (summary.suppression_k) "). Every count shown is shifted by at most "
                (summary.perturbation_bound) " either way, the same way every time, so margins need not add up."
            }
            p #withheld-count data-withheld=(withheld) {
                (withheld) " cells withheld in these tables (" (summary.primary_suppressed) " below k, "
                (summary.complementary_suppressed) " to block subtraction)."
            }
            @if let Some(at) = summary.indicators_as_of.as_ref() {
                p { "Counts as they stood at " (point::timestamp_text(Some(at))) ", the month end at or before the date asked for." }
            }
        }
        @if summary.indicators.is_empty() { p { "No report has been accepted yet." } }
        @for (i, indicator) in summary.indicators.iter().enumerate() {
            (indicator_section(i, indicator, definitions.get(indicator.indicator_id.as_str()).copied()))
        }
    };
    Ok(layout::page(viewer, PageMeta { id: "results", title: "Results", point, round }, content))
}

/// A published count as a cell: the value, or "withheld" marked for machines and explained for people.
fn count_cell(count: Option<&pj::ProtectedCount>) -> Markup {
    match count {
        Some(c) if c.suppressed => html! {
            td.suppressed data-suppressed="true" {
                abbr title="Withheld: too few people to publish safely, or derivable from a withheld count" { "withheld" }
            }
        },
        Some(c) => html! { td.num data-suppressed="false" { (c.value) } },
        None => html! { td.num { "—" } },
    }
}

fn sex_text(value: i32) -> String {
    Sex::try_from(value).map(|s| enum_text(s.as_str_name().trim_start_matches("SEX_"))).unwrap_or_default()
}

fn age_text(value: i32) -> String {
    AgeBand::try_from(value)
        .map(|a| match a {
            AgeBand::Years0To11 => "0–11 years".to_owned(),
            AgeBand::Years12To17 => "12–17 years".to_owned(),
            AgeBand::Years18To24 => "18–24 years".to_owned(),
            AgeBand::Years25To59 => "25–59 years".to_owned(),
            AgeBand::Years60AndOver => "60 years and over".to_owned(),
            other => enum_text(other.as_str_name().trim_start_matches("AGE_BAND_")),
        })
        .unwrap_or_default()
}

fn disability_text(value: i32) -> String {
    Disability::try_from(value)
        .map(|d| enum_text(d.as_str_name().trim_start_matches("DISABILITY_")))
        .unwrap_or_default()
}

fn indicator_section(
    index: usize,
    indicator: &pj::IndicatorSummary,
    definition: Option<&rp::IndicatorDefinition>,
) -> Markup {
    let heading = format!("indicator-{index}-heading");
    let title = definition.map_or(indicator.indicator_id.as_str(), |d| d.title.as_str());
    let unit = definition.map_or("", |d| d.unit.as_str());
    html! {
        section.indicator aria-labelledby=(heading) data-indicator-id=(indicator.indicator_id) {
            h2 #(heading) { (title) }
            p { "Indicator " code { (indicator.indicator_id) } @if !unit.is_empty() { ", counted in " (unit) } "." }
            (table_box(html! {
                table.total {
                    caption { "Total" }
                    tbody { tr { th scope="row" { "Total" } (count_cell(indicator.total.as_ref())) } }
                }
            }))
            @if indicator.disaggregated {
                (margin_table("By sex", indicator.by_sex.iter().map(|m| (sex_text(m.sex), m.count.as_ref()))))
                (margin_table("By age band", indicator.by_age_band.iter().map(|m| (age_text(m.age_band), m.count.as_ref()))))
                (margin_table("By disability", indicator.by_disability.iter().map(|m| (disability_text(m.disability), m.count.as_ref()))))
                (table_box(html! {
                    table.cells {
                        caption { "By sex, age band and disability" }
                        thead { tr {
                            th scope="col" { "Sex" } th scope="col" { "Age band" } th scope="col" { "Disability" } th scope="col" { "People" }
                        } }
                        tbody {
                            @for cell in &indicator.cells {
                                tr {
                                    td { (sex_text(cell.sex)) } td { (age_text(cell.age_band)) } td { (disability_text(cell.disability)) }
                                    (count_cell(cell.count.as_ref()))
                                }
                            }
                        }
                    }
                }))
            }
        }
    }
}

fn margin_table<'a>(caption: &str, rows: impl Iterator<Item = (String, Option<&'a pj::ProtectedCount>)>) -> Markup {
    table_box(html! {
        table.margin {
            caption { (caption) }
            tbody {
                @for (label, count) in rows {
                    tr { th scope="row" { (label) } (count_cell(count)) }
                }
            }
        }
    })
}
