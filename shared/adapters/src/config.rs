//! Typed configuration, read from the environment once at start. A missing or bad value
//! stops the process with a message naming the variable; secrets are never printed.

use std::{fmt, str::FromStr, time::Duration};

use thiserror::Error;
use ticketrush_core::realtime::{RealtimeMode, RealtimeSettings};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{name} could not be read from Secrets Manager: {reason}")]
    Secret { name: String, reason: String },
}

/// Where settings come from: the process environment, or a map in tests.
pub struct Env<F>(F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn from_fn(lookup: F) -> Self {
        Env(lookup)
    }

    pub fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name)
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    pub fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
        }
    }
}

/// A value that must not reach logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// May carry a password.
    pub url: Secret,
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout: Duration,
}

impl PostgresConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            url: Secret::new(env.required("DATABASE_URL")?),
            max_connections: env.parse_or("DATABASE_MAX_CONNECTIONS", 5)?,
            acquire_timeout: Duration::from_millis(
                env.parse_or("DATABASE_ACQUIRE_TIMEOUT_MS", 2_000)?,
            ),
        })
    }

    /// For a scheduled tick: it waits for a connection for up to its period rather than
    /// failing the tick (a request answers 503 sooner; a tick has no caller to retry).
    pub fn for_tick(mut self, period: Duration) -> Self {
        self.acquire_timeout = self.acquire_timeout.max(period);
        self
    }
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// May carry a password.
    pub url: Secret,
    /// Prepended to every key, so deployments and test runs share a server safely.
    pub key_prefix: String,
    /// Bound on connecting and on each command, so a dead server answers 503 quickly.
    pub timeout: Duration,
}

impl RedisConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let key_prefix: String = env.parse_or("REDIS_KEY_PREFIX", "tr".to_owned())?;
        if key_prefix.is_empty() || key_prefix.contains(['{', '}', ' ']) {
            return Err(ConfigError::Invalid {
                name: "REDIS_KEY_PREFIX",
                reason: "must be non-empty without braces or spaces".into(),
            });
        }
        Ok(Self {
            url: Secret::new(env.required("REDIS_URL")?),
            key_prefix,
            timeout: Duration::from_millis(env.parse_or("REDIS_TIMEOUT_MS", 1_000)?),
        })
    }
}

pub fn realtime_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<RealtimeSettings, ConfigError> {
    let realtime_mode: RealtimeMode = env.parse_or("REALTIME_MODE", RealtimeMode::Websocket)?;
    let hybrid_poll_interval_millis: u64 = env.parse_or("HYBRID_POLL_INTERVAL_MILLIS", 30_000)?;
    if !(1_000..=600_000).contains(&hybrid_poll_interval_millis) {
        return Err(ConfigError::Invalid {
            name: "HYBRID_POLL_INTERVAL_MILLIS",
            reason: "must be between 1000 and 600000".into(),
        });
    }
    Ok(RealtimeSettings {
        realtime_mode,
        hybrid_poll_interval_millis,
    })
}

/// The waiting room's knobs.
pub fn queue_settings_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<ticketrush_core::queue::QueueSettings, ConfigError> {
    let positive = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
        let v: u32 = env.parse_or(name, default)?;
        if v == 0 {
            return Err(ConfigError::Invalid {
                name,
                reason: "must be at least 1".into(),
            });
        }
        Ok(v)
    };
    Ok(ticketrush_core::queue::QueueSettings {
        capacity: positive("QUEUE_CAPACITY", 200_000)?,
        admit_per_tick: positive("QUEUE_ADMIT_PER_TICK", 100)?,
        max_active: positive("QUEUE_MAX_ACTIVE", 1_000)?,
        active_ttl: Duration::from_secs(positive("QUEUE_ACTIVE_TTL_SECS", 600)?.into()),
        abandon_after: Duration::from_secs(positive("QUEUE_ABANDON_AFTER_SECS", 90)?.into()),
        tick: Duration::from_millis(positive("QUEUE_TICK_MILLIS", 1_000)?.into()),
        join_limit: positive("QUEUE_JOIN_LIMIT", 10)?,
        join_window: Duration::from_secs(positive("QUEUE_JOIN_WINDOW_SECS", 10)?.into()),
        rank_push_per_tick: env.parse_or("QUEUE_RANK_PUSH_PER_TICK", 1_000)?,
    })
}

