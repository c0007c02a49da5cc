//! `ws-authorize`: the WebSocket API's `$connect` REQUEST authorizer. `?token=` is checked
//! with the same rules as the HTTP API's JWT authorizer (in AWS against the issuer's JWKS,
//! locally with the shared key); no token connects anonymously, a bad one is refused.

use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
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
    /// The issuer's JWKS when `JWT_JWKS_URL` is set (read once, here), else the shared key.
    pub async fn from_env(env: &Env, _clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            tokens: TokenVerifier::from_env(env).await?,
        })
    }
}

pub fn handle(
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
    let identity = f
        .tokens
        .verify(token)
        .map_err(|reason| reason.to_string())
        .and_then(|claims| from_claims(&claims).map_err(|e| e.to_string()));
    match identity {
        Ok(Some(identity)) => websocket::policy(
            true,
            identity.user.as_str(),
            arn,
            websocket::authorizer_context(Some(&identity)),
        ),
        Ok(None) => deny(arn, "the token has no subject"),
        Err(reason) => deny(arn, &reason),
    }
}

fn deny(arn: &str, reason: &str) -> ApiGatewayCustomAuthorizerResponse {
    tracing::info!(reason, "WebSocket connection refused");
    websocket::policy(false, websocket::ANONYMOUS, arn, Default::default())
}
