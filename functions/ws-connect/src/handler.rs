//! `ws-connect`: records the connection (with its user, if the authorizer vouched for one)
//! and subscribes it to `concerts.live`.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use ticketrush_core::{Clock, connections::connect, push::ConnectionRegistry};
use ticketrush_lambda::websocket;

pub struct WsConnectFunction<R, C> {
    pub registry: R,
    pub clock: C,
    pub live_shards: u16,
}

/// 200 accepts the connection; anything else makes API Gateway refuse it.
pub async fn handle<R: ConnectionRegistry, C: Clock>(
    f: &WsConnectFunction<R, C>,
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
