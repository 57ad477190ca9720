//! Who is calling: bearer tokens (JWT, HS256 pinned; `exp`, `iss`, `aud` and `sub` required and checked,
//! `nbf` checked when present) verified into an [`Actor`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use domain_kernel::{Actor, Role, parse_uuid};

use crate::errors::ServiceError;

/// The actor as the event log records it on every event.
pub fn log_actor(actor: &Actor) -> event_log::Actor {
    event_log::Actor {
        subject: actor.subject.clone(),
        role: actor.role.as_str().to_owned(),
        organisation: actor.organisation.clone().unwrap_or_default(),
    }
}

/// The claims of a platform token.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org: Option<String>,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    /// Not valid before this time (seconds since the epoch), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
}

/// Clock skew tolerated between issuer and service, for both `exp` and `nbf`, in seconds.
pub const CLOCK_LEEWAY_SECONDS: u64 = 30;

/// Shortest accepted HS256 secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// How tokens are signed and checked.
#[derive(Clone)]
pub struct JwtConfig {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the JWT secret must be at least {MIN_SECRET_LEN} bytes")]
    SecretTooShort,
    #[error("`{field}` {rule}")]
    Invalid { field: &'static str, rule: &'static str },
    #[error("token key or signature failed: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

impl JwtConfig {
    pub fn validate(&self) -> Result<(), IdentityError> {
        if self.secret.len() < MIN_SECRET_LEN {
            return Err(IdentityError::SecretTooShort);
        }
        if self.issuer.is_empty() {
            return Err(IdentityError::Invalid { field: "jwt_issuer", rule: "must not be empty" });
        }
        if self.audience.is_empty() {
            return Err(IdentityError::Invalid { field: "jwt_audience", rule: "must not be empty" });
        }
        Ok(())
    }
}

/// Verifies bearer tokens into actors.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").field("validation", &self.validation).finish()
    }
}

impl TokenVerifier {
    pub fn new(config: &JwtConfig) -> Result<TokenVerifier, IdentityError> {
        config.validate()?;
        // The algorithm is pinned: a token whose header names another algorithm (including "none") is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // A token that is not valid yet is refused like an expired one, with the same leeway.
        validation.validate_nbf = true;
        validation.leeway = CLOCK_LEEWAY_SECONDS;
        let key = DecodingKey::from_secret(&config.secret).map_err(IdentityError::Signing)?;
        Ok(TokenVerifier { key, validation })
    }

    /// Verifies a token (without the `Bearer ` prefix).
    pub fn verify(&self, token: &str) -> Result<Actor, ServiceError> {
        self.check(token).map_err(ServiceError::from)
    }

    /// Verifies the value of an `authorization` header (`Bearer <token>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Actor, ServiceError> {
        self.check_header(header).map_err(ServiceError::from)
    }

    /// [`TokenVerifier::verify_header`], with the reason of a refusal as a short label.
    pub fn check_header(&self, header: Option<&str>) -> Result<Actor, TokenRefused> {
        let header = header.ok_or_else(|| TokenRefused::new("missing", "missing `authorization: Bearer <token>`"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| TokenRefused::new("not_bearer", "`authorization` must be `Bearer <token>`"))?;
        self.check(token.trim())
    }

    fn check(&self, token: &str) -> Result<Actor, TokenRefused> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            let (reason, words) = refusal_reason(e.kind());
            TokenRefused { reason, message: format!("bearer token refused: {words}") }
        })?;
        let claims = data.claims;
        let refused = |reason, m: &str| TokenRefused { reason, message: format!("bearer token refused: {m}") };
        if claims.sub.is_empty() {
            return Err(refused("empty_subject", "`sub` must not be empty"));
        }
        let role = Role::parse(&claims.role).ok_or_else(|| refused("unknown_role", "`role` is not a known role"))?;
        let organisation = claims.org.filter(|o| !o.is_empty());
        if role == Role::Partner {
            match &organisation {
                None => return Err(refused("partner_without_organisation", "`org` is required for partners")),
                Some(org) if parse_uuid("org", org).is_err() => {
                    return Err(refused("organisation_not_uuid", "`org` must be a UUID"));
                }
                Some(_) => {}
            }
        }
        Ok(Actor { subject: claims.sub, role, organisation })
    }
}

