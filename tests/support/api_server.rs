//! A small Kubernetes API stand-in on localhost for running the whole
//! `kcmp controller` loop (kube-rs client, discovery, runtime watches, Leases)
//! in plain `cargo test`. It stores objects by (group, plural, namespace, name),
//! answers discovery, get, list (label selectors `k=v`), watch (a chunked
//! stream of ADDED/MODIFIED/DELETED events, replaying every event after the
//! `resourceVersion` the client asks from, as a real server does, so nothing
//! written between a list and its watch is lost),
//! server-side apply (the body replaces the object, status kept), merge patch,
//! create/replace with resourceVersion conflicts (409) and delete. List items
//! carry no apiVersion/kind, as a real server answers. Not a real API server:
//! no field ownership, defaulting or validation.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// (group, version, plural, kind, namespaced)
pub type Resource = (&'static str, &'static str, &'static str, &'static str, bool);

pub const RESOURCES: &[Resource] = &[
    ("", "v1", "namespaces", "Namespace", false),
    ("", "v1", "configmaps", "ConfigMap", true),
    ("", "v1", "secrets", "Secret", true),
    ("argoproj.io", "v1alpha1", "applications", "Application", true),
    ("argoproj.io", "v1alpha1", "applicationsets", "ApplicationSet", true),
    ("coordination.k8s.io", "v1", "leases", "Lease", true),
];

type Key = (String, String, String, String);

#[derive(Default)]
pub struct State {
    pub objects: BTreeMap<Key, Value>,
    /// `METHOD path` of every non-discovery request.
    pub log: Vec<String>,
    version: u64,
    /// Every watch event so far, with the resourceVersion it happened at.
    history: Vec<(u64, Event)>,
}

/// (plural, namespace, event type, object)
type Event = (String, String, String, Value);

