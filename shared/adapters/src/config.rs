//! Typed configuration, read from the environment once at start through serde (`envy`): each
//! settings group is a struct whose fields are the variables in lower case. A missing or bad
//! value stops the process with a message naming the variable; secrets are `secrecy` values
//! and are never printed.

use std::{collections::HashMap, fmt::Display, ops::RangeInclusive, sync::Arc, time::Duration};

use serde::{Deserialize, de::DeserializeOwned};
use thiserror::Error;
use ticketrush_core::push::realtime::{RealtimeMode, RealtimeSettings};

pub use secrecy::{ExposeSecret, SecretString as Secret};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(String),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
    /// A value that does not parse; envy's message names the variable.
    #[error("{0}")]
    Unreadable(String),
    #[error("{name} could not be read from Secrets Manager: {reason}")]
    Secret { name: String, reason: String },
}

impl ConfigError {
    pub fn invalid(name: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<envy::Error> for ConfigError {
    fn from(err: envy::Error) -> Self {
        match err {
            envy::Error::MissingValue(field) => Self::Missing(field.to_uppercase()),
            envy::Error::Custom(message) => Self::Unreadable(message),
        }
    }
}

/// The settings a process starts with: the environment, read once (empty values count as
/// unset), with any secrets resolved into it. Cheap to clone.
#[derive(Clone, Default)]
pub struct Env {
    vars: Arc<HashMap<String, String>>,
}

impl Env {
    pub fn process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: Arc::new(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .filter(|(_, v)| !v.is_empty())
                    .collect(),
            ),
        }
    }

    /// These settings with `name` set to `value` (a runtime that knows better than the
    /// environment, such as the local runtime's own `@connections` address).
    pub fn with(&self, name: &str, value: impl Into<String>) -> Self {
        let mut vars = (*self.vars).clone();
        vars.insert(name.to_owned(), value.into());
        Self {
            vars: Arc::new(vars),
        }
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// A settings group: a struct whose fields name the variables (in lower case).
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        Ok(envy::from_iter(
            self.vars.iter().map(|(k, v)| (k.clone(), v.clone())),
        )?)
    }
}

