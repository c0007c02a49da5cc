//! End to end: each route's authorizer, applied by ticketrush-local as the template declares
//! it and as API Gateway runs it. The public routes go through http-authorize (anonymous
//! passes, a valid token personalises, a bad one gets 403); the routes that need a token go
//! through the JWT authorizer (401); `$connect` goes through ws-authorize only when its
//! declared identity source is present (else 401, the authorizer not called).

use chrono::Duration;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use ticketrush_core::Tier;
use ticketrush_lambda::routes::{IdentityValue, WS_CONNECT_AUTHORIZER};
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create},
    runtime::{LocalRuntime, TEST_JWT_SECRET, token_with},
    ws::{PushNames, WsClient},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// `GET path` with `authorization` when given: the status and the JSON body.
async fn get(client: &Client, url: &str, authorization: Option<&str>) -> (StatusCode, Value) {
    let mut req = client.get(url);
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_presale_members_token_personalises_public_reads_and_a_bad_token_is_refused_403() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            slug: "members",
            opens_in: Some(Duration::days(3)),
            presale: Some((Duration::minutes(-10), Tier::Gold)),
            ..Default::default()
        },
    )
    .await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let client = Client::new();
    let search = rt.url("/api/concerts/search");
    let detail = rt.url(&format!("/api/concerts/{concert}"));

    let gold = format!("Bearer {}", rt.token("gold-member", "GOLD", false));
    let silver = format!("Bearer {}", rt.token("silver-member", "SILVER", false));
    for (caller, authorization, status) in [
        ("anonymous", None, "PREOPEN"),
        ("a silver member", Some(silver.as_str()), "PREOPEN"),
        ("a gold member", Some(gold.as_str()), "OPEN"),
    ] {
        let (code, json) = get(&client, &search, authorization).await;
        assert_eq!(code, 200, "{caller}: {json}");
        assert_eq!(json["items"][0]["saleStatus"], status, "{caller} searching");
        let (code, json) = get(&client, &detail, authorization).await;
        assert_eq!(code, 200, "{caller}: {json}");
        assert_eq!(json["saleStatus"], status, "{caller} on the detail page");
    }

    // The Lambda authorizer refuses, as API Gateway answers isAuthorized: false: 403.
    let expired = token_with(TEST_JWT_SECRET, "gold-member", "GOLD", false, -60);
    let forged = token_with(
        "some-other-secret-entirely",
        "gold-member",
        "GOLD",
        false,
        600,
    );
    for authorization in [
        format!("Bearer {expired}"),
        format!("Bearer {forged}"),
        "Bearer not.a.jwt".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
    ] {
        for url in [&search, &detail] {
            let (code, json) = get(&client, url, Some(&authorization)).await;
            assert_eq!(code, 403, "{authorization} on {url}: {json}");
            assert_eq!(json["code"], "FORBIDDEN");
        }
        // Where a token is required, the JWT authorizer refuses it: 401.
        let (code, json) = get(
            &client,
            &rt.url("/api/me/reservations"),
            Some(&authorization),
        )
        .await;
        assert_eq!(code, 401, "{authorization}: {json}");
        assert_eq!(json["code"], "UNAUTHORIZED");
    }
    let (code, _) = get(&client, &rt.url("/api/me/reservations"), None).await;
    assert_eq!(code, 401, "no token where one is required");
    rt.stop().await;
}

/// A WebSocket handshake written by hand: with or without the `Host` header, which every
/// real client sends. The status line's code.
async fn handshake(base_url: &str, path: &str, host: bool) -> u16 {
    let addr = base_url.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let host = if host {
        format!("Host: {addr}\r\n")
    } else {
        String::new()
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        let n = tcp.read(&mut byte).await.expect("read");
        assert_eq!(n, 1, "the runtime closed before a status line");
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line}"))
}

#[tokio::test]
async fn anonymous_websockets_connect_and_a_connect_without_the_identity_source_is_refused_401() {
    // What the template declares (the parity test holds it to the template): a header every
    // handshake carries, never the optional ?token=.
    assert_eq!(
        WS_CONNECT_AUTHORIZER
            .identity_source
            .iter()
            .map(|s| IdentityValue::parse(s))
            .collect::<Vec<_>>(),
        vec![Some(IdentityValue::Header("Host"))]
    );
    let db = TestDb::new().await;
    let names = PushNames::new();
    let env = names.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rt = LocalRuntime::start(&db.url, &pairs).await;

    // No token: the authorizer is called and lets the viewer in.
    let mut anonymous = WsClient::connect(&rt.base_url, None)
        .await
        .expect("an anonymous viewer connects");
    anonymous.send(json!({"action": "ping"})).await;
    let pong = anonymous
        .next_of("PONG", std::time::Duration::from_secs(5))
        .await;
    assert!(pong.is_some(), "the anonymous connection is served");
    assert_eq!(handshake(&rt.base_url, "/ws", true).await, 101);

    // Without the identity source: 401, as API Gateway answers without calling the
    // authorizer, whatever the token; the authorizer's own refusal is 403.
    let token = rt.token("alice", "BASIC", false);
    assert_eq!(handshake(&rt.base_url, "/ws", false).await, 401);
    assert_eq!(
        handshake(&rt.base_url, &format!("/ws?token={token}"), false).await,
        401
    );
    assert_eq!(
        handshake(&rt.base_url, &format!("/ws?token={token}"), true).await,
        101
    );
    assert_eq!(
        WsClient::connect(&rt.base_url, Some("not-a-token"))
            .await
            .err(),
        Some(403)
    );
    rt.stop().await;
    names.remove().await;
}
