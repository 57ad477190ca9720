//! Tidy checks that keep the domain pure: the kernel's dependency graph reaches no crate that does IO, and
//! no domain module (`services/*/src/domain/`) uses the runtime, IO or the clock. Each failure names what
//! broke the rule and where, so that it can be fixed without searching.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The kernel's direct dependencies. A new one is a conscious decision: add it here only if it is pure.
const ALLOWED_DIRECT_DEPENDENCIES: [&str; 4] = ["celes", "iso_currency", "thiserror", "uuid"];

/// Crates that do IO (network, files, processes, threads of a runtime) or carry a wire format, and the
/// platform's own crates built on them. The kernel must not reach any of them, even indirectly.
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "polling",
    "async-io",
    "async-std",
    "smol",
    "tonic",
    "hyper",
    "h2",
    "tower",
    "http-body",
    "lapin",
    "amq-protocol",
    "sled",
    "prost",
    "reqwest",
    "ureq",
    "curl",
    "native-tls",
    "openssl",
    "rustls",
    "memmap2",
    "fs2",
    "jsonwebtoken",
    "contracts",
    "event-log",
    "event-log-grpc",
    "event-bus",
    "service-runtime",
    "personal-data",
];

/// Families of IO crates named by prefix (`tokio-util`, `tonic-health`, `prost-types`, `amq-protocol-tcp`, ...).
const IO_CRATE_PREFIXES: &[&str] = &["tokio-", "tonic-", "prost-", "hyper-", "tower-", "amq-protocol-", "lapin-"];