/// `value` of `name`, if it is in `range`.
pub fn within<T: PartialOrd + Display>(
    name: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::invalid(
            name,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

/// A shared key of `name`, if it is at least `min_len` bytes long.
pub fn long_enough(name: &str, key: Secret, min_len: usize) -> Result<Secret, ConfigError> {
    if key.expose_secret().len() < min_len {
        return Err(ConfigError::invalid(
            name,
            format!("must be at least {min_len} bytes"),
        ));
    }
    Ok(key)
}

/// `value` of `name`, if it is at least `min`.
fn at_least<T: PartialOrd + Display>(name: &str, value: T, min: T) -> Result<T, ConfigError> {
    if value >= min {
        Ok(value)
    } else {
        Err(ConfigError::invalid(
            name,
            format!("must be at least {min}"),
        ))
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

#[derive(Deserialize)]
struct PostgresVars {
    database_url: Secret,
    database_max_connections: Option<u32>,
    database_acquire_timeout_ms: Option<u64>,
}

impl PostgresConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: PostgresVars = env.read()?;
        Ok(Self {
            url: vars.database_url,
            max_connections: vars.database_max_connections.unwrap_or(5),
            acquire_timeout: Duration::from_millis(
                vars.database_acquire_timeout_ms.unwrap_or(2_000),
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

#[derive(Deserialize)]
struct RedisVars {
    redis_url: Secret,
    redis_key_prefix: Option<String>,
    redis_timeout_ms: Option<u64>,
}

impl RedisConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: RedisVars = env.read()?;
        let key_prefix = vars.redis_key_prefix.unwrap_or_else(|| "tr".to_owned());
        if key_prefix.contains(['{', '}', ' ']) {
            return Err(ConfigError::invalid(
                "REDIS_KEY_PREFIX",
                "must be non-empty without braces or spaces",
            ));
        }
        Ok(Self {
            url: vars.redis_url,
            key_prefix,
            timeout: Duration::from_millis(vars.redis_timeout_ms.unwrap_or(1_000)),
        })
    }
}

#[derive(Deserialize)]
struct RealtimeVars {
    realtime_mode: Option<String>,
    hybrid_poll_interval_millis: Option<u64>,
}

pub fn realtime_from_env(env: &Env) -> Result<RealtimeSettings, ConfigError> {
    let vars: RealtimeVars = env.read()?;
    let realtime_mode = match vars.realtime_mode {
        None => RealtimeMode::Websocket,
        Some(raw) => raw
            .parse()
            .map_err(|e: <RealtimeMode as std::str::FromStr>::Err| {
                ConfigError::invalid("REALTIME_MODE", e.to_string())
            })?,
    };
    Ok(RealtimeSettings {
        realtime_mode,
        hybrid_poll_interval_millis: within(
            "HYBRID_POLL_INTERVAL_MILLIS",
            vars.hybrid_poll_interval_millis.unwrap_or(30_000),
            1_000..=600_000,
        )?,
    })
}

#[derive(Deserialize)]
struct QueueVars {
    queue_capacity: Option<u32>,
    queue_admit_per_tick: Option<u32>,
    queue_max_active: Option<u32>,
    queue_active_ttl_secs: Option<u32>,
    queue_abandon_after_secs: Option<u32>,
    queue_tick_millis: Option<u32>,
    queue_join_limit: Option<u32>,
    queue_join_window_secs: Option<u32>,
    queue_rank_push_per_tick: Option<u32>,
}

/// The waiting room's knobs.
pub fn queue_settings_from_env(
    env: &Env,
) -> Result<ticketrush_core::queue::QueueSettings, ConfigError> {
    let vars: QueueVars = env.read()?;
    let positive =
        |name: &str, value: Option<u32>, default: u32| at_least(name, value.unwrap_or(default), 1);
    let secs = |name: &str, value: Option<u32>, default: u32| {
        positive(name, value, default).map(|s| Duration::from_secs(s.into()))
    };
    Ok(ticketrush_core::queue::QueueSettings {
        capacity: positive("QUEUE_CAPACITY", vars.queue_capacity, 200_000)?,
        admit_per_tick: positive("QUEUE_ADMIT_PER_TICK", vars.queue_admit_per_tick, 100)?,
        max_active: positive("QUEUE_MAX_ACTIVE", vars.queue_max_active, 1_000)?,
        active_ttl: secs("QUEUE_ACTIVE_TTL_SECS", vars.queue_active_ttl_secs, 600)?,
        abandon_after: secs(
            "QUEUE_ABANDON_AFTER_SECS",
            vars.queue_abandon_after_secs,
            90,
        )?,
        tick: Duration::from_millis(
            positive("QUEUE_TICK_MILLIS", vars.queue_tick_millis, 1_000)?.into(),
        ),
        join_limit: positive("QUEUE_JOIN_LIMIT", vars.queue_join_limit, 10)?,
        join_window: secs("QUEUE_JOIN_WINDOW_SECS", vars.queue_join_window_secs, 10)?,
        rank_push_per_tick: vars.queue_rank_push_per_tick.unwrap_or(1_000),
    })
}

#[derive(Deserialize)]
struct CatalogCacheVars {
    catalog_cache_millis: Option<u64>,
}

/// How long a function reuses a concert's catalog entry before reading it again.
pub fn catalog_cache_ttl_from_env(env: &Env) -> Result<Duration, ConfigError> {
    let vars: CatalogCacheVars = env.read()?;
    Ok(Duration::from_millis(
        vars.catalog_cache_millis.unwrap_or(1_000),
    ))
}

#[derive(Deserialize)]
struct SearchCacheVars {
    search_cache_millis: Option<u64>,
}

/// How long a cached search's listing rows and seat counts are served after loading
/// (`SEARCH_CACHE_MILLIS`, 0..=60000; 0 turns the cache off).
pub fn search_cache_from_env(env: &Env) -> Result<Duration, ConfigError> {
    let vars: SearchCacheVars = env.read()?;
    Ok(Duration::from_millis(within(
        "SEARCH_CACHE_MILLIS",
        vars.search_cache_millis.unwrap_or(1_000),
        0..=60_000,
    )?))
}

#[derive(Deserialize)]
struct PaymentVars {
    refund_cutoff_hours: Option<u64>,
    payment_webhook_tolerance_secs: Option<u64>,
    payment_window_secs: Option<u64>,
}

/// Refund cutoff and webhook freshness.
pub fn payment_settings_from_env(
    env: &Env,
) -> Result<ticketrush_core::payments::PaymentSettings, ConfigError> {
    let vars: PaymentVars = env.read()?;
    let window = vars.payment_window_secs.unwrap_or(900);
    if !(1..=86_400).contains(&window) {
        return Err(ConfigError::invalid(
            "PAYMENT_WINDOW_SECS",
            "must be between 1 and 86400 (the gateway's answer timeout, with a margin)",
        ));
    }
    let cutoff_hours = vars.refund_cutoff_hours.unwrap_or(24);
    if cutoff_hours > 24 * 90 {
        return Err(ConfigError::invalid(
            "REFUND_CUTOFF_HOURS",
            "must be at most 2160 (90 days)",
        ));
    }
    let tolerance = within(
        "PAYMENT_WEBHOOK_TOLERANCE_SECS",
        vars.payment_webhook_tolerance_secs.unwrap_or(300),
        1..=3_600,
    )?;
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

pub fn payment_gateway_from_env(env: &Env) -> Result<PaymentGatewayChoice, ConfigError> {
    match env.optional("PAYMENT_GATEWAY").as_deref() {
        Some("sandbox") => Ok(PaymentGatewayChoice::Sandbox),
        Some(other) => Err(ConfigError::invalid(
            "PAYMENT_GATEWAY",
            format!(
                "{other:?} is not a gateway this build has; the only one is \"sandbox\" (staging only)"
            ),
        )),
        None => Err(ConfigError::invalid(
            "PAYMENT_GATEWAY",
            "is not set; name the gateway explicitly (\"sandbox\" is for local runs, tests and staging only: it charges nobody)",
        )),
    }
}

#[derive(Deserialize)]
struct SeatVars {
    seat_lock_ttl_secs: Option<u64>,
    seat_flush_window_millis: Option<u64>,
}

/// Seat soft-lock settings.
pub fn seat_settings_from_env(
    env: &Env,
) -> Result<ticketrush_core::seats::SeatSettings, ConfigError> {
    let vars: SeatVars = env.read()?;
    Ok(ticketrush_core::seats::SeatSettings {
        lock_ttl: Duration::from_secs(within(
            "SEAT_LOCK_TTL_SECS",
            vars.seat_lock_ttl_secs.unwrap_or(30),
            1..=600,
        )?),
        flush_window: Duration::from_millis(within(
            "SEAT_FLUSH_WINDOW_MILLIS",
            vars.seat_flush_window_millis.unwrap_or(200),
            10..=5_000,
        )?),
    })
}

#[derive(Deserialize)]
struct HoldVars {
    hold_ttl_secs: Option<u64>,
}

/// How long a hold lasts before it expires and frees its seats.
pub fn hold_ttl_from_env(env: &Env) -> Result<Duration, ConfigError> {
    let vars: HoldVars = env.read()?;
    Ok(Duration::from_secs(within(
        "HOLD_TTL_SECS",
        vars.hold_ttl_secs.unwrap_or(600),
        10..=3_600,
    )?))
}

#[derive(Deserialize)]
struct TickVars {
    hold_expire_tick_millis: Option<u64>,
    sale_status_tick_millis: Option<u64>,
}

/// How often the hold-expiry tick runs, in AWS and locally (each scheduled invocation loops).
pub fn hold_expire_tick_from_env(env: &Env) -> Result<Duration, ConfigError> {
    let vars: TickVars = env.read()?;
    let ms = at_least(
        "HOLD_EXPIRE_TICK_MILLIS",
        vars.hold_expire_tick_millis.unwrap_or(1_000),
        100,
    )?;
    Ok(Duration::from_millis(ms))
}

/// How often the sale-status tick runs, in AWS and locally (each scheduled invocation loops).
pub fn sale_status_tick_from_env(env: &Env) -> Result<Duration, ConfigError> {
    let vars: TickVars = env.read()?;
    let ms = at_least(
        "SALE_STATUS_TICK_MILLIS",
        vars.sale_status_tick_millis.unwrap_or(1_000),
        100,
    )?;
    Ok(Duration::from_millis(ms))
}

#[derive(Deserialize)]
struct AbuseVars {
    abuse_max_holds: Option<u32>,
    abuse_holds_window_secs: Option<u64>,
    abuse_repeat_window_secs: Option<u64>,
    abuse_device_window_secs: Option<u64>,
}

/// The abuse rules on holds.
pub fn abuse_rules_from_env(env: &Env) -> Result<ticketrush_core::abuse::AbuseRules, ConfigError> {
    let vars: AbuseVars = env.read()?;
    Ok(ticketrush_core::abuse::AbuseRules {
        max_holds: vars.abuse_max_holds.unwrap_or(5),
        holds_window: Duration::from_secs(vars.abuse_holds_window_secs.unwrap_or(60)),
        repeat_window: Duration::from_secs(vars.abuse_repeat_window_secs.unwrap_or(10)),
        device_window: Duration::from_secs(vars.abuse_device_window_secs.unwrap_or(600)),
    })
}

#[derive(Deserialize)]
struct DispatchVars {
    push_concurrency: Option<usize>,
    push_throttle_attempts: Option<u32>,
    push_throttle_backoff_millis: Option<u64>,
    push_max_seat_changes: Option<u32>,
}

/// The push dispatcher's knobs.
pub fn dispatch_settings_from_env(
    env: &Env,
) -> Result<ticketrush_core::dispatch::DispatchSettings, ConfigError> {
    let vars: DispatchVars = env.read()?;
    Ok(ticketrush_core::dispatch::DispatchSettings {
        concurrency: within(
            "PUSH_CONCURRENCY",
            vars.push_concurrency.unwrap_or(64),
            1..=1_000,
        )?,
        live_shards: live_shards_from_env(env)?,
        throttle_attempts: vars.push_throttle_attempts.unwrap_or(5),
        throttle_backoff: Duration::from_millis(vars.push_throttle_backoff_millis.unwrap_or(50)),
        max_seat_changes: vars.push_max_seat_changes.unwrap_or(5_000),
        realtime: realtime_from_env(env)?,
    })
}

#[derive(Deserialize)]
struct LiveShardVars {
    live_topic_shards: Option<u16>,
}

/// Shards of the `concerts.live` topic; every WebSocket function must agree on it.
pub fn live_shards_from_env(env: &Env) -> Result<u16, ConfigError> {
    let vars: LiveShardVars = env.read()?;
    within(
        "LIVE_TOPIC_SHARDS",
        vars.live_topic_shards.unwrap_or(4),
        1..=256,
    )
}

#[derive(Deserialize)]
struct JwksRereadVars {
    jwt_jwks_reread_secs: Option<u64>,
}

/// The shortest time between two reads of the issuer's key set for tokens naming a key it
/// does not hold (a rotation): a flood of forged `kid`s costs one read per interval.
pub fn jwks_reread_interval_from_env(env: &Env) -> Result<Duration, ConfigError> {
    let vars: JwksRereadVars = env.read()?;
    Ok(Duration::from_secs(within(
        "JWT_JWKS_REREAD_SECS",
        vars.jwt_jwks_reread_secs.unwrap_or(60),
        1..=86_400,
    )?))
}

#[derive(Deserialize)]
struct SubscriptionVars {
    ws_max_subscriptions: Option<usize>,
}

/// Most subscriptions one WebSocket connection may hold (its `concerts.live` included).
pub fn max_subscriptions_from_env(env: &Env) -> Result<usize, ConfigError> {
    let vars: SubscriptionVars = env.read()?;
    within(
        "WS_MAX_SUBSCRIPTIONS",
        vars.ws_max_subscriptions.unwrap_or(50),
        2..=1_000,
    )
}

#[derive(Deserialize)]
struct ManagementVars {
    apigw_management_endpoint: String,
}

/// The WebSocket API's `@connections` endpoint:
/// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
pub fn management_endpoint_from_env(env: &Env) -> Result<String, ConfigError> {
    let url = env.read::<ManagementVars>()?.apigw_management_endpoint;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError::invalid(
            "APIGW_MANAGEMENT_ENDPOINT",
            "must be an http(s) URL",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
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
        let err = seat_settings_from_env(&env(&[("SEAT_LOCK_TTL_SECS", "soon")])).unwrap_err();
        assert!(err.to_string().contains("SEAT_LOCK_TTL_SECS"), "{err}");
        let err = seat_settings_from_env(&env(&[("SEAT_LOCK_TTL_SECS", "0")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SEAT_LOCK_TTL_SECS is invalid: must be between 1 and 600"
        );
    }

    #[test]
    fn secrets_are_not_printed() {
        let cfg = PostgresConfig::from_env(&env(&[("DATABASE_URL", "postgres://u:hunter2@h/db")]))
            .unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn defaults_apply_and_empty_values_count_as_unset() {
        let rt = realtime_from_env(&env(&[("REALTIME_MODE", "")])).unwrap();
        assert_eq!(rt.realtime_mode, RealtimeMode::Websocket);
        assert_eq!(rt.hybrid_poll_interval_millis, 30_000);
    }

    #[test]
    fn an_overlay_wins_over_the_environment() {
        let base = env(&[("APIGW_MANAGEMENT_ENDPOINT", "https://a.example/prod/")]);
        assert_eq!(
            management_endpoint_from_env(&base).unwrap(),
            "https://a.example/prod"
        );
        let local = base.with("APIGW_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9");
        assert_eq!(
            management_endpoint_from_env(&local).unwrap(),
            "http://127.0.0.1:9"
        );
    }
}
