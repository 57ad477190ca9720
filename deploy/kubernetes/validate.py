"""Validates the platform's Kubernetes manifests offline (run through `deploy/kubernetes/validate`).

1. Every manifest of the base, file by file, and every overlay as `kubectl kustomize` renders it (when
   kubectl is on PATH; otherwise that render is reported as skipped), against the Kubernetes JSON schemas
   that PyPI's kubernetes-validate bundles, in strict mode (unknown fields are errors), for one pinned
   Kubernetes version. A custom resource whose schema is not bundled (RabbitmqCluster) is listed as
   skipped, never as valid; any other resource without a schema is an error.
2. The base's kustomization.yaml lists every manifest file of the base, and nothing else.
3. The platform's own rules: each log service runs exactly one replica, each container's gRPC port is the
   one it listens on and its probes ask, the metrics port is the scraped one, and (given `--binaries DIR`)
   every flag and environment variable a container is given exists in that binary's `--help`; an
   environment variable the binary does not read must be used by another one or an argument, `$(NAME)`.

Prints one line per resource and check, then a summary; exits 1 when anything is invalid, 2 on bad usage.
"""

import argparse
import pathlib
import re
import shutil
import subprocess
import sys

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33.0"
# Custom resources whose schemas kubernetes-validate does not bundle: checked by their operator only.
CUSTOM_RESOURCE_GROUPS = ("rabbitmq.com/",)
# The binaries a container of the image may run.
SERVICES = ("applications", "awards", "reporting", "projector")
# The services whose logs have exactly one writer.
LOG_SERVICES = ("applications", "awards", "reporting")
# The image every service container runs; its container's name is the binary it runs.
IMAGE = "grants-platform"


class Report:
    def __init__(self):
        self.valid = 0
        self.skipped = 0
        self.failed = 0

    def ok(self, what):
        self.valid += 1
        print(f"valid    {what}")

    def skip(self, what, why):
        self.skipped += 1
        print(f"skipped  {what}: {why}")

    def fail(self, what, why):
        self.failed += 1
        print(f"INVALID  {what}: {why}")


def name_of(resource):
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def validate_schema(report, origin, resource):
    what = f"{origin} {name_of(resource)}"
    if resource.get("apiVersion", "").startswith(CUSTOM_RESOURCE_GROUPS):
        report.skip(what, f"custom resource {resource['apiVersion']}: no schema bundled, not checked")
        return
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as error:
        report.fail(what, f"no schema for it in Kubernetes {KUBERNETES_VERSION} ({error})")
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        report.fail(what, f"{path}: {error.message}")
    else:
        report.ok(what)


def documents(text, origin):
    try:
        return [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError as error:
        raise SystemExit(f"{origin}: not YAML: {error}") from error


def check_kustomization_lists_every_file(report, base):
    listed = yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    present = sorted(path.name for path in base.glob("*.yaml") if path.name != "kustomization.yaml")
    what = "base/kustomization.yaml resources"
    missing = sorted(set(present) - set(listed))
    unknown = sorted(set(listed) - set(present))
    if missing or unknown:
        report.fail(what, f"files not listed: {missing}; listed but absent: {unknown}")
    else:
        report.ok(f"{what} (every manifest of the base, {len(present)} files)")


def render(overlay):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    result = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"kubectl kustomize {overlay} failed: {result.stderr.strip()}")
    return result.stdout


