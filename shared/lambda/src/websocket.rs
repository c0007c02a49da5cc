//! The WebSocket API's edge: the `$connect` authorizer's answer, and the connection and
//! caller read from a WebSocket event's request context.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use lambda_http::aws_lambda_events::{
    apigw::{
        ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse,
        ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
    },
    iam::{IamPolicyEffect, IamPolicyStatement},
};
use serde_json::Value;
use thiserror::Error;
use ticketrush_core::push::{Caller, ConnectionId};

use crate::{Identity, identity};

/// The principal of a connection without a token.
pub const ANONYMOUS: &str = "anonymous";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WsEventError {
    #[error("the event has no usable connection id")]
    NoConnection,
    #[error("the authorizer context is not usable: {0}")]
    BadContext(String),
}

/// The connection a WebSocket event is about.
pub fn connection_id(
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<ConnectionId, WsEventError> {
    event
        .request_context
        .connection_id
        .as_deref()
        .and_then(|c| ConnectionId::parse(c).ok())
        .ok_or(WsEventError::NoConnection)
}

/// The caller the `$connect` authorizer vouched for; None for an anonymous connection.
/// API Gateway hands the authorizer's context to every route of the connection.
pub fn identity(event: &ApiGatewayWebsocketProxyRequest) -> Result<Option<Identity>, WsEventError> {
    identity::from_authorizer_context(&event.request_context.authorizer.fields)
        .map_err(|e| WsEventError::BadContext(e.to_string()))
}

/// The authorizer context field with the token's expiry (epoch seconds): personal pushes to
/// the connection stop there.
pub const TOKEN_EXPIRES_AT: &str = "tokenExpiresAt";

/// `context` with the token's expiry, as the `$connect` authorizer passes it on.
pub fn with_token_expiry(
    mut context: HashMap<String, Value>,
    expires_at: DateTime<Utc>,
) -> HashMap<String, Value> {
    context.insert(
        TOKEN_EXPIRES_AT.into(),
        Value::String(expires_at.timestamp().to_string()),
    );
    context
}

/// When the token the connection was opened with expires; None without a token (or from an
/// authorizer that did not say, whose connection then ends with its two-hour lifetime).
pub fn token_expires_at(
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<Option<DateTime<Utc>>, WsEventError> {
    let secs = match event
        .request_context
        .authorizer
        .fields
        .get(TOKEN_EXPIRES_AT)
    {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        Some(_) => None,
    };
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
        .map(Some)
        .ok_or_else(|| WsEventError::BadContext(format!("{TOKEN_EXPIRES_AT} is not epoch seconds")))
}

/// The caller a connection was opened by, with their token's expiry; None for an anonymous
/// connection.
pub fn caller(event: &ApiGatewayWebsocketProxyRequest) -> Result<Option<Caller>, WsEventError> {
    let Some(identity) = identity(event)? else {
        return Ok(None);
    };
    Ok(Some(Caller {
        user: identity.user,
        token_expires_at: token_expires_at(event)?,
    }))
}

/// The authorizer context for a caller: what [`identity`] reads back on every route.
pub fn authorizer_context(identity: Option<&Identity>) -> HashMap<String, Value> {
    identity::authorizer_context(identity)
}

/// The authorizer's answer: an IAM policy allowing or denying `$connect`.
pub fn policy(
    allow: bool,
    principal: &str,
    method_arn: &str,
    context: HashMap<String, Value>,
) -> ApiGatewayCustomAuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = if allow {
        IamPolicyEffect::Allow
    } else {
        IamPolicyEffect::Deny
    };
    statement.resource = vec![method_arn.to_owned()];
    let mut document = ApiGatewayCustomAuthorizerPolicy::default();
    document.version = Some("2012-10-17".into());
    document.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(principal.to_owned());
    response.policy_document = document;
    response.context = serde_json::to_value(context).unwrap_or_default();
    response
}

/// Whether an authorizer answer allows the connection.
pub fn allows(response: &ApiGatewayCustomAuthorizerResponse) -> bool {
    response
        .policy_document
        .statement
        .iter()
        .all(|s| s.effect == IamPolicyEffect::Allow)
        && !response.policy_document.statement.is_empty()
}

/// A route's answer to API Gateway.
pub fn status(code: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = code;
    response
}
