//! TLS of the platform's connections, written once. [`ServerTls`] is what a service serves gRPC with (its
//! certificate and key, and, for mutual TLS, the CA whose certificates admit a client); [`ClientTls`] is
//! what a client connects with (the CA it trusts, and the certificate it shows for mutual TLS). Both are
//! read from PEM files and checked when read, so that a wrong file is one clear error naming its flag
//! before anything listens or connects. rustls with the `ring` provider does the TLS, through tonic.
//! [`dev`] makes a development CA and certificates (`grants dev-certs`).
//!
//! The bearer token stays the caller's identity: a client certificate only admits the connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

pub mod dev;
mod flags;

pub use flags::{ServiceTls, ServiceTlsArgs};

/// A TLS flag that cannot be used: a file naming the flag that gave it and the rule it breaks, or a flag
/// given without the one it needs.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{flag} {}: {rule}", .path.display())]
    File { flag: &'static str, path: PathBuf, rule: String },
    #[error("{given} needs {missing}: {why}")]
    Missing { given: &'static str, missing: &'static str, why: &'static str },
}

/// A certificate chain and its private key, checked to belong together.
#[derive(Clone)]
pub struct KeyedCertificate {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for KeyedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedCertificate").field("key", &"<redacted>").finish_non_exhaustive()
    }
}

impl KeyedCertificate {
    /// Reads the certificate chain at `cert` (given by `cert_flag`) and the private key at `key` (by
    /// `key_flag`), and checks that the key is the certificate's.
    pub fn load(cert_flag: &'static str, cert: &Path, key_flag: &'static str, key: &Path) -> Result<Self, TlsError> {
        let cert_pem = read(cert_flag, cert)?;
        let chain = certificates(cert_flag, cert, &cert_pem)?;
        let key_pem = read(key_flag, key)?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| TlsError::File {
            flag: key_flag,
            path: key.to_owned(),
            rule: format!("must hold a PEM private key (PKCS#8, PKCS#1 or SEC1): {error}"),
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing_key = provider.key_provider.load_private_key(private).map_err(|error| TlsError::File {
            flag: key_flag,
            path: key.to_owned(),
            rule: format!("is not a usable private key: {error}"),
        })?;
        rustls::sign::CertifiedKey::new(chain, signing_key).keys_match().map_err(|error| TlsError::File {
            flag: key_flag,
            path: key.to_owned(),
            rule: format!("is not the key of the certificate in {cert_flag} {}: {error}", cert.display()),
        })?;
        Ok(KeyedCertificate { cert_pem, key_pem })
    }

    /// The certificate chain, PEM.
    pub fn cert_pem(&self) -> &[u8] {
        &self.cert_pem
    }

    /// The private key, PEM.
    pub fn key_pem(&self) -> &[u8] {
        &self.key_pem
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

/// A CA file: one or more PEM certificates.
#[derive(Clone, Debug)]
pub struct CaCertificates {
    pem: Vec<u8>,
}

impl CaCertificates {
    /// Reads the CA certificates at `path`, given by `flag`.
    pub fn load(flag: &'static str, path: &Path) -> Result<CaCertificates, TlsError> {
        let pem = read(flag, path)?;
        certificates(flag, path, &pem)?;
        Ok(CaCertificates { pem })
    }

    /// The certificates, PEM.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

/// How a service serves over TLS: its certificate and key, and, with a client CA, mutual TLS: a client
/// without a certificate of that CA is refused at the handshake, before any request is read.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub identity: KeyedCertificate,
    pub client_ca: Option<CaCertificates>,
}

impl ServerTls {
    /// tonic's server TLS configuration.
    pub fn tonic_config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity.identity());
        match &self.client_ca {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca.pem())).client_auth_optional(false),
            None => config,
        }
    }

    /// The server configuration from `--tls-cert`, `--tls-key` and `--tls-client-ca`: none without a
    /// certificate; a key without a certificate (or the reverse), or a client CA without them, is refused.
    pub fn from_flags(
        cert: Option<&Path>,
        key: Option<&Path>,
        client_ca: Option<&Path>,
    ) -> Result<Option<ServerTls>, TlsError> {
        let Some(identity) = identity_from_flags(cert, key)? else {
            if client_ca.is_some() {
                return Err(TlsError::Missing {
                    given: "--tls-client-ca",
                    missing: "--tls-cert and --tls-key",
                    why: "client certificates are asked for only over TLS",
                });
            }
            return Ok(None);
        };
        let client_ca = client_ca.map(|path| CaCertificates::load("--tls-client-ca", path)).transpose()?;
        Ok(Some(ServerTls { identity, client_ca }))
    }

    /// Whether clients must show a certificate.
    pub fn mutual(&self) -> bool {
        self.client_ca.is_some()
    }
}