/// A bearer token refused: `UNAUTHENTICATED` with `message`; `reason` is a short label for counting
/// refusals (see [`TOKEN_REFUSAL_REASONS`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRefused {
    pub reason: &'static str,
    pub message: String,
}

impl TokenRefused {
    fn new(reason: &'static str, message: &str) -> TokenRefused {
        TokenRefused { reason, message: message.to_owned() }
    }
}

impl From<TokenRefused> for ServiceError {
    fn from(refused: TokenRefused) -> ServiceError {
        ServiceError::Unauthenticated(refused.message)
    }
}

/// Every reason label a refused token is counted under.
pub const TOKEN_REFUSAL_REASONS: [&str; 16] = [
    "missing",
    "not_bearer",
    "expired",
    "not_yet_valid",
    "bad_signature",
    "wrong_issuer",
    "wrong_audience",
    "wrong_algorithm",
    "missing_claim",
    "malformed_claim",
    "malformed",
    "empty_subject",
    "unknown_role",
    "partner_without_organisation",
    "organisation_not_uuid",
    "other",
];

/// Why a token was refused: a label, and words a caller can act on (the library's own names are Rust
/// identifiers).
fn refusal_reason(kind: &jsonwebtoken::errors::ErrorKind) -> (&'static str, String) {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::ExpiredSignature => ("expired", "it has expired (`exp`)".into()),
        ErrorKind::ImmatureSignature => ("not_yet_valid", "it is not valid yet (`nbf` lies in the future)".into()),
        ErrorKind::InvalidSignature => ("bad_signature", "its signature does not verify".into()),
        ErrorKind::InvalidIssuer => ("wrong_issuer", "`iss` is not the expected issuer".into()),
        ErrorKind::InvalidAudience => ("wrong_audience", "`aud` is not the expected audience".into()),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => {
            ("wrong_algorithm", "it must be signed with HS256".into())
        }
        ErrorKind::MissingRequiredClaim(claim) => ("missing_claim", format!("the `{claim}` claim is required")),
        ErrorKind::InvalidClaimFormat(claim) => ("malformed_claim", format!("the `{claim}` claim is malformed")),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            ("malformed", format!("it is not a well-formed JWT ({kind:?})"))
        }
        other => ("other", format!("it is not a well-formed JWT ({other:?})")),
    }
}

/// Signs tokens; used by the development token command and by tests.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer").field("issuer", &self.issuer).field("audience", &self.audience).finish()
    }
}

