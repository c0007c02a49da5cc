//! The WebSocket API's use cases: a browser connects, says what it wants to hear, and
//! leaves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{
    StoreError, UserId,
    push::{
        CONNECTION_LIFETIME, Connection, ConnectionId, ConnectionPusher, ConnectionRegistry,
        ErrorPayload, MessageType, PostOutcome, ServerMessage, Topic, TopicKey,
    },
};

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records a new connection and subscribes it to the live cards.
pub async fn connect<R: ConnectionRegistry>(
    registry: &R,
    id: ConnectionId,
    user: Option<UserId>,
    now: DateTime<Utc>,
    live_shards: u16,
) -> Result<Connection, ConnectError> {
    let connection = Connection {
        expires_at: now + CONNECTION_LIFETIME,
        connected_at: now,
        user,
        id,
    };
    let key = TopicKey::for_subscription(
        Topic::ConcertsLive,
        &connection.id,
        connection.user.as_ref(),
        live_shards,
    )
    .expect("the public topic needs no user");
    registry.register_subscribed(&connection, &key).await?;
    Ok(connection)
}

/// Forgets a connection and its subscriptions.
pub async fn disconnect<R: ConnectionRegistry>(
    registry: &R,
    id: &ConnectionId,
) -> Result<(), StoreError> {
    registry.remove(id).await
}

/// What a browser may send. Anything else is answered with an ERROR message.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
enum ClientAction {
    Subscribe { topic: String },
    Unsubscribe { topic: String },
    Ping,
}

/// The reply a client message earned, already sent on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Subscribed,
    Unsubscribed,
    Pong,
    /// The message was refused with this code.
    Refused(&'static str),
    /// The connection went away before the reply reached it.
    Gone,
}

#[derive(Debug, Error)]
pub enum ClientMessageError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicPayload {
    topic: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PongPayload {
    #[serde(with = "crate::time")]
    server_now: DateTime<Utc>,
}

/// One message from a browser. A personal topic takes its user from the connection's
/// authorizer context, never from the message.
pub async fn client_message<R: ConnectionRegistry, P: ConnectionPusher>(
    registry: &R,
    pusher: &P,
    id: &ConnectionId,
    user: Option<&UserId>,
    body: &str,
    now: DateTime<Utc>,
    live_shards: u16,
) -> Result<Reply, ClientMessageError> {
    let action = match serde_json::from_str::<ClientAction>(body) {
        Ok(a) => a,
        Err(_) => {
            return refuse(
                pusher,
                id,
                now,
                None,
                "BAD_MESSAGE",
                "send {\"action\":\"subscribe\"|\"unsubscribe\",\"topic\":\"...\"} or {\"action\":\"ping\"}",
            )
            .await;
        }
    };
    let (subscribe, raw_topic) = match action {
        ClientAction::Ping => {
            let msg = ServerMessage::new(
                MessageType::Pong,
                None,
                now,
                PongPayload { server_now: now },
            );
            return send(pusher, id, &msg.to_bytes(), Reply::Pong).await;
        }
        ClientAction::Subscribe { topic } => (true, topic),
        ClientAction::Unsubscribe { topic } => (false, topic),
    };
    let topic = match Topic::parse(&raw_topic) {
        Ok(t) => t,
        Err(e) => return refuse(pusher, id, now, None, "BAD_TOPIC", &e.message).await,
    };
    let Some(key) = TopicKey::for_subscription(topic, id, user, live_shards) else {
        return refuse(
            pusher,
            id,
            now,
            Some(topic),
            "UNAUTHORIZED",
            "this topic is personal: connect with ?token= to subscribe to it",
        )
        .await;
    };
    let (kind, reply) = if subscribe {
        registry
            .subscribe(&key, id, now + crate::push::CONNECTION_LIFETIME)
            .await?;
        (MessageType::Subscribed, Reply::Subscribed)
    } else {
        registry.unsubscribe(&key, id).await?;
        (MessageType::Unsubscribed, Reply::Unsubscribed)
    };
    let msg = ServerMessage::new(
        kind,
        Some(topic),
        now,
        TopicPayload {
            topic: topic.to_string(),
        },
    );
    send(pusher, id, &msg.to_bytes(), reply).await
}

async fn refuse<P: ConnectionPusher>(
    pusher: &P,
    id: &ConnectionId,
    now: DateTime<Utc>,
    topic: Option<Topic>,
    code: &'static str,
    message: &str,
) -> Result<Reply, ClientMessageError> {
    let msg = ServerMessage::new(
        MessageType::Error,
        topic,
        now,
        ErrorPayload {
            code,
            message: message.to_owned(),
        },
    );
    send(pusher, id, &msg.to_bytes(), Reply::Refused(code)).await
}

async fn send<P: ConnectionPusher>(
    pusher: &P,
    id: &ConnectionId,
    bytes: &[u8],
    reply: Reply,
) -> Result<Reply, ClientMessageError> {
    match pusher.post(id, bytes).await? {
        PostOutcome::Gone => Ok(Reply::Gone),
        // A reply is small and one per client message; a throttled one is not worth a retry.
        PostOutcome::Delivered | PostOutcome::Throttled => Ok(reply),
    }
}
