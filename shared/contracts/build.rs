//! Compiles every contract under `proto/grants` except the event log's record (owned by the `event-log`
//! crate) with protox, so no system `protoc` is needed, keeps the encoded descriptor set for
//! reflection and for tests that enumerate a service's RPCs, and lists each service's event messages
//! (`event_catalogue.rs`, read by `src/events.rs`) so that no list of events is written by hand.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use protox::prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from("../../proto");
    let mut files = Vec::new();
    collect(&proto_root.join("grants"), &proto_root, &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed={}", proto_root.join("grants").display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }
    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_source_info(true).include_imports(true).open_files(&files)?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // Encoded by protox itself: `prost_types` would drop the custom options (`free_text`, `text_scope`)
    // that readers of the descriptors rely on.
    std::fs::write(out_dir.join("descriptors.bin"), compiler.encode_file_descriptor_set())?;
    let descriptors = compiler.file_descriptor_set();
    std::fs::write(out_dir.join("event_catalogue.rs"), event_catalogue(&descriptors)?)?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}

/// The `.proto` files below `dir`, relative to `root`, skipping the event log's own package.
fn collect(dir: &Path, root: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "eventlog") {
                continue;
            }
            collect(&path, root, files)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            files.push(path.strip_prefix(root).map(Path::to_path_buf).unwrap_or(path));
        }
    }
    Ok(())
}

/// The invocation of `event_catalogue!` (see `src/events.rs`) naming, for every package with an
/// `events.proto`, its event messages in declaration order.
///
/// An event is a message of `events.proto` that no message of that file embeds: the others
/// (`GatingReport`, `DueDateExtension`) are parts of events. Event type names must be unique across
/// packages, because a recorded event names its type without its package.
fn event_catalogue(descriptors: &FileDescriptorSet) -> Result<String, Box<dyn std::error::Error>> {
    let mut packages = BTreeMap::new();
    for file in &descriptors.file {
        let Some(package) = events_package(file) else { continue };
        packages.insert(package.to_owned(), event_names(file));
    }
    let mut seen = HashSet::new();
    let mut catalogue = String::from("event_catalogue! {\n");
    for (package, events) in &packages {
        if let Some(repeated) = events.iter().find(|name| !seen.insert(name.as_str())) {
            return Err(format!("event type `{repeated}` is defined by more than one package").into());
        }
        let variant = capitalised(package);
        writeln!(catalogue, "    {variant}({variant}Event) = {package} {{ {} }},", events.join(", "))?;
    }
    catalogue.push_str("}\n");
    Ok(catalogue)
}

/// The package name (`awards`) of a `grants/<package>/v1/events.proto`; `None` for any other file.
fn events_package(file: &FileDescriptorProto) -> Option<&str> {
    file.name().strip_prefix("grants/")?.strip_suffix("/v1/events.proto")
}

/// The messages of an `events.proto` that no message of the same file uses as a field type.
fn event_names(file: &FileDescriptorProto) -> Vec<String> {
    let prefix = format!(".{}.", file.package());
    let embedded: HashSet<&str> = file
        .message_type
        .iter()
        .flat_map(|message| &message.field)
        .filter_map(|field| field.type_name.as_deref()?.strip_prefix(prefix.as_str()))
        .collect();
    file.message_type.iter().map(|m| m.name().to_owned()).filter(|name| !embedded.contains(name.as_str())).collect()
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
