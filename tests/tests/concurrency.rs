//! Lambda's concurrency through ticketrush-local: each function runs at most its reserved
//! concurrency (shared/lambda/src/limits.rs) of invocations at once, and what is refused past
//! it is answered as API Gateway answers a throttled Lambda. `LOCAL_CONCURRENCY` lowers one
//! function's bound; `LOCAL_THROTTLE_WAIT_MILLIS=0` is Lambda's immediate throttle.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State};
use reqwest::{Client, Method};
use serde_json::json;
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create},
    http::{Caller, send},
    runtime::LocalRuntime,
    ws::{PushNames, WsClient},
};
use tokio::sync::{RwLock, mpsc};

/// Bound on waiting for something that must happen (never a measured time).
const PATIENCE: Duration = Duration::from_secs(30);

async fn runtime(db: &TestDb, names: &PushNames, extra: &[(&str, &str)]) -> LocalRuntime {
    let env: Vec<(&str, String)> = names.env();
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend_from_slice(extra);
    LocalRuntime::start(&db.url, &pairs).await
}

#[tokio::test]
async fn a_function_at_concurrency_zero_is_answered_as_api_gateway_answers_a_throttled_lambda() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    // Reserved concurrency 0 is Lambda's "throttle this function".
    let rt = runtime(
        &db,
        &names,
        &[
            ("LOCAL_CONCURRENCY", "search=0"),
            ("LOCAL_THROTTLE_WAIT_MILLIS", "0"),
        ],
    )
    .await;
    let client = Client::new();
    let caller = Caller::anonymous();
    for _ in 0..3 {
        let answer = send(
            &client,
            Method::GET,
            &rt.url("/api/concerts/search"),
            caller,
            None,
        )
        .await;
        assert_eq!(answer.status, 500, "{answer:?}");
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
        assert_eq!(answer.body, json!({"message": "Internal Server Error"}));
    }
    // Every other function has its own instances.
    let detail = send(
        &client,
        Method::GET,
        &rt.url(&format!("/api/concerts/{}", concert.get())),
        caller,
        None,
    )
    .await;
    assert_eq!(detail.status, 200, "{detail:?}");
    rt.stop().await;
    names.remove().await;
}

/// An `@connections` endpoint that holds every post until released, telling the test of each
/// PONG it is holding.
struct HeldConnections {
    url: String,
    pongs: mpsc::UnboundedReceiver<()>,
}

#[derive(Clone)]
struct Stub {
    gate: Arc<RwLock<()>>,
    pongs: mpsc::UnboundedSender<()>,
}

async fn held_post(State(stub): State<Stub>, body: Bytes) -> &'static str {
    if String::from_utf8_lossy(&body).contains("\"PONG\"") {
        let _ = stub.pongs.send(());
    }
    let _open = stub.gate.read().await;
    ""
}

impl HeldConnections {
    /// Serving, with the gate shut; `shut` holds it until dropped.
    async fn start() -> (Self, tokio::sync::OwnedRwLockWriteGuard<()>) {
        let gate = Arc::new(RwLock::new(()));
        let shut = gate.clone().write_owned().await;
        let (tx, pongs) = mpsc::unbounded_channel();
        let app = Router::new().fallback(held_post).with_state(Stub {
            gate: gate.clone(),
            pongs: tx,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Self { url, pongs }, shut)
    }

    async fn next_pong(&mut self) {
        tokio::time::timeout(PATIENCE, self.pongs.recv())
            .await
            .expect("a PONG posted")
            .expect("the stub runs");
    }
}

#[tokio::test]
async fn messages_past_ws_messages_concurrency_are_refused_as_api_gateway_refuses_them() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let (mut connections, shut) = HeldConnections::start().await;
    let rt = runtime(
        &db,
        &names,
        &[
            ("LOCAL_CONCURRENCY", "ws-message=2"),
            ("LOCAL_THROTTLE_WAIT_MILLIS", "0"),
            ("APIGW_MANAGEMENT_ENDPOINT", connections.url.as_str()),
        ],
    )
    .await;
    let mut client = WsClient::connect(&rt.base_url, None).await.unwrap();

    // Two pings: both instances of ws-message are busy posting their PONGs, held.
    for _ in 0..2 {
        client.send(json!({"action": "ping"})).await;
    }
    connections.next_pong().await;
    connections.next_pong().await;

