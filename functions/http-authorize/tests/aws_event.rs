//! The public routes' Lambda authorizer driven by AWS's example HTTP API authorizer request
//! (payload format 2.0) without an identity source, as the route declares none; only the
//! `Authorization` header is ours.

use aws_lambda_events::event::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use http_authorize::{HttpAuthorizeFunction, handle};
use ticketrush_adapters::{config::Env, wiring::Clients};
use ticketrush_testkit::{
    aws_config, events,
    runtime::{TEST_JWT_SECRET, token_with},
};

const AUTHORIZER_EVENT: &str =
    "example-apigw-v2-custom-authorizer-v2-request-without-identity-source.json";

fn with_authorization(value: &str) -> ApiGatewayV2CustomAuthorizerV2Request {
    events::aws_typed(AUTHORIZER_EVENT, |e| e.header("authorization", value))
}

#[tokio::test]
async fn aws_event_passes_anonymous_and_valid_callers_and_refuses_bad_tokens() {
    let clients = Clients::new(aws_config().await);
    let env = Env::from_pairs([("JWT_SECRET", TEST_JWT_SECRET)]);
    let f = HttpAuthorizeFunction::from_env(&env, &clients)
        .await
        .expect("http-authorize starts");

    let anonymous = handle(&f, &events::aws_typed(AUTHORIZER_EVENT, |e| e)).await;
    assert!(anonymous.is_authorized);
    assert!(anonymous.context.is_empty());

    let token = token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", false, 60);
    let caller = handle(&f, &with_authorization(&format!("Bearer {token}"))).await;
    assert!(caller.is_authorized);
    assert_eq!(
        serde_json::to_value(&caller.context).unwrap(),
        serde_json::json!({"userId": "buyer-1", "tier": "GOLD", "admin": "false"})
    );

    let forged = token_with("another-secret-0123456789", "buyer-1", "GOLD", false, 60);
    for header in [format!("Bearer {forged}"), "Bearer garbage".to_owned()] {
        let answer = handle(&f, &with_authorization(&header)).await;
        assert!(!answer.is_authorized, "{header} was allowed");
    }
}