def help_of(binaries, binary, cache={}):
    if binary not in cache:
        path = binaries / binary
        result = subprocess.run([str(path), "--help"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"{path} --help failed: {result.stderr.strip()}")
        cache[binary] = result.stdout
    return cache[binary]


def grpc_port(args):
    for arg in args:
        if arg.startswith("--listen="):
            return int(arg.rsplit(":", 1)[1])
    return None


def check_container(report, origin, workload, container, binaries):
    what = f"{origin} {name_of(workload)} container {container['name']}"
    problems = []
    args = container.get("args", [])
    listen = grpc_port(args)
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
    if listen is None or ports.get("grpc") != listen:
        problems.append(f"--listen port {listen} is not the `grpc` containerPort {ports.get('grpc')}")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        problems += probe_problems(probe, container.get(probe, {}), ports, listen, args)
    problems += tls_problems(container)
    annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
    metrics = [arg for arg in args if arg.startswith("--metrics-listen=")]
    scraped = annotations.get("prometheus.io/port")
    if not metrics or scraped is None or metrics[0].rsplit(":", 1)[1] != scraped or ports.get("metrics") != int(scraped):
        problems.append(f"--metrics-listen {metrics}, the `metrics` port and prometheus.io/port {scraped} differ")
    binary = (container.get("command") or [None])[0]
    if binary not in SERVICES:
        problems.append(f"command {container.get('command')}: the image names no binary by default, give one of {SERVICES}")
    elif binaries is not None:
        problems += flags_missing_from_help(container, binary, help_of(binaries, binary))
    if problems:
        report.fail(what, "; ".join(problems))
    elif binaries is None:
        report.ok(f"{what}: ports, probes and TLS (flags not checked: no --binaries)")
    else:
        report.ok(f"{what}: ports, probes, TLS, and every flag and variable in `{container['command'][0]} --help`")


def probe_problems(probe, spec, ports, listen, args):
    """A probe must reach the gRPC port: by grpc.health.v1, which the kubelet asks in plaintext only, or by
    TCP where the service requires client certificates."""
    kind = "grpc" if "grpc" in spec else "tcpSocket" if "tcpSocket" in spec else None
    if kind is None:
        return [f"{probe}: none, or neither a grpc nor a tcpSocket probe"]
    port = spec[kind].get("port")
    port = ports.get(port, port)
    if port != listen:
        return [f"{probe} probes port {port}, the service listens on {listen}"]
    if kind == "grpc" and any(arg.startswith("--tls-client-ca=") for arg in args):
        return [f"{probe}: the kubelet's gRPC probe has no client certificate for --tls-client-ca"]
    return []


def tls_problems(container):
    """Addresses agree with the TLS flags, as the services require at start; files named are mounted."""
    args = container.get("args", [])
    given = {arg.split("=", 1)[0] for arg in args}
    problems = []
    scheme = "https://" if "--tls-ca" in given else "http://"
    for arg in args:
        if arg.startswith("--source=") and not arg.split("=", 2)[2].startswith(scheme):
            problems.append(f"{arg}: with{'' if scheme == 'https://' else 'out'} --tls-ca it must be {scheme}")
    amqp = next((entry.get("value", "") for entry in container.get("env", []) if entry["name"] == "GRANTS_AMQP_URL"), "")
    scheme = "amqps://" if "--amqp-tls-ca" in given else "amqp://"
    if any(not url.startswith(scheme) for url in amqp.split(",")):
        problems.append(f"GRANTS_AMQP_URL: every broker address must be {scheme} with{'' if scheme == 'amqps://' else 'out'} --amqp-tls-ca")
    mounts = [mount["mountPath"].rstrip("/") + "/" for mount in container.get("volumeMounts", [])]
    for arg in args:
        value = arg.split("=", 1)[-1]
        if value.startswith("/") and not any((value.rstrip("/") + "/").startswith(mount) for mount in mounts):
            problems.append(f"{arg}: not under any volumeMount")
    return problems


def flags_missing_from_help(container, binary, help_text):
    problems = []
    for arg in container.get("args", []):
        flag = arg.split("=", 1)[0]
        if not re.search(rf"(^|\s){re.escape(flag)}[\s=<,]", help_text, re.MULTILINE):
            problems.append(f"flag {flag} is not in `{binary} --help`")
    env = container.get("env", [])
    used = " ".join(container.get("args", []) + [entry.get("value", "") for entry in env])
    for entry in env:
        name = entry["name"]
        if f"[env: {name}" not in help_text and f"$({name})" not in used:
            problems.append(f"environment variable {name} is not in `{binary} --help` nor used as $({name})")
    return problems


def check_workloads(report, origin, resources, binaries):
    for resource in resources:
        if resource.get("kind") != "StatefulSet":
            continue
        name = resource["metadata"]["name"]
        if name in LOG_SERVICES and resource["spec"].get("replicas") != 1:
            report.fail(f"{origin} {name_of(resource)}", "a log service runs exactly one replica (one writer)")
        for container in resource["spec"]["template"]["spec"]["containers"]:
            if container.get("image", "").split(":")[0] == IMAGE:
                check_container(report, origin, resource, container, binaries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binaries", type=pathlib.Path, help="directory of the service binaries to check flags against")
    options = parser.parse_args()
    if options.binaries is not None and not options.binaries.is_dir():
        parser.exit(2, f"--binaries {options.binaries}: not a directory\n")
    root = pathlib.Path(__file__).resolve().parent
    report = Report()
    print(f"Kubernetes {KUBERNETES_VERSION} schemas (kubernetes-validate {kubernetes_validate.__version__}), strict")

    base = root / "base"
    check_kustomization_lists_every_file(report, base)
    base_resources = []
    for path in sorted(base.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        origin = f"base/{path.name}"
        for resource in documents(path.read_text(), origin):
            validate_schema(report, origin, resource)
            base_resources.append(resource)
    check_workloads(report, "base", base_resources, options.binaries)

    for overlay in sorted(path.parent for path in (root / "overlays").glob("*/kustomization.yaml")):
        origin = f"overlays/{overlay.name} (rendered)"
        rendered = render(overlay)
        if rendered is None:
            report.skip(f"overlays/{overlay.name}", "kubectl is not on PATH: not rendered, only the base was checked")
            continue
        resources = documents(rendered, origin)
        for resource in resources:
            validate_schema(report, origin, resource)
        check_workloads(report, origin, resources, options.binaries)

    print(f"kubernetes manifests: {report.valid} valid, {report.skipped} skipped, {report.failed} invalid")
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
