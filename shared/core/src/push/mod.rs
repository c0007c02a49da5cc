//! Domain events on their way to connected browsers: the events use cases publish, the
//! topics browsers subscribe to, the envelope they receive, and the ports that hold
//! connections and post to them.

use std::{fmt, future::Future, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    ConcertId, OptionId, PerformanceKey, StoreError, UserId, ValidationError,
    ids::{ActiveToken, ReservationId, ReservationStatus},
    time,
};

pub mod connections;
pub mod realtime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// The buyer was admitted: their token, for them only.
    QueueActive {
        concert: ConcertId,
        user: UserId,
        token: ActiveToken,
        expires_at: DateTime<Utc>,
    },
    /// The buyer's true place in line, for them only.
    QueueRank {
        concert: ConcertId,
        user: UserId,
        rank: u64,
        estimated_wait_seconds: u64,
    },
    /// Seats of this performance changed: the dispatcher reads the option's change log
    /// (after the coalescing window) and pushes one SEAT_STATUS.
    SeatsChanged { performance: PerformanceKey },
    /// A concert's metadata or policy changed: its card is pushed to every screen.
    ConcertChanged { concert: ConcertId },
    /// The sale status of these concerts changed at `at`: their cards, computed at that
    /// instant, go to every screen. Ids rather than cards keep the queued message small
    /// whatever the catalog's size.
    ConcertsRefresh {
        concerts: Vec<ConcertId>,
        at: DateTime<Utc>,
    },
    /// A change to one of the buyer's reservations, for them only.
    ReservationStatus {
        user: UserId,
        update: ReservationUpdate,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservationUpdate {
    /// The hold for this request could not be written; the seats were let go.
    Failed { request_id: String },
    Changed {
        reservation: ReservationId,
        status: ReservationStatus,
    },
}

/// Sends events towards subscribers. Publishing never fails the caller's work: a failure
/// is the adapter's to log, and the state it reports can always be read back.
pub trait PushPublisher: Send + Sync {
    fn publish(&self, event: PushEvent) -> impl Future<Output = ()> + Send;

    /// Publishes several events, in order. A publisher that can send many in one round trip
    /// overrides this.
    fn publish_all(&self, events: Vec<PushEvent>) -> impl Future<Output = ()> + Send {
        async move {
            for event in events {
                self.publish(event).await;
            }
        }
    }
}

/// What a browser can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Card refreshes for every screen.
    ConcertsLive,
    /// Seat changes of one performance.
    Seats(OptionId),
    /// The subscriber's own place in one concert's waiting room.
    Queue(ConcertId),
    /// The subscriber's own reservations.
    Reservations,
}

impl Topic {
    pub const MAX_LEN: usize = 64;

    /// `concerts.live`, `seats.{optionId}`, `queue.{concertId}` or `reservations`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = || {
            ValidationError::new(
                "topic",
                "must be concerts.live, seats.{optionId}, queue.{concertId} or reservations",
            )
        };
        if raw.len() > Self::MAX_LEN {
            return Err(invalid());
        }
        match raw {
            "concerts.live" => return Ok(Self::ConcertsLive),
            "reservations" => return Ok(Self::Reservations),
            _ => {}
        }
        if let Some(id) = raw.strip_prefix("seats.") {
            return OptionId::parse("topic", id)
                .map(Self::Seats)
                .map_err(|_| invalid());
        }
        if let Some(id) = raw.strip_prefix("queue.") {
            return ConcertId::parse("topic", id)
                .map(Self::Queue)
                .map_err(|_| invalid());
        }
        Err(invalid())
    }

    /// A topic about one user: only that user, as the authorizer vouched for them, may
    /// subscribe, and only their events reach it, while their token is valid.
    pub fn is_personal(self) -> bool {
        matches!(self, Self::Queue(_) | Self::Reservations)
    }
}

/// Which concerts and performances exist, for topics that name one: a subscription to
/// something that does not exist would never hear anything.
pub trait TopicDirectory: Send + Sync {
    fn concert_exists(
        &self,
        id: ConcertId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn performance_exists(
        &self,
        id: OptionId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConcertsLive => f.write_str("concerts.live"),
            Self::Seats(o) => write!(f, "seats.{o}"),
            Self::Queue(c) => write!(f, "queue.{c}"),
            Self::Reservations => f.write_str("reservations"),
        }
    }
}

