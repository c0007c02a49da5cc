//! `ws-message`: `subscribe`, `unsubscribe` and `ping` (and `$default`: anything else gets
//! an ERROR message). Personal topics take the user from the authorizer context only. A
//! subscribe names a concert or performance that exists (a primary-key probe of the catalog,
//! remembered in-process), within `WS_MAX_SUBSCRIPTIONS` a connection.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    connections::DynamoDbConnections,
    postgres::PostgresTopicDirectory,
    push::ApiGatewayPusher,
    wiring::{Clients, StartupError},
};
use ticketrush_core::push::connections::{ClientMessages, Reply, SubscriptionSettings};
use ticketrush_lambda::websocket;

pub struct WsMessageFunction {
    pub registry: DynamoDbConnections,
    pub pusher: ApiGatewayPusher,
    pub topics: PostgresTopicDirectory,
    pub clock: SystemClock,
    pub settings: SubscriptionSettings,
}

impl WsMessageFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            registry: DynamoDbConnections::from_env(clients.sdk(), env)?,
            pusher: ApiGatewayPusher::from_env(clients.sdk(), env)?,
            topics: PostgresTopicDirectory::new(
                clients.postgres(env)?,
                config::catalog_cache_ttl_from_env(env)?,
            ),
            clock: SystemClock,
            settings: SubscriptionSettings {
                live_shards: config::live_shards_from_env(env)?,
                max_subscriptions: config::max_subscriptions_from_env(env)?,
            },
        })
    }
}

pub async fn handle(
    f: &WsMessageFunction,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    ticketrush_lambda::telemetry::in_ws_invocation("ws-message", event, route(f, event)).await
}

async fn route(
    f: &WsMessageFunction,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let id = match websocket::connection_id(event) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "message without a connection");
            return websocket::status(400);
        }
    };
    // A context that does not name a valid user is treated as anonymous: it can still use
    // the public topics, never a personal one.
    let caller = websocket::caller(event).ok().flatten();
    let body = event.body.as_deref().unwrap_or("");
    let messages = ClientMessages {
        registry: &f.registry,
        pusher: &f.pusher,
        topics: &f.topics,
        settings: f.settings,
    };
    match messages
        .handle(&id, caller.as_ref(), body, f.clock.now())
        .await
    {
        Ok(Reply::Refused(code)) => {
            tracing::info!(connection = %id, code, "client message refused");
            websocket::status(200)
        }
        Ok(_) => websocket::status(200),
        Err(e) => {
            tracing::error!(error = %e, connection = %id, "client message failed");
            websocket::status(503)
        }
    }
}
