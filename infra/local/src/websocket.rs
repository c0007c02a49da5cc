//! The WebSocket API, as API Gateway would present it: `$connect` through the authorizer and
//! `ws-connect`, every text frame routed by its `action`, `$disconnect` when the socket ends,
//! and the live sockets the `@connections` API writes to.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerRequestTypeRequestContext, ApiGatewayRequestIdentity,
    ApiGatewayWebsocketProxyRequest, ApiGatewayWebsocketProxyRequestContext,
};
use axum::{
    body::Bytes,
    extract::{
        ConnectInfo, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt, stream::SplitSink};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use serde_json::Value;
use ticketrush_lambda::{
    routes::{IdentityValue, WS_CONNECT_AUTHORIZER, WS_ROUTES, ws_route_key},
    websocket as ws,
};
use tokio::sync::{
    mpsc::{self, error::TrySendError},
    oneshot,
};
use tokio_tungstenite::tungstenite;

use crate::{concurrency, http::AppState};

/// API Gateway's WebSocket quotas: a frame of at most 32 KB, a message of at most 128 KB
/// (client frames and `@connections` posts alike); a client exceeding them is closed with 1009.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// Frames queued for one socket before posts to it are throttled.
const SOCKET_BUFFER: usize = 1_024;
/// Bytes queued for one socket before posts to it are throttled: four full-size messages, so
/// a client that stops reading holds at most this much of the runtime's memory.
const OUTGOING_BUFFER_BYTES: usize = 4 * MAX_MESSAGE_BYTES;
/// The stage the local API pretends to be.
pub const STAGE: &str = "local";

/// What `@connections` may do to a live socket.
pub enum Outgoing {
    /// A frame, with the bytes it counts against the socket's budget.
    Frame(Message, usize),
    Close,
}

/// Why a post was not queued for a socket.
pub enum Refused {
    /// The client is not reading fast enough: API Gateway's `LimitExceededException`.
    Full,
    Closed,
}

/// One live socket, as `@connections` sees it.
pub struct Socket {
    pub tx: mpsc::Sender<Outgoing>,
    /// Bytes queued and not yet written to the client.
    queued_bytes: Arc<AtomicUsize>,
    pub connected_at: DateTime<Utc>,
    /// Milliseconds since the epoch of the last frame from the client (pongs included).
    pub last_active_ms: Arc<AtomicI64>,
    pub source_ip: String,
    pub user_agent: Option<String>,
}

impl Socket {
    /// Queues `body` for the client (text when it is UTF-8, as API Gateway sends it), within
    /// the socket's byte budget.
    pub fn offer(&self, body: Bytes) -> Result<(), Refused> {
        let len = body.len();
        if self.queued_bytes.fetch_add(len, Ordering::AcqRel) + len > OUTGOING_BUFFER_BYTES {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        let frame = match String::from_utf8(body.to_vec()) {
            Ok(text) => Message::Text(text.into()),
            Err(e) => Message::Binary(e.into_bytes().into()),
        };
        self.tx
            .try_send(Outgoing::Frame(frame, len))
            .map_err(|err| {
                self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                match err {
                    TrySendError::Full(_) => Refused::Full,
                    TrySendError::Closed(_) => Refused::Closed,
                }
            })
    }
}

/// Every open socket by connection id. A socket leaves as soon as it is found dead, so
/// posting to it answers 410 from then on.
#[derive(Default)]
pub struct Sockets(Mutex<HashMap<String, Arc<Socket>>>);

impl Sockets {
    pub fn get(&self, id: &str) -> Option<Arc<Socket>> {
        self.0.lock().expect("sockets lock").get(id).cloned()
    }

    fn insert(&self, id: String, socket: Arc<Socket>) {
        self.0.lock().expect("sockets lock").insert(id, socket);
    }

    pub fn remove(&self, id: &str) {
        self.0.lock().expect("sockets lock").remove(id);
    }
}

/// A frame over the frame or message limit, as the WebSocket library reports it.
fn too_big(err: &axum::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|e| e.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// One write to the client, bounded in time: a client that stops reading fills its TCP
/// window and stalls the write, and is then dropped as gone rather than held.
async fn write(sink: &mut SplitSink<WebSocket, Message>, frame: Message, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, sink.send(frame)).await,
        Ok(Ok(()))
    )
}

/// An id shaped like API Gateway's (`L0SM9cOFvHcCIhw=`): 11 random bytes in base64.
fn new_connection_id() -> String {
    let bytes = uuid::Uuid::new_v4();
    BASE64.encode(&bytes.as_bytes()[..11]).replace('/', "_")
}

fn function_for(route_key: &str) -> &'static str {
    WS_ROUTES
        .iter()
        .find(|r| r.route_key == route_key)
        .map_or("ws-message", |r| r.function)
}

