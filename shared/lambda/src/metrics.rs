//! Key counts in CloudWatch Embedded Metric Format: on Lambda each count is one JSON line on
//! stdout, which CloudWatch Logs turns into a metric (namespace `ticketrush`, dimension
//! `function`) without an API call. Elsewhere (the local runtime, tests) counts go to the
//! debug log instead, so stdout stays clean; `METRICS_FORMAT=emf` forces EMF.

use std::io::Write as _;

pub const NAMESPACE: &str = "ticketrush";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A buyer joined a waiting room.
    QueueJoins,
    /// Buyers admitted from waiting rooms by a tick.
    Admits,
    /// A seat click lost to someone else's soft lock.
    SoftLockConflicts,
    /// A hold confirmed (new, not replayed).
    Holds,
    /// Push messages delivered to a connection.
    PushesDelivered,
    /// Push messages to connections that were gone.
    PushesGone,
    /// Push messages that failed (retried through the queue).
    PushesFailed,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::QueueJoins => "QueueJoins",
            Metric::Admits => "Admits",
            Metric::SoftLockConflicts => "SoftLockConflicts",
            Metric::Holds => "Holds",
            Metric::PushesDelivered => "PushesDelivered",
            Metric::PushesGone => "PushesGone",
            Metric::PushesFailed => "PushesFailed",
        }
    }
}

/// Records `value` of `metric` for `function` (the crate name, stable across deploys).
pub fn count(function: &str, metric: Metric, value: u64) {
    if value == 0 {
        return;
    }
    if emf_enabled() {
        let line = emf_line(
            function,
            metric,
            value,
            chrono::Utc::now().timestamp_millis(),
        );
        // One write per line, so concurrent counts never interleave.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    } else {
        tracing::debug!(function, metric = metric.name(), value, "count");
    }
}

fn emf_enabled() -> bool {
    match std::env::var("METRICS_FORMAT").ok().as_deref() {
        Some("emf") => true,
        Some(_) => false,
        None => std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
    }
}

/// The EMF document for one count, newline-terminated.
pub fn emf_line(function: &str, metric: Metric, value: u64, timestamp_ms: i64) -> String {
    let doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["function"]],
                "Metrics": [{ "Name": metric.name(), "Unit": "Count" }],
            }],
        },
        "function": function,
        metric.name(): value,
    });
    format!("{doc}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_its_metric_and_carries_the_value() {
        let line = emf_line("queue-activate", Metric::Admits, 12, 1_700_000_000_000);
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "ticketrush");
        assert_eq!(declared["Dimensions"], serde_json::json!([["function"]]));
        assert_eq!(declared["Metrics"][0]["Name"], "Admits");
        assert_eq!(declared["Metrics"][0]["Unit"], "Count");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(doc["function"], "queue-activate");
        assert_eq!(doc["Admits"], 12);
    }
}
