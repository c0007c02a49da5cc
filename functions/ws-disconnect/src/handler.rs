//! `ws-disconnect`: forgets the connection and its subscriptions.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use ticketrush_core::{connections::disconnect, push::ConnectionRegistry};
use ticketrush_lambda::websocket;

pub struct WsDisconnectFunction<R> {
    pub registry: R,
}

/// API Gateway ignores the answer; a record left behind goes at the next push (Gone) or
/// with its TTL.
pub async fn handle<R: ConnectionRegistry>(
    f: &WsDisconnectFunction<R>,
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
