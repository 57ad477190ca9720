//! Compiles the log-reading service contract from `proto/` with protox (no system `protoc`), and keeps the
//! encoded descriptors so that servers can offer reflection for it.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../../proto";
    let files = [
        "grants/eventlog/v1/log_service.proto",
        "grants/eventlog/v1/event_record.proto",
        "grants/eventlog/v1/checkpoint.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={proto_root}/{file}");
    }
    let descriptors = protox::compile(files, [proto_root])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("event_log_descriptors.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
