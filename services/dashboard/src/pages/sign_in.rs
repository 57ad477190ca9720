//! Signing in with a bearer token (the same tokens every service takes) and signing out. The token is
//! posted once, checked, and kept on the server; the browser gets only a session cookie.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain_kernel::Role;
use maud::{Markup, html};

use crate::layout;
use crate::session;
use crate::web::{AppState, Viewer, from_a_browser, same_origin};

/// Longest token taken; real ones are a few hundred bytes.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, serde::Deserialize)]
pub struct SignIn {
    token: String,
}

pub async fn form(viewer: Option<Viewer>) -> Response {
    if viewer.is_some() {
        return Redirect::to("/overview").into_response();
    }
    page(None).into_response()
}

fn page(refusal: Option<&str>) -> Markup {
    layout::bare(
        "Sign in",
        "sign-in",
        html! {
            @if let Some(refusal) = refusal {
                p.error #error role="alert" { (refusal) }
            }
            form.sign-in method="post" action="/sign-in" {
                label for="token" { "Bearer token" }
                textarea #token name="token" rows="4" required autocomplete="off" spellcheck="false"
                    aria-describedby="token-help" {}
                p #token-help {
                    "The token you use with the platform's services. It stays on the dashboard's server; your browser keeps only a session cookie. "
                    "For development, " code { "grants token --role program_officer --subject YOU" } " issues one."
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub async fn submit(State(app): AppState, headers: HeaderMap, Form(form): Form<SignIn>) -> Response {
    if !same_origin(&headers) || !from_a_browser(&headers) {
        return (StatusCode::FORBIDDEN, page(Some("Sign in from the dashboard's own page."))).into_response();
    }
    let token = form.token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES || !token.is_ascii() {
        let why = format!("`token` must be a bearer token of 1 to {MAX_TOKEN_BYTES} ASCII characters.");
        return (StatusCode::BAD_REQUEST, page(Some(&why))).into_response();
    }
    let actor = match app.verifier.verify(token) {
        Ok(actor) => actor,
        Err(refused) => {
            tracing::info!(reason = %refused, "sign-in refused");
            let why = format!("The token was refused: {refused}");
            return (StatusCode::UNAUTHORIZED, page(Some(&why))).into_response();
        }
    };
    if actor.role == Role::Reviewer {
        let why = "Reviewers score applications through the applications service; the dashboard's views are for \
                   partners, program and finance officers, auditors and administrators.";
        return (StatusCode::FORBIDDEN, page(Some(why))).into_response();
    }
    tracing::info!(role = actor.role.as_str(), "signed in");
    let Some(id) = app.sessions.open(token.to_owned(), actor) else {
        tracing::warn!("sign-in refused: every session slot is taken");
        let why = "The dashboard has as many people signed in as it serves at once; try again later.";
        return (StatusCode::SERVICE_UNAVAILABLE, page(Some(why))).into_response();
    };
    let cookie = session::cookie_for(&id, app.secure_cookie, app.session_lifetime);
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/overview".to_owned()), (header::SET_COOKIE, cookie)]).into_response()
}

pub async fn sign_out(State(app): AppState, headers: HeaderMap, viewer: Option<Viewer>) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "Sign out from the dashboard's own page.\n").into_response();
    }
    if let Some(viewer) = viewer {
        app.sessions.close(&viewer.session_id);
    }
    let cookie = session::removal_cookie(app.secure_cookie);
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/sign-in".to_owned()), (header::SET_COOKIE, cookie)]).into_response()
}
