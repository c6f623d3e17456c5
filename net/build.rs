//! Compiles the etcd v3 `.proto` files under `proto/` into Rust with
//! prost-build. No system `protoc`: `protox` parses the files into a
//! descriptor set in-process. The encoded descriptor set is also written to
//! `$OUT_DIR/etcd_descriptors.bin` for the JSON gateway.

use std::path::PathBuf;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &[
    "proto/mvccpb/kv.proto",
    "proto/authpb/auth.proto",
    "proto/etcdserverpb/rpc.proto",
    "proto/v3lockpb/v3lock.proto",
    "proto/v3electionpb/v3election.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }

    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    // The same descriptors, encoded, for the JSON gateway's runtime
    // reflection (`pb::FILE_DESCRIPTOR_SET`, src/gateway.rs).
    std::fs::write(
        out_dir.join("etcd_descriptors.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    let mut config = prost_build::Config::new();
    config
        .out_dir(&out_dir)
        // Every `bytes` field becomes `bytes::Bytes`: keys and values are
        // handed around between cores and into responses without copies.
        .bytes(["."]);
    config.compile_fds(descriptors)?;
    Ok(())
}
