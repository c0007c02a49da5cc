//! The authorizer against an issuer whose key set changes under it: a rotated key is read
//! again (once, however many callers ask, and not again within the interval), `nbf` is
//! honoured, and the token's expiry rides in the context.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use ticketrush_adapters::{config::Env, wiring::Clients};
use ticketrush_lambda::websocket::{TOKEN_EXPIRES_AT, allows};
use ticketrush_testkit::{aws_config, events};
use ws_authorize::{WsAuthorizeFunction, handle};

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Rotate";
const CLIENT_ID: &str = "test-app-client";

/// An issuer's JWKS endpoint whose answer the test changes, counting the reads.
#[derive(Clone)]
struct KeyServer {
    url: String,
    answer: Arc<Mutex<(u16, String)>>,
    reads: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start(kids: &[&str]) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let server = Self {
            url,
            answer: Arc::new(Mutex::new((200, key_set(kids)))),
            reads: Arc::new(AtomicUsize::new(0)),
        };
        let (answer, reads) = (server.answer.clone(), server.reads.clone());
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let (answer, reads) = (answer.clone(), reads.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = tcp.read(&mut buf).await;
                    reads.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = answer.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tcp.write_all(response.as_bytes()).await;
                });
            }
        });
        server
    }

    /// From now on the issuer publishes these keys (or fails with `status`).
    fn publish(&self, status: u16, kids: &[&str]) {
        *self.answer.lock().unwrap() = (status, key_set(kids));
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

/// The test key pair published under each of `kids` (a rotation that keeps the material
/// still changes what the tokens name, which is what the authorizer looks up).
fn key_set(kids: &[&str]) -> String {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/oidc-test-jwks.json")).unwrap();
    let key = &fixture["keys"][0];
    let keys: Vec<Value> = kids
        .iter()
        .map(|kid| {
            let mut k = key.clone();
            k["kid"] = json!(kid);
            k
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// A Cognito-style access token naming `kid`, with `claims` over the defaults.
fn token(kid: &str, claims: &[(&str, Value)]) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut all: HashMap<&str, Value> = HashMap::from([
        ("sub", "cognito-user-1".into()),
        ("iss", ISSUER.into()),
        ("client_id", CLIENT_ID.into()),
        ("exp", (now + 300).into()),
    ]);
    all.extend(claims.iter().cloned());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_der(include_bytes!("fixtures/oidc-test-key.der"));
    encode(&header, &all, &key).unwrap()
}

fn with_token(token: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    let mut json: Value = serde_json::from_str(&events::text("ws-authorize.json")).unwrap();
    json["queryStringParameters"] = json!({ "token": token });
    serde_json::from_value(json).unwrap()
}

/// ws-authorize on `server`'s keys, with the default re-read interval (60 s: longer than
/// any test here runs, so a second re-read within a test is always held back).
async fn function(server: &KeyServer) -> WsAuthorizeFunction {
    let vars = [
        ("JWT_JWKS_URL", server.url.as_str()),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", CLIENT_ID),
    ];
    let clients = Clients::new(aws_config().await);
    WsAuthorizeFunction::from_env(&Env::from_pairs(vars), &clients)
        .await
        .expect("ws-authorize starts")
}

async fn allowed(f: &WsAuthorizeFunction, token: &str) -> bool {
    allows(&handle(f, &with_token(token)).await)
}

#[tokio::test]
async fn a_rotated_key_is_read_once_for_every_caller_and_not_again_within_the_interval() {
    let server = KeyServer::start(&["key-a"]).await;
    let f = function(&server).await;
    assert_eq!(server.reads(), 1, "read at cold start");
    assert!(allowed(&f, &token("key-a", &[])).await);
    assert_eq!(server.reads(), 1, "a known key needs no read");

    // The issuer rotates: key-b replaces key-a. Many logins with the new key at once.
    server.publish(200, &["key-b"]);
    let f = Arc::new(f);
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let f = f.clone();
        logins.spawn(async move { allowed(&f, &token("key-b", &[])).await });
    }
    let logins = logins.join_all().await;
    assert!(logins.iter().all(|ok| *ok), "{logins:?}");
    assert_eq!(server.reads(), 2, "one re-read served every caller");

    // The withdrawn key went with the old set.
    assert!(!allowed(&f, &token("key-a", &[])).await);
    // Another rotation within the interval is not read yet: its tokens wait for it.
    server.publish(200, &["key-b", "key-c"]);
    assert!(!allowed(&f, &token("key-c", &[])).await);
    assert!(!allowed(&f, &token("forged-kid", &[])).await);
    assert_eq!(
        server.reads(),
        2,
        "unknown keys cost no read within the interval"
    );
    assert!(allowed(&f, &token("key-b", &[])).await);
}

#[tokio::test]
async fn a_failed_re_read_keeps_the_keys_held() {
    let server = KeyServer::start(&["key-a"]).await;
    let f = function(&server).await;
    server.publish(503, &[]);
    assert!(!allowed(&f, &token("key-b", &[])).await);
    assert_eq!(server.reads(), 2, "the re-read was tried");
    assert!(allowed(&f, &token("key-a", &[])).await);
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused_and_the_expiry_rides_in_the_context() {
    let server = KeyServer::start(&["key-a"]).await;
    let f = function(&server).await;
    let now = chrono::Utc::now().timestamp();
    assert!(!allowed(&f, &token("key-a", &[("nbf", (now + 120).into())])).await);

    let exp = now + 300;
    let answer = handle(
        &f,
        &with_token(&token(
            "key-a",
            &[("nbf", (now - 5).into()), ("exp", exp.into())],
        )),
    )
    .await;
    assert!(allows(&answer));
    assert_eq!(answer.context[TOKEN_EXPIRES_AT], exp.to_string());
}
