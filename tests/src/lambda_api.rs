//! A stand-in for the Lambda Runtime API (2018-06-01), so a function binary boots exactly
//! as it does on Lambda: it polls `invocation/next`, gets one event, posts its response
//! (or error) and polls again, at which point it is idle. Also records what a
//! CloudFormation custom resource PUTs to its response URL.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use tokio::sync::Notify;

const PREFIX: &str = "/2018-06-01/runtime";

/// What the function did, in order.
#[derive(Debug, Default, Clone)]
pub struct Record {
    /// When each `invocation/next` poll arrived.
    pub polls: Vec<Instant>,
    pub response: Option<serde_json::Value>,
    /// `(error type header, body)` from `invocation/{id}/error`.
    pub error: Option<(String, String)>,
    /// Body of `init/error`.
    pub init_error: Option<String>,
    /// Bodies PUT to `/cfn-response`.
    pub cfn_responses: Vec<serde_json::Value>,
}

struct Shared {
    event: Mutex<Option<Vec<u8>>>,
    request_id: String,
    function_name: String,
    record: Mutex<Record>,
    changed: Notify,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves one invocation of `event` to `function_name` on a free loopback port.
    pub async fn start(function_name: &str, event: Vec<u8>) -> Self {
        let shared = Arc::new(Shared {
            event: Mutex::new(Some(event)),
            request_id: uuid::Uuid::new_v4().to_string(),
            function_name: function_name.to_owned(),
            record: Mutex::default(),
            changed: Notify::new(),
        });
        let app = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(
                &format!("{PREFIX}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .route("/cfn-response", put(cfn_response))
            // The WebSocket @connections API, accepting every post.
            .route(
                "/@connections/{id}",
                post(StatusCode::OK)
                    .get(StatusCode::OK)
                    .delete(StatusCode::NO_CONTENT),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the runtime API");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    pub fn record(&self) -> Record {
        self.shared.record.lock().expect("record").clone()
    }

    /// Waits until `done` holds for the record, or `timeout` passes.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&Record) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if done(&self.record()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return done(&self.record());
            }
        }
    }

    /// Returns when something changed or `within` passed.
    pub async fn changed(&self, within: Duration) {
        let _ = tokio::time::timeout(within, self.shared.changed.notified()).await;
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn note(shared: &Shared, f: impl FnOnce(&mut Record)) {
    f(&mut shared.record.lock().expect("record"));
    shared.changed.notify_waiters();
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    note(&shared, |r| r.polls.push(Instant::now()));
    let event = shared.event.lock().expect("event").take();
    let Some(event) = event else {
        // Lambda freezes an idle function inside this long poll.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        headers.insert(k, HeaderValue::from_str(&v).expect("header"));
    };
    set("lambda-runtime-aws-request-id", shared.request_id.clone());
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            shared.function_name
        ),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, event).into_response()
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    if id != shared.request_id {
        return StatusCode::BAD_REQUEST;
    }
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
    note(&shared, |r| r.response = Some(value));
    StatusCode::ACCEPTED
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    note(&shared, |r| r.error = Some((kind, body)));
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let body = String::from_utf8_lossy(&body).into_owned();
    note(&shared, |r| r.init_error = Some(body));
    StatusCode::ACCEPTED
}

async fn cfn_response(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    note(&shared, |r| r.cfn_responses.push(value));
    StatusCode::OK
}

/// Resident memory of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
