//! kcmp: fast, safe, debuggable Argo CD manifest generation.
//!
//! - [`render`]: the engine. A directory in, Kubernetes objects out: `.j2`
//!   templates, in-memory SOPS decryption, a Kustomize-compatible overlay build.
//!   Pure and synchronous.
//! - `cmp`: the Config Management Plugin sidecar (`kcmp serve`), gRPC on a unix socket.
//! - `controller`: the embedded GitOps loop (`kcmp app ...`, `kcmp controller`).
//! - [`cli`]: the two binaries' commands.
//!
//! Dependencies point one way: `bin -> cli -> {cmp, controller} -> render`.
#![warn(missing_docs)]

pub mod cli;
pub mod cmp;
pub mod controller;
pub mod render;
