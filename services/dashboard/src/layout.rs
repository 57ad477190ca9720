//! The frame of every page: a skip link, the navigation the viewer's role can use, who is signed in, the
//! "as of" form, then the page's own content under one `<h1>`.

use maud::{DOCTYPE, Markup, html};

use crate::point::PagePoint;
use crate::web::Viewer;

/// What names a page and how it was asked for.
#[derive(Clone, Copy, Debug)]
pub struct PageMeta<'a> {
    /// The navigation entry it belongs to (`data-page` on `<body>`).
    pub id: &'static str,
    pub title: &'a str,
    pub point: PagePoint,
    /// The round filter, kept in the "as of" form.
    pub round: Option<&'a str>,
}

/// The navigation entries: id, label, and whether the viewer's role can use it.
fn entries(viewer: &Viewer) -> Vec<(&'static str, &'static str, String)> {
    let mut entries = vec![("overview", "Overview", "/overview".to_owned())];
    if viewer.is_staff() {
        entries.push(("pipeline", "Pipeline", "/pipeline".to_owned()));
        entries.push(("portfolios", "Portfolios", "/portfolios".to_owned()));
    } else if let Some(own) = viewer.partner_of() {
        entries.push(("portfolios", "Our portfolio", format!("/portfolios/{own}")));
    }
    entries.push(("results", "Results", "/results".to_owned()));
    if viewer.reads_logs() {
        entries.push(("integrity", "Integrity", "/integrity".to_owned()));
    }
    entries
}

/// `path` with the page's point kept.
pub fn link(path: &str, point: PagePoint) -> String {
    match point {
        PagePoint::Live => path.to_owned(),
        PagePoint::EndOf(_) => {
            let separator = if path.contains('?') { '&' } else { '?' };
            format!("{path}{separator}as_of={}", point.param())
        }
    }
}

fn document(title: &str, page_id: &str, header: Markup, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Grants dashboard" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body data-page=(page_id) {
                a.skip href="#main" { "Skip to content" }
                (header)
                main #main { (content) }
                footer {
                    p { "Read-only views over the platform's services. Victim counts are published only suppressed and perturbed." }
                }
            }
        }
    }
}

/// A page for a signed-in viewer.
pub fn page(viewer: &Viewer, meta: PageMeta<'_>, content: Markup) -> Markup {
    let actor = &viewer.session.actor;
    let header = html! {
        header.top {
            p.brand { a href="/overview" { "Grants dashboard" } }
            nav aria-label="Pages" {
                ul {
                    @for (id, label, path) in entries(viewer) {
                        li {
                            @if id == meta.id {
                                a href=(link(&path, meta.point)) aria-current="page" { (label) }
                            } @else {
                                a href=(link(&path, meta.point)) { (label) }
                            }
                        }
                    }
                }
            }
            div.who {
                span { "Signed in as " (actor.subject) " (" (actor.role.as_str().replace('_', " ")) ")" }
                form method="post" action="/sign-out" {
                    button type="submit" { "Sign out" }
                }
            }
        }
    };
    let content = html! {
        h1 { (meta.title) }
        (as_of_form(meta))
        (content)
    };
    document(meta.title, meta.id, header, content)
}

/// The form that shows the page as of a past date (plain GET, so it works without scripts and can be
/// bookmarked).
fn as_of_form(meta: PageMeta<'_>) -> Markup {
    html! {
        form.as-of method="get" {
            @if let Some(round) = meta.round {
                input type="hidden" name="round" value=(round);
            }
            label for="as-of" { "As of" }
            input #as-of type="date" name="as_of" value=(meta.point.param());
            button type="submit" { "Show" }
            @match meta.point {
                PagePoint::Live => { p.point #point data-live="true" { "Showing the live state." } }
                PagePoint::EndOf(_) => {
                    p.point #point data-live="false" {
                        "Showing the state at the end of " strong { (meta.point.param()) } " (UTC). "
                        a href=(match meta.round { Some(round) => format!("?round={round}"), None => "?".to_owned() }) {
                            "Back to today"
                        }
                    }
                }
            }
        }
    }
}

/// A page without the viewer's navigation (sign-in), or an error page.
pub fn bare(title: &str, page_id: &str, content: Markup) -> Markup {
    let header = html! {
        header.top { p.brand { a href="/" { "Grants dashboard" } } }
    };
    document(title, page_id, header, html! { h1 { (title) } (content) })
}

/// An error page, with the navigation when someone is signed in.
pub fn error_page(viewer: Option<&Viewer>, status: u16, title: &str, message: &str) -> Markup {
    let content = html! {
        p.error #error data-status=(status) { (message) }
        p { a href="/overview" { "Back to the overview" } }
    };
    match viewer {
        Some(viewer) => page(viewer, PageMeta { id: "error", title, point: PagePoint::Live, round: None }, content),
        None => bare(title, "error", content),
    }
}

/// A table inside a scrolling box, so that wide tables never widen a phone's page.
pub fn table_box(content: Markup) -> Markup {
    html! { div.table-box { (content) } }
}
