//! Compiles every contract under `proto/grants` except the event log's record (owned by the `event-log`
//! crate) with protox, so no system `protoc` is needed, and keeps the encoded descriptor set for
//! reflection and for tests that enumerate a service's RPCs.

use std::path::{Path, PathBuf};

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
