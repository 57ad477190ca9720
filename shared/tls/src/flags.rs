//! The TLS flags every service takes (flattened into its common flags).

use std::path::PathBuf;

use crate::{ClientTls, ServerTls, TlsError};

/// A service's TLS: what it serves gRPC with, and what it trusts when it reads other services' logs.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServiceTlsArgs {
    /// PEM certificate chain to serve gRPC over TLS with (with --tls-key); without it, plaintext. With
    /// --tls-ca it is also the client certificate shown to other services' log services.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: a client must show a certificate of one of them (mutual TLS), or it is
    /// refused at the handshake. The bearer token stays the caller's identity.
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// PEM CA certificates that sign other services' certificates: their log services (`--source`) are
    /// read over TLS (https:// addresses), showing --tls-cert as the client certificate.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// PEM CA certificates that sign the message broker's certificate: needed by an amqps:// AMQP URI. When
    /// the broker asks for a client certificate, --tls-cert is shown.
    #[arg(long, value_name = "FILE", env = "GRANTS_AMQP_TLS_CA")]
    pub amqp_tls_ca: Option<PathBuf>,
}

/// A service's TLS, read and checked.
#[derive(Clone, Debug, Default)]
pub struct ServiceTls {
    /// What it serves with; `None` serves plaintext.
    pub server: Option<ServerTls>,
    /// What it reads other services' logs with; `None` reads them over plaintext.
    pub client: Option<ClientTls>,
    /// What it connects to the message broker with (`amqps://`); `None` connects plaintext.
    pub broker: Option<ClientTls>,
}

impl ServiceTlsArgs {
    /// Reads and checks the files named.
    pub fn load(&self) -> Result<ServiceTls, TlsError> {
        let server =
            ServerTls::from_flags(self.tls_cert.as_deref(), self.tls_key.as_deref(), self.tls_client_ca.as_deref())?;
        // A service shows its own certificate as a client too.
        let trusting = |flag: &'static str, ca: Option<&std::path::Path>| {
            ca.map(|ca| {
                Ok::<_, TlsError>(ClientTls {
                    ca: crate::CaCertificates::load(flag, ca)?,
                    identity: server.as_ref().map(|server| server.identity.clone()),
                })
            })
            .transpose()
        };
        let client = trusting("--tls-ca", self.tls_ca.as_deref())?;
        let broker = trusting("--amqp-tls-ca", self.amqp_tls_ca.as_deref())?;
        Ok(ServiceTls { server, client, broker })
    }
}
