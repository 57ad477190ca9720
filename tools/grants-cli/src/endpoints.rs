//! Where the services are and how to authenticate to them.

use contracts::names::service;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};
use domain_kernel::Role;
use event_log::TraceContext;
use event_log_grpc::LogClient;
use service_runtime::identity::{JwtConfig, issue_dev_token};

/// The platform's services, in the order commands visit them, at the addresses `deploy/local/start` gives
/// them on its default ports.
const DEFAULT_ENDPOINTS: [(&str, &str); 4] = [
    (service::APPLICATIONS, "http://127.0.0.1:50051"),
    (service::AWARDS, "http://127.0.0.1:50052"),
    (service::REPORTING, "http://127.0.0.1:50053"),
    (service::PROJECTOR, "http://127.0.0.1:50054"),
];

#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// A service's address, as NAME=URL; repeat for each service, or list them comma-separated in
    /// GRANTS_ENDPOINTS (`deploy/local/start` prints that line). Without any, the local platform's default
    /// ports: applications=http://127.0.0.1:50051, awards …:50052, reporting …:50053, projector …:50054.
    /// With some, only those: a command needing another service says so instead of guessing its address.
    #[arg(long = "endpoint", value_name = "NAME=URL", env = "GRANTS_ENDPOINTS", value_delimiter = ',', global = true)]
    endpoints: Vec<String>,
    /// Bearer token of an auditor (or administrator or program officer).
    #[arg(long, env = "GRANTS_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Without --token: issue a short-lived auditor token with this development secret.
    #[arg(long, env = "GRANTS_JWT_SECRET", hide_env_values = true, global = true)]
    jwt_secret: Option<String>,
    #[arg(long, env = "GRANTS_JWT_ISSUER", default_value = "grants-dev", global = true, hide = true)]
    jwt_issuer: String,
    #[arg(long, env = "GRANTS_JWT_AUDIENCE", default_value = "grants", global = true, hide = true)]
    jwt_audience: String,
    /// PEM CA certificates the services' certificates are checked against: connect over TLS (https://
    /// addresses; the default ones become https:// too). Nothing else is trusted.
    #[arg(long, value_name = "FILE", env = "GRANTS_TLS_CA", global = true)]
    tls_ca: Option<std::path::PathBuf>,
    /// PEM client certificate for services that require one (mutual TLS), with --tls-key. It only admits
    /// the connection: the token stays the caller's identity.
    #[arg(long, value_name = "FILE", env = "GRANTS_TLS_CERT", global = true)]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", env = "GRANTS_TLS_KEY", global = true)]
    tls_key: Option<std::path::PathBuf>,
    /// The files above, read and checked once: every channel a command opens (and every reconnection of
    /// `backup --follow`) takes them from here.
    #[arg(skip)]
    loaded_tls: std::sync::OnceLock<Option<tls::ClientTls>>,
}

impl Connection {
    /// Every service to visit, with its address: those given with `--endpoint` (the platform's in its
    /// order, then any others as given), or, when none is given, the platform's on its default ports.
    pub fn services(&self) -> anyhow::Result<Vec<(String, String)>> {
        let given = self.given();
        if given.is_empty() {
            let scheme = if self.tls_ca.is_some() { "https://" } else { "http://" };
            let url = |u: &str| u.replacen("http://", scheme, 1);
            return Ok(DEFAULT_ENDPOINTS.iter().map(|(n, u)| ((*n).to_owned(), url(u))).collect());
        }
        let mut services: Vec<(String, String)> = Vec::with_capacity(given.len());
        for entry in given {
            let (name, url) = match entry.split_once('=') {
                Some((name, url)) if !name.trim().is_empty() && !url.trim().is_empty() => (name.trim(), url.trim()),
                _ => bail!("`--endpoint {entry}` must be NAME=URL, for example applications=http://127.0.0.1:50051"),
            };
            if services.iter().any(|(n, _)| n == name) {
                bail!("`--endpoint` names `{name}` twice; give each service one address");
            }
            services.push((name.to_owned(), url.to_owned()));
        }
        // Stable: services the platform does not know keep the order they were given in, after its own.
        services.sort_by_key(|(name, _)| DEFAULT_ENDPOINTS.iter().position(|(n, _)| n == name).unwrap_or(usize::MAX));
        Ok(services)
    }

    /// The `--endpoint` entries given; empty ones (an empty GRANTS_ENDPOINTS, a trailing comma) give nothing.
    fn given(&self) -> Vec<&str> {
        self.endpoints.iter().map(|e| e.trim()).filter(|e| !e.is_empty()).collect()
    }

    pub fn url_of(&self, service: &str) -> anyhow::Result<String> {
        let services = self.services()?;
        if let Some((_, url)) = services.iter().find(|(n, _)| n == service) {
            return Ok(url.clone());
        }
        let known: Vec<_> = services.iter().map(|(n, _)| n.as_str()).collect();
        if self.given().is_empty() {
            bail!("`{service}` is not one of {} (add it with --endpoint {service}=URL)", known.join(", "))
        }
        bail!("no address for `{service}`: --endpoint gives only {}; add --endpoint {service}=URL", known.join(", "))
    }