#[derive(Clone)]
pub struct ApiServer {
    pub state: Arc<Mutex<State>>,
    events: broadcast::Sender<(u64, Event)>,
    pub url: String,
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

fn discovery(path: &str) -> Option<Value> {
    let verbs = json!(["create", "delete", "get", "list", "patch", "update", "watch"]);
    let list = |group: &str, version: &str| {
        let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        let resources: Vec<Value> = RESOURCES
            .iter()
            .filter(|r| r.0 == group && r.1 == version)
            .map(|r| json!({"name": r.2, "singularName": "", "namespaced": r.4, "kind": r.3, "verbs": verbs}))
            .collect();
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
    };
    Some(match path {
        "/api" => json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        "/apis" => {
            let groups: Vec<Value> = [("argoproj.io", "v1alpha1"), ("coordination.k8s.io", "v1")]
                .iter()
                .map(|(g, v)| {
                    json!({"name": g, "versions": [{"groupVersion": format!("{g}/{v}"), "version": v}],
                                      "preferredVersion": {"groupVersion": format!("{g}/{v}"), "version": v}})
                })
                .collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        "/api/v1" => list("", "v1"),
        "/apis/argoproj.io/v1alpha1" => list("argoproj.io", "v1alpha1"),
        "/apis/coordination.k8s.io/v1" => list("coordination.k8s.io", "v1"),
        _ => return None,
    })
}

/// -> (resource, namespace ("" = all / cluster-scoped), name)
fn parse_path(path: &str) -> Option<(&'static Resource, String, Option<String>)> {
    let (group, version, rest) = if let Some(r) = path.strip_prefix("/api/v1/") {
        ("", "v1", r)
    } else {
        let r = path.strip_prefix("/apis/")?;
        let mut it = r.splitn(3, '/');
        let (g, v, rest) = (it.next()?, it.next()?, it.next()?);
        (g, v, rest)
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (ns, plural, name) = match parts.as_slice() {
        ["namespaces", ns, plural] => (ns.to_string(), *plural, None),
        ["namespaces", ns, plural, name] => (ns.to_string(), *plural, Some(name.to_string())),
        [plural] => (String::new(), *plural, None),
        [plural, name] => (String::new(), *plural, Some(name.to_string())),
        _ => return None,
    };
    let res = RESOURCES.iter().find(|r| r.0 == group && r.1 == version && r.2 == plural)?;
    Some((res, ns, name))
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(q: &str, key: &str) -> Option<String> {
    q.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| decode(v))
}

fn labels_match(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| match term.split_once('=') {
        Some((k, v)) => obj["metadata"]["labels"][k].as_str() == Some(v),
        None => obj["metadata"]["labels"].get(term).is_some(),
    })
}

enum Answer {
    Json(u16, Value),
    /// Events already past the client's resourceVersion, then the live feed.
    Watch(&'static Resource, String, Vec<(u64, Event)>, broadcast::Receiver<(u64, Event)>),
}

impl ApiServer {
    pub async fn start() -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (events, _) = broadcast::channel(1024);
        let server = ApiServer { state: Default::default(), events, url };
        let s = server.clone();
        tokio::spawn(async move { s.serve(listener).await });
        server
    }

    /// A kubeconfig file pointing at this server.
    pub fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n",
            self.url
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// Stores `obj` as if a user wrote it (watchers are told).
    pub fn put(&self, obj: Value) {
        let res = RESOURCES.iter().find(|r| Some(r.3) == obj["kind"].as_str()).expect("known kind");
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let mut st = self.state.lock().expect("lock");
        let existed = st.objects.contains_key(&key(res, &ns, &name));
        let stored = Self::store(&mut st, res, &ns, &name, obj);
        self.notify(&mut st, res, &ns, if existed { "MODIFIED" } else { "ADDED" }, stored);
    }

    pub fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let res = RESOURCES.iter().find(|r| r.3 == kind)?;
        self.state.lock().expect("lock").objects.get(&key(res, ns, name)).cloned()
    }

    pub fn names(&self, kind: &str) -> Vec<String> {
        let st = self.state.lock().expect("lock");
        st.objects.iter().filter(|(_, o)| o["kind"] == kind).map(|(k, _)| k.3.clone()).collect()
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.state.lock().expect("lock").log.iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// Records and broadcasts one event. Called with the state locked, so a
    /// watch that subscribes under the same lock sees each event exactly once:
    /// either in the history it copies or on its receiver.
    fn notify(&self, st: &mut State, res: &Resource, ns: &str, kind: &str, mut obj: Value) {
        obj["apiVersion"] = json!(if res.0.is_empty() { res.1.to_string() } else { format!("{}/{}", res.0, res.1) });
        obj["kind"] = json!(res.3);
        let event = (res.2.to_string(), ns.to_string(), kind.to_string(), obj);
        st.history.push((st.version, event.clone()));
        let _ = self.events.send((st.version, event));
    }

    fn store(st: &mut State, res: &Resource, ns: &str, name: &str, mut obj: Value) -> Value {
        st.version += 1;
        let k = key(res, ns, name);
        let uid = st.objects.get(&k).and_then(|o| o["metadata"]["uid"].as_str().map(String::from));
        obj["metadata"]["resourceVersion"] = json!(st.version.to_string());
        obj["metadata"]["uid"] = json!(uid.unwrap_or_else(|| format!("uid-{name}")));
        if obj["metadata"].get("creationTimestamp").is_none() {
            obj["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        obj["apiVersion"] = json!(if res.0.is_empty() { res.1.to_string() } else { format!("{}/{}", res.0, res.1) });
        obj["kind"] = json!(res.3);
        st.objects.insert(k, obj.clone());
        obj
    }

    fn handle(&self, method: &str, target: &str, content_type: &str, body: &[u8]) -> Answer {
        let (path, q) = target.split_once('?').unwrap_or((target, ""));
        if let Some(v) = discovery(path) {
            return Answer::Json(200, v);
        }
        let Some((res, ns, name)) = parse_path(path) else {
            return Answer::Json(404, status(404, "NotFound", "the server could not find the requested resource"));
        };
        let dry_run = query(q, "dryRun").as_deref() == Some("All");
        let mut st = self.state.lock().expect("lock");
        st.log.push(format!("{method} {path}"));
        let not_found = || Answer::Json(404, status(404, "NotFound", &format!("{} not found", res.2)));
        match (method, name) {
            ("GET", None) if query(q, "watch").as_deref() == Some("true") => {
                let since: u64 = query(q, "resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
                let receiver = self.events.subscribe();
                let missed = st.history.iter().filter(|(v, _)| *v > since).cloned().collect();
                Answer::Watch(res, ns, missed, receiver)
            }
            ("GET", None) => {
                let selector = query(q, "labelSelector").unwrap_or_default();
                let items: Vec<Value> = st
                    .objects
                    .iter()
                    .filter(|(k, o)| {
                        k.0 == res.0 && k.1 == res.2 && (ns.is_empty() || k.2 == ns) && labels_match(o, &selector)
                    })
                    .map(|(_, o)| {
                        let mut o = o.clone();
                        if let Some(m) = o.as_object_mut() {
                            m.remove("apiVersion");
                            m.remove("kind");
                        }
                        o
                    })
                    .collect();
                let rv = st.version.to_string();
                Answer::Json(
                    200,
                    json!({"kind": format!("{}List", res.3), "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}),
                )
            }
            ("GET", Some(name)) => match st.objects.get(&key(res, &ns, &name)) {
                Some(o) => Answer::Json(200, o.clone()),
                None => not_found(),
            },
            ("DELETE", Some(name)) => {
                let Some(old) = (if dry_run { None } else { st.objects.remove(&key(res, &ns, &name)) }) else {
                    return if dry_run {
                        Answer::Json(200, json!({"kind": "Status", "status": "Success"}))
                    } else {
                        not_found()
                    };
                };
                st.version += 1;
                let mut old = old;
                old["metadata"]["resourceVersion"] = json!(st.version.to_string());
                self.notify(&mut st, res, &ns, "DELETED", old);
                Answer::Json(200, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}))
            }
            ("PATCH" | "PUT" | "POST", name) => {
                let Ok(incoming) = serde_json::from_slice::<Value>(body) else {
                    return Answer::Json(400, status(400, "BadRequest", "body is not json"));
                };
                let name = name.or_else(|| incoming["metadata"]["name"].as_str().map(String::from)).unwrap_or_default();
                let k = key(res, &ns, &name);
                let existing = st.objects.get(&k).cloned();
                let obj = match method {
                    "POST" if existing.is_some() => {
                        return Answer::Json(
                            409,
                            status(409, "AlreadyExists", &format!("{} \"{name}\" already exists", res.2)),
                        )
                    }
                    "POST" => incoming,
                    "PUT" => {
                        let Some(old) = existing.clone() else { return not_found() };
                        if incoming["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"] {
                            return Answer::Json(409, status(409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again"));
                        }
                        incoming
                    }
                    _ if content_type.contains("merge-patch") => {
                        let Some(mut old) = existing.clone() else { return not_found() };
                        json_patch::merge(&mut old, &incoming);
                        old
                    }
                    _ => {
                        // Server-side apply: the applied configuration replaces the object; status stays.
                        let mut obj = incoming;
                        if let Some(s) = existing.as_ref().and_then(|o| o.get("status")) {
                            if obj.get("status").is_none() {
                                obj["status"] = s.clone();
                            }
                        }
                        obj
                    }
                };
                if dry_run {
                    return Answer::Json(200, obj);
                }
                let stored = Self::store(&mut st, res, &ns, &name, obj);
                self.notify(&mut st, res, &ns, if existing.is_some() { "MODIFIED" } else { "ADDED" }, stored.clone());
                Answer::Json(if method == "POST" { 201 } else { 200 }, stored)
            }
            _ => Answer::Json(405, status(405, "MethodNotAllowed", "method not allowed")),
        }
    }

    async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let server = self.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let (mut length, mut content_type) = (0usize, String::new());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            } else if k.eq_ignore_ascii_case("content-type") {
                                content_type = v.trim().to_string();
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let mut parts = request_line.split_whitespace();
                    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    match server.handle(method, target, &content_type, &body) {
                        Answer::Json(code, v) => {
                            let text = v.to_string();
                            let head = format!(
                                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                                text.len()
                            );
                            if write.write_all(head.as_bytes()).await.is_err()
                                || write.write_all(text.as_bytes()).await.is_err()
                            {
                                return;
                            }
                        }
                        Answer::Watch(res, ns, missed, mut rx) => {
                            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                            if write.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let mut missed = missed.into_iter();
                            loop {
                                let (plural, ens, kind, obj) = match missed.next() {
                                    Some((_, event)) => event,
                                    None => match rx.recv().await {
                                        Ok((_, event)) => event,
                                        Err(_) => return,
                                    },
                                };
                                if plural != res.2 || (!ns.is_empty() && ens != ns) {
                                    continue;
                                }
                                let line = format!("{}\n", json!({"type": kind, "object": obj}));
                                let chunk = format!("{:x}\r\n{line}\r\n", line.len());
                                if write.write_all(chunk.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
            });
        }
    }
}

fn key(res: &Resource, ns: &str, name: &str) -> Key {
    (res.0.to_string(), res.2.to_string(), if res.4 { ns.to_string() } else { String::new() }, name.to_string())
}
