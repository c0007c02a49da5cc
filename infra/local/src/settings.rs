use std::{net::SocketAddr, time::Duration};

use serde::Deserialize;
use ticketrush_adapters::{
    aws::PushResources,
    config::{
        ConfigError, Env, PostgresConfig, hold_expire_tick_from_env, management_endpoint_from_env,
        queue_settings_from_env, sale_status_tick_from_env,
    },
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
    pub queue_tick: Duration,
    pub hold_expire_tick: Duration,
    pub sale_status_tick: Duration,
    /// Where push-dispatch and ws-message reach `@connections`; this runtime itself unless set.
    pub management_endpoint: Option<String>,
    /// How often an idle WebSocket is pinged; one that misses a pong for two of these is gone.
    pub ws_ping_interval: Duration,
    /// Concurrent receive loops feeding push-dispatch, each as one Lambda instance.
    pub push_pollers: u16,
    pub web: WebSettings,
}

#[derive(Deserialize)]
struct LocalVars {
    ticketrush_bind: Option<SocketAddr>,
    ws_ping_interval_millis: Option<u64>,
    push_pollers: Option<u16>,
}

impl LocalSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: LocalVars = env.read()?;
        Ok(Self {
            env: env.clone(),
            bind: vars
                .ticketrush_bind
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            postgres: PostgresConfig::from_env(env)?,
            jwt: JwtSettings::from_env(env)?,
            push: PushResources::from_env(env)?,
            queue_tick: queue_settings_from_env(env)?.tick,
            hold_expire_tick: hold_expire_tick_from_env(env)?,
            sale_status_tick: sale_status_tick_from_env(env)?,
            management_endpoint: match env.optional("APIGW_MANAGEMENT_ENDPOINT") {
                Some(_) => Some(management_endpoint_from_env(env)?),
                None => None,
            },
            ws_ping_interval: Duration::from_millis(vars.ws_ping_interval_millis.unwrap_or(15_000)),
            push_pollers: vars.push_pollers.unwrap_or(4),
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
