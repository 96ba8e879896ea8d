//! Prometheus metrics of the sidecar (optional `--metrics-addr`): requests, errors
//! by gRPC code, latency per RPC and per phase, cache results, requests in flight.
//! Plain counters behind a mutex, printed in the text exposition format by a
//! minimal HTTP responder on `GET /metrics`. Labels carry RPC, phase and code
//! names only, never app paths, env or parameter values.

use crate::cmp::error::Phase;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// All counters; `BTreeMap`s so the exposition is stable.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    requests: BTreeMap<&'static str, u64>,
    errors: BTreeMap<(&'static str, String), u64>,
    rpc_seconds: BTreeMap<&'static str, (f64, u64)>,
    phase_seconds: BTreeMap<String, (f64, u64)>,
    cache: BTreeMap<&'static str, u64>,
    in_flight: i64,
}

impl Metrics {
    /// A request of `rpc` started.
    pub fn started(&self, rpc: &'static str) {
        if let Ok(mut c) = self.inner.lock() {
            *c.requests.entry(rpc).or_default() += 1;
            c.in_flight += 1;
        }
    }

    /// A request of `rpc` ended after `took`; `code` is its gRPC code on failure.
    pub fn finished(&self, rpc: &'static str, took: Duration, code: Option<tonic::Code>) {
        if let Ok(mut c) = self.inner.lock() {
            c.in_flight -= 1;
            let e = c.rpc_seconds.entry(rpc).or_default();
            e.0 += took.as_secs_f64();
            e.1 += 1;
            if let Some(code) = code {
                *c.errors.entry((rpc, format!("{code:?}"))).or_default() += 1;
            }
        }
    }

    /// One phase of some request took `took`.
    pub fn phase(&self, phase: Phase, took: Duration) {
        if let Ok(mut c) = self.inner.lock() {
            let e = c.phase_seconds.entry(phase.to_string()).or_default();
            e.0 += took.as_secs_f64();
            e.1 += 1;
        }
    }

    /// A GenerateManifest cache result: `hit`, `miss` or `off`.
    pub fn cache(&self, result: &'static str) {
        if let Ok(mut c) = self.inner.lock() {
            *c.cache.entry(result).or_default() += 1;
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let Ok(c) = self.inner.lock() else { return String::new() };
        let mut out = String::new();
        let _ = writeln!(out, "# HELP kcmp_requests_total CMP requests received, per RPC.");
        let _ = writeln!(out, "# TYPE kcmp_requests_total counter");
        for (rpc, n) in &c.requests {
            let _ = writeln!(out, "kcmp_requests_total{{rpc=\"{rpc}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP kcmp_request_errors_total Failed CMP requests, per RPC and gRPC code.");
        let _ = writeln!(out, "# TYPE kcmp_request_errors_total counter");
        for ((rpc, code), n) in &c.errors {
            let _ = writeln!(out, "kcmp_request_errors_total{{rpc=\"{rpc}\",code=\"{code}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP kcmp_request_duration_seconds Time per CMP request, per RPC.");
        let _ = writeln!(out, "# TYPE kcmp_request_duration_seconds summary");
        for (rpc, (sum, count)) in &c.rpc_seconds {
            let _ = writeln!(out, "kcmp_request_duration_seconds_sum{{rpc=\"{rpc}\"}} {sum}");
            let _ = writeln!(out, "kcmp_request_duration_seconds_count{{rpc=\"{rpc}\"}} {count}");
        }
        let _ = writeln!(out, "# HELP kcmp_phase_duration_seconds Time per request phase.");
        let _ = writeln!(out, "# TYPE kcmp_phase_duration_seconds summary");
        for (phase, (sum, count)) in &c.phase_seconds {
            let _ = writeln!(out, "kcmp_phase_duration_seconds_sum{{phase=\"{phase}\"}} {sum}");
            let _ = writeln!(out, "kcmp_phase_duration_seconds_count{{phase=\"{phase}\"}} {count}");
        }
        let _ = writeln!(out, "# HELP kcmp_cache_requests_total GenerateManifest cache results.");
        let _ = writeln!(out, "# TYPE kcmp_cache_requests_total counter");
        for (result, n) in &c.cache {
            let _ = writeln!(out, "kcmp_cache_requests_total{{result=\"{result}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP kcmp_requests_in_flight CMP requests being processed or queued.");
        let _ = writeln!(out, "# TYPE kcmp_requests_in_flight gauge");
        let _ = writeln!(out, "kcmp_requests_in_flight {}", c.in_flight);
        out
    }
}

/// Answers `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: std::sync::Arc<Metrics>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { continue };
        let metrics = std::sync::Arc::clone(&metrics);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            // A request line and headers fit in 4 KiB; slow or silent peers are dropped.
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    match conn.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let (status, body) = if head.starts_with("GET /metrics ") || head.starts_with("GET /metrics?") {
                ("200 OK", metrics.render())
            } else {
                ("404 Not Found", "not found: try GET /metrics\n".to_string())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(response.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lists_requests_errors_phases_and_cache() {
        let m = Metrics::default();
        m.started("GenerateManifest");
        m.phase(Phase::Render, Duration::from_millis(500));
        m.cache("miss");
        m.finished("GenerateManifest", Duration::from_secs(1), Some(tonic::Code::Unknown));
        let text = m.render();
        assert!(text.contains("kcmp_requests_total{rpc=\"GenerateManifest\"} 1\n"), "{text}");
        assert!(text.contains("kcmp_request_errors_total{rpc=\"GenerateManifest\",code=\"Unknown\"} 1\n"), "{text}");
        assert!(text.contains("kcmp_phase_duration_seconds_sum{phase=\"render\"} 0.5\n"), "{text}");
        assert!(text.contains("kcmp_cache_requests_total{result=\"miss\"} 1\n"), "{text}");
        assert!(text.contains("kcmp_requests_in_flight 0\n"), "{text}");
    }
}
