//! Compiles `src/cmp/cmp.proto` (the CMP protocol, docs/cmp-protocol.md §2) into
//! tonic/prost code under `OUT_DIR`, pulled in by `src/cmp/proto.rs`. `protox` parses
//! the proto in pure Rust, so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "src/cmp/cmp.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["src/cmp"])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
