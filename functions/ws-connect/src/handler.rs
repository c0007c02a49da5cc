//! `ws-connect`: records the connection (with its user and the token's expiry, if the
//! authorizer vouched for one) and subscribes it to `concerts.live`.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    connections::DynamoDbConnections,
    wiring::{Clients, StartupError},
};
use ticketrush_core::push::connections::connect;
use ticketrush_lambda::websocket;

pub struct WsConnectFunction {
    pub registry: DynamoDbConnections,
    pub clock: SystemClock,
    pub live_shards: u16,
}

impl WsConnectFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            registry: DynamoDbConnections::from_env(clients.sdk(), env)?,
            clock: SystemClock,
            live_shards: config::live_shards_from_env(env)?,
        })
    }
}

/// 200 accepts the connection; anything else makes API Gateway refuse it.
pub async fn handle(
    f: &WsConnectFunction,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    ticketrush_lambda::telemetry::in_ws_invocation("ws-connect", event, route(f, event)).await
}

async fn route(
    f: &WsConnectFunction,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let read = websocket::connection_id(event).and_then(|id| Ok((id, websocket::caller(event)?)));
    let (id, caller) = match read {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!(error = %e, "connect refused");
            return websocket::status(400);
        }
    };
    match connect(&f.registry, id, caller, f.clock.now(), f.live_shards).await {
        Ok(_) => websocket::status(200),
        Err(e) => {
            tracing::error!(error = %e, "connection not recorded");
            websocket::status(503)
        }
    }
}
