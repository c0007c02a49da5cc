//! End to end: the runtime's edges. WebSocket frames are capped as API Gateway caps them, a
//! client that stops reading is dropped rather than held, and a runtime bound beyond loopback
//! needs to be told so and then serves no dev login, no `@connections` and no published
//! secret.

use std::{process::Stdio, time::Duration};

use futures_util::{SinkExt, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use ticketrush_testkit::{
    aws_config,
    db::TestDb,
    runtime::{LocalRuntime, base_env, local_binary},
    setting,
    ws::{PushNames, WsClient},
};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{
        Message,
        protocol::{
            CloseFrame,
            frame::{
                Frame,
                coding::{CloseCode, Data, OpCode},
            },
        },
    },
};

/// API Gateway's WebSocket quotas: 32 KB a frame, 128 KB a message.
const FRAME_LIMIT: usize = 32 * 1024;
const MESSAGE_LIMIT: usize = 128 * 1024;

async fn runtime(db: &TestDb, names: &PushNames, extra: &[(&str, &str)]) -> LocalRuntime {
    let env: Vec<(&str, String)> = names.env();
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend_from_slice(extra);
    LocalRuntime::start(&db.url, &pairs).await
}

fn ws_url(rt: &LocalRuntime) -> String {
    format!("{}/ws", rt.base_url.replacen("http", "ws", 1))
}

/// A `ping` action padded to exactly `len` bytes.
fn ping_of(len: usize) -> String {
    let bare = json!({"action": "ping", "pad": ""}).to_string();
    let pad = "x".repeat(len - bare.len());
    let text = json!({"action": "ping", "pad": pad}).to_string();
    assert_eq!(text.len(), len);
    text
}

/// The close frame the server ends the connection with (None if it just dropped it), within
/// `wait`, skipping any other frames.
async fn close_code<S>(stream: &mut S, wait: Duration) -> Option<CloseCode>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                return frame.map(|CloseFrame { code, .. }| code);
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) | Err(_) => return None,
        }
    }
}

/// The one connection in a test's own connections table, once `$connect` has registered it.
async fn only_connection(names: &PushNames) -> Option<String> {
    let dynamo = aws_sdk_dynamodb::Client::new(&aws_config().await);
    let items = dynamo
        .scan()
        .table_name(&names.connections)
        .send()
        .await
        .expect("scan connections")
        .items
        .unwrap_or_default();
    assert!(items.len() <= 1, "one connection at most: {items:?}");
    items
        .first()
        .and_then(|item| item.get("connectionId"))
        .and_then(|id| id.as_s().ok())
        .cloned()
}

#[tokio::test]
async fn a_frame_or_message_over_api_gateways_limits_closes_the_connection_with_1009() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let rt = runtime(&db, &names, &[]).await;

    // A frame of exactly 32 KB is a message like any other.
    let (mut ws, _) = connect_async(ws_url(&rt)).await.expect("connect");
    ws.send(Message::Text(ping_of(FRAME_LIMIT).into()))
        .await
        .unwrap();
    let mut answered = false;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        if let Message::Text(t) = frame {
            let msg: Value = serde_json::from_str(&t).unwrap();
            if msg["type"] == "PONG" {
                answered = true;
                break;
            }
        }
    }
    assert!(answered, "a 32 KB frame is answered");

    // One byte more and the connection is closed with 1009, as API Gateway does.
    ws.send(Message::Text(ping_of(FRAME_LIMIT + 1).into()))
        .await
        .unwrap();
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(10)).await,
        Some(CloseCode::Size)
    );

    // Frames within the limit that add up to more than 128 KB: closed the same way.
    let (mut ws, _) = connect_async(ws_url(&rt)).await.expect("connect");
    let chunk = "x".repeat(FRAME_LIMIT);
    let frames = MESSAGE_LIMIT / FRAME_LIMIT + 1;
    for i in 0..frames {
        let opcode = if i == 0 { Data::Text } else { Data::Continue };
        let frame = Frame::message(chunk.clone(), OpCode::Data(opcode), i + 1 == frames);
        if ws.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(10)).await,
        Some(CloseCode::Size)
    );
    rt.stop().await;
    names.remove().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_throttled_then_dropped_and_others_still_hear() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let rt = runtime(&db, &names, &[("WS_WRITE_TIMEOUT_MILLIS", "2000")]).await;

    // Connected, and then never read from again.
    let (stalled, _) = connect_async(ws_url(&rt)).await.expect("connect");
    let id = only_connection(&names)
        .await
        .expect("the connection is registered");
    let url = rt.url(&format!("/@connections/{id}"));
    let client = Client::new();

    // Posts fill the TCP window, then the socket's bounded buffer (429 LimitExceeded), until
    // the stalled write times out and the connection is gone (410).
    let body = "x".repeat(100 * 1024);
    let (mut delivered, mut throttled, mut gone) = (0, 0, false);
    while throttled < 500 {
        let resp = client.post(&url).body(body.clone()).send().await.unwrap();
        match resp.status() {
            StatusCode::OK => delivered += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(resp.headers()["x-amzn-errortype"], "LimitExceededException");
                throttled += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            StatusCode::GONE => {
                gone = true;
                break;
            }
            other => panic!("unexpected answer {other}"),
        }
    }
    assert!(delivered > 0, "posts are accepted while the window lasts");
    assert!(throttled > 0, "a full buffer throttles posts");
    assert!(gone, "the stalled connection is dropped");
    let described = client.get(&url).send().await.unwrap();
    assert_eq!(described.status(), StatusCode::GONE);

    // `$disconnect` ran: the connection left the registry.
    let mut removed = false;
    for _ in 0..100 {
        if only_connection(&names).await.is_none() {
            removed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        removed,
        "the dropped connection is removed from the registry"
    );

    // A client that reads is served as before.
    let mut reader = WsClient::connect(&rt.base_url, None).await.unwrap();
    reader.send(json!({"action": "ping"})).await;
    assert!(
        reader
            .next_of("PONG", Duration::from_secs(10))
            .await
            .is_some()
    );
    drop(stalled);
    rt.stop().await;
    names.remove().await;
}