fn query_map(uri: &Uri) -> QueryMap {
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned() {
        query.entry(k).or_default().push(v);
    }
    QueryMap::from(query)
}

/// What API Gateway knows about a connection, for the events of its routes.
#[derive(Clone)]
struct ConnectionContext {
    id: String,
    connected_at: DateTime<Utc>,
    source_ip: String,
    user_agent: Option<String>,
    authorizer: HashMap<String, Value>,
}

impl ConnectionContext {
    fn event(&self, route_key: &str, event_type: &str) -> ApiGatewayWebsocketProxyRequest {
        let now = Utc::now();
        let mut identity = ApiGatewayRequestIdentity::default();
        identity.source_ip = Some(self.source_ip.clone());
        identity.user_agent = self.user_agent.clone();
        let mut context = ApiGatewayWebsocketProxyRequestContext::default();
        context.account_id = Some("000000000000".into());
        context.apiid = Some("local".into());
        context.stage = Some(STAGE.into());
        context.request_id = Some(uuid::Uuid::new_v4().to_string());
        context.extended_request_id = context.request_id.clone();
        context.identity = identity;
        context.authorizer.fields = self.authorizer.clone();
        context.connected_at = self.connected_at.timestamp_millis();
        context.connection_id = Some(self.id.clone());
        context.domain_name = Some("127.0.0.1".into());
        context.event_type = Some(event_type.into());
        context.message_direction = Some("IN".into());
        context.request_time = Some(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
        context.request_time_epoch = now.timestamp_millis();
        context.route_key = Some(route_key.into());
        let mut event = ApiGatewayWebsocketProxyRequest::default();
        event.request_context = context;
        event.is_base64_encoded = false;
        event
    }
}

/// `GET /ws`: authorize, `$connect`, then upgrade.
pub async fn connect(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let id = new_connection_id();
    let query = query_map(&uri);
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    // As API Gateway: a handshake lacking an identity source is refused unauthorized, and the
    // authorizer is not called.
    let present = WS_CONNECT_AUTHORIZER.identity_present(|value| match value {
        IdentityValue::Header(name) => headers.get(name).and_then(|v| v.to_str().ok()),
        IdentityValue::QueryString(name) => query.first(name),
    });
    if !present {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let mut auth_context = ApiGatewayCustomAuthorizerRequestTypeRequestContext::default();
    auth_context.account_id = Some("000000000000".into());
    auth_context.apiid = Some("local".into());
    auth_context.stage = Some(STAGE.into());
    auth_context.request_id = Some(uuid::Uuid::new_v4().to_string());
    let mut auth = ApiGatewayCustomAuthorizerRequestTypeRequest::default();
    auth.type_ = Some("REQUEST".into());
    auth.method_arn = Some(format!(
        "arn:aws:execute-api:us-east-1:000000000000:local/{STAGE}/$connect"
    ));
    auth.headers = headers.clone();
    auth.query_string_parameters = query.clone();
    auth.request_context = auth_context;
    let Ok(decision) = state.functions.authorize_ws(&auth).await else {
        return handshake_throttled();
    };
    if !ws::allows(&decision) {
        return (StatusCode::FORBIDDEN, "Forbidden").into_response();
    }
    let mut authorizer: HashMap<String, Value> = match decision.context {
        Value::Object(map) => map.into_iter().collect(),
        _ => HashMap::new(),
    };
    if let Some(principal) = decision.principal_id {
        authorizer.insert("principalId".into(), Value::String(principal));
    }

    let ctx = ConnectionContext {
        id,
        connected_at: Utc::now(),
        source_ip: peer.ip().to_string(),
        user_agent,
        authorizer,
    };
    let mut event = ctx.event("$connect", "CONNECT");
    event.headers = headers;
    event.query_string_parameters = query;
    let Ok(answer) = state
        .functions
        .invoke_ws(function_for("$connect"), &event)
        .await
    else {
        return handshake_throttled();
    };
    if !(200..300).contains(&answer.status_code) {
        let status = StatusCode::from_u16(answer.status_code as u16)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return status.into_response();
    }
    upgrade
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(state, ctx, socket))
}

/// Serves one socket until it closes, is closed, stops answering pings or stops reading.
async fn run(state: Arc<AppState>, ctx: ConnectionContext, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Outgoing>(SOCKET_BUFFER);
    let last_active_ms = Arc::new(AtomicI64::new(Utc::now().timestamp_millis()));
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    state.sockets.insert(
        ctx.id.clone(),
        Arc::new(Socket {
            tx,
            queued_bytes: queued_bytes.clone(),
            connected_at: ctx.connected_at,
            last_active_ms: last_active_ms.clone(),
            source_ip: ctx.source_ip.clone(),
            user_agent: ctx.user_agent.clone(),
        }),
    );

    let (ping_every, write_timeout) = (state.ws_ping_interval, state.ws_write_timeout);
    let (close_tx, mut close_rx) = oneshot::channel::<CloseFrame>();
    let mut close_tx = Some(close_tx);
    let writer_last = last_active_ms.clone();
    let mut writer = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(ping_every);
        ticker.tick().await;
        loop {
            tokio::select! {
                close = &mut close_rx => {
                    let Ok(frame) = close else { return 1006 };
                    let code = frame.code;
                    write(&mut sink, Message::Close(Some(frame)), write_timeout).await;
                    return code;
                }
                next = rx.recv() => match next {
                    Some(Outgoing::Frame(frame, len)) => {
                        let sent = write(&mut sink, frame, write_timeout).await;
                        queued_bytes.fetch_sub(len, Ordering::AcqRel);
                        if !sent {
                            return 1006;
                        }
                    }
                    Some(Outgoing::Close) | None => {
                        let close = Message::Close(Some(CloseFrame {
                            code: 1000,
                            reason: "closed by the server".into(),
                        }));
                        write(&mut sink, close, write_timeout).await;
                        return 1000;
                    }
                },
                _ = ticker.tick() => {
                    let silent = Utc::now().timestamp_millis() - writer_last.load(Ordering::Relaxed);
                    if silent > 2 * ping_every.as_millis() as i64 {
                        // No pong for two intervals: the client is gone without a close frame.
                        return 1006;
                    }
                    if !write(&mut sink, Message::Ping(Default::default()), write_timeout).await {
                        return 1006;
                    }
                }
            }
        }
    });

    let status: u16;
    loop {
        tokio::select! {
            code = &mut writer => {
                status = code.unwrap_or(1006);
                break;
            }
            frame = stream.next() => {
                last_active_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(frame))) => {
                        status = frame.map_or(1005, |f| f.code);
                        break;
                    }
                    Some(Err(err)) if too_big(&err) => {
                        // As API Gateway does: close with 1009, reading nothing more of it.
                        if let Some(close) = close_tx.take() {
                            let _ = close.send(CloseFrame {
                                code: 1009,
                                reason: "Message too big".into(),
                            });
                        }
                        status = (&mut writer).await.unwrap_or(1006);
                        break;
                    }
                    Some(Err(_)) | None => {
                        status = 1006;
                        break;
                    }
                };
                let route_key = ws_route_key(&text);
                let mut event = ctx.event(route_key, "MESSAGE");
                event.request_context.message_id = Some(uuid::Uuid::new_v4().to_string());
                event.body = Some(text);
                let state = state.clone();
                let request_id = event.request_context.request_id.clone().unwrap_or_default();
                let id = ctx.id.clone();
                // Like API Gateway, each message is its own invocation.
                tokio::spawn(async move {
                    let invoked = state.functions.invoke_ws(function_for(route_key), &event).await;
                    // Refused, API Gateway tells the client and keeps the connection.
                    if invoked.is_err()
                        && let Some(socket) = state.sockets.get(&id)
                    {
                        let frame = concurrency::websocket_throttled_frame(&id, &request_id);
                        let _ = socket.offer(Bytes::from(frame));
                    }
                });
            }
        }
    }
    state.sockets.remove(&ctx.id);
    writer.abort();
    let mut event = ctx.event("$disconnect", "DISCONNECT");
    event.request_context.disconnect_status_code = Some(status.into());
    event.request_context.disconnect_reason = Some(String::new());
    // Refused, a `$disconnect` is lost, as in AWS: the connection's records go at the next
    // push to it (410 Gone) or with their TTL.
    let _ = state
        .functions
        .invoke_ws(function_for("$disconnect"), &event)
        .await;
}

/// API Gateway fails a handshake whose authorizer or `$connect` invocation was refused.
fn handshake_throttled() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
}
