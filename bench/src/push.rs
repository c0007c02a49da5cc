//! Live push under load. `fanout`: N sockets subscribed to `concerts.live` (every socket is,
//! from `$connect`) and one CONCERTS_REFRESH published onto the push queue, timed per socket
//! from the publish call to the frame's arrival; beside it the same N sockets on a bare
//! broadcast server in a child process. `coalescing`: how many SEAT_STATUS messages a
//! subscriber to one performance receives for 1,000 clicks on it.

use std::{
    path::Path,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use futures_util::{SinkExt, StreamExt, future::join_all};
use serde::Serialize;
use ticketrush_adapters::{
    aws::{self, PushResources},
    connections::DynamoDbConnections,
    push::SqsPushPublisher,
};
use ticketrush_core::{
    ConcertId,
    push::{ConnectionRegistry, PushEvent, PushPublisher, Topic, TopicKey},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::{broadcast, mpsc},
    task::JoinHandle,
};
use tokio_tungstenite::{accept_async, connect_async, tungstenite::Message};

use crate::{
    load::{self, Target},
    server::Server,
};

/// Push tables and queues of this run's own, so nothing else consumes its events.
pub struct PushNames {
    pub connections: String,
    pub subscriptions: String,
    pub queue: String,
    pub dlq: String,
}

impl PushNames {
    pub fn new(tag: &str) -> Self {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Self {
            connections: format!("bench-{tag}-connections-{id}"),
            subscriptions: format!("bench-{tag}-subscriptions-{id}"),
            queue: format!("bench-{tag}-push-{id}"),
            dlq: format!("bench-{tag}-push-dlq-{id}"),
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.resources().env()
    }

    fn resources(&self) -> PushResources {
        PushResources {
            connections_table: self.connections.clone(),
            subscriptions_table: self.subscriptions.clone(),
            push_queue: self.queue.clone(),
            push_dead_letter_queue: self.dlq.clone(),
            visibility_timeout_secs: 30,
            max_receive_count: 3,
        }
    }

    /// Deletes them, so the emulator stays small.
    pub async fn remove(&self) {
        let sdk = aws::sdk_config().await;
        aws::remove(
            &aws_sdk_dynamodb::Client::new(&sdk),
            &aws_sdk_sqs::Client::new(&sdk),
            &self.resources(),
        )
        .await;
    }
}

/// A push queue this short is idle: the scheduled ticks (queue admission, sale status) keep
/// a few messages passing through it all the time.
pub const IDLE_QUEUE: u64 = 16;

/// Waits (within `bound`) until the run's push queue is down to the scheduled ticks' trickle
/// or its count has not moved for 3 s, so the push work one scenario left behind (seat
/// flushes and the emulator calls they make) does not slow the next. The seconds it took
/// and the messages at the start.
pub async fn drain(names: &PushNames, bound: Duration) -> (f64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as Attr;
    let sqs = aws_sdk_sqs::Client::new(&aws::sdk_config().await);
    let Ok(url) = sqs.get_queue_url().queue_name(&names.queue).send().await else {
        return (0.0, 0);
    };
    let started = Instant::now();
    let (mut first, mut last, mut unchanged) = (None, None, 0);
    while started.elapsed() < bound {
        let attrs = sqs
            .get_queue_attributes()
            .set_queue_url(url.queue_url.clone())
            .attribute_names(Attr::ApproximateNumberOfMessages)
            .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await;
        let left: u64 = attrs
            .ok()
            .and_then(|a| a.attributes)
            .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(0);
        first.get_or_insert(left);
        // Down to the trickle, or settled: the emulator may report a few messages no receive
        // returns.
        unchanged = if last == Some(left) { unchanged + 1 } else { 0 };
        last = Some(left);
        if left <= IDLE_QUEUE || unchanged >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (started.elapsed().as_secs_f64(), first.unwrap_or(0))
}

/// Per-socket receipt times of one published message.
#[derive(Debug, Clone, Serialize)]
pub struct Receipts {
    pub clients: usize,
    pub received: usize,
    /// How long the publish call itself took (the SQS send, or the write to the child).
    pub publish_ms: f64,
    pub first_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The slowest socket, which is also when the last socket had it.
    pub max_ms: f64,
}

impl Receipts {
    fn new(clients: usize, publish: Duration, mut times: Vec<Duration>) -> Self {
        times.sort_unstable();
        let ms = |p: f64| {
            times
                .get(((times.len().max(1) - 1) as f64 * p).round() as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Self {
            clients,
            received: times.len(),
            publish_ms: publish.as_secs_f64() * 1000.0,
            first_ms: ms(0.0),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            max_ms: ms(1.0),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FanoutRow {
    pub clients: usize,
    /// Through ticketrush-local: the round with the median last receipt of `ROUNDS`.
    pub app: Receipts,
    pub app_rounds: Vec<Receipts>,
    /// The bare broadcast server, same selection.
    pub raw: Receipts,
    pub raw_rounds: Vec<Receipts>,
    /// Reading every `concerts.live` subscriber from the emulator's DynamoDB, as
    /// push-dispatch does before posting: the emulator's share of each delivery.
    pub subscriber_read_ms: f64,
    /// Seconds to open (and `$connect`) the sockets added for this level.
    pub connect_s: f64,
    pub server_peak_rss_kib: Option<u64>,
}

pub const LEVELS: &[usize] = &[1_000, 5_000, 10_000];
const ROUNDS: usize = 3;
/// Sockets opened at once.
const CONNECT_BATCH: usize = 100;
/// Bound on opening one level's sockets.
const CONNECT_BOUND: Duration = Duration::from_secs(240);
/// Bound on waiting for every socket to have one message.
const RECEIPT_BOUND: Duration = Duration::from_secs(30);

/// The `serverNow` of a message, without parsing the rest.
fn server_now(text: &str) -> Option<&str> {
    let at = text.find("\"serverNow\":\"")? + "\"serverNow\":\"".len();
    text.get(at..at + 24)
}

/// Open sockets, each read by its own task that reports `(serverNow, arrival)` of every
/// CONCERTS_REFRESH.
struct Sockets {
    url: String,
    readers: Vec<JoinHandle<()>>,
    arrivals_tx: mpsc::UnboundedSender<(String, Instant)>,
    arrivals: mpsc::UnboundedReceiver<(String, Instant)>,
}

impl Sockets {
    fn new(url: String) -> Self {
        let (arrivals_tx, arrivals) = mpsc::unbounded_channel();
        Self {
            url,
            readers: Vec::new(),
            arrivals_tx,
            arrivals,
        }
    }

    /// Opens sockets until there are `n`, in batches, within `CONNECT_BOUND`.
    async fn grow_to(&mut self, n: usize) -> Result<Duration, Box<dyn std::error::Error>> {
        let started = Instant::now();
        while self.readers.len() < n {
            if started.elapsed() > CONNECT_BOUND {
                return Err(format!(
                    "only {} of {n} sockets open after {CONNECT_BOUND:?}",
                    self.readers.len()
                )
                .into());
            }
            let batch = CONNECT_BATCH.min(n - self.readers.len());
            let opened = join_all((0..batch).map(|_| connect_async(self.url.as_str()))).await;
            for socket in opened {
                let (socket, _) = socket?;
                let tx = self.arrivals_tx.clone();
                self.readers.push(tokio::spawn(async move {
                    let (_sink, mut stream) = socket.split();
                    while let Some(Ok(frame)) = stream.next().await {
                        if let Message::Text(text) = frame
                            && text.contains("\"CONCERTS_REFRESH\"")
                            && let Some(at) = server_now(&text)
                        {
                            let _ = tx.send((at.to_owned(), Instant::now()));
                        }
                    }
                }));
            }
        }
        Ok(started.elapsed())
    }

    /// Publishes one message stamped `at` (by `publish`) and collects its arrivals.
    async fn round<F, Fut>(&mut self, publish: F) -> Receipts
    where
        F: FnOnce(chrono::DateTime<Utc>) -> Fut,
        Fut: Future<Output = ()>,
    {
        while self.arrivals.try_recv().is_ok() {}
        let at = Utc::now();
        let marker = ticketrush_core::time::format(&at);
        let started = Instant::now();
        publish(at).await;
        let published = started.elapsed();
        let deadline = tokio::time::Instant::now() + RECEIPT_BOUND;
        let mut times = Vec::with_capacity(self.readers.len());
        while times.len() < self.readers.len() {
            match tokio::time::timeout_at(deadline, self.arrivals.recv()).await {
                Ok(Some((stamp, arrived))) if stamp == marker => {
                    times.push(arrived.saturating_duration_since(started));
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        Receipts::new(self.readers.len(), published, times)
    }

    fn close(self) {
        for reader in self.readers {
            reader.abort();
        }
    }
}

/// The round whose last receipt is the median of the rounds.
fn typical(rounds: &[Receipts]) -> Receipts {
    let mut sorted = rounds.to_vec();
    sorted.sort_by(|a, b| a.max_ms.total_cmp(&b.max_ms));
    sorted[sorted.len() / 2].clone()
}

/// The bare baseline: this binary as `--broadcast-server`, writing each line of its stdin
/// as one text frame to every socket it accepted.
pub async fn broadcast_server() -> Result<(), Box<dyn std::error::Error>> {
    crate::limits::raise_open_files();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("broadcast server at ws://{}/", listener.local_addr()?);
    let (tx, _) = broadcast::channel::<Message>(16);
    let sender = tx.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let mut rx = sender.subscribe();
            tokio::spawn(async move {
                let Ok(socket) = accept_async(tcp).await else {
                    return;
                };
                let (mut sink, mut stream) = socket.split();
                loop {
                    tokio::select! {
                        msg = rx.recv() => match msg {
                            Ok(msg) => if sink.send(msg).await.is_err() { return },
                            Err(_) => return,
                        },
                        frame = stream.next() => if !matches!(frame, Some(Ok(_))) { return },
                    }
                }
            });
        }
    });
    // Ends when the bench closes stdin. A thread reads it, so tokio needs no io-std.
    let (lines_tx, mut lines) = mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if lines_tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let _ = tx.send(Message::Text(line.into()));
    }
    Ok(())
}

/// A CONCERTS_REFRESH-shaped frame of about the size the runtime sends, stamped `at`.
fn raw_frame(at: chrono::DateTime<Utc>) -> String {
    serde_json::json!({
        "type": "CONCERTS_REFRESH",
        "topic": "concerts.live",
        "serverNow": ticketrush_core::time::format(&at),
        "payload": {"items": [{"concertId": 1, "title": "x".repeat(400)}], "realtimeMode": "websocket"},
    })
    .to_string()
}

async fn raw_levels(
    levels: &[usize],
) -> Result<Vec<(Vec<Receipts>, Duration)>, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .arg("--broadcast-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("child stdin")?;
    let mut out = BufReader::new(child.stdout.take().ok_or("child stdout")?).lines();
    let url = out
        .next_line()
        .await?
        .and_then(|l| l.strip_prefix("broadcast server at ").map(str::to_owned))
        .ok_or("the broadcast server did not start")?;
    let mut sockets = Sockets::new(url);
    let mut results = Vec::new();
    for &n in levels {
        let connect = sockets.grow_to(n).await?;
        let mut rounds = Vec::new();
        for _ in 0..ROUNDS {
            let stdin = &mut stdin;
            rounds.push(
                sockets
                    .round(|at| async move {
                        let line = raw_frame(at) + "\n";
                        let _ = stdin.write_all(line.as_bytes()).await;
                        let _ = stdin.flush().await;
                    })
                    .await,
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        results.push((rounds, connect));
    }
    drop(stdin);
    let _ = child.kill().await;
    sockets.close();
    Ok(results)
}

/// Every `concerts.live` subscriber read from DynamoDB, page by page, as push-dispatch does.
async fn read_subscribers(registry: &DynamoDbConnections, shards: u16) -> Duration {
    let started = Instant::now();
    for key in TopicKey::public(Topic::ConcertsLive, shards) {
        let mut page: Option<String> = None;
        for _ in 0..10_000 {
            match registry.subscribers(&key, page.as_deref()).await {
                Ok(p) if p.next.is_some() => page = p.next,
                _ => break,
            }
        }
    }
    started.elapsed()
}

/// The fan-out levels: the bare baseline first, then a runtime of its own (own push tables
/// and queue, pings effectively off) with the same sockets grown level by level.
pub async fn fanout(
    binary: &Path,
    concert: ConcertId,
    open_files: u64,
) -> Result<Vec<FanoutRow>, Box<dyn std::error::Error>> {
    // Each side holds one descriptor per socket, and a few hundred besides.
    let levels: Vec<usize> = LEVELS
        .iter()
        .copied()
        .filter(|&n| n as u64 + 1_000 <= open_files)
        .collect();
    if levels.len() < LEVELS.len() {
        println!("fanout: open-file limit {open_files} leaves only levels {levels:?}");
    }
    let raw = raw_levels(&levels).await?;
    println!("fanout baseline done");

    let names = PushNames::new("fanout");
    let mut env = names.env();
    env.push(("WS_PING_INTERVAL_MILLIS", "600000".into()));
    let server = Server::start(binary, &env).await?;
    let result = app_levels(&server, &names, concert, &levels, raw).await;
    server.stop().await;
    names.remove().await;
    result
}

async fn app_levels(
    server: &Server,
    names: &PushNames,
    concert: ConcertId,
    levels: &[usize],
    raw: Vec<(Vec<Receipts>, Duration)>,
) -> Result<Vec<FanoutRow>, Box<dyn std::error::Error>> {
    let sdk = aws::sdk_config().await;
    let publisher = Arc::new(SqsPushPublisher::new(
        aws_sdk_sqs::Client::new(&sdk),
        names.queue.clone(),
    ));
    let registry =
        DynamoDbConnections::new(aws_sdk_dynamodb::Client::new(&sdk), &names.resources());
    let shards: u16 = std::env::var("LIVE_TOPIC_SHARDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut sockets = Sockets::new(format!("{}/ws", server.base_url.replacen("http", "ws", 1)));
    let mut rows = Vec::new();
    for (&n, (raw_rounds, _)) in levels.iter().zip(raw) {
        let connect = sockets.grow_to(n).await?;
        let mut rounds = Vec::new();
        for _ in 0..ROUNDS {
            let publisher = publisher.clone();
            rounds.push(
                sockets
                    .round(|at| async move {
                        publisher
                            .publish(PushEvent::ConcertsRefresh {
                                concerts: vec![concert],
                                at,
                            })
                            .await;
                    })
                    .await,
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let subscriber_read = read_subscribers(&registry, shards).await;
        let row = FanoutRow {
            clients: n,
            app: typical(&rounds),
            app_rounds: rounds,
            raw: typical(&raw_rounds),
            raw_rounds,
            subscriber_read_ms: subscriber_read.as_secs_f64() * 1000.0,
            connect_s: connect.as_secs_f64(),
            server_peak_rss_kib: server.peak_rss_kib(),
        };
        println!(
            "fanout N={n}: app p50 {:.1} ms p99 {:.1} ms last {:.1} ms ({} of {}) | raw last {:.1} ms | DynamoDB read {:.1} ms",
            row.app.p50_ms,
            row.app.p99_ms,
            row.app.max_ms,
            row.app.received,
            n,
            row.raw.max_ms,
            row.subscriber_read_ms
        );
        rows.push(row);
    }
    sockets.close();
    Ok(rows)
}

/// The emulator's SQS alone: `SendMessage` of a seat-flush message at `concurrency`, to a
/// queue of its own. A seat click that opens a flush window makes this call before it
/// answers, so it bounds `seat-select-spread`, where most clicks open one.
pub async fn sqs_send(
    concurrency: usize,
    bounds: load::Bounds,
) -> Result<load::Measured, Box<dyn std::error::Error>> {
    let sqs = aws_sdk_sqs::Client::new(&aws::sdk_config().await);
    let name = format!(
        "bench-send-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await?
        .queue_url
        .ok_or("the emulator gave no queue URL")?;
    let body = ticketrush_adapters::push::encode(&PushEvent::SeatsChanged {
        performance: ticketrush_core::PerformanceKey {
            concert: ticketrush_core::ConcertId::from_stored(1),
            option: ticketrush_core::OptionId::from_stored(1),
        },
    });
    let (client, queue) = (sqs.clone(), url.clone());
    let measured = load::drive(concurrency, bounds, move |_| {
        let (client, queue, body) = (client.clone(), queue.clone(), body.clone());
        async move {
            client
                .send_message()
                .queue_url(queue)
                .message_body(body)
                .send()
                .await
                .is_ok()
        }
    })
    .await;
    let _ = sqs.delete_queue().queue_url(url).send().await;
    Ok(measured)
}

#[derive(Debug, Serialize)]
pub struct Coalescing {
    pub clicks: usize,
    pub click_seconds: f64,
    pub messages: usize,
    pub seat_changes_carried: usize,
    pub messages_per_1000_clicks: f64,
}

const CLICKS: usize = 1_000;
/// One select-and-release started every 10 ms: 1,000 clicks over about 5 s, a busy hot
/// performance, so the count shows the coalescing window at work rather than one burst.
const CLICK_PACE: Duration = Duration::from_millis(10);

/// 500 buyers each select and release a seat of `target` (1,000 clicks, paced, at most 16 at
/// a time) while one socket subscribed to `seats.{optionId}` counts the SEAT_STATUS messages.
pub async fn coalescing(
    server: &Server,
    target: Target,
) -> Result<Coalescing, Box<dyn std::error::Error>> {
    let (mut socket, _) =
        connect_async(format!("{}/ws", server.base_url.replacen("http", "ws", 1))).await?;
    let topic = format!("seats.{}", target.option);
    socket
        .send(Message::Text(
            serde_json::json!({"action": "subscribe", "topic": topic})
                .to_string()
                .into(),
        ))
        .await?;
    let subscribed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(frame)) = socket.next().await {
            if let Message::Text(t) = frame
                && t.contains("\"SUBSCRIBED\"")
            {
                return true;
            }
        }
        false
    })
    .await;
    if !matches!(subscribed, Ok(true)) {
        return Err("the seat-map subscription was not answered".into());
    }

    let label = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let targets = Arc::new(vec![target]);
    let buyers = Arc::new(load::buyers(&targets, &format!("{label}-coal"), CLICKS / 2));
    let http = reqwest::Client::new();
    let base = server.base_url.clone();
    let listener = tokio::spawn(async move {
        let (mut messages, mut changes) = (0, 0);
        // Until 5 s pass without a message, within 60 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.contains("\"SEAT_STATUS\"") => {
                    messages += 1;
                    changes += t.matches("\"seatId\"").count();
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        (messages, changes)
    });
    let clicked = Arc::new(AtomicUsize::new(0));
    let counter = clicked.clone();
    let started = Instant::now();
    let paced_from = tokio::time::Instant::now();
    let bounds = load::Bounds {
        duration: Duration::from_secs(30),
        max_requests: CLICKS / 2,
    };
    load::drive(16, bounds, move |i| {
        let (http, buyers, counter) = (http.clone(), buyers.clone(), counter.clone());
        let t = &targets[0];
        let url = load::seat_url(&base, t.option, t.seats[(i * 7919) % t.seats.len()]);
        let starts_at = paced_from + CLICK_PACE * i as u32;
        async move {
            tokio::time::sleep_until(starts_at).await;
            let made = load::select_release(&http, &url, &buyers[i], i).await;
            counter.fetch_add(made.unwrap_or(0), Ordering::Relaxed);
            made.is_some()
        }
    })
    .await;
    let clicks = clicked.load(Ordering::Relaxed);
    let click_seconds = started.elapsed().as_secs_f64();
    let (messages, changes) = listener.await?;
    Ok(Coalescing {
        clicks,
        click_seconds,
        messages,
        seat_changes_carried: changes,
        messages_per_1000_clicks: messages as f64 * 1000.0 / clicks.max(1) as f64,
    })
}
