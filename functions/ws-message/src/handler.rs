//! `ws-message`: `subscribe`, `unsubscribe` and `ping` (and `$default`: anything else gets
//! an ERROR message). Personal topics take the user from the authorizer context only.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use ticketrush_core::{
    Clock,
    connections::{Reply, client_message},
    push::{ConnectionPusher, ConnectionRegistry},
};
use ticketrush_lambda::websocket;

pub struct WsMessageFunction<R, P, C> {
    pub registry: R,
    pub pusher: P,
    pub clock: C,
    pub live_shards: u16,
}

pub async fn handle<R: ConnectionRegistry, P: ConnectionPusher, C: Clock>(
    f: &WsMessageFunction<R, P, C>,
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