/// How long a function reuses a concert's catalog entry before reading it again.
pub fn catalog_cache_ttl_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(
        env.parse_or("CATALOG_CACHE_MILLIS", 1_000)?,
    ))
}

/// Seat soft-lock settings.
/// Refund cutoff and webhook freshness.
pub fn payment_settings_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<ticketrush_core::payments::PaymentSettings, ConfigError> {
    let cutoff_hours: u64 = env.parse_or("REFUND_CUTOFF_HOURS", 24)?;
    let tolerance: u64 = env.parse_or("PAYMENT_WEBHOOK_TOLERANCE_SECS", 300)?;
    let window: u64 = env.parse_or("PAYMENT_WINDOW_SECS", 900)?;
    if !(1..=86_400).contains(&window) {
        return Err(ConfigError::Invalid {
            name: "PAYMENT_WINDOW_SECS",
            reason: "must be between 1 and 86400 (the gateway's answer timeout, with a margin)"
                .into(),
        });
    }
    if cutoff_hours > 24 * 90 {
        return Err(ConfigError::Invalid {
            name: "REFUND_CUTOFF_HOURS",
            reason: "must be at most 2160 (90 days)".into(),
        });
    }
    if !(1..=3_600).contains(&tolerance) {
        return Err(ConfigError::Invalid {
            name: "PAYMENT_WEBHOOK_TOLERANCE_SECS",
            reason: "must be between 1 and 3600".into(),
        });
    }
    Ok(ticketrush_core::payments::PaymentSettings {
        refund_cutoff: Duration::from_secs(cutoff_hours * 3600),
        webhook_tolerance: Duration::from_secs(tolerance),
        payment_window: Duration::from_secs(window),
    })
}

/// Which payment gateway takes the money. There is no default: a deployment names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentGatewayChoice {
    /// The stand-in provider: approves by method token without charging anyone. Local runs,
    /// tests and staging only.
    Sandbox,
}

pub fn payment_gateway_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<PaymentGatewayChoice, ConfigError> {
    match env.optional("PAYMENT_GATEWAY").as_deref() {
        Some("sandbox") => Ok(PaymentGatewayChoice::Sandbox),
        Some(other) => Err(ConfigError::Invalid {
            name: "PAYMENT_GATEWAY",
            reason: format!(
                "{other:?} is not a gateway this build has; the only one is \"sandbox\" (staging only)"
            ),
        }),
        None => Err(ConfigError::Invalid {
            name: "PAYMENT_GATEWAY",
            reason: "is not set; name the gateway explicitly (\"sandbox\" is for local runs, tests and staging only: it charges nobody)".into(),
        }),
    }
}

pub fn seat_settings_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<ticketrush_core::seats::SeatSettings, ConfigError> {
    let ttl: u64 = env.parse_or("SEAT_LOCK_TTL_SECS", 30)?;
    let window: u64 = env.parse_or("SEAT_FLUSH_WINDOW_MILLIS", 200)?;
    if !(1..=600).contains(&ttl) {
        return Err(ConfigError::Invalid {
            name: "SEAT_LOCK_TTL_SECS",
            reason: "must be between 1 and 600".into(),
        });
    }
    if !(10..=5_000).contains(&window) {
        return Err(ConfigError::Invalid {
            name: "SEAT_FLUSH_WINDOW_MILLIS",
            reason: "must be between 10 and 5000".into(),
        });
    }
    Ok(ticketrush_core::seats::SeatSettings {
        lock_ttl: Duration::from_secs(ttl),
        flush_window: Duration::from_millis(window),
    })
}

/// How long a hold lasts before it expires and frees its seats.
pub fn hold_ttl_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Duration, ConfigError> {
    let secs: u64 = env.parse_or("HOLD_TTL_SECS", 600)?;
    if !(10..=3_600).contains(&secs) {
        return Err(ConfigError::Invalid {
            name: "HOLD_TTL_SECS",
            reason: "must be between 10 and 3600".into(),
        });
    }
    Ok(Duration::from_secs(secs))
}

/// How often the hold-expiry tick runs (locally; in AWS the schedule decides).
pub fn hold_expire_tick_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Duration, ConfigError> {
    let ms: u64 = env.parse_or("HOLD_EXPIRE_TICK_MILLIS", 1_000)?;
    if ms < 100 {
        return Err(ConfigError::Invalid {
            name: "HOLD_EXPIRE_TICK_MILLIS",
            reason: "must be at least 100".into(),
        });
    }
    Ok(Duration::from_millis(ms))
}

