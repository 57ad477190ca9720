//! One module per page. Each handler reads through [`crate::backend`] as the signed-in viewer and renders
//! with [`crate::layout`]; a service's refusal becomes an error page ([`crate::web::PageError`]).

pub mod integrity;
pub mod overview;
pub mod pipeline;
pub mod portfolios;
pub mod results;
pub mod sign_in;
pub mod timeline;

use std::future::Future;

use contracts::common::v1::PageRequest;
use contracts::names::service::PROJECTOR;
use contracts::projector::v1 as pj;
use maud::{Markup, html};

use crate::backend::{Backend, authed};
use crate::money;
use crate::point::PagePoint;
use crate::web::{PageError, Viewer};

/// The result of a call to `service`, its refusal as a page error.
pub fn answer<T>(service: &str, result: Result<tonic::Response<T>, tonic::Status>) -> Result<T, PageError> {
    result.map(tonic::Response::into_inner).map_err(|status| PageError::from_status(service, &status))
}

/// An amount cell: the figure as people read it, the exact minor units and currency for machines.
pub fn money_cell(minor_units: i64, currency: &str) -> Markup {
    html! {
        td.num data-minor-units=(minor_units) data-currency=(currency) { (money::text(minor_units, currency)) }
    }
}

/// A country's name with its code: "Cambodia (KH)".
pub fn country_text(code: &str) -> String {
    match domain_kernel::Country::parse("country", code) {
        Ok(country) => format!("{} ({code})", country.name()),
        Err(_) => code.to_owned(),
    }
}

/// "SHELTER" as "Shelter", "LEGAL_AID" as "Legal aid".
pub fn enum_text(name: &str) -> String {
    let lower = name.to_lowercase().replace('_', " ");
    let mut chars = lower.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// Items a listing page asks for: the most the projector gives, since each page of an as-of listing is a
/// replay of its own.
const PAGE_SIZE: u32 = 500;

/// Every item of a paged listing, up to `limit`: `fetch` asks for one page and answers its items and the
/// next page's token (empty after the last).
async fn every_page<T, F, Fut>(limit: usize, mut fetch: F) -> Result<Vec<T>, PageError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), PageError>>,
{
    let mut items = Vec::new();
    let mut page_token = String::new();
    loop {
        let (page, next) = fetch(PageRequest { page_size: PAGE_SIZE, page_token }).await?;
        items.extend(page);
        if next.is_empty() || items.len() >= limit {
            items.truncate(limit);
            return Ok(items);
        }
        page_token = next;
    }
}

/// Every round's pipeline the viewer may see, at `point` (staff only), up to `limit` rounds.
pub async fn rounds(
    backend: &Backend,
    viewer: &Viewer,
    point: PagePoint,
    limit: usize,
) -> Result<Vec<pj::RoundPipeline>, PageError> {
    every_page(limit, |page| {
        let request = pj::ListRoundPipelinesRequest { page: Some(page), as_of: point.as_of() };
        let mut projector = backend.projector();
        async move {
            let answer = answer(PROJECTOR, projector.list_round_pipelines(authed(request, viewer.token())).await)?;
            Ok((answer.rounds, answer.next_page_token))
        }
    })
    .await
}

/// The portfolios the viewer may see at `point`: every one for staff (of `round`, if given), the own one
/// for a partner; at most `limit`.
pub async fn portfolios(
    backend: &Backend,
    viewer: &Viewer,
    point: PagePoint,
    round: Option<&str>,
    limit: usize,
) -> Result<Vec<pj::PartnerPortfolio>, PageError> {
    if let Some(own) = viewer.partner_of() {
        let request =
            pj::GetPartnerPortfolioRequest { organisation_id: own.to_owned(), as_of: point.as_of(), on_date: None };
        return match backend.projector().get_partner_portfolio(authed(request, viewer.token())).await {
            Ok(portfolio) => Ok(vec![portfolio.into_inner()]),
            // A partner without an award yet has no portfolio.
            Err(status) if status.code() == tonic::Code::NotFound => Ok(Vec::new()),
            Err(status) => Err(PageError::from_status(PROJECTOR, &status)),
        };
    }
    every_page(limit, |page| {
        let request = pj::ListPortfoliosRequest {
            page: Some(page),
            round_id: round.unwrap_or_default().to_owned(),
            as_of: point.as_of(),
            on_date: None,
        };
        let mut projector = backend.projector();
        async move {
            let answer = answer(PROJECTOR, projector.list_portfolios(authed(request, viewer.token())).await)?;
            Ok((answer.portfolios, answer.next_page_token))
        }
    })
    .await
}

/// A short note under a table or chart.
pub fn note(text: &str) -> Markup {
    html! { p.note { (text) } }
}
