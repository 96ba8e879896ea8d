//! Rendered-output cache: the repo-server sends the same archive for Match, Generate
//! and refreshes, so GenerateManifest results of the in-process engine are kept in
//! memory, keyed by SHA-256 over (archive checksum, app path, env, parameters, plugin
//! config), bounded by total bytes with least-recently-used eviction. Compat-mode
//! output is never cached (commands may not be deterministic), nor is output of an
//! app whose files mention SOPS unless the operator enables `--cache-decrypted`.

use crate::cmp::proto::ManifestRequestMetadata;
use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// A cache key: SHA-256 of everything the output depends on.
pub type Key = [u8; 32];

/// Bounded LRU of manifest lists.
#[derive(Debug)]
pub struct Cache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: IndexMap<Key, Arc<Vec<String>>>,
    bytes: usize,
}

impl Cache {
    /// A cache holding at most `max_bytes` of manifest text (0 disables it).
    pub fn new(max_bytes: usize) -> Cache {
        Cache { max_bytes, inner: Mutex::new(Inner::default()) }
    }

    /// The key of a request: the metadata (checksum, app path, env in order, which
    /// includes `ARGOCD_APP_PARAMETERS`) and a fingerprint of the plugin config.
    pub fn key(metadata: &ManifestRequestMetadata, config_fingerprint: &str) -> Key {
        let mut h = Sha256::new();
        // Length-prefixed fields, so no two different inputs concatenate alike.
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(metadata.checksum.as_bytes());
        field(metadata.app_rel_path.as_bytes());
        for e in &metadata.env {
            field(e.name.as_bytes());
            field(e.value.as_bytes());
        }
        field(config_fingerprint.as_bytes());
        h.finalize().into()
    }

    /// A cached result, marked most recently used.
    pub fn get(&self, key: &Key) -> Option<Arc<Vec<String>>> {
        let mut inner = self.inner.lock().ok()?;
        let index = inner.entries.get_index_of(key)?;
        let last = inner.entries.len() - 1;
        inner.entries.move_index(index, last);
        inner.entries.get(key).cloned()
    }

    /// Stores a result, evicting the least recently used ones beyond the bound.
    pub fn put(&self, key: Key, manifests: Arc<Vec<String>>) {
        let size: usize = manifests.iter().map(String::len).sum();
        if size > self.max_bytes {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else { return };
        if let Some(old) = inner.entries.shift_remove(&key) {
            inner.bytes -= old.iter().map(String::len).sum::<usize>();
        }
        while inner.bytes + size > self.max_bytes {
            let Some((_, evicted)) = inner.entries.shift_remove_index(0) else { break };
            inner.bytes -= evicted.iter().map(String::len).sum::<usize>();
        }
        inner.bytes += size;
        inner.entries.insert(key, manifests);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmp::proto::EnvEntry;

    fn meta(checksum: &str, env: &[(&str, &str)]) -> ManifestRequestMetadata {
        ManifestRequestMetadata {
            checksum: checksum.into(),
            app_rel_path: ".".into(),
            env: env.iter().map(|(n, v)| EnvEntry { name: n.to_string(), value: v.to_string() }).collect(),
            ..ManifestRequestMetadata::default()
        }
    }

    #[test]
    fn key_depends_on_checksum_env_and_config() {
        let a = Cache::key(&meta("c1", &[("ARGOCD_APP_PARAMETERS", "[]")]), "cfg");
        assert_eq!(a, Cache::key(&meta("c1", &[("ARGOCD_APP_PARAMETERS", "[]")]), "cfg"));
        assert_ne!(a, Cache::key(&meta("c2", &[("ARGOCD_APP_PARAMETERS", "[]")]), "cfg"));
        assert_ne!(a, Cache::key(&meta("c1", &[("ARGOCD_APP_PARAMETERS", "null")]), "cfg"));
        assert_ne!(a, Cache::key(&meta("c1", &[("ARGOCD_APP_PARAMETERS", "[]")]), "other"));
        assert_ne!(Cache::key(&meta("c1", &[("AB", "C")]), "cfg"), Cache::key(&meta("c1", &[("A", "BC")]), "cfg"));
    }

    #[test]
    fn least_recently_used_entries_are_evicted_past_the_byte_bound() {
        let cache = Cache::new(10);
        let v = |s: &str| Arc::new(vec![s.to_string()]);
        cache.put([1; 32], v("aaaa"));
        cache.put([2; 32], v("bbbb"));
        assert!(cache.get(&[1; 32]).is_some(), "touch 1 so 2 is the oldest");
        cache.put([3; 32], v("cccc"));
        assert!(cache.get(&[2; 32]).is_none());
        assert_eq!(cache.get(&[1; 32]).as_deref(), Some(&vec!["aaaa".to_string()]));
        assert!(cache.get(&[3; 32]).is_some());
        cache.put([4; 32], v("x".repeat(11).as_str()));
        assert!(cache.get(&[4; 32]).is_none(), "an entry larger than the cache is not stored");
    }
}
