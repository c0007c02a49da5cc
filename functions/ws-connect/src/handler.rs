//! `ws-connect`: records the connection (with its user, if the authorizer vouched for one)
//! and subscribes it to `concerts.live`.

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
    let (id, identity) = match (websocket::connection_id(event), websocket::identity(event)) {
        (Ok(id), Ok(identity)) => (id, identity),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "connect refused");
            return websocket::status(400);
        }
    };
    match connect(
        &f.registry,
        id,
        identity.map(|i| i.user),
        f.clock.now(),
        f.live_shards,
    )
    .await
    {
        Ok(_) => websocket::status(200),
        Err(e) => {
            tracing::error!(error = %e, "connection not recorded");
            websocket::status(503)
        }
    }
}
