use std::path::{Path, PathBuf};

use super::*;
use crate::dev::{DevCa, write_dev_certs};

fn certs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    write_dev_certs(&certs, &["applications", "operator"]).unwrap();
    (dir, certs)
}

fn message(error: TlsError) -> String {
    let message = error.to_string();
    assert_eq!(message.lines().count(), 1, "{message}");
    message
}

#[test]
fn a_service_certificate_and_key_from_dev_certs_load_for_server_and_client() {
    let (_dir, certs) = certs();
    let server = ServerTls::from_flags(
        Some(&certs.join("applications.pem")),
        Some(&certs.join("applications.key")),
        Some(&certs.join("ca.pem")),
    )
    .unwrap()
    .expect("TLS configured");
    assert!(server.mutual());
    let client = ClientTls::from_flags(
        Some(&certs.join("ca.pem")),
        Some(&certs.join("operator.pem")),
        Some(&certs.join("operator.key")),
    )
    .unwrap()
    .expect("TLS configured");
    assert!(client.identity.is_some());
    assert!(ServerTls::from_flags(None, None, None).unwrap().is_none());
    assert!(ClientTls::from_flags(None, None, None).unwrap().is_none());
}

#[test]
fn a_flag_without_its_partner_is_refused_naming_both() {
    let (_dir, certs) = certs();
    let key = certs.join("applications.key");
    let cert = certs.join("applications.pem");
    let ca = certs.join("ca.pem");
    let no_cert = message(ServerTls::from_flags(None, Some(&key), None).unwrap_err());
    assert!(no_cert.starts_with("--tls-key needs --tls-cert"), "{no_cert}");
    let no_key = message(ServerTls::from_flags(Some(&cert), None, None).unwrap_err());
    assert!(no_key.starts_with("--tls-cert needs --tls-key"), "{no_key}");
    let client_ca_alone = message(ServerTls::from_flags(None, None, Some(&ca)).unwrap_err());
    assert!(client_ca_alone.starts_with("--tls-client-ca needs --tls-cert and --tls-key"), "{client_ca_alone}");
    let cert_without_ca = message(ClientTls::from_flags(None, Some(&cert), Some(&key)).unwrap_err());
    assert!(cert_without_ca.starts_with("--tls-cert needs --tls-ca"), "{cert_without_ca}");
}

#[test]
fn unreadable_and_invalid_files_are_named_with_their_flag_and_the_rule() {
    let (dir, certs) = certs();
    let cert = certs.join("applications.pem");
    let key = certs.join("applications.key");
    let missing = dir.path().join("missing.pem");
    let unreadable = message(ServerTls::from_flags(Some(&missing), Some(&key), None).unwrap_err());
    assert!(unreadable.starts_with(&format!("--tls-cert {}: cannot be read:", missing.display())), "{unreadable}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let not_pem = message(ServerTls::from_flags(Some(&garbage), Some(&key), None).unwrap_err());
    assert!(not_pem.contains("must hold at least one PEM certificate"), "{not_pem}");
    let not_a_key = message(ServerTls::from_flags(Some(&cert), Some(&garbage), None).unwrap_err());
    assert!(
        not_a_key.starts_with(&format!("--tls-key {}: must hold a PEM private key", garbage.display())),
        "{not_a_key}"
    );
    let ca = message(ClientTls::from_flags(Some(&garbage), None, None).unwrap_err());
    assert!(ca.starts_with("--tls-ca "), "{ca}");

    // A key is refused as a certificate, and a certificate with someone else's key.
    let key_as_cert = message(ServerTls::from_flags(Some(&key), Some(&key), None).unwrap_err());
    assert!(key_as_cert.starts_with("--tls-cert "), "{key_as_cert}");
    let other_key = certs.join("operator.key");
    let mismatch = message(ServerTls::from_flags(Some(&cert), Some(&other_key), None).unwrap_err());
    assert!(mismatch.contains("is not the key of the certificate in --tls-cert"), "{mismatch}");
}

#[test]
fn dev_certs_are_not_overwritten_and_keys_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_dir, certs) = certs();
    let again = write_dev_certs(&certs, &["applications"]).unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    let mode = std::fs::metadata(certs.join("applications.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
}

#[test]
fn an_address_and_the_tls_configuration_must_agree() {
    let ca = DevCa::new("test").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let tls = ClientTls::from_flags(Some(Path::new(&ca_file)), None, None).unwrap();
    assert!(endpoint("https://127.0.0.1:1", tls.as_ref()).is_ok());
    assert!(endpoint("http://127.0.0.1:1", None).is_ok());
    assert_eq!(
        endpoint("https://127.0.0.1:1", None).unwrap_err(),
        EndpointError::HttpsWithoutCa { url: "https://127.0.0.1:1".into() }
    );
    assert_eq!(
        endpoint("http://127.0.0.1:1", tls.as_ref()).unwrap_err(),
        EndpointError::HttpWithTls { url: "http://127.0.0.1:1".into() }
    );
}
