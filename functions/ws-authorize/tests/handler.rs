//! The `$connect` authorizer driven by its events/ sample.

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use ticketrush_adapters::{config::Env, jwt::JwtSettings};
use ticketrush_lambda::websocket::allows;
use ticketrush_testkit::{
    events,
    runtime::{TEST_JWT_SECRET, token_with},
};
use ws_authorize::{WsAuthorizeFunction, handle};

fn function() -> WsAuthorizeFunction {
    let env = Env::from_fn(|k| (k == "JWT_SECRET").then(|| TEST_JWT_SECRET.to_owned()));
    WsAuthorizeFunction {
        jwt: JwtSettings::from_env(&env).unwrap(),
    }
}

fn with_token(token: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    let mut json: serde_json::Value =
        serde_json::from_str(&events::text("ws-authorize.json")).unwrap();
    json["queryStringParameters"] = serde_json::json!({ "token": token });
    serde_json::from_value(json).unwrap()
}

#[test]
fn no_token_connects_anonymously() {
    let event: ApiGatewayCustomAuthorizerRequestTypeRequest = events::typed("ws-authorize.json");
    let answer = handle(&function(), &event);
    assert!(allows(&answer));
    assert_eq!(answer.principal_id.as_deref(), Some("anonymous"));
    assert!(answer.context.get("userId").is_none());
    assert_eq!(
        answer.policy_document.statement[0].resource,
        vec![event.method_arn.unwrap()]
    );
}

#[test]
fn a_valid_token_carries_the_user_and_a_bad_one_is_refused() {
    let token = token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", false, 60);
    let answer = handle(&function(), &with_token(&token));
    assert!(allows(&answer));
    assert_eq!(answer.context["userId"], "buyer-1");
    assert_eq!(answer.context["tier"], "GOLD");

    let forged = token_with("another-secret-0123456789", "buyer-1", "GOLD", false, 60);
    assert!(!allows(&handle(&function(), &with_token(&forged))));
    let expired = token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", false, -10);
    assert!(!allows(&handle(&function(), &with_token(&expired))));
    assert!(!allows(&handle(&function(), &with_token("garbage"))));
}
