//! Sessions: a bearer token exchanged at sign-in for a random session id in an HttpOnly, SameSite=Strict
//! cookie. The token never reaches the browser again; it is kept here, in memory only (a restart signs
//! everyone out), and sent with every gRPC call so that the services apply their own rules.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cookie::{Cookie, SameSite};
use domain_kernel::Actor;

/// The session cookie's name.
pub const COOKIE: &str = "grants_dashboard_session";

/// At most this many sessions are open at once; signing in beyond it is refused until some expire or end
/// (refused rather than evicting the oldest, so that no one can sign everyone else out by signing in).
const MAX_SESSIONS: usize = 10_000;

/// One signed-in person.
#[derive(Clone, Debug)]
pub struct Session {
    /// The bearer token, sent with every call made for this session.
    pub token: String,
    pub actor: Actor,
    expires: Instant,
}

/// Every open session, by id.
#[derive(Debug)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
    lifetime: Duration,
}

impl Sessions {
    pub fn new(lifetime: Duration) -> Sessions {
        Sessions { open: Mutex::new(HashMap::new()), lifetime }
    }

    /// Opens a session for `actor` holding `token`; its id, for the cookie. `None` when [`MAX_SESSIONS`] are
    /// open.
    pub fn open(&self, token: String, actor: Actor) -> Option<String> {
        let mut bytes = [0u8; 32];
        // Without randomness no session id is safe to hand out: failing loudly is the only right answer.
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        let id = hex::encode(bytes);
        let now = Instant::now();
        let mut open = self.lock();
        open.retain(|_, s| s.expires > now);
        if open.len() >= MAX_SESSIONS {
            return None;
        }
        open.insert(id.clone(), Session { token, actor, expires: now + self.lifetime });
        Some(id)
    }

    /// The live session `id` names, if any.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut open = self.lock();
        match open.get(id) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                open.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `id` (signing out, or a token the services no longer accept).
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the map leaves it consistent (every change is one call): keep serving.
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The `Set-Cookie` value that hands session `id` to the browser.
pub fn cookie_for(id: &str, secure: bool, lifetime: Duration) -> String {
    Cookie::build((COOKIE, id.to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn removal_cookie(secure: bool) -> String {
    Cookie::build((COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// The session id in a request's `Cookie` headers, if it carries one.
pub fn id_in<'a>(cookie_headers: impl IntoIterator<Item = &'a str>) -> Option<String> {
    cookie_headers
        .into_iter()
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use domain_kernel::Role;

    use super::*;

    fn actor() -> Actor {
        Actor { subject: "officer-1".into(), role: Role::ProgramOfficer, organisation: None }
    }

    #[test]
    fn a_session_is_found_by_its_id_until_it_is_closed() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.open("token".into(), actor()).unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(sessions.get(&id).unwrap().token, "token");
        assert!(sessions.get("another").is_none());
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn signing_in_beyond_the_limit_is_refused_without_ending_anyone_elses_session() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let first = sessions.open("token".into(), actor()).unwrap();
        for _ in 1..MAX_SESSIONS {
            sessions.open("token".into(), actor()).unwrap();
        }
        assert!(sessions.open("token".into(), actor()).is_none());
        assert!(sessions.get(&first).is_some(), "the first session is still open");
        sessions.close(&first);
        assert!(sessions.open("token".into(), actor()).is_some(), "a slot is free again");
    }

    #[test]
    fn an_expired_session_is_gone() {
        let sessions = Sessions::new(Duration::ZERO);
        let id = sessions.open("token".into(), actor()).unwrap();
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_same_site_strict_and_found_among_others() {
        let set = cookie_for("abc", false, Duration::from_secs(3600));
        assert!(set.starts_with("grants_dashboard_session=abc"), "{set}");
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
        assert!(!set.contains("Secure"), "{set}");
        assert!(cookie_for("abc", true, Duration::from_secs(1)).contains("Secure"));
        assert!(removal_cookie(false).contains("Max-Age=0"));
        assert_eq!(id_in(["theme=dark; grants_dashboard_session=xyz", "other=1"]), Some("xyz".into()));
        assert_eq!(id_in(["grants_dashboard_session="]), None);
        assert_eq!(id_in(Vec::<&str>::new()), None);
    }
}
