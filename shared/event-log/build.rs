//! Compiles the log's record contract from `proto/` with protox, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../../proto";
    let file = "grants/eventlog/v1/event_record.proto";
    println!("cargo:rerun-if-changed={proto_root}/{file}");
    let descriptors = protox::compile([file], [proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
