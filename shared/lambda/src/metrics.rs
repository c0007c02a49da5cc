//! Every metric ticketrush emits, in CloudWatch Embedded Metric Format: on Lambda each
//! record is one JSON line on stdout, which CloudWatch Logs turns into metrics (namespace
//! `ticketrush`) without an API call. Elsewhere (the local runtime, tests) records go to the
//! debug log instead, so stdout stays clean; `METRICS_FORMAT=emf` forces EMF. Either way the
//! same line is handed to the process's sink if one is installed (`set_sink`): the local
//! runtime's operator page is fed from it, so it shows what CloudWatch would.
//!
//! The names, units and dimensions below are the contract with the dashboard, the alarms
//! and the runbook: keep them stable.

use std::{io::Write as _, sync::OnceLock};

pub const NAMESPACE: &str = "ticketrush";

/// The dimension sets a metric is recorded under. Few, so the bill stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimensions {
    /// `function` (the crate name, stable across deploys).
    Function,
    /// `function`, `concert` (the concert id): the waiting-room gauges.
    FunctionConcert,
    /// `function`, `store` (`postgres`, `redis`, `dynamodb`, `sqs`, `other`).
    FunctionStore,
}

impl Dimensions {
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Dimensions::Function => &["function"],
            Dimensions::FunctionConcert => &["function", "concert"],
            Dimensions::FunctionStore => &["function", "store"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A buyer joined a waiting room (queue-join).
    QueueJoins,
    /// Buyers waiting in a concert's line after an admission tick (queue-activate).
    WaitingRoomDepth,
    /// Buyers holding a valid admission for a concert after a tick (queue-activate).
    ActiveBuyers,
    /// Buyers a tick admitted to a concert (queue-activate).
    Admits,
    /// Estimated wait of the last buyer in a concert's line after a tick (queue-activate).
    LastInLineWait,
    /// A seat click that took the soft lock (seat-select).
    SeatSelects,
    /// A seat click lost to someone else's soft lock (seat-select).
    SoftLockConflicts,
    /// A hold made (new, not replayed) (hold-confirm).
    HoldsMade,
    /// Holds an expiry tick expired (hold-expire).
    HoldsExpired,
    /// Holds paid for: the reservation is confirmed (reservations, payment-webhook).
    HoldsConfirmed,
    /// A charge the gateway approved (reservations, payment-webhook).
    PaymentsApproved,
    /// A charge the gateway denied (reservations, payment-webhook).
    PaymentsDenied,
    /// A charge with no answer yet: the webhook will tell (reservations).
    PaymentsPending,
    /// An approved payment whose reservation had moved on: refunded (payment-webhook).
    PaymentsRefundDue,
    /// Push messages delivered to a connection (push-dispatch).
    PushesDelivered,
    /// Push messages to connections that were gone (push-dispatch).
    PushesGone,
    /// Push messages that failed (retried through the queue) (push-dispatch).
    PushesFailed,
    /// Connections API Gateway still throttled after every retry, among the failed
    /// (push-dispatch).
    PushesThrottled,
    /// Subscribers passed over because their token had expired (push-dispatch).
    PushTokensExpired,
    /// Age of the oldest push message of a batch when push-dispatch got it (its SQS
    /// `SentTimestamp`).
    PushQueueAge,
    /// How long one tick took (every ticked function; one value per tick).
    TickDuration,
    /// Ticks that ran (every ticked function): none for a while means the schedule stopped.
    TicksRun,
    /// Tick instants that went by unrun: the invocation started late, a tick overran, or the
    /// deadline came first (every ticked function).
    TicksSkipped,
    /// Ticks that failed; the next tick retries their work (every ticked function).
    TicksFailed,
    /// A store error answered to a client (503 or 500), by store (any HTTP function).
    StoreErrors,
}

impl Metric {
    pub const ALL: [Metric; 25] = [
        Metric::QueueJoins,
        Metric::WaitingRoomDepth,
        Metric::ActiveBuyers,
        Metric::Admits,
        Metric::LastInLineWait,
        Metric::SeatSelects,
        Metric::SoftLockConflicts,
        Metric::HoldsMade,
        Metric::HoldsExpired,
        Metric::HoldsConfirmed,
        Metric::PaymentsApproved,
        Metric::PaymentsDenied,
        Metric::PaymentsPending,
        Metric::PaymentsRefundDue,
        Metric::PushesDelivered,
        Metric::PushesGone,
        Metric::PushesFailed,
        Metric::PushesThrottled,
        Metric::PushTokensExpired,
        Metric::PushQueueAge,
        Metric::TickDuration,
        Metric::TicksRun,
        Metric::TicksSkipped,
        Metric::TicksFailed,
        Metric::StoreErrors,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::QueueJoins => "QueueJoins",
            Metric::WaitingRoomDepth => "WaitingRoomDepth",
            Metric::ActiveBuyers => "ActiveBuyers",
            Metric::Admits => "Admits",
            Metric::LastInLineWait => "LastInLineWait",
            Metric::SeatSelects => "SeatSelects",
            Metric::SoftLockConflicts => "SoftLockConflicts",
            Metric::HoldsMade => "HoldsMade",
            Metric::HoldsExpired => "HoldsExpired",
            Metric::HoldsConfirmed => "HoldsConfirmed",
            Metric::PaymentsApproved => "PaymentsApproved",
            Metric::PaymentsDenied => "PaymentsDenied",
            Metric::PaymentsPending => "PaymentsPending",
            Metric::PaymentsRefundDue => "PaymentsRefundDue",
            Metric::PushesDelivered => "PushesDelivered",
            Metric::PushesGone => "PushesGone",
            Metric::PushesFailed => "PushesFailed",
            Metric::PushesThrottled => "PushesThrottled",
            Metric::PushTokensExpired => "PushTokensExpired",
            Metric::PushQueueAge => "PushQueueAge",
            Metric::TickDuration => "TickDuration",
            Metric::TicksRun => "TicksRun",
            Metric::TicksSkipped => "TicksSkipped",
            Metric::TicksFailed => "TicksFailed",
            Metric::StoreErrors => "StoreErrors",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::LastInLineWait => Unit::Seconds,
            Metric::PushQueueAge | Metric::TickDuration => Unit::Milliseconds,
            _ => Unit::Count,
        }
    }

