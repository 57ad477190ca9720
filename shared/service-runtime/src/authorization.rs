//! Which role may call which RPC: one [`AccessTable`] per service, deny by default, enforced in one place
//! ([`AuthLayer`]) for every request before it reaches a handler. Rules about *which objects* an actor may
//! touch (partners only their own organisation's) belong to the service, which knows the objects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::body::Body;

use domain_kernel::{Actor, Role};

use crate::errors::ServiceError;
use crate::identity::TokenVerifier;

/// gRPC services that every server exposes without a token (probes and tooling).
pub const PUBLIC_SERVICES: [&str; 3] =
    ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

/// The RPCs of [`PUBLIC_SERVICES`].
const PUBLIC_RPCS: [&str; 4] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The roles allowed to call each RPC of one gRPC service. An RPC that is not in the table is denied to all.
#[derive(Clone, Debug)]
pub struct AccessTable {
    service: &'static str,
    rules: BTreeMap<&'static str, Vec<Role>>,
}

impl AccessTable {
    /// An empty table (everything denied) for the service with this full name, e.g.
    /// `grants.applications.v1.ApplicationsService`.
    pub fn new(service: &'static str) -> AccessTable {
        AccessTable { service, rules: BTreeMap::new() }
    }

    /// Allows `roles` to call `method` (the RPC's name, e.g. `OpenRound`).
    pub fn allow(mut self, method: &'static str, roles: &[Role]) -> AccessTable {
        self.rules.entry(method).or_default().extend_from_slice(roles);
        self
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The RPC names the table has rules for.
    pub fn methods(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.rules.keys().copied()
    }

    pub fn is_allowed(&self, method: &str, role: Role) -> bool {
        self.rules.get(method).is_some_and(|roles| roles.contains(&role))
    }

    /// Checks `actor` against the rule for `method`.
    pub fn check(&self, method: &str, actor: &Actor) -> Result<(), ServiceError> {
        if self.is_allowed(method, actor.role) {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied(format!(
                "role `{}` may not call {}/{}",
                actor.role, self.service, method
            )))
        }
    }
}

/// Who may read a service's whole log and how its bus stands: a log holds every organisation's history, so
/// partners, reviewers and finance officers may not; auditors replay it, program officers and
/// administrators operate the platform (the projector reads with an administrator's token).
const LOG_READERS: [Role; 3] = [Role::Auditor, Role::Administrator, Role::ProgramOfficer];

/// Who may read a service's whole event log (`grants.eventlog.v1.EventLogService`): [`LOG_READERS`].
pub fn log_access_table() -> AccessTable {
    ["ReadStream", "ReadAll", "Subscribe", "GetHead"]
        .into_iter()
        .fold(AccessTable::new(event_log_grpc::SERVICE_NAME), |table, method| table.allow(method, &LOG_READERS))
}

/// Who may ask how a service's bus stands (`grants.operations.v1.OperationsService`): the log's readers,
/// since its figures are positions in the logs.
pub fn operations_access_table() -> AccessTable {
    AccessTable::new(contracts::operations::v1::SERVICE_NAME).allow("GetBusStatus", &LOG_READERS)
}

/// The actor of the current request, as put into the request's extensions by [`AuthLayer`].
pub fn actor_of<T>(request: &tonic::Request<T>) -> Result<Actor, ServiceError> {
    request
        .extensions()
        .get::<Actor>()
        .cloned()
        .ok_or_else(|| ServiceError::internal("request reached a handler without an authenticated actor"))
}

/// A tower layer that authenticates every request (bearer token into [`Actor`]) and authorises it
/// against the access tables, except for [`PUBLIC_SERVICES`]. The actor is put into the request's
/// extensions for handlers ([`actor_of`]).
#[derive(Clone, Debug)]
pub struct AuthLayer {
    verifier: Arc<TokenVerifier>,
    tables: Arc<Vec<AccessTable>>,
    /// Counts refused tokens by reason, and gRPC requests (see `server::serve`).
    metrics: Option<crate::metrics::Metrics>,
}

impl AuthLayer {
    /// A layer enforcing the service's `tables` and, since every server also serves its event log
    /// read-only and its bus's status, [`log_access_table`] and [`operations_access_table`].
    pub fn new(verifier: TokenVerifier, mut tables: Vec<AccessTable>) -> AuthLayer {
        tables.extend([log_access_table(), operations_access_table()]);
        AuthLayer { verifier: Arc::new(verifier), tables: Arc::new(tables), metrics: None }
    }

