//! `ws-authorize`: the WebSocket API's `$connect` REQUEST authorizer. `?token=` is checked
//! with the same rules as the HTTP API's JWT authorizer (in AWS against the issuer's JWKS,
//! locally with the shared key); no token connects anonymously, a bad one is refused.

use std::collections::HashMap;

use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use chrono::{DateTime, Utc};
use ticketrush_adapters::{
    config::Env,
    jwt::TokenVerifier,
    wiring::{Clients, StartupError},
};
use ticketrush_lambda::{identity::from_claims, websocket};

pub struct WsAuthorizeFunction {
    pub tokens: TokenVerifier,
}

impl WsAuthorizeFunction {
    /// The issuer's JWKS when `JWT_JWKS_URL` is set (read here, and again on an unknown key),
    /// else the shared key.
    pub async fn from_env(env: &Env, _clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            tokens: TokenVerifier::from_env(env).await?,
        })
    }
}

/// Decides one `$connect`, inside a span carrying its API Gateway request id.
pub async fn handle(
    f: &WsAuthorizeFunction,
    event: &ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> ApiGatewayCustomAuthorizerResponse {
    ticketrush_lambda::telemetry::in_invocation(
        "ws-authorize",
        event.request_context.request_id.as_deref(),
        None,
        decide(f, event),
    )
    .await
}

async fn decide(
    f: &WsAuthorizeFunction,
    event: &ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> ApiGatewayCustomAuthorizerResponse {
    let arn = event.method_arn.as_deref().unwrap_or("*");
    let Some(token) = event
        .query_string_parameters
        .first("token")
        .filter(|t| !t.is_empty())
    else {
        return websocket::policy(
            true,
            websocket::ANONYMOUS,
            arn,
            websocket::authorizer_context(None),
        );
    };
    let claims = match f.tokens.verify(token).await {
        Ok(claims) => claims,
        Err(reason) => return deny(arn, &reason.to_string()),
    };
    let Some(expires_at) = expiry(&claims) else {
        return deny(arn, "the token's exp is not a time");
    };
    match from_claims(&claims) {
        Ok(Some(identity)) => websocket::policy(
            true,
            identity.user.as_str(),
            arn,
            // The expiry goes with the identity: personal pushes stop there.
            websocket::with_token_expiry(
                websocket::authorizer_context(Some(&identity)),
                expires_at,
            ),
        ),
        Ok(None) => deny(arn, "the token has no subject"),
        Err(e) => deny(arn, &e.to_string()),
    }
}

/// The verified token's `exp` (required, so always there; a fraction is dropped).
fn expiry(claims: &HashMap<String, String>) -> Option<DateTime<Utc>> {
    let secs = claims.get("exp")?.parse::<f64>().ok()?;
    DateTime::from_timestamp(secs as i64, 0)
}

fn deny(arn: &str, reason: &str) -> ApiGatewayCustomAuthorizerResponse {
    tracing::info!(reason, "WebSocket connection refused");
    websocket::policy(false, websocket::ANONYMOUS, arn, Default::default())
}
