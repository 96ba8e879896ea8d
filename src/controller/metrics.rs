//! The controller's Prometheus metrics (served as text on `/metrics` by the
//! loop in `run/`): reconciles by kind and result, sync operations by result,
//! and reconcile durations. Built on `prometheus-client`; one [`Metrics`] value
//! is created by the loop and shared through its context (no global registry).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindResult {
    kind: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Result {
    phase: String,
}

type Durations = Family<Kind, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

/// Counters and histograms of one controller process.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindResult, Counter>,
    syncs: Family<Result, Counter>,
    durations: Durations,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry holding the three metric families.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kcmp");
        let reconciles = Family::<KindResult, Counter>::default();
        let syncs = Family::<Result, Counter>::default();
        let durations: Durations = Family::new_with_constructor(duration_histogram);
        registry.register("reconciles", "Reconciles by resource kind and result (ok, error)", reconciles.clone());
        registry.register("syncs", "Sync operations by final phase", syncs.clone());
        registry.register("reconcile_duration_seconds", "Time spent in one reconcile", durations.clone());
        Metrics { registry, reconciles, syncs, durations }
    }

    /// Counts one reconcile of `kind` (`Application`, `ApplicationSet`).
    pub fn reconciled(&self, kind: &str, ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "error" };
        self.reconciles.get_or_create(&KindResult { kind: kind.into(), result: result.into() }).inc();
        self.durations.get_or_create(&Kind { kind: kind.into() }).observe(took.as_secs_f64());
    }

    /// Counts one sync operation that ended in `phase` (`Succeeded`, `Failed`, `Error`, `Running` = retrying).
    pub fn synced(&self, phase: &str) {
        self.syncs.get_or_create(&Result { phase: phase.into() }).inc();
    }

    /// The Prometheus text exposition (OpenMetrics text format).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_exposition() {
        let m = Metrics::new();
        m.reconciled("Application", true, Duration::from_millis(20));
        m.reconciled("Application", true, Duration::from_millis(20));
        m.reconciled("ApplicationSet", false, Duration::from_millis(1));
        m.synced("Succeeded");
        let text = m.encode();
        assert!(text.contains("kcmp_reconciles_total{kind=\"Application\",result=\"ok\"} 2"), "{text}");
        assert!(text.contains("kcmp_reconciles_total{kind=\"ApplicationSet\",result=\"error\"} 1"), "{text}");
        assert!(text.contains("kcmp_syncs_total{phase=\"Succeeded\"} 1"), "{text}");
        assert!(text.contains("kcmp_reconcile_duration_seconds_count{kind=\"Application\"} 2"), "{text}");
    }
}
