//! The `$connect` authorizer driven by AWS's example WebSocket REQUEST authorizer event;
//! only the query string (`?token=`) is ours.

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use ticketrush_adapters::{config::Env, wiring::Clients};
use ticketrush_lambda::websocket::{TOKEN_EXPIRES_AT, allows};
use ticketrush_testkit::{
    aws_config, events,
    runtime::{TEST_JWT_SECRET, token_with},
};
use ws_authorize::{WsAuthorizeFunction, handle};

const AUTHORIZER_EVENT: &str = "example-apigw-v2-custom-authorizer-websocket-request.json";

fn with_token(token: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    events::aws_typed(AUTHORIZER_EVENT, |e| e.query(&[("token", token)]))
}

#[tokio::test]
async fn aws_event_connects_anonymous_and_valid_callers_and_refuses_bad_tokens() {
    let clients = Clients::new(aws_config().await);
    let env = Env::from_pairs([("JWT_SECRET", TEST_JWT_SECRET)]);
    let f = WsAuthorizeFunction::from_env(&env, &clients)
        .await
        .expect("ws-authorize starts");

    // AWS's query string has no token: an anonymous viewer, allowed on AWS's method ARN.
    let event: ApiGatewayCustomAuthorizerRequestTypeRequest =
        events::aws_typed(AUTHORIZER_EVENT, |e| e);
    let anonymous = handle(&f, &event).await;
    assert!(allows(&anonymous));
    assert_eq!(anonymous.principal_id.as_deref(), Some("anonymous"));
    assert!(anonymous.context.get("userId").is_none());
    assert_eq!(
        anonymous.policy_document.statement[0].resource,
        vec![event.method_arn.unwrap()]
    );

    let token = token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", false, 60);
    let caller = handle(&f, &with_token(&token)).await;
    assert!(allows(&caller));
    assert_eq!(caller.principal_id.as_deref(), Some("buyer-1"));
    assert_eq!(caller.context["userId"], "buyer-1");
    assert_eq!(caller.context["tier"], "GOLD");
    assert!(caller.context[TOKEN_EXPIRES_AT].is_string());

    let forged = token_with("another-secret-0123456789", "buyer-1", "GOLD", false, 60);
    let expired = token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", false, -10);
    for token in [forged, expired, "garbage".to_owned()] {
        assert!(!allows(&handle(&f, &with_token(&token)).await), "{token}");
    }
}