/// `ticketrush-local serve` with the test environment and `extra` on top, expected to refuse
/// to start: its exit status and what it wrote.
async fn refused_start(extra: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let url = setting(
        "TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/ticketrush_test",
    );
    let mut cmd = tokio::process::Command::new(local_binary());
    cmd.arg("serve")
        .envs(base_env(&url))
        .env("TICKETRUSH_BIND", "127.0.0.1:0")
        .env("LOG_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("ticketrush-local refuses to start, rather than serving")
        .expect("run ticketrush-local");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("is up at"), "{text}");
    (out.status, text)
}

#[tokio::test]
async fn a_bind_beyond_loopback_is_refused_unless_allowed() {
    for bind in ["0.0.0.0:0", "[::]:0"] {
        let (status, text) = refused_start(&[("TICKETRUSH_BIND", bind)]).await;
        assert!(!status.success(), "{bind}: {text}");
        assert!(text.contains("TICKETRUSH_BIND"), "{bind}: {text}");
        assert!(text.contains("TICKETRUSH_ALLOW_PUBLIC_BIND=true"), "{text}");
    }
}

/// The development secrets the Makefile exports, as it spells them.
fn makefile_secret(name: &str) -> String {
    let makefile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Makefile"))
        .expect("read the Makefile");
    let prefix = format!("export {name} ?= ");
    makefile
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the Makefile sets a default {name}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn allowed_beyond_loopback_the_makefiles_secrets_are_refused() {
    for name in ["JWT_SECRET", "QUEUE_TOKEN_SECRET", "PAYMENT_WEBHOOK_SECRET"] {
        let secret = makefile_secret(name);
        let (status, text) = refused_start(&[
            ("TICKETRUSH_ALLOW_PUBLIC_BIND", "true"),
            (name, secret.as_str()),
        ])
        .await;
        assert!(!status.success(), "{name}: {text}");
        assert!(text.contains(&format!("{name} is invalid")), "{text}");
        assert!(!text.contains(&secret), "the secret is not logged: {text}");
    }
}

#[tokio::test]
async fn allowed_beyond_loopback_neither_the_dev_login_nor_connections_are_served() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let rt = runtime(&db, &names, &[("TICKETRUSH_ALLOW_PUBLIC_BIND", "true")]).await;
    let client = Client::new();

    let login = client
        .post(rt.url("/local/dev-token"))
        .json(&json!({"user": "buyer-gold", "tier": "GOLD"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::NOT_FOUND);
    assert_eq!(login.json::<Value>().await.unwrap()["code"], "NOT_FOUND");

    let mut ws = WsClient::connect(&rt.base_url, None).await.unwrap();
    let id = only_connection(&names)
        .await
        .expect("the connection is registered");
    for path in [
        format!("/@connections/{id}"),
        format!("/local/@connections/{id}"),
    ] {
        let post = client.post(rt.url(&path)).body("{}").send().await.unwrap();
        assert_eq!(post.status(), StatusCode::NOT_FOUND, "POST {path}");
        let get = client.get(rt.url(&path)).send().await.unwrap();
        assert_eq!(get.status(), StatusCode::NOT_FOUND, "GET {path}");
        let delete = client.delete(rt.url(&path)).send().await.unwrap();
        assert_eq!(delete.status(), StatusCode::NOT_FOUND, "DELETE {path}");
    }

    // The functions still reach the sockets, through `@connections` on loopback only.
    ws.send(json!({"action": "ping"})).await;
    assert!(ws.next_of("PONG", Duration::from_secs(10)).await.is_some());
    rt.stop().await;
    names.remove().await;
}
