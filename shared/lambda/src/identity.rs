//! Identity comes from the API Gateway authorizer's context: the JWT authorizer's claims on
//! routes that need a token, the Lambda authorizer's context on public routes. Handlers never
//! parse tokens.

use std::collections::HashMap;

use lambda_http::{Request, RequestExt, request::RequestContext};
use serde_json::Value;
use thiserror::Error;
use ticketrush_core::{Tier, UserId};

/// The caller, as the authorizer vouched for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    pub tier: Tier,
    pub admin: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("this endpoint needs a bearer token")]
    Missing,
    #[error("the token's claims are not usable: {0}")]
    BadClaims(String),
}

/// The caller if the request carries an authorizer's identity, `None` if anonymous: JWT
/// claims (`requestContext.authorizer.jwt.claims`) or a Lambda authorizer's context
/// (`requestContext.authorizer.lambda`).
pub fn identity(req: &Request) -> Result<Option<Identity>, IdentityError> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return Ok(None);
    };
    let Some(authorizer) = ctx.authorizer.as_ref() else {
        return Ok(None);
    };
    match &authorizer.jwt {
        Some(jwt) => from_claims(&jwt.claims),
        None => from_authorizer_context(&authorizer.fields),
    }
}

/// The caller a token's claims describe (`sub`, `tier`, `admin`, as API Gateway passes them:
/// strings); `None` without a subject.
pub fn from_claims(claims: &HashMap<String, String>) -> Result<Option<Identity>, IdentityError> {
    let Some(sub) = claims.get("sub") else {
        return Ok(None);
    };
    parts(
        sub,
        claims.get("tier").map(String::as_str),
        claims.get("admin").map(String::as_str),
    )
}

/// The context a Lambda authorizer (`http-authorize`, `ws-authorize`) returns for a caller:
/// what [`from_authorizer_context`] reads back. Empty for an anonymous caller.
pub fn authorizer_context(identity: Option<&Identity>) -> HashMap<String, Value> {
    let mut context = HashMap::new();
    if let Some(id) = identity {
        context.insert("userId".into(), Value::String(id.user.to_string()));
        context.insert("tier".into(), Value::String(id.tier.to_string()));
        context.insert("admin".into(), Value::String(id.admin.to_string()));
    }
    context
}

/// The caller a Lambda authorizer's context describes; `None` without a user (anonymous).
pub fn from_authorizer_context(
    fields: &HashMap<String, Value>,
) -> Result<Option<Identity>, IdentityError> {
    let text = |name: &str| match fields.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let Some(user) = text("userId") else {
        return Ok(None);
    };
    parts(&user, text("tier").as_deref(), text("admin").as_deref())
}

fn parts(
    user: &str,
    tier: Option<&str>,
    admin: Option<&str>,
) -> Result<Option<Identity>, IdentityError> {
    let user = UserId::parse(user).map_err(|e| IdentityError::BadClaims(e.to_string()))?;
    let tier = match tier {
        None => Tier::Basic,
        Some(raw) => raw.parse().map_err(|e: ticketrush_core::ValidationError| {
            IdentityError::BadClaims(e.to_string())
        })?,
    };
    let admin = admin.is_some_and(|v| v == "true");
    Ok(Some(Identity { user, tier, admin }))
}

/// The token of an `Authorization` header value: `Bearer <token>`, as API Gateway's JWT
/// authorizer reads it. `None` for any other scheme or an empty token.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The caller's tier for viewer-dependent rules; anonymous callers see the general sale.
pub fn viewer_tier(req: &Request) -> Result<Option<Tier>, IdentityError> {
    Ok(identity(req)?.map(|i| i.tier))
}

/// The caller, or an error for an anonymous request.
pub fn require_identity(req: &Request) -> Result<Identity, IdentityError> {
    identity(req)?.ok_or(IdentityError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP API (v2) event with `authorizer` as its request context's authorizer, shaped
    /// like AWS's example events (aws_lambda_events' `example-apigw-v2-request-*.json`).
    fn request(authorizer: Option<Value>) -> Request {
        let mut event = serde_json::json!({
            "version": "2.0",
            "routeKey": "GET /api/concerts/search",
            "rawPath": "/api/concerts/search",
            "rawQueryString": "",
            "headers": {"host": "id.execute-api.us-east-1.amazonaws.com"},
            "requestContext": {
                "routeKey": "GET /api/concerts/search",
                "accountId": "123456789012",
                "stage": "$default",
                "requestId": "id",
                "apiId": "api-id",
                "domainName": "id.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "id",
                "time": "12/Mar/2020:19:03:58 +0000",
                "timeEpoch": 1583348638390_i64,
                "http": {
                    "method": "GET",
                    "path": "/api/concerts/search",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "IP",
                    "userAgent": "agent"
                }
            },
            "isBase64Encoded": false
        });
        if let Some(a) = authorizer {
            event["requestContext"]["authorizer"] = a;
        }
        lambda_http::request::from_str(&event.to_string()).expect("an HTTP API event")
    }

    fn gold() -> Identity {
        Identity {
            user: UserId::parse("buyer-1").unwrap(),
            tier: Tier::Gold,
            admin: false,
        }
    }

    #[test]
    fn either_authorizer_names_the_caller() {
        let jwt = request(Some(serde_json::json!({
            "jwt": {"claims": {"sub": "buyer-1", "tier": "GOLD", "iss": "x"}, "scopes": null}
        })));
        assert_eq!(identity(&jwt), Ok(Some(gold())));
        let context = serde_json::to_value(authorizer_context(Some(&gold()))).unwrap();
        let lambda = request(Some(serde_json::json!({ "lambda": context })));
        assert_eq!(identity(&lambda), Ok(Some(gold())));
        assert_eq!(viewer_tier(&lambda), Ok(Some(Tier::Gold)));
    }

    #[test]
    fn no_authorizer_or_an_anonymous_context_is_anonymous() {
        for authorizer in [
            None,
            Some(serde_json::json!({ "lambda": {} })),
            Some(serde_json::json!({ "lambda": null })),
            // AWS's example context: no user in it.
            Some(serde_json::json!({ "lambda": {"key": "value"} })),
        ] {
            let req = request(authorizer.clone());
            assert_eq!(identity(&req), Ok(None), "{authorizer:?}");
            assert_eq!(require_identity(&req), Err(IdentityError::Missing));
        }
    }

    #[test]
    fn unusable_context_is_an_error_not_anonymous() {
        let req = request(Some(serde_json::json!({
            "lambda": {"userId": "buyer-1", "tier": "PLATINUM"}
        })));
        assert!(matches!(identity(&req), Err(IdentityError::BadClaims(_))));
    }

    #[test]
    fn bearer_tokens_only() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
