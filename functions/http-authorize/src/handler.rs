//! `http-authorize`: the HttpApi's Lambda REQUEST authorizer on the public routes (search,
//! concert detail, seat map). Payload format 2.0 with simple responses, no identity source
//! and no caching, so API Gateway calls it for every request. No `Authorization` header
//! passes anonymously; a valid bearer token (checked as `ws-authorize` checks `?token=`)
//! passes its caller in the context, which the routes read as
//! `requestContext.authorizer.lambda`; anything else is refused, and API Gateway answers 403.

use std::collections::HashMap;

use aws_lambda_events::event::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use serde_json::Value;
use ticketrush_adapters::{
    config::Env,
    jwt::TokenVerifier,
    wiring::{Clients, StartupError},
};
use ticketrush_lambda::identity::{authorizer_context, bearer_token, from_claims};

/// The simple response: `isAuthorized` and the caller's context.
pub type Answer = ApiGatewayV2CustomAuthorizerSimpleResponse<HashMap<String, Value>>;

pub struct HttpAuthorizeFunction {
    pub tokens: TokenVerifier,
}

impl HttpAuthorizeFunction {
    /// The issuer's JWKS when `JWT_JWKS_URL` is set (read once, here), else the shared key.
    pub async fn from_env(env: &Env, _clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            tokens: TokenVerifier::from_env(env).await?,
        })
    }
}

/// Decides one public read, inside a span carrying its API Gateway request id.
pub async fn handle(
    f: &HttpAuthorizeFunction,
    event: &ApiGatewayV2CustomAuthorizerV2Request,
) -> Answer {
    ticketrush_lambda::telemetry::in_invocation(
        "http-authorize",
        event.request_context.request_id.as_deref(),
        None,
        decide(f, event),
    )
    .await
}

async fn decide(
    f: &HttpAuthorizeFunction,
    event: &ApiGatewayV2CustomAuthorizerV2Request,
) -> Answer {
    let Some(header) = event.headers.get("authorization") else {
        return answer(true, HashMap::new());
    };
    let Ok(header) = header.to_str() else {
        return refuse("the Authorization header is not text");
    };
    if header.trim().is_empty() {
        return answer(true, HashMap::new());
    }
    let Some(token) = bearer_token(header) else {
        return refuse("the Authorization header is not 'Bearer <token>'");
    };
    let identity = f
        .tokens
        .verify(token)
        .await
        .map_err(|reason| reason.to_string())
        .and_then(|claims| from_claims(&claims).map_err(|e| e.to_string()));
    match identity {
        Ok(Some(identity)) => answer(true, authorizer_context(Some(&identity))),
        Ok(None) => refuse("the token has no subject"),
        Err(reason) => refuse(&reason),
    }
}

fn answer(is_authorized: bool, context: HashMap<String, Value>) -> Answer {
    let mut answer = Answer::default();
    answer.is_authorized = is_authorized;
    answer.context = context;
    answer
}

fn refuse(reason: &str) -> Answer {
    tracing::info!(reason, "bearer token refused");
    answer(false, HashMap::new())
}