impl TokenIssuer {
    pub fn new(config: &JwtConfig) -> Result<TokenIssuer, IdentityError> {
        config.validate()?;
        Ok(TokenIssuer {
            key: EncodingKey::from_secret(&config.secret).map_err(IdentityError::Signing)?,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// A token for `subject` in `role`, valid from now for `ttl`.
    pub fn issue(
        &self,
        role: Role,
        subject: &str,
        organisation: Option<&str>,
        ttl: Duration,
    ) -> Result<String, IdentityError> {
        self.issue_valid_from(role, subject, organisation, None, ttl)
    }

    /// A token that is valid only from `not_before` (its `nbf` claim) until `ttl` after it; `None` means
    /// from now, without an `nbf` claim.
    pub fn issue_valid_from(
        &self,
        role: Role,
        subject: &str,
        organisation: Option<&str>,
        not_before: Option<SystemTime>,
        ttl: Duration,
    ) -> Result<String, IdentityError> {
        if subject.is_empty() {
            return Err(IdentityError::Invalid { field: "subject", rule: "must not be empty" });
        }
        if role == Role::Partner && organisation.is_none_or(|o| parse_uuid("org", o).is_err()) {
            return Err(IdentityError::Invalid { field: "organisation", rule: "must be a UUID for partners" });
        }
        let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let now = seconds(SystemTime::now());
        let nbf = not_before.map(seconds);
        let claims = Claims {
            sub: subject.to_owned(),
            role: role.as_str().to_owned(),
            org: organisation.map(str::to_owned),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: nbf.unwrap_or(now) + ttl.as_secs(),
            iat: now,
            nbf,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key).map_err(IdentityError::Signing)
    }
}

/// Issues a development token (see `grants token`).
pub fn issue_dev_token(
    config: &JwtConfig,
    role: Role,
    subject: &str,
    organisation: Option<&str>,
    ttl: Duration,
) -> Result<String, IdentityError> {
    TokenIssuer::new(config)?.issue(role, subject, organisation, ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> JwtConfig {
        JwtConfig { secret: vec![7; 32], issuer: "iss".into(), audience: "aud".into() }
    }

    const ORG: &str = "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab";

    #[test]
    fn issued_tokens_verify_into_the_actor() {
        let token = issue_dev_token(&config(), Role::Partner, "alice", Some(ORG), Duration::from_secs(60)).unwrap();
        let actor = TokenVerifier::new(&config()).unwrap().verify_header(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(actor, Actor { subject: "alice".into(), role: Role::Partner, organisation: Some(ORG.into()) });
    }

    #[test]
    fn wrong_key_issuer_audience_algorithm_or_expiry_is_unauthenticated() {
        let verifier = TokenVerifier::new(&config()).unwrap();
        let ttl = Duration::from_secs(60);
        let other = |f: fn(&mut JwtConfig)| {
            let mut c = config();
            f(&mut c);
            issue_dev_token(&c, Role::Auditor, "a", None, ttl).unwrap()
        };
        for token in [
            other(|c| c.secret = vec![8; 32]),
            other(|c| c.issuer = "other".into()),
            other(|c| c.audience = "other".into()),
        ] {
            assert!(matches!(verifier.verify(&token), Err(ServiceError::Unauthenticated(_))));
        }
        // HS384 with the right key: refused because the algorithm is pinned.
        let claims = Claims {
            sub: "a".into(),
            role: "auditor".into(),
            org: None,
            iss: "iss".into(),
            aud: "aud".into(),
            exp: u64::MAX / 2,
            iat: 0,
            nbf: None,
        };
        let hs384 =
            jsonwebtoken::encode(&Header::new(Algorithm::HS384), &claims, &EncodingKey::from_secret(&[7; 32]).unwrap())
                .unwrap();
        assert!(verifier.verify(&hs384).is_err());
        // Expired long ago.
        let expired = Claims { exp: 1_000, ..claims };
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(&[7; 32]).unwrap(),
        )
        .unwrap();
        assert!(verifier.verify(&expired).is_err());
        assert!(verifier.verify_header(None).is_err());
        assert!(verifier.verify_header(Some("Basic abc")).is_err());
    }

    #[test]
    fn a_token_is_refused_until_its_not_before_time_within_the_leeway() {
        let verifier = TokenVerifier::new(&config()).unwrap();
        let issuer = TokenIssuer::new(&config()).unwrap();
        let ttl = Duration::from_secs(7_200);
        let from = |offset: Duration| {
            issuer.issue_valid_from(Role::Auditor, "a", None, Some(SystemTime::now() + offset), ttl).unwrap()
        };
        let refused = verifier.verify(&from(Duration::from_secs(3_600))).unwrap_err();
        assert!(matches!(&refused, ServiceError::Unauthenticated(m) if m.contains("not valid yet")), "{refused}");
        // Within the leeway, as for `exp`: clocks of issuer and service may differ a little.
        assert!(verifier.verify(&from(Duration::from_secs(CLOCK_LEEWAY_SECONDS / 2))).is_ok());
        let past = issuer.issue_valid_from(Role::Auditor, "a", None, Some(SystemTime::now() - ttl / 2), ttl).unwrap();
        assert!(verifier.verify(&past).is_ok());
    }

    #[test]
    fn partners_need_an_organisation_and_secrets_a_minimum_length() {
        assert!(issue_dev_token(&config(), Role::Partner, "p", None, Duration::from_secs(60)).is_err());
        let short = JwtConfig { secret: vec![1; 8], ..config() };
        assert!(matches!(TokenVerifier::new(&short), Err(IdentityError::SecretTooShort)));
    }
}