/// How a client connects over TLS: the CA it trusts for the server's certificate (and nothing else), and
/// the certificate it shows when the server asks for one (mutual TLS).
#[derive(Clone, Debug)]
pub struct ClientTls {
    pub ca: CaCertificates,
    pub identity: Option<KeyedCertificate>,
}

impl ClientTls {
    /// The client configuration from `--tls-ca`, `--tls-cert` and `--tls-key`: none without a CA; a
    /// certificate without its key (or the reverse), or a certificate without a CA, is refused.
    pub fn from_flags(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Option<ClientTls>, TlsError> {
        let identity = identity_from_flags(cert, key)?;
        let Some(ca) = ca else {
            if identity.is_some() {
                return Err(TlsError::Missing {
                    given: "--tls-cert",
                    missing: "--tls-ca",
                    why: "a client certificate is shown only over TLS, whose server is checked against that CA",
                });
            }
            return Ok(None);
        };
        Ok(Some(ClientTls { ca: CaCertificates::load("--tls-ca", ca)?, identity }))
    }

    /// tonic's client TLS configuration; the server's name is taken from the address it connects to.
    pub fn tonic_config(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.ca.pem()));
        match &self.identity {
            Some(identity) => config.identity(identity.identity()),
            None => config,
        }
    }
}

/// A tonic endpoint for `url`: over TLS with `tls` when the URL is `https://`. An `https://` URL without
/// a TLS configuration, or an `http://` one with it, is refused: a client never falls back to plaintext
/// silently, nor sends plaintext where TLS was asked for.
pub fn endpoint(url: &str, tls: Option<&ClientTls>) -> Result<tonic::transport::Endpoint, EndpointError> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|error| EndpointError::Invalid { url: url.to_owned(), reason: error.to_string() })?;
    secure(endpoint, tls)
}

/// `endpoint` over TLS with `tls` when its URL is `https://`, by the rules of [`endpoint`].
pub fn secure(
    endpoint: tonic::transport::Endpoint,
    tls: Option<&ClientTls>,
) -> Result<tonic::transport::Endpoint, EndpointError> {
    let url = endpoint.uri().to_string().trim_end_matches('/').to_owned();
    let https = endpoint.uri().scheme_str() == Some("https");
    match (https, tls) {
        (true, Some(tls)) => endpoint
            .tls_config(tls.tonic_config())
            .map_err(|error| EndpointError::Invalid { url, reason: error.to_string() }),
        (false, None) => Ok(endpoint),
        (true, None) => Err(EndpointError::HttpsWithoutCa { url }),
        (false, Some(_)) => Err(EndpointError::HttpWithTls { url }),
    }
}

/// An address that cannot be connected to as configured.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("`{url}` is not a valid address: {reason}")]
    Invalid { url: String, reason: String },
    #[error("`{url}` is https:// but no CA is configured to check its certificate (give --tls-ca)")]
    HttpsWithoutCa { url: String },
    #[error("`{url}` is http:// but TLS is configured (--tls-ca): use its https:// address")]
    HttpWithTls { url: String },
}

/// `--tls-cert` and `--tls-key`, both or neither.
fn identity_from_flags(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<KeyedCertificate>, TlsError> {
    match (cert, key) {
        (Some(cert), Some(key)) => KeyedCertificate::load("--tls-cert", cert, "--tls-key", key).map(Some),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(TlsError::Missing {
            given: "--tls-key",
            missing: "--tls-cert",
            why: "a key is used only with its certificate",
        }),
        (Some(_), None) => Err(TlsError::Missing {
            given: "--tls-cert",
            missing: "--tls-key",
            why: "a certificate is used only with its private key",
        }),
    }
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::File {
        flag,
        path: path.to_owned(),
        rule: format!("cannot be read: {error}"),
    })
}

fn certificates(flag: &'static str, path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let invalid = |rule: String| TlsError::File { flag, path: path.to_owned(), rule };
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("must hold PEM certificates: {error}")))?;
    if certificates.is_empty() {
        return Err(invalid("must hold at least one PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    for certificate in &certificates {
        // Parsing as an end-entity certificate checks the DER structure, not the certificate's use.
        webpki_parse(certificate)
            .map_err(|error| invalid(format!("holds a certificate that does not parse: {error}")))?;
    }
    Ok(certificates)
}

/// Checks that `certificate` is a well-formed X.509 certificate.
fn webpki_parse(certificate: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    rustls::RootCertStore::empty().add(certificate.clone())
}

#[cfg(test)]
mod tests;
