//! Test helpers shared by the controller integration tests.
#![allow(dead_code)]

pub mod api_server;
pub mod fake_cluster;