    /// A development token for `role` and `subject`, issued with the configured secret (the demo acts as
    /// several people, so it needs the secret, not one token).
    pub fn issue(&self, role: Role, subject: &str, organisation: Option<&str>) -> anyhow::Result<String> {
        self.issue_for(role, subject, organisation, Duration::from_secs(3600))
    }

    /// A development token valid for `ttl`, issued with the configured secret.
    pub fn issue_for(
        &self,
        role: Role,
        subject: &str,
        organisation: Option<&str>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let Some(config) = self.jwt_config() else {
            bail!("no development secret: pass --jwt-secret (or GRANTS_JWT_SECRET), the services' token secret");
        };
        issue_dev_token(&config, role, subject, organisation, ttl)
            .with_context(|| format!("cannot issue a token for {subject}"))
    }

    /// A gRPC channel to `service`.
    pub async fn channel(&self, service: &str) -> anyhow::Result<tonic::transport::Channel> {
        let url = self.url_of(service)?;
        let endpoint = tonic::transport::Channel::from_shared(url.clone())
            .with_context(|| format!("{service}: `{url}` is not a valid address"))?;
        let endpoint = tls::secure(endpoint, self.tls()?.as_ref()).with_context(|| service.to_owned())?;
        endpoint.connect().await.with_context(|| format!("{service}: cannot connect to {url}"))
    }

    /// The bearer token of an auditor: `--token`, or one issued with the development secret.
    pub fn token(&self) -> anyhow::Result<String> {
        self.token_as(Role::Auditor)
    }

    /// The bearer token for a call that needs `role`: `--token` as given (the service decides whether its
    /// role suffices), or one issued for `role` with the development secret.
    pub fn token_as(&self, role: Role) -> anyhow::Result<String> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        let Some(config) = self.jwt_config() else {
            bail!(
                "no credentials: pass --token (or GRANTS_TOKEN), or --jwt-secret (or GRANTS_JWT_SECRET) to issue one"
            );
        };
        issue_dev_token(&config, role, "grants-cli", None, Duration::from_secs(3600))
            .with_context(|| format!("cannot issue a token for the {role} role"))
    }

    /// The development secret's settings, when a secret is given.
    fn jwt_config(&self) -> Option<JwtConfig> {
        let secret = self.jwt_secret.as_ref()?;
        Some(JwtConfig {
            secret: secret.as_bytes().to_vec(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
        })
    }

    /// A client of `service`'s log.
    pub async fn log_client(&self, service: &str) -> anyhow::Result<LogClient> {
        let url = self.url_of(service)?;
        let token = self.token()?;
        let tls = self.tls()?;
        LogClient::connect_with(&url, Some(&token), tls.as_ref()).await.with_context(|| service.to_owned())
    }

    /// The client certificate of `--tls-cert` and `--tls-key`, if given.
    pub fn tls_identity(&self) -> anyhow::Result<Option<tls::KeyedCertificate>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(tls::KeyedCertificate::load("--tls-cert", cert, "--tls-key", key)?)),
            (None, None) => Ok(None),
            _ => anyhow::bail!("--tls-cert and --tls-key go together: a client certificate is shown with its key"),
        }
    }

    /// The TLS of connections to the services: none without `--tls-ca`.
    pub fn tls(&self) -> anyhow::Result<Option<tls::ClientTls>> {
        if let Some(loaded) = self.loaded_tls.get() {
            return Ok(loaded.clone());
        }
        let loaded =
            tls::ClientTls::from_flags(self.tls_ca.as_deref(), self.tls_cert.as_deref(), self.tls_key.as_deref())?;
        Ok(self.loaded_tls.get_or_init(|| loaded).clone())
    }
}

/// The W3C trace every request of this run belongs to: the one `TRACEPARENT` names (the environment
/// variable by which OpenTelemetry tools pass a trace to a process), else a new one. The services log each
/// request with its trace id, and record it with the events it causes, so the whole run can be found by it.
pub fn run_trace() -> TraceContext {
    static TRACE: OnceLock<TraceContext> = OnceLock::new();
    *TRACE.get_or_init(|| {
        let given = std::env::var("TRACEPARENT").ok();
        given.as_deref().and_then(TraceContext::parse).unwrap_or_else(TraceContext::start)
    })
}

/// `message` with `token` as its bearer credential, in a span of its own of the run's trace
/// (`traceparent` metadata, see [`run_trace`]).
pub fn authed<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}").parse().context("the token is not a valid header value")?;
    request.metadata_mut().insert("authorization", value);
    let traceparent = run_trace().child().to_string().parse().context("a traceparent is a valid header value")?;
    request.metadata_mut().insert(service_runtime::request_log::TRACEPARENT, traceparent);
    Ok(request)
}

/// A refused call as one line: the step, the status code and the service's message.
pub fn refused(step: &str) -> impl FnOnce(tonic::Status) -> anyhow::Error + '_ {
    move |status| anyhow::anyhow!("{step}: {:?}: {}", status.code(), status.message())
}