    pub fn dimensions(self) -> Dimensions {
        match self {
            Metric::WaitingRoomDepth
            | Metric::ActiveBuyers
            | Metric::Admits
            | Metric::LastInLineWait => Dimensions::FunctionConcert,
            Metric::StoreErrors => Dimensions::FunctionStore,
            _ => Dimensions::Function,
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// One EMF record: metrics sharing one set of dimension values.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    pub function: &'a str,
    /// The value of the second dimension (`concert` or `store`), when the metrics have one.
    pub key: Option<&'a str>,
    /// Each metric with its values (more than one value: a distribution, as EMF allows).
    pub values: Vec<(Metric, Vec<f64>)>,
}

/// Records `value` of a `function`-dimensioned `metric`; a zero count is not sent.
pub fn count(function: &str, metric: Metric, value: u64) {
    if value == 0 {
        return;
    }
    emit(&Record {
        function,
        key: None,
        values: vec![(metric, vec![value as f64])],
    });
}

/// Records a concert's gauges (zeros included: an empty line is news).
pub fn concert(function: &str, concert: &str, values: &[(Metric, f64)]) {
    emit(&Record {
        function,
        key: Some(concert),
        values: values.iter().map(|&(m, v)| (m, vec![v])).collect(),
    });
}

/// Records several values of one `function`-dimensioned metric (a duration per tick).
pub fn distribution(function: &str, metric: Metric, values: &[f64]) {
    if values.is_empty() {
        return;
    }
    emit(&Record {
        function,
        key: None,
        values: vec![(metric, values.to_vec())],
    });
}

/// Records one store error answered by `function`.
pub fn store_error(function: &str, store: &str) {
    emit(&Record {
        function,
        key: Some(store),
        values: vec![(Metric::StoreErrors, vec![1.0])],
    });
}

/// Where EMF lines go besides stdout: the local runtime's operator page.
type Sink = Box<dyn Fn(&str) + Send + Sync>;
static SINK: OnceLock<Sink> = OnceLock::new();

/// Hands every EMF line this process makes to `sink` as well; the first call wins.
pub fn set_sink(sink: impl Fn(&str) + Send + Sync + 'static) {
    let _ = SINK.set(Box::new(sink));
}

fn emit(record: &Record<'_>) {
    let sink = SINK.get();
    let emf = emf_enabled();
    if !emf && sink.is_none() {
        for (metric, values) in &record.values {
            tracing::debug!(
                function = record.function,
                key = record.key,
                metric = metric.name(),
                ?values,
                "metric"
            );
        }
        return;
    }
    let line = emf_line(record, chrono::Utc::now().timestamp_millis());
    if emf {
        // One write per line, so concurrent records never interleave.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
    if let Some(sink) = sink {
        sink(&line);
    }
}

fn emf_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| match std::env::var("METRICS_FORMAT").ok().as_deref() {
        Some("emf") => true,
        Some(_) => false,
        None => std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
    })
}

/// The EMF document for one record, newline-terminated. The metrics of a record share one
/// dimension set (the first metric's).
pub fn emf_line(record: &Record<'_>, timestamp_ms: i64) -> String {
    let dimensions = record
        .values
        .first()
        .map_or(Dimensions::Function, |(m, _)| m.dimensions());
    let names = dimensions.names();
    let declared: Vec<_> = record
        .values
        .iter()
        .map(|(m, _)| serde_json::json!({ "Name": m.name(), "Unit": m.unit().name() }))
        .collect();
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": declared,
            }],
        },
        "function": record.function,
    });
    if let (Some(second), Some(key)) = (names.get(1), record.key) {
        doc[*second] = key.into();
    }
    for (metric, values) in &record.values {
        doc[metric.name()] = match values.as_slice() {
            [one] => number(*one),
            many => many.iter().copied().map(number).collect(),
        };
    }
    format!("{doc}\n")
}

