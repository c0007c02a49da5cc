use std::{net::SocketAddr, time::Duration};

use ticketrush_adapters::{
    aws::PushResources,
    config::{
        ConfigError, Env, PaymentGatewayChoice, PostgresConfig, RedisConfig, abuse_rules_from_env,
        catalog_cache_ttl_from_env, dispatch_settings_from_env, hold_expire_tick_from_env,
        hold_ttl_from_env, payment_gateway_from_env, payment_settings_from_env,
        queue_settings_from_env, realtime_from_env, sale_status_tick_from_env,
        seat_settings_from_env,
    },
    payment_webhook::HmacWebhookSignatures,
    queue_tokens::HmacQueueTokens,
};
use ticketrush_core::{
    abuse::AbuseRules, dispatch::DispatchSettings, payments::PaymentSettings, queue::QueueSettings,
    realtime::RealtimeSettings, seats::SeatSettings,
};

use crate::{jwt::JwtSettings, web::WebSettings};

/// Everything the local runtime reads from the environment, once.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    pub bind: SocketAddr,
    pub postgres: PostgresConfig,
    pub redis: RedisConfig,
    pub realtime: RealtimeSettings,
    pub jwt: JwtSettings,
    pub push: PushResources,
    pub queue: QueueSettings,
    pub catalog_cache_ttl: Duration,
    pub queue_tokens: HmacQueueTokens,
    pub seats: SeatSettings,
    pub hold_ttl: Duration,
    pub hold_expire_tick: Duration,
    pub abuse: AbuseRules,
    pub dispatch: DispatchSettings,
    pub sale_status_tick: Duration,
    /// Where push-dispatch and ws-message reach `@connections`; this runtime itself unless set.
    pub management_endpoint: Option<String>,
    /// How often an idle WebSocket is pinged; one that misses a pong for two of these is gone.
    pub ws_ping_interval: Duration,
    /// Concurrent receive loops feeding push-dispatch, each as one Lambda instance.
    pub push_pollers: u16,
    pub web: WebSettings,
    pub payments: PaymentSettings,
    pub payment_gateway: PaymentGatewayChoice,
    pub webhook_signatures: HmacWebhookSignatures,
}

impl LocalSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let bind: SocketAddr =
            env.parse_or("TICKETRUSH_BIND", SocketAddr::from(([127, 0, 0, 1], 8080)))?;
        Ok(Self {
            bind,
            postgres: PostgresConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            realtime: realtime_from_env(env)?,
            jwt: JwtSettings::from_env(env)?,
            push: PushResources::from_env(env)?,
            queue: queue_settings_from_env(env)?,
            catalog_cache_ttl: catalog_cache_ttl_from_env(env)?,
            queue_tokens: HmacQueueTokens::from_env(env)?,
            seats: seat_settings_from_env(env)?,
            hold_ttl: hold_ttl_from_env(env)?,
            hold_expire_tick: hold_expire_tick_from_env(env)?,
            abuse: abuse_rules_from_env(env)?,
            dispatch: dispatch_settings_from_env(env)?,
            sale_status_tick: sale_status_tick_from_env(env)?,
            management_endpoint: match env.optional("APIGW_MANAGEMENT_ENDPOINT") {
                Some(_) => Some(ticketrush_adapters::config::management_endpoint_from_env(
                    env,
                )?),
                None => None,
            },
            ws_ping_interval: Duration::from_millis(
                env.parse_or("WS_PING_INTERVAL_MILLIS", 15_000)?,
            ),
            push_pollers: env.parse_or("PUSH_POLLERS", 4)?,
            web: WebSettings::from_env(env)?,
            payments: payment_settings_from_env(env)?,
            payment_gateway: payment_gateway_from_env(env)?,
            webhook_signatures: HmacWebhookSignatures::from_env(env)?,
        })
    }
}
