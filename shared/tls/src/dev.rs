//! A development CA and its certificates, for a developer machine and tests: never for production, where
//! certificates come from the installation's own CA. The CA's key is not kept: another set is made anew.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// The names every development certificate is valid for: the loopback addresses the local platform
/// listens on.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How long development certificates are valid: a year from a day ago.
pub fn default_validity() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - Duration::days(1), now + Duration::days(365))
}

/// A development CA, in memory.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

/// A certificate and its private key, PEM.
#[derive(Clone)]
pub struct IssuedCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate").field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}

impl IssuedCertificate {
    /// Writes `dir/<name>.pem` and `dir/<name>.key` (owner-only); returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<(PathBuf, PathBuf)> {
        let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        write_file(&cert, &self.cert_pem, false)?;
        write_file(&key, &self.key_pem, true)?;
        Ok((cert, key))
    }
}

impl DevCa {
    /// Writes the CA's certificate to `dir/<name>.pem`; returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
        let path = dir.join(format!("{name}.pem"));
        write_file(&path, &self.cert_pem(), false)?;
        Ok(path)
    }

    /// A new CA named `name`, valid for ten years from a day ago.
    pub fn new(name: &str) -> Result<DevCa, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = named(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        Ok(DevCa { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate()?)? })
    }

    /// The CA's certificate, PEM: what clients and servers trust.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `name`, valid for the loopback names as server and as client, for a year.
    pub fn issue(&self, name: &str) -> Result<IssuedCertificate, rcgen::Error> {
        let (not_before, not_after) = default_validity();
        self.issue_valid(name, not_before, not_after)
    }

    /// As [`DevCa::issue`], valid from `not_before` to `not_after` (tests make expired ones).
    pub fn issue_valid(
        &self,
        name: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<IssuedCertificate, rcgen::Error> {
        let mut params = CertificateParams::new(LOOPBACK_NAMES.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
        params.distinguished_name = named(name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCertificate { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

fn named(name: &str) -> DistinguishedName {
    let mut distinguished = DistinguishedName::new();
    distinguished.push(DnType::CommonName, name);
    distinguished.push(DnType::OrganizationName, "grants platform (development)");
    distinguished
}

/// Why the development certificates could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DevCertsError {
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{} already exists: remove the directory's certificates or choose another --out", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes a new development CA (`ca.pem`) and, for each of `names`, `<name>.pem` and `<name>.key`
/// (valid for the loopback names, as server and as client) into `dir`, made if missing; keys are
/// readable by their owner only. Refuses to overwrite any of them. Returns the files written.
pub fn write_dev_certs(dir: &Path, names: &[&str]) -> Result<Vec<PathBuf>, DevCertsError> {
    let mut files = vec![(dir.join("ca.pem"), None)];
    for name in names {
        files.push((dir.join(format!("{name}.pem")), None));
        files.push((dir.join(format!("{name}.key")), None));
    }
    if let Some((existing, _)) = files.iter().find(|(path, _)| path.exists()) {
        return Err(DevCertsError::Exists(existing.clone()));
    }
    let ca = DevCa::new("grants development CA")?;
    files[0].1 = Some(ca.cert_pem());
    for (index, name) in names.iter().enumerate() {
        let issued = ca.issue(name)?;
        files[1 + 2 * index].1 = Some(issued.cert_pem);
        files[2 + 2 * index].1 = Some(issued.key_pem);
    }
    std::fs::create_dir_all(dir).map_err(|source| DevCertsError::Write { path: dir.to_owned(), source })?;
    for (path, text) in &files {
        let private = path.extension().is_some_and(|e| e == "key");
        write_file(path, text.as_deref().unwrap_or_default(), private)
            .map_err(|source| DevCertsError::Write { path: path.clone(), source })?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

fn write_file(path: &Path, text: &str, private: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mode = if private { 0o600 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