/// Where subscriptions of one topic are stored: the hot public topic is spread over
/// shards so no single partition holds every connection; personal topics carry the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicKey(String);

impl TopicKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key a connection's subscription to `topic` is stored under. `shards` applies to
    /// `concerts.live`; `user` must be the connection's user for a personal topic.
    pub fn for_subscription(
        topic: Topic,
        connection: &ConnectionId,
        user: Option<&UserId>,
        shards: u16,
    ) -> Option<Self> {
        match (topic, user) {
            (Topic::ConcertsLive, _) => {
                Some(Self(format!("concerts.live#{}", connection.shard(shards))))
            }
            (Topic::Seats(_), _) => Some(Self(topic.to_string())),
            (_, Some(user)) => Some(Self::personal(topic, user)),
            (_, None) => None,
        }
    }

    /// Every key a message on a public topic must reach.
    pub fn public(topic: Topic, shards: u16) -> Vec<Self> {
        match topic {
            Topic::ConcertsLive => (0..shards.max(1))
                .map(|s| Self(format!("concerts.live#{s}")))
                .collect(),
            other => vec![Self(other.to_string())],
        }
    }

    /// The key of one user's personal topic.
    pub fn personal(topic: Topic, user: &UserId) -> Self {
        Self(format!("{topic}@{user}"))
    }
}

/// An API Gateway WebSocket connection id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '=' | '-' | '_' | '+'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "connectionId",
                "is not a connection id",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stable shard in `0..shards` (FNV-1a, so every process agrees).
    pub fn shard(&self, shards: u16) -> u16 {
        let hash = self.0.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        (hash % u64::from(shards.max(1))) as u16
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token expiring at `expires_at` (None: never said) is valid until that instant.
fn token_valid_at(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires_at.is_none_or(|t| now < t)
}

/// Who opened a connection, as the `$connect` authorizer vouched for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    /// The token's expiry: the user's personal pushes stop there. None if the authorizer did
    /// not say (the connection's own end then bounds them).
    pub token_expires_at: Option<DateTime<Utc>>,
}

impl Caller {
    /// Whether the caller's token is still valid at `now`.
    pub fn token_valid_at(&self, now: DateTime<Utc>) -> bool {
        token_valid_at(self.token_expires_at, now)
    }
}

/// A live browser connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    /// None for an anonymous connection.
    pub user: Option<UserId>,
    /// When the token the connection was opened with expires; None without one.
    pub token_expires_at: Option<DateTime<Utc>>,
    pub connected_at: DateTime<Utc>,
    /// API Gateway closes a connection after two hours at most; records outlive it by nothing.
    pub expires_at: DateTime<Utc>,
}

/// API Gateway's longest connection.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 3600);

/// One connection subscribed under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: ConnectionId,
    /// The connection's token expiry, carried by its subscriptions so a push needs no
    /// second read; None without one.
    pub token_expires_at: Option<DateTime<Utc>>,
}

impl Subscriber {
    /// Whether this subscriber may hear a personal event at `now`: not once its token has
    /// expired.
    pub fn hears_personal_at(&self, now: DateTime<Utc>) -> bool {
        token_valid_at(self.token_expires_at, now)
    }
}

/// One page of a topic's subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriberPage {
    pub connections: Vec<Subscriber>,
    /// Where the next page starts; None on the last page.
    pub next: Option<String>,
}

impl SubscriberPage {
    /// The connection ids on this page.
    pub fn ids(&self) -> Vec<ConnectionId> {
        self.connections.iter().map(|s| s.id.clone()).collect()
    }
}

/// What a subscribe did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeOutcome {
    /// Subscribed (or already was).
    Subscribed,
    /// The connection already holds the most subscriptions it may; nothing was written.
    Full,
    /// The connection is not registered (it has closed); nothing was written.
    NoConnection,
}

/// Connections and their topic subscriptions.
pub trait ConnectionRegistry: Send + Sync {
    fn register(
        &self,
        connection: &Connection,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Registers the connection already subscribed under `key`, as `$connect` does. A store
    /// that can write both records in one round trip overrides this.
    fn register_subscribed(
        &self,
        connection: &Connection,
        key: &TopicKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            self.register(connection).await?;
            self.subscribe(key, &connection.id, connection.expires_at, usize::MAX)
                .await
                .map(|_| ())
        }
    }

