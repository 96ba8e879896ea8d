//! Generated protobuf and gRPC types of `src/cmp/cmp.proto` (package `plugin`,
//! docs/cmp-protocol.md §2), compiled by `build.rs` with protox + tonic-prost-build
//! (no system protoc). Never edited by hand.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("plugin");
