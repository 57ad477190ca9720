//! HTTP: the routes, the signed-in viewer, the headers every answer carries, one log line per request, and
//! how a service's refusal becomes a page.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use domain_kernel::Role;
use event_log::Head;
use maud::Markup;
use service_runtime::TokenVerifier;

use crate::backend::Backend;
use crate::layout;
use crate::pages;
use crate::point::{BadDate, PagePoint};
use crate::session::{self, Session, Sessions};
use crate::{Config, DashboardError};

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct App(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub backend: Backend,
    pub sessions: Sessions,
    pub verifier: TokenVerifier,
    pub secure_cookie: bool,
    pub session_lifetime: Duration,
    /// Each service's checkpoint public key, when the operator gave it: checkpoints must be signed by it.
    pub checkpoint_keys: BTreeMap<String, [u8; 32]>,
    /// The last head of each log that verified here: a later check that does not pass through it shows the
    /// log was rewritten or cut since.
    verified_heads: Mutex<HashMap<String, Head>>,
    /// Taken by an integrity check for its whole run (each reads every log in full).
    pub integrity_turn: tokio::sync::Mutex<()>,
}

impl Shared {
    pub fn checkpoint_key(&self, service: &str) -> Option<[u8; 32]> {
        self.checkpoint_keys.get(service).copied()
    }

    pub fn verified_head(&self, service: &str) -> Option<Head> {
        self.verified_heads.lock().unwrap_or_else(PoisonError::into_inner).get(service).cloned()
    }

    pub fn remember_verified_head(&self, service: &str, head: Head) {
        self.verified_heads.lock().unwrap_or_else(PoisonError::into_inner).insert(service.to_owned(), head);
    }
}

impl std::ops::Deref for App {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Every page and form of the dashboard.
pub fn router(config: Config) -> Result<Router, DashboardError> {
    let verifier =
        TokenVerifier::new(&config.jwt).map_err(|e| DashboardError::Config(format!("the token settings: {e}")))?;
    let app = App(Arc::new(Shared {
        backend: Backend::new(&config)?,
        sessions: Sessions::new(config.session_lifetime),
        verifier,
        secure_cookie: config.secure_cookie,
        session_lifetime: config.session_lifetime,
        checkpoint_keys: config.checkpoint_keys.clone(),
        verified_heads: Mutex::default(),
        integrity_turn: tokio::sync::Mutex::default(),
    }));
    Ok(Router::new()
        .route("/", get(home))
        .route("/sign-in", get(pages::sign_in::form).post(pages::sign_in::submit))
        .route("/sign-out", axum::routing::post(pages::sign_in::sign_out))
        .route("/overview", get(pages::overview::page))
        .route("/pipeline", get(pages::pipeline::page))
        .route("/portfolios", get(pages::portfolios::list))
        .route("/portfolios/{organisation_id}", get(pages::portfolios::one))
        .route("/results", get(pages::results::page))
        .route("/grants/award/{award_id}", get(pages::timeline::by_award))
        .route("/grants/application/{application_id}", get(pages::timeline::by_application))
        .route("/integrity", get(pages::integrity::page))
        .route("/assets/style.css", get(stylesheet))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(middleware::from_fn(headers_and_log))
        .with_state(app))
}

async fn home(viewer: Option<Viewer>) -> Redirect {
    match viewer {
        Some(_) => Redirect::to("/overview"),
        None => Redirect::to("/sign-in"),
    }
}

async fn not_found(State(app): AppState, viewer: Option<Viewer>) -> Response {
    PageError::NotFound("There is no such page.".into()).page(viewer.as_ref(), app.secure_cookie)
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLE)
}

const STYLE: &str = include_str!("../assets/style.css");

/// Nothing from another origin, no scripts, no framing; pages hold program data, so no caching either.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                                       frame-ancestors 'none'; base-uri 'none'";

/// The security headers of every answer, and one log line per request: method, route (its pattern, never
/// the path with ids, nor the query), status and duration. Cookies and tokens are never logged.
async fn headers_and_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map_or("(none)", |p| p.as_str()).to_owned();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// The signed-in person making a request.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub session_id: String,
    pub session: Session,
}

impl Viewer {
    pub fn token(&self) -> &str {
        &self.session.token
    }

    pub fn role(&self) -> Role {
        self.session.actor.role
    }

    /// The organisation a partner acts for.
    pub fn partner_of(&self) -> Option<&str> {
        match self.role() {
            Role::Partner => self.session.actor.organisation.as_deref(),
            _ => None,
        }
    }

    /// Whether the role sees program-wide views (pipelines, every portfolio), as the projector allows.
    pub fn is_staff(&self) -> bool {
        matches!(self.role(), Role::ProgramOfficer | Role::FinanceOfficer | Role::Auditor | Role::Administrator)
    }

    /// Whether the role may read the logs (and the bus status), as the services allow.
    pub fn reads_logs(&self) -> bool {
        matches!(self.role(), Role::ProgramOfficer | Role::Auditor | Role::Administrator)
    }
}