/// Whole numbers as integers, so a count reads `3`, not `3.0`.
fn number(value: f64) -> serde_json::Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        (value as i64).into()
    } else {
        value.into()
    }
}

/// An EMF line read back: what a metric sink (the operator page) works from.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub function: String,
    pub key: Option<String>,
    pub values: Vec<(Metric, Vec<f64>)>,
}

/// Reads a line `emf_line` made; `None` for anything else.
pub fn parse_line(line: &str) -> Option<Parsed> {
    let doc: serde_json::Value = serde_json::from_str(line).ok()?;
    let declared = &doc["_aws"]["CloudWatchMetrics"][0];
    let names = declared["Dimensions"][0].as_array()?;
    let key = names
        .get(1)
        .and_then(|n| n.as_str())
        .and_then(|n| doc[n].as_str())
        .map(str::to_owned);
    let values = declared["Metrics"]
        .as_array()?
        .iter()
        .filter_map(|m| Metric::from_name(m["Name"].as_str()?))
        .filter_map(|m| {
            let value = &doc[m.name()];
            let values = match value.as_array() {
                Some(many) => many.iter().filter_map(|v| v.as_f64()).collect(),
                None => vec![value.as_f64()?],
            };
            Some((m, values))
        })
        .collect();
    Some(Parsed {
        function: doc["function"].as_str()?.to_owned(),
        key,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_its_metric_and_carries_the_value() {
        let record = Record {
            function: "queue-join",
            key: None,
            values: vec![(Metric::QueueJoins, vec![12.0])],
        };
        let line = emf_line(&record, 1_700_000_000_000);
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "ticketrush");
        assert_eq!(declared["Dimensions"], serde_json::json!([["function"]]));
        assert_eq!(declared["Metrics"][0]["Name"], "QueueJoins");
        assert_eq!(declared["Metrics"][0]["Unit"], "Count");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(doc["function"], "queue-join");
        assert_eq!(doc["QueueJoins"], 12);
    }

    #[test]
    fn a_concert_record_carries_the_concert_dimension_and_every_gauge() {
        let record = Record {
            function: "queue-activate",
            key: Some("c-1"),
            values: vec![
                (Metric::WaitingRoomDepth, vec![0.0]),
                (Metric::LastInLineWait, vec![4.0]),
            ],
        };
        let line = emf_line(&record, 0);
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            declared["Dimensions"],
            serde_json::json!([["function", "concert"]])
        );
        assert_eq!(declared["Metrics"][1]["Unit"], "Seconds");
        assert_eq!(doc["concert"], "c-1");
        assert_eq!(doc["WaitingRoomDepth"], 0);
        let parsed = parse_line(&line).unwrap();
        assert_eq!(parsed.function, "queue-activate");
        assert_eq!(parsed.key.as_deref(), Some("c-1"));
        assert_eq!(parsed.values, record.values);
    }

    #[test]
    fn a_distribution_is_an_array_and_reads_back() {
        let record = Record {
            function: "hold-expire",
            key: None,
            values: vec![(Metric::TickDuration, vec![3.0, 7.5])],
        };
        let line = emf_line(&record, 0);
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["TickDuration"], serde_json::json!([3, 7.5]));
        assert_eq!(parse_line(&line).unwrap().values, record.values);
    }

    #[test]
    fn names_are_unique_and_read_back() {
        for metric in Metric::ALL {
            assert_eq!(Metric::from_name(metric.name()), Some(metric));
        }
    }
}
