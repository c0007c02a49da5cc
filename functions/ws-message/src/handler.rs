//! `ws-message`: `subscribe`, `unsubscribe` and `ping` (and `$default`: anything else gets
//! an ERROR message). Personal topics take the user from the authorizer context only.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    connections::DynamoDbConnections,
    push::ApiGatewayPusher,
    wiring::{Clients, StartupError},
};
use ticketrush_core::push::connections::{Reply, client_message};
use ticketrush_lambda::websocket;

pub struct WsMessageFunction {
    pub registry: DynamoDbConnections,
    pub pusher: ApiGatewayPusher,
    pub clock: SystemClock,
    pub live_shards: u16,
}

impl WsMessageFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            registry: DynamoDbConnections::from_env(clients.sdk(), env)?,
            pusher: ApiGatewayPusher::from_env(clients.sdk(), env)?,
            clock: SystemClock,
            live_shards: config::live_shards_from_env(env)?,
        })
    }
}

pub async fn handle(
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
    let user = websocket::identity(event).ok().flatten().map(|i| i.user);
    let body = event.body.as_deref().unwrap_or("");
    match client_message(
        &f.registry,
        &f.pusher,
        &id,
        user.as_ref(),
        body,
        f.clock.now(),
        f.live_shards,
    )
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