    /// The connection, if it is still registered.
    fn connection(
        &self,
        id: &ConnectionId,
    ) -> impl Future<Output = Result<Option<Connection>, StoreError>> + Send;

    /// Removes the connection and every subscription it holds.
    fn remove(&self, id: &ConnectionId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Subscribes the registered connection under `key` until `expires_at` (the connection's
    /// own end), with the connection's token expiry, unless it already holds `max`
    /// subscriptions under other keys; the count and the write are one atomic step, so
    /// concurrent subscribes of one connection cannot pass `max` together. Subscribing again
    /// under a key it holds succeeds whatever the count.
    fn subscribe(
        &self,
        key: &TopicKey,
        id: &ConnectionId,
        expires_at: DateTime<Utc>,
        max: usize,
    ) -> impl Future<Output = Result<SubscribeOutcome, StoreError>> + Send;

    fn unsubscribe(
        &self,
        key: &TopicKey,
        id: &ConnectionId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A page of the connections subscribed under `key`.
    fn subscribers(
        &self,
        key: &TopicKey,
        page: Option<&str>,
    ) -> impl Future<Output = Result<SubscriberPage, StoreError>> + Send;
}

/// What posting to one connection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    Delivered,
    /// The connection no longer exists: its records should go.
    Gone,
    /// Too many requests right now: try again after a pause.
    Throttled,
}

/// Posts one message to one connection (API Gateway's `@connections`).
pub trait ConnectionPusher: Send + Sync {
    fn post(
        &self,
        id: &ConnectionId,
        message: &[u8],
    ) -> impl Future<Output = Result<PostOutcome, StoreError>> + Send;
}

/// Waiting, as a port, so the rules that wait stay free of a runtime.
pub trait Pause: Send + Sync {
    fn pause(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// The kinds of server message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageType {
    ConcertsRefresh,
    SeatStatus,
    QueueRank,
    QueueActive,
    ReservationStatus,
    Pong,
    Subscribed,
    Unsubscribed,
    Error,
}

/// Every message a browser receives: `{type, topic, serverNow, payload}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerMessage<P: Serialize> {
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub topic: Option<String>,
    #[serde(with = "time")]
    pub server_now: DateTime<Utc>,
    pub payload: P,
}

impl<P: Serialize> ServerMessage<P> {
    pub fn new(
        kind: MessageType,
        topic: Option<Topic>,
        server_now: DateTime<Utc>,
        payload: P,
    ) -> Self {
        Self {
            kind,
            topic: topic.map(|t| t.to_string()),
            server_now,
            payload,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Every payload is plain data with string keys; serialization cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The ERROR payload: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorPayload {
    pub code: &'static str,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_and_print_back() {
        for raw in ["concerts.live", "seats.7", "queue.42", "reservations"] {
            assert_eq!(Topic::parse(raw).unwrap().to_string(), raw);
        }
        for bad in [
            "",
            "seats.",
            "seats.0",
            "seats.x",
            "queue.-1",
            "concerts",
            "reservations.u1",
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
        assert!(Topic::parse("queue.1").unwrap().is_personal());
        assert!(!Topic::parse("seats.1").unwrap().is_personal());
    }

    #[test]
    fn subscription_keys_shard_the_hot_topic_and_carry_the_user() {
        let c = ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap();
        let u = UserId::parse("u1").unwrap();
        let live = TopicKey::for_subscription(Topic::ConcertsLive, &c, None, 4).unwrap();
        assert!(TopicKey::public(Topic::ConcertsLive, 4).contains(&live));
        assert_eq!(TopicKey::public(Topic::ConcertsLive, 4).len(), 4);
        assert!(TopicKey::for_subscription(Topic::Reservations, &c, None, 4).is_none());
        assert_eq!(
            TopicKey::for_subscription(Topic::Reservations, &c, Some(&u), 4).unwrap(),
            TopicKey::personal(Topic::Reservations, &u)
        );
        assert!(ConnectionId::parse("a/b").is_err());
    }

    #[test]
    fn the_envelope_has_the_contract_shape() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let msg = ServerMessage::new(MessageType::Pong, None, now, serde_json::json!({}));
        let v: serde_json::Value = serde_json::from_slice(&msg.to_bytes()).unwrap();
        assert_eq!(v["type"], "PONG");
        assert_eq!(v["serverNow"], "2026-12-01T10:00:00.000Z");
        assert!(v["topic"].is_null());
    }
}
