//! Generates tonic gRPC *client* stubs for etcd's v3 services from the
//! `.proto` files owned by etcq-net (`net/proto`). No system `protoc`:
//! `protox` parses the files in-process. Message types are not generated
//! here: `extern_path` points every package at `etcq_net::pb`, so the gRPC
//! target and the native etcq/1 target hand around the very same prost types.

use std::path::PathBuf;

const PROTO_ROOT: &str = "../net/proto";
const PROTO_FILES: &[&str] = &["../net/proto/etcdserverpb/rpc.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .build_transport(true)
        .out_dir(&out_dir)
        .extern_path(".etcdserverpb", "::etcq_net::pb::etcdserverpb")
        .extern_path(".mvccpb", "::etcq_net::pb::mvccpb")
        .extern_path(".authpb", "::etcq_net::pb::authpb")
        .compile_fds(descriptors)?;
    Ok(())
}