fn is_io_crate(name: &str) -> bool {
    IO_CRATES.contains(&name) || IO_CRATE_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// What a domain module must not name: the runtime and IO crates, IO parts of `std`, and the clock
/// (domains are given the time in their context).
const FORBIDDEN_IN_DOMAIN: &[&str] = &[
    "service_runtime",
    "tonic",
    "tokio",
    "lapin",
    "sled",
    "event_log",
    "event_bus",
    "std::fs",
    "std::net",
    "std::io",
    "std::process",
    "std::thread",
    "SystemTime",
    "Instant::now",
    "Timestamp::now",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root exists")
}

fn cargo_metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// The resolved dependency graph restricted to normal dependencies (no dev or build dependencies), by
/// package id, with each package's name.
struct NormalGraph {
    names: HashMap<String, String>,
    edges: HashMap<String, Vec<String>>,
}

impl NormalGraph {
    fn of(metadata: &Value) -> NormalGraph {
        let names = metadata["packages"]
            .as_array()
            .expect("metadata lists packages")
            .iter()
            .map(|p| (text(&p["id"]), text(&p["name"])))
            .collect();
        let edges = metadata["resolve"]["nodes"]
            .as_array()
            .expect("metadata has a resolved graph")
            .iter()
            .map(|node| {
                let normal = node["deps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|dep| dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null()))
                    .map(|dep| text(&dep["pkg"]))
                    .collect();
                (text(&node["id"]), normal)
            })
            .collect();
        NormalGraph { names, edges }
    }

    fn id_of(&self, name: &str) -> String {
        let ids: Vec<_> = self.names.iter().filter(|(_, n)| *n == name).map(|(id, _)| id.clone()).collect();
        assert_eq!(ids.len(), 1, "exactly one package is named `{name}`: {ids:?}");
        ids.into_iter().next().unwrap_or_default()
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, String::as_str)
    }

    fn direct_dependencies(&self, id: &str) -> BTreeSet<&str> {
        self.edges.get(id).into_iter().flatten().map(|dep| self.name(dep)).collect()
    }

    /// For every reachable crate that `is_forbidden`, the shortest path to it from `root`, as crate names.
    fn paths_to<'a>(&'a self, root: &'a str, is_forbidden: impl Fn(&str) -> bool) -> Vec<Vec<&'a str>> {
        let mut parent: HashMap<&'a str, &'a str> = HashMap::new();
        let mut queue = VecDeque::from([root]);
        let mut found = Vec::new();
        while let Some(id) = queue.pop_front() {
            for dep in self.edges.get(id).into_iter().flatten() {
                if dep == root || parent.contains_key(dep.as_str()) {
                    continue;
                }
                parent.insert(dep, id);
                if is_forbidden(self.name(dep)) {
                    let mut path = vec![self.name(dep)];
                    let mut at = dep.as_str();
                    while let Some(up) = parent.get(at) {
                        path.push(self.name(up));
                        at = up;
                    }
                    path.reverse();
                    found.push(path);
                } else {
                    queue.push_back(dep);
                }
            }
        }
        found
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[test]
fn the_kernel_depends_on_no_crate_that_does_io() {
    let graph = NormalGraph::of(&cargo_metadata());
    let kernel = graph.id_of("domain-kernel");

    let unexpected: Vec<_> =
        graph.direct_dependencies(&kernel).into_iter().filter(|d| !ALLOWED_DIRECT_DEPENDENCIES.contains(d)).collect();
    assert!(
        unexpected.is_empty(),
        "domain-kernel has direct dependencies outside its allowlist: {unexpected:?}; the kernel takes pure crates \
         only, and each is added to ALLOWED_DIRECT_DEPENDENCIES in this test on purpose"
    );

    let paths = graph.paths_to(&kernel, is_io_crate);
    let shown: Vec<_> = paths.iter().map(|path| path.join(" -> ")).collect();
    assert!(shown.is_empty(), "domain-kernel reaches crates that do IO:\n{}", shown.join("\n"));
}

/// The graph walk itself: it follows normal dependencies transitively, names the path, and ignores dev and
/// build dependencies. Without this, a walk that followed nothing would pass the test above.
#[test]
fn the_walk_names_the_path_to_an_io_crate_and_skips_dev_and_build_dependencies() {
    let dep = |pkg: &str, kind: Value| serde_json::json!({ "pkg": pkg, "dep_kinds": [{ "kind": kind }] });
    let packages = ["kernel", "values", "net", "tokio", "bench", "socket2", "build-helper", "mio"]
        .map(|name| serde_json::json!({ "id": format!("id-{name}"), "name": name }));
    let metadata = serde_json::json!({
        "packages": packages,
        "resolve": { "nodes": [
            { "id": "id-kernel", "deps": [
                dep("id-values", Value::Null),
                dep("id-bench", "dev".into()),
                dep("id-build-helper", "build".into()),
            ] },
            { "id": "id-values", "deps": [dep("id-net", Value::Null)] },
            { "id": "id-net", "deps": [dep("id-tokio", Value::Null)] },
            { "id": "id-bench", "deps": [dep("id-socket2", Value::Null)] },
            { "id": "id-build-helper", "deps": [dep("id-mio", Value::Null)] },
        ] },
    });
    let graph = NormalGraph::of(&metadata);
    assert_eq!(graph.direct_dependencies("id-kernel"), BTreeSet::from(["values"]));
    assert_eq!(graph.paths_to("id-kernel", is_io_crate), vec![vec!["kernel", "values", "net", "tokio"]]);
}

/// One use of something a domain module must not name.
#[derive(Debug)]
struct Violation {
    file: PathBuf,
    line: usize,
    forbidden: &'static str,
    text: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: uses `{}`: {}", self.file.display(), self.line, self.forbidden, self.text.trim())
    }
}

/// The forbidden names a line of Rust uses, outside its `//` comment. `std::{fs, io}` counts as `std::fs`
/// and `std::io`; a name counts only as a whole word (`tokio`, not `tokio_like`).
fn forbidden_in_line(line: &str) -> Vec<&'static str> {
    let code = line.split("//").next().unwrap_or_default();
    let expanded = expand_std_groups(code);
    FORBIDDEN_IN_DOMAIN.iter().copied().filter(|name| contains_word(&expanded, name)).collect()
}

/// `std::{fs, io::Read}` written out as `std::fs std::io::Read`, so that grouped imports are seen.
fn expand_std_groups(code: &str) -> String {
    let mut out = code.to_owned();
    let mut rest = code;
    while let Some(start) = rest.find("std::{") {
        let after = &rest[start + "std::{".len()..];
        let Some(end) = after.find('}') else { break };
        for item in after[..end].split(',') {
            out.push_str(" std::");
            out.push_str(item.trim());
        }
        rest = &after[end..];
    }
    out
}

fn contains_word(haystack: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    haystack.match_indices(word).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

fn rust_files_under(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{} can be read: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry can be read").path();
        if path.is_dir() {
            rust_files_under(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn domain_modules_use_no_runtime_io_or_clock() {
    let root = workspace_root();
    let mut domains = Vec::new();
    for service in std::fs::read_dir(root.join("services")).expect("services/ can be read") {
        let domain = service.expect("a directory entry can be read").path().join("src/domain");
        if domain.is_dir() {
            domains.push(domain);
        }
    }
    // A renamed directory must not make this test pass by finding nothing.
    assert!(domains.len() >= 3, "expected the domains of applications, awards and reporting, found {domains:?}");

    let mut files = Vec::new();
    for domain in &domains {
        rust_files_under(domain, &mut files);
    }
    files.sort();
    let mut violations = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{} can be read: {e}", file.display()));
        for (index, line) in source.lines().enumerate() {
            for forbidden in forbidden_in_line(line) {
                let file = file.strip_prefix(&root).unwrap_or(&file).to_path_buf();
                violations.push(Violation { file, line: index + 1, forbidden, text: line.to_owned() });
            }
        }
    }
    let shown: Vec<_> = violations.iter().map(ToString::to_string).collect();
    assert!(
        shown.is_empty(),
        "domain modules must not do IO, use the service runtime or read the clock:\n{}",
        shown.join("\n")
    );
}

#[test]
fn the_line_scan_sees_grouped_and_nested_uses_and_whole_words_only() {
    assert_eq!(forbidden_in_line("use service_runtime::Rejection;"), ["service_runtime"]);
    assert_eq!(forbidden_in_line("use std::{collections::BTreeMap, fs, io::Read};"), ["std::fs", "std::io"]);
    assert_eq!(forbidden_in_line("    let t = std::time::SystemTime::now();"), ["SystemTime"]);
    assert_eq!(forbidden_in_line("let now = Timestamp::now(); // the clock"), ["Timestamp::now"]);
    assert_eq!(forbidden_in_line("tokio::spawn(async {});"), ["tokio"]);
    assert!(forbidden_in_line("use std::iter::once;").is_empty());
    assert!(forbidden_in_line("let sleds = tokio_like(now);").is_empty());
    assert!(forbidden_in_line("// nothing here uses tokio or sled").is_empty());
    assert!(forbidden_in_line("fn decide(ctx: Context) { ctx.now }").is_empty());
}
