//! The public routes' Lambda authorizer driven by its events/ sample (payload format 2.0).

use aws_lambda_events::event::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use http_authorize::{HttpAuthorizeFunction, handle};
use ticketrush_adapters::{config::Env, wiring::Clients};
use ticketrush_testkit::{
    aws_config, events,
    runtime::{TEST_JWT_SECRET, token_with},
};

/// Without `JWT_JWKS_URL`: the shared key, as the local runtime issues tokens.
async fn function() -> HttpAuthorizeFunction {
    let clients = Clients::new(aws_config().await);
    let env = Env::from_pairs([("JWT_SECRET", TEST_JWT_SECRET)]);
    HttpAuthorizeFunction::from_env(&env, &clients)
        .await
        .expect("http-authorize starts")
}

fn with_authorization(value: &str) -> ApiGatewayV2CustomAuthorizerV2Request {
    let mut json: serde_json::Value =
        serde_json::from_str(&events::text("http-authorize.json")).unwrap();
    json["headers"]["authorization"] = value.into();
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn no_token_passes_anonymously_with_no_context() {
    let event: ApiGatewayV2CustomAuthorizerV2Request = events::typed("http-authorize.json");
    assert_eq!(
        event.identity_source, None,
        "no identity source is declared"
    );
    let f = function().await;
    let answer = handle(&f, &event).await;
    assert!(answer.is_authorized);
    assert!(answer.context.is_empty());
    // The simple response, as API Gateway reads it.
    assert_eq!(
        serde_json::to_value(&answer).unwrap(),
        serde_json::json!({"isAuthorized": true, "context": {}})
    );
    let blank = handle(&f, &with_authorization("")).await;
    assert!(blank.is_authorized && blank.context.is_empty());
}

#[tokio::test]
async fn a_valid_token_passes_its_caller_and_any_other_authorization_is_refused() {
    let f = function().await;
    let token = token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", true, 60);
    let answer = handle(&f, &with_authorization(&format!("Bearer {token}"))).await;
    assert!(answer.is_authorized);
    assert_eq!(
        serde_json::to_value(&answer.context).unwrap(),
        serde_json::json!({"userId": "buyer-1", "tier": "GOLD", "admin": "true"})
    );

    let forged = token_with("another-secret-0123456789", "buyer-1", "GOLD", false, 60);
    let expired = token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", false, -10);
    for header in [
        format!("Bearer {forged}"),
        format!("Bearer {expired}"),
        "Bearer garbage".to_owned(),
        // The bare token, without its scheme.
        token,
        "Basic dXNlcjpwYXNz".to_owned(),
    ] {
        let answer = handle(&f, &with_authorization(&header)).await;
        assert!(!answer.is_authorized, "{header} was allowed");
        assert!(answer.context.is_empty(), "{header}");
    }
}