impl FromRequestParts<App> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Viewer, Response> {
        let cookies = parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
        let session = session::id_in(cookies).and_then(|id| app.sessions.get(&id).map(|s| (id, s)));
        match session {
            Some((session_id, session)) => Ok(Viewer { session_id, session }),
            None => Err(Redirect::to("/sign-in").into_response()),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<App> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Option<Viewer>, Self::Rejection> {
        Ok(<Viewer as FromRequestParts<App>>::from_request_parts(parts, app).await.ok())
    }
}

/// The query every page takes.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    pub as_of: Option<String>,
    pub round: Option<String>,
}

impl PageQuery {
    /// The point the page is shown at.
    pub fn point(&self) -> Result<PagePoint, PageError> {
        PagePoint::parse(self.as_of.as_deref(), time::OffsetDateTime::now_utc().date())
            .map_err(|e: BadDate| PageError::BadRequest(e.to_string()))
    }

    /// The round filter, if one is chosen.
    pub fn round(&self) -> Option<&str> {
        self.round.as_deref().map(str::trim).filter(|r| !r.is_empty())
    }
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub enum PageError {
    /// The object does not exist, or the viewer may not see it (the services do not tell which).
    NotFound(String),
    /// The viewer's role may not see the page.
    Forbidden(String),
    /// The request itself is wrong (a bad date, a malformed id): the message names the field and the rule.
    BadRequest(String),
    /// The services no longer accept the viewer's token.
    SignedOut,
    /// A service could not answer.
    Unavailable(String),
}

impl PageError {
    /// What `service` answering `status` means for the page.
    pub fn from_status(service: &str, status: &tonic::Status) -> PageError {
        use tonic::Code;
        let message = status.message();
        match status.code() {
            Code::NotFound => PageError::NotFound(format!("Not found, or not yours to see ({message}).")),
            Code::PermissionDenied => PageError::Forbidden(format!("Your role may not see this ({message}).")),
            Code::Unauthenticated => PageError::SignedOut,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                PageError::BadRequest(message.to_owned())
            }
            code => PageError::Unavailable(format!("The {service} service could not answer ({code:?}: {message}).")),
        }
    }

    /// What went wrong, in a sentence, for a part of a page that could not be shown.
    pub fn describe(&self) -> String {
        match self {
            PageError::NotFound(m) | PageError::Forbidden(m) | PageError::BadRequest(m) | PageError::Unavailable(m) => {
                m.clone()
            }
            PageError::SignedOut => "the services no longer accept your sign-in.".to_owned(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::SignedOut => StatusCode::UNAUTHORIZED,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error as a page for `viewer` (the session cookie, if it is removed, marked `Secure` as configured).
    pub fn page(self, viewer: Option<&Viewer>, secure_cookie: bool) -> Response {
        let status = self.status();
        let (title, message) = match self {
            PageError::SignedOut => {
                let cookie = session::removal_cookie(secure_cookie);
                return (
                    StatusCode::SEE_OTHER,
                    [(header::LOCATION, "/sign-in".to_owned()), (header::SET_COOKIE, cookie)],
                )
                    .into_response();
            }
            PageError::NotFound(m) => ("Not found", m),
            PageError::Forbidden(m) => ("Not for your role", m),
            PageError::BadRequest(m) => ("Cannot show this", m),
            PageError::Unavailable(m) => ("A service is unavailable", m),
        };
        let body = layout::error_page(viewer, status.as_u16(), title, &message);
        (status, body).into_response()
    }
}

/// A page's result: its HTML, or why not.
pub type PageResult = Result<Markup, PageError>;

/// Answers a page for `viewer`; a token the services no longer accept ends the session here too.
pub fn respond(app: &App, viewer: &Viewer, result: PageResult) -> Response {
    match result {
        Ok(markup) => markup.into_response(),
        Err(error) => {
            if matches!(error, PageError::SignedOut) {
                app.sessions.close(&viewer.session_id);
            }
            error.page(Some(viewer), app.secure_cookie)
        }
    }
}

/// Whether a form was posted from the dashboard's own pages. Browsers say so in `Sec-Fetch-Site`; one too
/// old to send it is judged by `Origin`, which must then name this host (pages are served with
/// `Referrer-Policy: no-referrer`, under which such a browser may send `Origin: null`, refused here). A
/// client that is not a browser sends neither and cannot be led by another site. So a form on another site
/// cannot sign anyone in or out here.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else {
        return true;
    };
    let host = text(header::HOST.as_str()).unwrap_or_default();
    let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
    !host.is_empty() && authority == host
}

/// Whether a request says where it comes from (`Sec-Fetch-Site` or `Origin`), as every browser that may
/// sign in does: a sign-in without either is refused, so that no page of another site can sign an old
/// browser in as someone else.
pub fn from_a_browser(headers: &HeaderMap) -> bool {
    headers.contains_key("sec-fetch-site") || headers.contains_key(header::ORIGIN)
}

/// The state, for handlers.
pub type AppState = State<App>;

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_forms_of_the_same_origin_are_taken() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[host])));
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8080"), ("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[host, ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("origin", "http://127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[host, ("origin", "null"), ("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!from_a_browser(&headers(&[host])));
        assert!(from_a_browser(&headers(&[host, ("sec-fetch-site", "same-origin")])));
    }
}