    /// Counts refused tokens by reason into `metrics`; the server then also counts every request there.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> AuthLayer {
        self.metrics = Some(metrics);
        self
    }

    pub fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.metrics.as_ref()
    }

    /// Whether `path` (`/package.Service/Method`) is an RPC of a table or of the public services.
    pub fn serves(&self, path: &str) -> bool {
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
        PUBLIC_RPCS.contains(&path) || self.tables.iter().any(|t| t.service == service && t.rules.contains_key(method))
    }

    /// Decides a request for `path` (`/package.Service/Method`) with this `authorization` header.
    pub fn authorise(&self, path: &str, authorization: Option<&str>) -> Result<Option<Actor>, ServiceError> {
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
        if PUBLIC_SERVICES.contains(&service) {
            return Ok(None);
        }
        let actor = self.verifier.check_header(authorization).map_err(|refused| {
            if let Some(metrics) = &self.metrics {
                metrics.token_refused(refused.reason);
            }
            ServiceError::from(refused)
        })?;
        match self.tables.iter().find(|t| t.service == service) {
            Some(table) => table.check(method, &actor)?,
            None => return Err(ServiceError::PermissionDenied(format!("no access rules for {service}"))),
        }
        Ok(Some(actor))
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { layer: self.clone(), inner }
    }
}

/// See [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    layer: AuthLayer,
    inner: S,
}

impl<S> tower::Service<http::Request<Body>> for AuthService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let header = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        match self.layer.authorise(request.uri().path(), header) {
            Ok(actor) => {
                if let Some(actor) = actor {
                    tracing::debug!(subject = %actor.subject, role = %actor.role, path = request.uri().path(), "authorised");
                    crate::request_log::note_actor(&actor.subject);
                    request.extensions_mut().insert(actor);
                }
                // Take the service that was polled ready; leave a fresh clone in its place.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(inner.call(request))
            }
            Err(e) => {
                let status = tonic::Status::from(e);
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::identity::{JwtConfig, TokenIssuer};

    fn config() -> JwtConfig {
        JwtConfig { secret: vec![3; 32], issuer: "i".into(), audience: "a".into() }
    }

    fn layer() -> AuthLayer {
        let table = AccessTable::new("pkg.Service").allow("Read", &Role::ALL).allow("Write", &[Role::ProgramOfficer]);
        AuthLayer::new(TokenVerifier::new(&config()).unwrap(), vec![table])
    }

    fn bearer(role: Role) -> String {
        let token = TokenIssuer::new(&config()).unwrap().issue(role, "s", None, Duration::from_secs(60)).unwrap();
        format!("Bearer {token}")
    }

    #[test]
    fn deny_by_default_and_public_probes() {
        let layer = layer();
        let officer = bearer(Role::ProgramOfficer);
        let auditor = bearer(Role::Auditor);
        assert!(layer.authorise("/pkg.Service/Write", Some(&officer)).unwrap().is_some());
        assert!(matches!(
            layer.authorise("/pkg.Service/Write", Some(&auditor)),
            Err(ServiceError::PermissionDenied(_))
        ));
        assert!(layer.authorise("/pkg.Service/Read", Some(&auditor)).is_ok());
        // Not in the table, or another service: denied.
        assert!(matches!(
            layer.authorise("/pkg.Service/Other", Some(&officer)),
            Err(ServiceError::PermissionDenied(_))
        ));
        assert!(matches!(layer.authorise("/pkg.Unknown/Read", Some(&officer)), Err(ServiceError::PermissionDenied(_))));
        // No token: unauthenticated, before any rule is looked at.
        assert!(matches!(layer.authorise("/pkg.Service/Read", None), Err(ServiceError::Unauthenticated(_))));
        assert!(layer.authorise("/grpc.health.v1.Health/Check", None).unwrap().is_none());
    }

    #[test]
    fn the_bus_status_is_for_those_who_may_read_the_log() {
        let (operations, log) = (operations_access_table(), log_access_table());
        for role in Role::ALL {
            let allowed = operations.is_allowed("GetBusStatus", role);
            assert_eq!(allowed, log.is_allowed("GetHead", role), "{role}");
            assert_eq!(allowed, matches!(role, Role::Auditor | Role::Administrator | Role::ProgramOfficer), "{role}");
        }
        let path = format!("/{}/GetBusStatus", contracts::operations::v1::SERVICE_NAME);
        let refused = layer().authorise(&path, Some(&bearer(Role::FinanceOfficer)));
        assert!(matches!(refused, Err(ServiceError::PermissionDenied(_))), "{refused:?}");
        assert!(layer().authorise(&path, Some(&bearer(Role::Auditor))).unwrap().is_some());
    }

    #[test]
    fn the_paths_served_are_those_of_the_tables_and_the_public_services() {
        let layer = layer();
        for served in ["/pkg.Service/Read", "/pkg.Service/Write", "/grpc.health.v1.Health/Check"] {
            assert!(layer.serves(served), "{served}");
        }
        assert!(layer.serves(&format!("/{}/ReadAll", event_log_grpc::SERVICE_NAME)), "the log is served too");
        let operations = contracts::operations::v1::SERVICE_NAME;
        assert!(layer.serves(&format!("/{operations}/GetBusStatus")), "the bus's status is served too");
        for other in ["/pkg.Service/Other", "/pkg.Unknown/Read", "/grpc.health.v1.Health/Nope", "/", ""] {
            assert!(!layer.serves(other), "{other}");
        }
    }
}
