//! `ws-disconnect`: forgets the connection and its subscriptions.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use ticketrush_adapters::{
    config::Env,
    connections::DynamoDbConnections,
    wiring::{Clients, StartupError},
};
use ticketrush_core::push::connections::disconnect;
use ticketrush_lambda::websocket;

pub struct WsDisconnectFunction {
    pub registry: DynamoDbConnections,
}

impl WsDisconnectFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            registry: DynamoDbConnections::from_env(clients.sdk(), env)?,
        })
    }
}

/// API Gateway ignores the answer; a record left behind goes at the next push (Gone) or
/// with its TTL.
pub async fn handle(
    f: &WsDisconnectFunction,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    ticketrush_lambda::telemetry::in_ws_invocation("ws-disconnect", event, route(f, event)).await
}

async fn route(
    f: &WsDisconnectFunction,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let id = match websocket::connection_id(event) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "disconnect without a connection");
            return websocket::status(400);
        }
    };
    match disconnect(&f.registry, &id).await {
        Ok(()) => websocket::status(200),
        Err(e) => {
            tracing::warn!(error = %e, connection = %id, "connection records left for cleanup");
            websocket::status(503)
        }
    }
}