/// The abuse rules on holds.
pub fn abuse_rules_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<ticketrush_core::abuse::AbuseRules, ConfigError> {
    Ok(ticketrush_core::abuse::AbuseRules {
        max_holds: env.parse_or("ABUSE_MAX_HOLDS", 5)?,
        holds_window: Duration::from_secs(env.parse_or("ABUSE_HOLDS_WINDOW_SECS", 60)?),
        repeat_window: Duration::from_secs(env.parse_or("ABUSE_REPEAT_WINDOW_SECS", 10)?),
        device_window: Duration::from_secs(env.parse_or("ABUSE_DEVICE_WINDOW_SECS", 600)?),
    })
}

/// The push dispatcher's knobs.
pub fn dispatch_settings_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<ticketrush_core::dispatch::DispatchSettings, ConfigError> {
    let concurrency: usize = env.parse_or("PUSH_CONCURRENCY", 64)?;
    if !(1..=1_000).contains(&concurrency) {
        return Err(ConfigError::Invalid {
            name: "PUSH_CONCURRENCY",
            reason: "must be between 1 and 1000".into(),
        });
    }
    Ok(ticketrush_core::dispatch::DispatchSettings {
        concurrency,
        live_shards: live_shards_from_env(env)?,
        throttle_attempts: env.parse_or("PUSH_THROTTLE_ATTEMPTS", 5)?,
        throttle_backoff: Duration::from_millis(env.parse_or("PUSH_THROTTLE_BACKOFF_MILLIS", 50)?),
        max_seat_changes: env.parse_or("PUSH_MAX_SEAT_CHANGES", 5_000)?,
        realtime: realtime_from_env(env)?,
    })
}

/// Shards of the `concerts.live` topic; every WebSocket function must agree on it.
pub fn live_shards_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<u16, ConfigError> {
    let shards: u16 = env.parse_or("LIVE_TOPIC_SHARDS", 4)?;
    if !(1..=256).contains(&shards) {
        return Err(ConfigError::Invalid {
            name: "LIVE_TOPIC_SHARDS",
            reason: "must be between 1 and 256".into(),
        });
    }
    Ok(shards)
}

/// The WebSocket API's `@connections` endpoint:
/// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
pub fn management_endpoint_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<String, ConfigError> {
    let url = env.required("APIGW_MANAGEMENT_ENDPOINT")?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError::Invalid {
            name: "APIGW_MANAGEMENT_ENDPOINT",
            reason: "must be an http(s) URL".into(),
        });
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// How often the sale-status tick runs (locally; in AWS the schedule decides).
pub fn sale_status_tick_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Duration, ConfigError> {
    let ms: u64 = env.parse_or("SALE_STATUS_TICK_MILLIS", 1_000)?;
    if ms < 100 {
        return Err(ConfigError::Invalid {
            name: "SALE_STATUS_TICK_MILLIS",
            reason: "must be at least 100".into(),
        });
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from_fn(move |k| map.get(k).cloned())
    }

    #[test]
    fn missing_and_invalid_values_name_the_variable() {
        let err = PostgresConfig::from_env(&env(&[])).unwrap_err();
        assert_eq!(err.to_string(), "DATABASE_URL is not set");
        let err = realtime_from_env(&env(&[("REALTIME_MODE", "carrier-pigeon")])).unwrap_err();
        assert!(
            err.to_string().starts_with("REALTIME_MODE is invalid"),
            "{err}"
        );
        let err = RedisConfig::from_env(&env(&[
            ("REDIS_URL", "redis://x"),
            ("REDIS_KEY_PREFIX", "{a}"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("REDIS_KEY_PREFIX"));
    }

    #[test]
    fn secrets_are_not_printed() {
        let cfg = PostgresConfig::from_env(&env(&[("DATABASE_URL", "postgres://u:hunter2@h/db")]))
            .unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn defaults_apply() {
        let rt = realtime_from_env(&env(&[])).unwrap();
        assert_eq!(rt.realtime_mode, RealtimeMode::Websocket);
        assert_eq!(rt.hybrid_poll_interval_millis, 30_000);
    }
}
