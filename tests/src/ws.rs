//! WebSocket clients of the local runtime, and push resources of a test's own.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

use crate::{aws_config, unique};

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects to `ws://.../ws`, with `?token=` when given. Err carries the HTTP status of
    /// a refused handshake.
    pub async fn connect(base_url: &str, token: Option<&str>) -> Result<Self, u16> {
        let mut url = format!("{}/ws", base_url.replacen("http", "ws", 1));
        if let Some(t) = token {
            url.push_str(&format!("?token={t}"));
        }
        match connect_async(url).await {
            Ok((stream, _)) => Ok(Self { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("connect: {e}"),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    /// The next server message within `wait`, or None.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match frame.ok()? {
                Message::Text(t) => return Some(serde_json::from_str(&t).expect("JSON message")),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next message of this type within `wait`, skipping others.
    pub async fn next_of(&mut self, kind: &str, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = self.next(left).await?;
            if msg["type"] == kind {
                return Some(msg);
            }
        }
    }

    /// One message of each of these types, in whatever order they arrive within `wait`,
    /// keyed by type; None when any is missing. Events of one dispatch may be posted
    /// concurrently, so their order is not part of the contract.
    pub async fn each_of(
        &mut self,
        kinds: &[&str],
        wait: Duration,
    ) -> Option<std::collections::HashMap<String, Value>> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut found = std::collections::HashMap::new();
        while found.len() < kinds.len() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = self.next(left).await?;
            if let Some(kind) = msg["type"].as_str().filter(|k| kinds.contains(k)) {
                found.entry(kind.to_owned()).or_insert(msg);
            }
        }
        Some(found)
    }

    /// Subscribes and waits for the answer (SUBSCRIBED or ERROR).
    pub async fn subscribe(&mut self, topic: &str) -> Value {
        self.send(serde_json::json!({"action": "subscribe", "topic": topic}))
            .await;
        loop {
            let msg = self
                .next(Duration::from_secs(10))
                .await
                .expect("an answer to subscribe");
            if msg["type"] == "SUBSCRIBED" || msg["type"] == "ERROR" {
                return msg;
            }
        }
    }

    /// Drops the connection without a close frame, as a vanished client would.
    pub fn vanish(self) {
        drop(self.stream);
    }
}

/// Push tables and queues of a test's own, so tests in parallel never share subscribers or
/// messages.
pub struct PushNames {
    pub connections: String,
    pub subscriptions: String,
    pub queue: String,
    pub dlq: String,
}

impl Default for PushNames {
    fn default() -> Self {
        Self::new()
    }
}

impl PushNames {
    pub fn new() -> Self {
        let id = unique("t");
        Self {
            connections: format!("connections-{id}"),
            subscriptions: format!("subscriptions-{id}"),
            queue: format!("push-{id}"),
            dlq: format!("push-dlq-{id}"),
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.resources().env()
    }

    pub fn resources(&self) -> ticketrush_adapters::aws::PushResources {
        ticketrush_adapters::aws::PushResources {
            connections_table: self.connections.clone(),
            subscriptions_table: self.subscriptions.clone(),
            push_queue: self.queue.clone(),
            push_dead_letter_queue: self.dlq.clone(),
            visibility_timeout_secs: 1,
            max_receive_count: 2,
        }
    }

    /// Creates them (idempotent).
    pub async fn provision(&self) {
        let sdk = aws_config().await;
        ticketrush_adapters::aws::provision(
            &aws_sdk_dynamodb::Client::new(&sdk),
            &aws_sdk_sqs::Client::new(&sdk),
            &self.resources(),
        )
        .await
        .expect("provision push resources");
    }

    /// Deletes them, so the emulator stays small.
    pub async fn remove(&self) {
        let sdk = aws_config().await;
        ticketrush_adapters::aws::remove(
            &aws_sdk_dynamodb::Client::new(&sdk),
            &aws_sdk_sqs::Client::new(&sdk),
            &self.resources(),
        )
        .await;
    }
}
