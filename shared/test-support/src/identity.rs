//! The token settings every service runs with in tests, tokens for a role, and requests that carry them.

use std::time::Duration;

use domain_kernel::Role;
use service_runtime::{JwtConfig, TokenIssuer};

/// The JWT settings of every service a test starts, so that one token is accepted by all of them.
pub fn jwt() -> JwtConfig {
    JwtConfig {
        secret: b"test-secret-test-secret-test-secret".to_vec(),
        issuer: "grants-test".into(),
        audience: "grants".into(),
    }
}

/// A token for `subject` in `role` (partners name their `organisation`), valid for ten minutes.
pub fn token(role: Role, subject: &str, organisation: Option<&str>) -> String {
    TokenIssuer::new(&jwt()).unwrap().issue(role, subject, organisation, Duration::from_secs(600)).unwrap()
}

/// A token for `subject` in `role` that becomes valid only an hour from now (`nbf`).
pub fn token_not_yet_valid(role: Role, subject: &str, organisation: Option<&str>) -> String {
    let from = std::time::SystemTime::now() + Duration::from_secs(3_600);
    TokenIssuer::new(&jwt())
        .unwrap()
        .issue_valid_from(role, subject, organisation, Some(from), Duration::from_secs(600))
        .unwrap()
}

/// A request with a bearer token.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_its_token_as_a_bearer() {
        let token = token(Role::Auditor, "auditor-1", None);
        let request = authed((), &token);
        let header = request.metadata().get("authorization").unwrap().to_str().unwrap();
        assert_eq!(header, format!("Bearer {token}"));
    }
}
