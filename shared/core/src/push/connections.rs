//! The WebSocket API's use cases: a browser connects, says what it wants to hear, and
//! leaves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{
    StoreError,
    push::{
        CONNECTION_LIFETIME, Caller, Connection, ConnectionId, ConnectionPusher,
        ConnectionRegistry, ErrorPayload, MessageType, PostOutcome, ServerMessage,
        SubscribeOutcome, Topic, TopicDirectory, TopicKey,
    },
};

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records a new connection (with its caller's token expiry, where personal pushes to it
/// stop) and subscribes it to the live cards.
pub async fn connect<R: ConnectionRegistry>(
    registry: &R,
    id: ConnectionId,
    caller: Option<Caller>,
    now: DateTime<Utc>,
    live_shards: u16,
) -> Result<Connection, ConnectError> {
    let (user, token_expires_at) = match caller {
        Some(c) => (Some(c.user), c.token_expires_at),
        None => (None, None),
    };
    let connection = Connection {
        expires_at: now + CONNECTION_LIFETIME,
        connected_at: now,
        user,
        token_expires_at,
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

/// The limits on what one connection may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionSettings {
    /// Shards of `concerts.live`.
    pub live_shards: u16,
    /// Most subscriptions one connection holds, its `concerts.live` included.
    pub max_subscriptions: usize,
}

/// The ports a browser's message needs.
pub struct ClientMessages<'a, R, P, D> {
    pub registry: &'a R,
    pub pusher: &'a P,
    pub topics: &'a D,
    pub settings: SubscriptionSettings,
}

impl<R, P, D> ClientMessages<'_, R, P, D>
where
    R: ConnectionRegistry,
    P: ConnectionPusher,
    D: TopicDirectory,
{
    /// One message from a browser. A personal topic takes its user from the connection's
    /// authorizer context (`caller`), never from the message, and is refused once the
    /// caller's token has expired. A subscribe must name a concert or performance that
    /// exists, within the connection's subscription limit.
    pub async fn handle(
        &self,
        id: &ConnectionId,
        caller: Option<&Caller>,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, ClientMessageError> {
        let pusher = self.pusher;
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
        let user = caller.map(|c| &c.user);
        let Some(key) = TopicKey::for_subscription(topic, id, user, self.settings.live_shards)
        else {
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
        if !subscribe {
            self.registry.unsubscribe(&key, id).await?;
            return confirm(pusher, id, now, topic, false).await;
        }
        if topic.is_personal() && !caller.is_some_and(|c| c.token_valid_at(now)) {
            return refuse(
                pusher,
                id,
                now,
                Some(topic),
                "TOKEN_EXPIRED",
                "the token this connection was opened with has expired: reconnect with a fresh one",
            )
            .await;
        }
        if let Some(missing) = self.missing(topic).await? {
            return refuse(pusher, id, now, Some(topic), "UNKNOWN_TOPIC", missing).await;
        }
        let until = now + CONNECTION_LIFETIME;
        match self
            .registry
            .subscribe(&key, id, until, self.settings.max_subscriptions)
            .await?
        {
            SubscribeOutcome::Subscribed => confirm(pusher, id, now, topic, true).await,
            SubscribeOutcome::Full => {
                let message = format!(
                    "a connection holds at most {} subscriptions: unsubscribe from one first",
                    self.settings.max_subscriptions
                );
                refuse(
                    pusher,
                    id,
                    now,
                    Some(topic),
                    "TOO_MANY_SUBSCRIPTIONS",
                    &message,
                )
                .await
            }
            // Closed while its message was on the way (the reply then finds it gone), or a
            // socket whose record went: either way it must connect again.
            SubscribeOutcome::NoConnection => {
                refuse(
                    pusher,
                    id,
                    now,
                    Some(topic),
                    "NOT_CONNECTED",
                    "this connection is no longer registered: connect again",
                )
                .await
            }
        }
    }

    /// Why `topic` names nothing, if it names a concert or performance that does not exist.
    async fn missing(&self, topic: Topic) -> Result<Option<&'static str>, StoreError> {
        Ok(match topic {
            Topic::Seats(option) if !self.topics.performance_exists(option).await? => {
                Some("there is no such performance")
            }
            Topic::Queue(concert) if !self.topics.concert_exists(concert).await? => {
                Some("there is no such concert")
            }
            _ => None,
        })
    }
}

async fn confirm<P: ConnectionPusher>(
    pusher: &P,
    id: &ConnectionId,
    now: DateTime<Utc>,
    topic: Topic,
    subscribed: bool,
) -> Result<Reply, ClientMessageError> {
    let (kind, reply) = if subscribed {
        (MessageType::Subscribed, Reply::Subscribed)
    } else {
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

#[cfg(test)]
#[path = "connections_tests.rs"]
mod connections_tests;
