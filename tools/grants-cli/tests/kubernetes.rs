//! The Kubernetes manifests (`deploy/kubernetes`), validated offline by `deploy/kubernetes/validate`: every
//! manifest and rendered overlay against the Kubernetes schemas (PyPI's kubernetes-validate, installed
//! once into a virtual environment under the target directory), the custom resource it cannot check
//! listed as skipped, and every flag and environment variable given to a service checked against that
//! binary's `--help` (the binaries built here if needed). A copy of the manifests with one fault of each
//! kind shows that each is refused, by name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod service_binaries;
use service_binaries::{SERVICES, service_binaries};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs the validation script of the manifests in `manifests` against the binaries in `binaries`.
fn validate(manifests: &Path, binaries: &Path) -> (Output, String) {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubernetes-validate-venv");
    let output = Command::new(manifests.join("validate"))
        .arg("--binaries")
        .arg(binaries)
        .env("GRANTS_KUBERNETES_VENV", venv)
        .output()
        .expect("deploy/kubernetes/validate runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output, text)
}

#[test]
fn the_manifests_are_valid_kubernetes_and_use_only_the_binaries_flags() {
    let binaries = service_binaries();
    let (output, text) = validate(&repository_root().join("deploy/kubernetes"), &binaries);
    assert!(output.status.success(), "{text}");
    assert!(text.contains(" 0 invalid"), "{text}");
    // The operator's resource has no bundled schema: reported as skipped, never as valid.
    assert!(text.contains("skipped  base/rabbitmq.yaml RabbitmqCluster/grants-rabbitmq: custom resource"), "{text}");
    assert!(!text.contains("valid    base/rabbitmq.yaml RabbitmqCluster"), "{text}");
    for service in SERVICES {
        let checked = format!(
            "valid    base StatefulSet/{service} container {service}: ports, probes, TLS, and every flag and variable in `{service} --help`"
        );
        assert!(text.contains(&checked), "{service}'s flags checked against its binary: {text}");
    }
    for overlay in ["local", "local-tls"] {
        let rendered = format!("valid    overlays/{overlay} (rendered) StatefulSet/applications\n");
        let skipped = format!("skipped  overlays/{overlay}: kubectl is not on PATH");
        assert!(
            text.contains(&rendered) || text.contains(&skipped),
            "overlay {overlay} rendered or said skipped: {text}"
        );
    }
}

/// Replaces `from` by `to` in the file `path`, which must hold it.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} holds {from}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn each_kind_of_fault_in_a_manifest_is_refused_by_name() {
    let binaries = service_binaries();
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("kubernetes");
    let copied = Command::new("cp").arg("-r").arg(repository_root().join("deploy/kubernetes")).arg(&manifests).status();
    assert!(copied.unwrap().success(), "the manifests are copied");
    let base = manifests.join("base");
    // A field Kubernetes does not know, a second writer of a log, a flag and a variable the binary does
    // not have, a probe of another port, a manifest the kustomization does not list.
    edit(&base.join("awards.yaml"), "      terminationGracePeriodSeconds: 30", "      terminationGracePeriod: 30");
    edit(&base.join("applications.yaml"), "  replicas: 1", "  replicas: 2");
    edit(&base.join("reporting.yaml"), "            - --log-format=json", "            - --log-formats=json");
    edit(
        &base.join("reporting.yaml"),
        "            - name: GRANTS_JWT_SECRET",
        "            - name: GRANTS_JWT_SECRETS",
    );
    edit(&base.join("projector.yaml"), "            grpc: { port: 50054 }", "            grpc: { port: 50055 }");
    std::fs::write(base.join("extra.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n").unwrap();

    let (output, text) = validate(&manifests, &binaries);
    assert_eq!(output.status.code(), Some(1), "{text}");
    for expected in [
        "INVALID  base/awards.yaml StatefulSet/awards: spec.template.spec: Additional properties are not allowed ('terminationGracePeriod' was unexpected)",
        "INVALID  base StatefulSet/applications: a log service runs exactly one replica (one writer)",
        "flag --log-formats is not in `reporting --help`",
        "environment variable GRANTS_JWT_SECRETS is not in `reporting --help` nor used as $(GRANTS_JWT_SECRETS)",
        "livenessProbe probes port 50055, the service listens on 50054",
        "INVALID  base/kustomization.yaml resources: files not listed: ['extra.yaml']",
    ] {
        assert!(text.contains(expected), "refused: {expected}\n{text}");
    }
}

/// The readiness probes ask grpc.health.v1 for the name each service reports SERVING (and NOT_SERVING from
/// the start of its shutdown): its contract's service name.
#[test]
fn the_readiness_probes_ask_for_the_names_the_services_report() {
    let base = repository_root().join("deploy/kubernetes/base");
    for (service, name) in [
        ("applications", contracts::applications::v1::SERVICE_NAME),
        ("awards", contracts::awards::v1::SERVICE_NAME),
        ("reporting", contracts::reporting::v1::SERVICE_NAME),
        ("projector", contracts::projector::v1::SERVICE_NAME),
    ] {
        let manifest = std::fs::read_to_string(base.join(format!("{service}.yaml"))).unwrap();
        let probe = manifest.lines().skip_while(|line| !line.contains("readinessProbe:")).nth(1).unwrap_or_default();
        assert!(probe.contains(&format!("service: {name} }}")), "{service}'s readiness probe asks for {name}: {probe}");
    }
}
