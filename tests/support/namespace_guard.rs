//! Deletes a real-cluster test's namespace when the test ends, also when it
//! panics: a namespace left behind keeps objects labelled for the test's app,
//! and those would show up as extra (prunable) objects in later runs.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Deletes `namespace` (without waiting for it to terminate) on drop.
pub struct NamespaceGuard {
    pub kubeconfig: PathBuf,
    pub namespace: String,
}

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        // kubectl, not the async client: Drop cannot await, and it runs during unwinding.
        let deleted = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["delete", "namespace", &self.namespace, "--wait=false", "--ignore-not-found"])
            .stdout(Stdio::null())
            .status();
        if !matches!(deleted, Ok(s) if s.success()) {
            eprintln!("could not delete test namespace {}; delete it by hand", self.namespace);
        }
    }
}