    // Three more while both are busy: each refused, as API Gateway tells the client, and the
    // connection stays open.
    for _ in 0..3 {
        client.send(json!({"action": "ping"})).await;
    }
    let mut requests = HashSet::new();
    for i in 0..3 {
        let refused = client
            .next(PATIENCE)
            .await
            .unwrap_or_else(|| panic!("refusal {i} of 3"));
        assert_eq!(refused["message"], "Internal server error", "{refused}");
        assert!(
            refused["connectionId"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        );
        requests.insert(refused["requestId"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(requests.len(), 3, "one refusal per message: {requests:?}");
    assert!(
        connections.pongs.try_recv().is_err(),
        "a refused message never ran"
    );

    // The held posts answer; their instances come free as those invocations finish, and
    // then a ping runs (one sent before they finished is refused like the others: send again).
    drop(shut);
    tokio::time::timeout(PATIENCE, async {
        loop {
            client.send(json!({"action": "ping"})).await;
            let ran =
                tokio::time::timeout(Duration::from_millis(200), connections.pongs.recv()).await;
            if matches!(ran, Ok(Some(()))) {
                break;
            }
            let _refused = client.next(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("a ping runs once the held invocations finished");
    rt.stop().await;
    names.remove().await;
}

/// What a process holds, read from /proc.
struct Footprint {
    emulator_connections: usize,
    fds: usize,
    rss_mib: u64,
}

impl std::fmt::Display for Footprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} TCP connections to the emulator, {} file descriptors, RSS {} MiB",
            self.emulator_connections, self.fds, self.rss_mib
        )
    }
}

/// Established TCP connections of `pid` to `port`, its open descriptors and its RSS.
fn footprint(pid: u32, port: u16) -> Footprint {
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/<pid>/fd")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .collect();
    let sockets: HashSet<String> = fds
        .iter()
        .filter_map(|l| {
            l.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let port_hex = format!("{port:04X}");
    let mut emulator_connections = 0;
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // remote address, state (01 = established), inode
            if cols.len() > 9
                && cols[2].ends_with(&format!(":{port_hex}"))
                && cols[3] == "01"
                && sockets.contains(cols[9])
            {
                emulator_connections += 1;
            }
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Footprint {
        emulator_connections,
        fds: fds.len(),
        rss_mib: rss_kib / 1024,
    }
}

/// Not a pass/fail test: the scenario, measured. Opens `FOOTPRINT_SOCKETS` (5,000)
/// WebSockets in batches, closes them all at once, and prints what the runtime holds before,
/// with them open, and 20 s and 60 s after the last closed. `TICKETRUSH_LOCAL_BIN` picks the binary.
/// `cargo nextest run -p ticketrush-testkit --test concurrency --run-ignored only --no-capture`
#[tokio::test]
#[ignore = "a measurement: run it on purpose"]
async fn footprint_after_thousands_of_websockets_connect_and_close() {
    let sockets: usize = std::env::var("FOOTPRINT_SOCKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let db = TestDb::new().await;
    let names = PushNames::new();
    let rt = runtime(&db, &names, &[]).await;
    let pid = rt.pid().expect("runtime pid");
    let endpoint = ticketrush_testkit::aws_backend::endpoint().await;
    let port: u16 = endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(4566);
    let before = footprint(pid, port);

    let opened = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(sockets);
    let mut refused = 0;
    while clients.len() + refused < sockets {
        let batch = 200.min(sockets - clients.len() - refused);
        let results = futures_util::future::join_all(
            (0..batch).map(|_| WsClient::connect(&rt.base_url, None)),
        )
        .await;
        for r in results {
            match r {
                Ok(c) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                    clients.push(c);
                }
                Err(_) => refused += 1,
            }
        }
    }
    let open = footprint(pid, port);
    // All at once, as a crowd leaving.
    for client in clients {
        client.vanish();
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = footprint(pid, port);
    tokio::time::sleep(Duration::from_secs(40)).await;
    let later = footprint(pid, port);
    println!(
        "{sockets} sockets ({} connected, {refused} refused)\n  before: {before}\n  open:   {open}\n  20 s after the last closed: {after}\n  60 s after: {later}",
        opened.load(Ordering::Relaxed)
    );
    rt.stop().await;
    names.remove().await;
}
