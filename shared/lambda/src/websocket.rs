//! The WebSocket API's edge: the `$connect` authorizer's answer, and the connection and
//! caller read from a WebSocket event's request context.

use std::collections::HashMap;

use lambda_http::aws_lambda_events::{
    apigw::{
        ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse,
        ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
    },
    iam::{IamPolicyEffect, IamPolicyStatement},
};
use serde_json::Value;
use thiserror::Error;
use ticketrush_core::{Tier, UserId, push::ConnectionId};

use crate::Identity;

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
    let fields = &event.request_context.authorizer.fields;
    let text = |name: &str| match fields.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let Some(user) = text("userId") else {
        return Ok(None);
    };
    let user = UserId::parse(&user).map_err(|e| WsEventError::BadContext(e.to_string()))?;
    let tier = match text("tier") {
        None => Tier::Basic,
        Some(raw) => raw.parse().map_err(|e: ticketrush_core::ValidationError| {
            WsEventError::BadContext(e.to_string())
        })?,
    };
    let admin = text("admin").is_some_and(|v| v == "true");
    Ok(Some(Identity { user, tier, admin }))
}

/// The authorizer context for a caller: what [`identity`] reads back on every route.
pub fn authorizer_context(identity: Option<&Identity>) -> HashMap<String, Value> {
    let mut context = HashMap::new();
    if let Some(id) = identity {
        context.insert("userId".into(), Value::String(id.user.to_string()));
        context.insert("tier".into(), Value::String(id.tier.to_string()));
        context.insert("admin".into(), Value::String(id.admin.to_string()));
    }
    context
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
