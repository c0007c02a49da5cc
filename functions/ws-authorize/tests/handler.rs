//! The `$connect` authorizer driven by its events/ sample.

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use std::collections::HashMap;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use ticketrush_adapters::{
    config::{ConfigError, Env},
    wiring::{Clients, StartupError},
};
use ticketrush_lambda::websocket::allows;
use ticketrush_testkit::{
    aws_config, events,
    runtime::{TEST_JWT_SECRET, token_with},
};
use ws_authorize::{WsAuthorizeFunction, handle};

/// The authorizer as it starts from `vars` (it needs no database, Redis or AWS call).
async fn start(vars: &[(&str, &str)]) -> Result<WsAuthorizeFunction, StartupError> {
    let clients = Clients::new(aws_config().await);
    WsAuthorizeFunction::from_env(&Env::from_pairs(vars.iter().copied()), &clients).await
}

/// Without `JWT_JWKS_URL`: the shared key, as the local runtime issues tokens.
async fn function() -> WsAuthorizeFunction {
    start(&[("JWT_SECRET", TEST_JWT_SECRET)])
        .await
        .expect("ws-authorize starts")
}

fn with_token(token: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    let mut json: serde_json::Value =
        serde_json::from_str(&events::text("ws-authorize.json")).unwrap();
    json["queryStringParameters"] = serde_json::json!({ "token": token });
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn no_token_connects_anonymously() {
    let event: ApiGatewayCustomAuthorizerRequestTypeRequest = events::typed("ws-authorize.json");
    let answer = handle(&function().await, &event).await;
    assert!(allows(&answer));
    assert_eq!(answer.principal_id.as_deref(), Some("anonymous"));
    assert!(answer.context.get("userId").is_none());
    assert_eq!(
        answer.policy_document.statement[0].resource,
        vec![event.method_arn.unwrap()]
    );
}

#[tokio::test]
async fn a_valid_token_carries_the_user_and_a_bad_one_is_refused() {
    let f = function().await;
    let token = token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", false, 60);
    let answer = handle(&f, &with_token(&token)).await;
    assert!(allows(&answer));
    assert_eq!(answer.context["userId"], "buyer-1");
    assert_eq!(answer.context["tier"], "GOLD");

    let forged = token_with("another-secret-0123456789", "buyer-1", "GOLD", false, 60);
    assert!(!allows(&handle(&f, &with_token(&forged)).await));
    let expired = token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", false, -10);
    assert!(!allows(&handle(&f, &with_token(&expired)).await));
    assert!(!allows(&handle(&f, &with_token("garbage")).await));
}

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";
const CLIENT_ID: &str = "test-app-client";

/// Serves `body` at any path over plain HTTP, like an issuer's JWKS endpoint.
async fn jwks_server(body: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tcp.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{addr}/.well-known/jwks.json")
}

/// A token signed with the issuer's test key (RS256), with `claims` over the defaults.
fn oidc_token(kid: &str, claims: &[(&str, serde_json::Value)]) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut all: HashMap<&str, serde_json::Value> = HashMap::from([
        ("sub", "cognito-user-1".into()),
        ("iss", ISSUER.into()),
        ("client_id", CLIENT_ID.into()),
        ("token_use", "access".into()),
        ("exp", (now + 300).into()),
    ]);
    all.extend(claims.iter().cloned());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_der(include_bytes!("fixtures/oidc-test-key.der"));
    encode(&header, &all, &key).unwrap()
}

/// As in AWS: the issuer's key set at `JWT_JWKS_URL`, read at cold start.
async fn start_with_jwks(url: &str) -> Result<WsAuthorizeFunction, StartupError> {
    let audiences = format!("web-client, {CLIENT_ID}");
    start(&[
        ("JWT_JWKS_URL", url),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", &audiences),
    ])
    .await
}

async fn oidc_function() -> WsAuthorizeFunction {
    let url = jwks_server(include_str!("fixtures/oidc-test-jwks.json")).await;
    start_with_jwks(&url).await.expect("ws-authorize starts")
}

#[tokio::test]
async fn in_aws_the_issuers_own_tokens_are_checked_against_its_jwks() {
    let f = oidc_function().await;
    // A Cognito access token (audience in client_id) and an ID token (audience in aud).
    let access = handle(&f, &with_token(&oidc_token("test-key-1", &[]))).await;
    assert!(allows(&access));
    assert_eq!(access.context["userId"], "cognito-user-1");
    assert_eq!(access.context["tier"], "BASIC");
    let id_token = oidc_token(
        "test-key-1",
        &[
            ("client_id", serde_json::Value::Null),
            ("aud", CLIENT_ID.into()),
            ("tier", "VIP".into()),
        ],
    );
    let answer = handle(&f, &with_token(&id_token)).await;
    assert!(allows(&answer));
    assert_eq!(answer.context["tier"], "VIP");

    let refused = [
        ("an unknown key", oidc_token("rotated-away", &[])),
        (
            "another issuer",
            oidc_token("test-key-1", &[("iss", "https://elsewhere.example".into())]),
        ),
        (
            "another app's token",
            oidc_token("test-key-1", &[("client_id", "other-client".into())]),
        ),
        (
            "an expired token",
            oidc_token(
                "test-key-1",
                &[("exp", (chrono::Utc::now().timestamp() - 10).into())],
            ),
        ),
        // A shared-key token must not pass, whatever key signed it.
        (
            "an HS256 token",
            token_with(TEST_JWT_SECRET, "buyer-1", "GOLD", false, 60),
        ),
        ("a tampered token", oidc_token("test-key-1", &[]) + "x"),
    ];
    for (what, token) in refused {
        assert!(
            !allows(&handle(&f, &with_token(&token)).await),
            "{what} was allowed"
        );
    }
}

#[tokio::test]
async fn an_unreachable_or_empty_key_set_fails_at_cold_start() {
    for url in [
        "http://127.0.0.1:9/.well-known/jwks.json".to_owned(),
        jwks_server(r#"{"keys": []}"#).await,
    ] {
        let Err(error) = start_with_jwks(&url).await else {
            panic!("ws-authorize started without a usable key set at {url}");
        };
        assert!(
            matches!(
                &error,
                StartupError::Config(ConfigError::Invalid { name, .. }) if name == "JWT_JWKS_URL"
            ),
            "{error}"
        );
    }
}
