use std::{collections::HashMap, net::SocketAddr, time::Duration};

use serde::Deserialize;
use ticketrush_adapters::{
    aws::PushResources,
    config::{ConfigError, Env, PostgresConfig, management_endpoint_from_env, within},
};

use ticketrush_lambda::{
    limits::{FUNCTION_LIMITS, limits_of},
    routes::PUSH_QUEUE_CONSUMER,
};

use crate::{jwt::JwtSettings, web::WebSettings};

/// What the local runtime itself reads from the environment, once. Each function reads its own
/// settings from the same environment, through its crate's `from_env`, as it does in AWS.
#[derive(Clone)]
pub struct LocalSettings {
    pub env: Env,
    pub bind: SocketAddr,
    pub postgres: PostgresConfig,
    pub jwt: JwtSettings,
    pub push: PushResources,
    /// Where push-dispatch and ws-message reach `@connections`; this runtime itself unless set.
    pub management_endpoint: Option<String>,
    /// How often an idle WebSocket is pinged; one that misses a pong for two of these is gone.
    pub ws_ping_interval: Duration,
    /// How long one write to a WebSocket client may take; a client that stops reading stalls
    /// it and is then gone.
    pub ws_write_timeout: Duration,
    /// Serving other machines (`TICKETRUSH_ALLOW_PUBLIC_BIND`): no dev login, and
    /// `@connections` only on a loopback listener of its own.
    pub public: bool,
    /// Concurrent receive loops feeding push-dispatch, each as one Lambda instance.
    pub push_pollers: u16,
    /// Functions run here with another concurrency than the table's (`LOCAL_CONCURRENCY`).
    pub concurrency: HashMap<String, u32>,
    /// How long an API Gateway invocation waits for a busy function before it is throttled.
    pub throttle_wait: Duration,
    pub web: WebSettings,
}

#[derive(Deserialize)]
struct LocalVars {
    ticketrush_bind: Option<SocketAddr>,
    ticketrush_allow_public_bind: Option<bool>,
    ws_ping_interval_millis: Option<u64>,
    ws_write_timeout_millis: Option<u64>,
    push_pollers: Option<u16>,
    local_concurrency: Option<String>,
    local_throttle_wait_millis: Option<u64>,
}

/// `search=0,ws-message=2`: a function's concurrency here instead of the table's.
fn concurrency_overrides(raw: Option<&str>) -> Result<HashMap<String, u32>, ConfigError> {
    let invalid = |why: String| ConfigError::invalid("LOCAL_CONCURRENCY", why);
    let mut overrides = HashMap::new();
    for item in raw
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        let (function, bound) = item
            .split_once('=')
            .ok_or_else(|| invalid(format!("{item:?} is not function=concurrency")))?;
        if limits_of(function).is_none() {
            let known: Vec<_> = FUNCTION_LIMITS.iter().map(|l| l.function).collect();
            return Err(invalid(format!("{function:?} is none of {known:?}")));
        }
        let bound = bound
            .parse::<u32>()
            .ok()
            .filter(|b| *b <= 10_000)
            .ok_or_else(|| invalid(format!("{bound:?} is not a concurrency of 0 to 10000")))?;
        overrides.insert(function.to_owned(), bound);
    }
    Ok(overrides)
}

/// The Makefile's development secrets: published, so never acceptable on a runtime that
/// other machines reach.
pub const MAKEFILE_SECRETS: [(&str, &str); 3] = [
    ("JWT_SECRET", "local-dev-secret-not-for-production"),
    (
        "QUEUE_TOKEN_SECRET",
        "local-dev-queue-token-secret-not-for-production",
    ),
    (
        "PAYMENT_WEBHOOK_SECRET",
        "local-dev-payment-webhook-secret-not-for-production",
    ),
];

/// Whether the runtime serves other machines: only when told, since it otherwise hands out
/// tokens (`/local/dev-token`) and lets anyone post to any socket (`@connections`); and then
/// never with the Makefile's secrets.
fn public(bind: SocketAddr, allowed: bool, env: &Env) -> Result<bool, ConfigError> {
    if !allowed {
        if !bind.ip().is_loopback() {
            return Err(ConfigError::invalid(
                "TICKETRUSH_BIND",
                format!(
                    "{bind} is not a loopback address; set TICKETRUSH_ALLOW_PUBLIC_BIND=true to \
                     serve other machines (then without /local/dev-token or @connections)"
                ),
            ));
        }
        return Ok(false);
    }
    for (name, default) in MAKEFILE_SECRETS {
        if env.optional(name).as_deref() == Some(default) {
            return Err(ConfigError::invalid(
                name,
                "is the Makefile's development default, which anyone can read; with \
                 TICKETRUSH_ALLOW_PUBLIC_BIND=true set a secret of your own",
            ));
        }
    }
    Ok(true)
}

impl LocalSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: LocalVars = env.read()?;
        let concurrency = concurrency_overrides(vars.local_concurrency.as_deref())?;
        let bind = vars
            .ticketrush_bind
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let public = public(
            bind,
            vars.ticketrush_allow_public_bind.unwrap_or(false),
            env,
        )?;
        Ok(Self {
            env: env.clone(),
            bind,
            public,
            postgres: PostgresConfig::from_env(env)?,
            jwt: JwtSettings::from_env(env)?,
            push: PushResources::from_env(env)?,
            management_endpoint: match env.optional("APIGW_MANAGEMENT_ENDPOINT") {
                Some(_) => Some(management_endpoint_from_env(env)?),
                None => None,
            },
            ws_ping_interval: Duration::from_millis(vars.ws_ping_interval_millis.unwrap_or(15_000)),
            ws_write_timeout: Duration::from_millis(within(
                "WS_WRITE_TIMEOUT_MILLIS",
                vars.ws_write_timeout_millis.unwrap_or(10_000),
                1..=600_000,
            )?),
            push_pollers: vars.push_pollers.unwrap_or_else(|| {
                let bound = concurrency
                    .get(PUSH_QUEUE_CONSUMER)
                    .copied()
                    .or_else(|| limits_of(PUSH_QUEUE_CONSUMER).map(|l| l.concurrency));
                u16::try_from(bound.unwrap_or(1)).unwrap_or(u16::MAX)
            }),
            concurrency,
            throttle_wait: Duration::from_millis(within(
                "LOCAL_THROTTLE_WAIT_MILLIS",
                vars.local_throttle_wait_millis.unwrap_or(10_000),
                0..=29_000,
            )?),
            web: WebSettings::from_env(env)?,
        })
    }

    /// The environment every hosted function reads: this one, with `@connections` pointing at
    /// this runtime unless the environment names another.
    pub fn function_env(&self, own_url: &str) -> Env {
        match &self.management_endpoint {
            Some(_) => self.env.clone(),
            None => self.env.with("APIGW_MANAGEMENT_ENDPOINT", own_url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_concurrency_names_deployed_functions_and_bounds() {
        let parsed = concurrency_overrides(Some(" search=0, ws-message=2 ,")).unwrap();
        assert_eq!(
            parsed,
            HashMap::from([("search".to_owned(), 0), ("ws-message".to_owned(), 2)])
        );
        assert!(concurrency_overrides(None).unwrap().is_empty());
        for bad in [
            "search",
            "nope=1",
            "search=-1",
            "search=many",
            "search=10001",
        ] {
            let err = concurrency_overrides(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("LOCAL_CONCURRENCY"), "{bad}: {err}");
        }
    }
}
