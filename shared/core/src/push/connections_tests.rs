//! Connecting and client messages against the in-memory registry, pusher and topic
//! directory: what a subscribe must name, how many a connection may hold, and personal
//! topics bound to the caller's token.

use chrono::Duration;

use super::*;
use crate::{
    ConcertId, OptionId, UserId,
    fakes::{FakePusher, FakeRegistry, FakeTopics, at},
    push::Subscriber,
};

const SHARDS: u16 = 4;

fn settings(max_subscriptions: usize) -> SubscriptionSettings {
    SubscriptionSettings {
        live_shards: SHARDS,
        max_subscriptions,
    }
}

/// Concert 1 with performances 10, 11 and 12.
fn topics() -> FakeTopics {
    FakeTopics {
        concerts: vec![ConcertId::from_stored(1)],
        performances: [10, 11, 12].map(OptionId::from_stored).to_vec(),
        ..FakeTopics::default()
    }
}

fn caller(user: &str, token_expires_at: DateTime<Utc>) -> Caller {
    Caller {
        user: UserId::parse(user).unwrap(),
        token_expires_at: Some(token_expires_at),
    }
}

struct World {
    registry: FakeRegistry,
    pusher: FakePusher,
    topics: FakeTopics,
    settings: SubscriptionSettings,
}

impl World {
    fn new(max_subscriptions: usize) -> Self {
        Self {
            registry: FakeRegistry::new(SHARDS),
            pusher: FakePusher::default(),
            topics: topics(),
            settings: settings(max_subscriptions),
        }
    }

    /// A connection opened at `at(0)` by `caller`, subscribed to `concerts.live`.
    async fn connect(&self, id: &str, caller: Option<Caller>) -> ConnectionId {
        let id = ConnectionId::parse(id).unwrap();
        connect(&self.registry, id.clone(), caller, at(0), SHARDS)
            .await
            .unwrap();
        id
    }

    /// Sends `body` on `id` at `now`: the reply, and the message the browser received.
    async fn send(
        &self,
        id: &ConnectionId,
        caller: Option<&Caller>,
        body: &str,
        now: DateTime<Utc>,
    ) -> (Reply, serde_json::Value) {
        let reply = ClientMessages {
            registry: &self.registry,
            pusher: &self.pusher,
            topics: &self.topics,
            settings: self.settings,
        }
        .handle(id, caller, body, now)
        .await
        .unwrap();
        let (to, message) = self
            .pusher
            .posts()
            .pop()
            .expect("every message is answered");
        assert_eq!(&to, id);
        (reply, serde_json::from_slice(&message).unwrap())
    }

    async fn subscribe(
        &self,
        id: &ConnectionId,
        caller: Option<&Caller>,
        topic: &str,
        now: DateTime<Utc>,
    ) -> (Reply, serde_json::Value) {
        let body = format!(r#"{{"action":"subscribe","topic":"{topic}"}}"#);
        self.send(id, caller, &body, now).await
    }

    fn subscribed(&self, id: &ConnectionId) -> usize {
        self.registry.keys_of(id).len()
    }

    fn lookups(&self) -> u32 {
        *self.topics.lookups.lock().unwrap()
    }
}

#[tokio::test]
async fn a_connection_records_its_callers_token_expiry_and_hears_the_cards() {
    let world = World::new(50);
    let expires = at(600);
    let id = world.connect("phone=", Some(caller("u1", expires))).await;
    let recorded = world.registry.state().connections[&id].clone();
    assert_eq!(recorded.user, Some(UserId::parse("u1").unwrap()));
    assert_eq!(recorded.token_expires_at, Some(expires));
    let live = TopicKey::for_subscription(Topic::ConcertsLive, &id, None, SHARDS).unwrap();
    assert_eq!(
        world
            .registry
            .subscribers(&live, None)
            .await
            .unwrap()
            .connections,
        vec![Subscriber {
            id: id.clone(),
            token_expires_at: Some(expires),
        }]
    );
    let anonymous = world.connect("anon=", None).await;
    assert_eq!(
        world.registry.state().connections[&anonymous].token_expires_at,
        None
    );
}

#[tokio::test]
async fn a_subscribe_must_name_a_concert_or_performance_that_exists() {
    let world = World::new(50);
    let me = caller("u1", at(3_600));
    let id = world.connect("phone=", Some(me.clone())).await;

    let (reply, msg) = world.subscribe(&id, Some(&me), "seats.10", at(1)).await;
    assert_eq!(reply, Reply::Subscribed);
    assert_eq!(msg["type"], "SUBSCRIBED");
    assert_eq!(msg["payload"]["topic"], "seats.10");

    for (topic, what) in [("seats.99", "performance"), ("queue.2", "concert")] {
        let before = world.subscribed(&id);
        let (reply, msg) = world.subscribe(&id, Some(&me), topic, at(1)).await;
        assert_eq!(reply, Reply::Refused("UNKNOWN_TOPIC"), "{topic}");
        assert_eq!(msg["type"], "ERROR");
        assert_eq!(msg["topic"], topic);
        assert_eq!(msg["payload"]["code"], "UNKNOWN_TOPIC");
        let text = msg["payload"]["message"].as_str().unwrap();
        assert!(text.contains(what), "{text}");
        assert_eq!(world.subscribed(&id), before, "nothing was written");
    }
    assert_eq!(
        world.subscribe(&id, Some(&me), "queue.1", at(1)).await.0,
        Reply::Subscribed
    );

    // Topics that name nothing in the catalog need no lookup.
    let lookups = world.lookups();
    for topic in ["concerts.live", "reservations"] {
        assert_eq!(
            world.subscribe(&id, Some(&me), topic, at(1)).await.0,
            Reply::Subscribed,
            "{topic}"
        );
    }
    assert_eq!(world.lookups(), lookups);
    // Nor does leaving one.
    let (reply, _) = world
        .send(
            &id,
            Some(&me),
            r#"{"action":"unsubscribe","topic":"seats.99"}"#,
            at(1),
        )
        .await;
    assert_eq!(reply, Reply::Unsubscribed);
    assert_eq!(world.lookups(), lookups);
}

#[tokio::test]
async fn a_connection_holds_at_most_the_limit_of_subscriptions() {
    // Three in all: `concerts.live` from the connect, and two more.
    let world = World::new(3);
    let id = world.connect("viewer=", None).await;
    for topic in ["seats.10", "seats.11"] {
        assert_eq!(
            world.subscribe(&id, None, topic, at(1)).await.0,
            Reply::Subscribed
        );
    }
    assert_eq!(world.subscribed(&id), 3);

    let (reply, msg) = world.subscribe(&id, None, "seats.12", at(1)).await;
    assert_eq!(reply, Reply::Refused("TOO_MANY_SUBSCRIPTIONS"));
    assert_eq!(msg["payload"]["code"], "TOO_MANY_SUBSCRIPTIONS");
    assert!(
        msg["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 3")
    );
    assert_eq!(world.subscribed(&id), 3);

    // One it holds can be subscribed again; leaving one makes room.
    assert_eq!(
        world.subscribe(&id, None, "seats.11", at(1)).await.0,
        Reply::Subscribed
    );
    let (reply, _) = world
        .send(
            &id,
            None,
            r#"{"action":"unsubscribe","topic":"seats.10"}"#,
            at(1),
        )
        .await;
    assert_eq!(reply, Reply::Unsubscribed);
    assert_eq!(
        world.subscribe(&id, None, "seats.12", at(1)).await.0,
        Reply::Subscribed
    );
    assert_eq!(world.subscribed(&id), 3);
}

#[tokio::test]
async fn personal_topics_need_a_token_that_has_not_expired() {
    let world = World::new(50);
    let me = caller("u1", at(600));
    let id = world.connect("phone=", Some(me.clone())).await;

    assert_eq!(
        world
            .subscribe(&id, Some(&me), "reservations", at(599))
            .await
            .0,
        Reply::Subscribed
    );
    let (reply, msg) = world.subscribe(&id, Some(&me), "queue.1", at(600)).await;
    assert_eq!(reply, Reply::Refused("TOKEN_EXPIRED"));
    assert_eq!(msg["payload"]["code"], "TOKEN_EXPIRED");
    assert!(!world.registry.keys_of(&id).contains(&TopicKey::personal(
        Topic::Queue(ConcertId::from_stored(1)),
        &me.user
    )));
    // Public topics do not care.
    assert_eq!(
        world.subscribe(&id, Some(&me), "seats.10", at(600)).await.0,
        Reply::Subscribed
    );

    // Without a token there is no personal topic at all.
    let anon = world.connect("anon=", None).await;
    assert_eq!(
        world.subscribe(&anon, None, "reservations", at(1)).await.0,
        Reply::Refused("UNAUTHORIZED")
    );
}

#[tokio::test]
async fn a_connection_without_its_record_is_told_to_connect_again() {
    let world = World::new(50);
    let id = ConnectionId::parse("unrecorded=").unwrap();
    let (reply, msg) = world.subscribe(&id, None, "seats.10", at(1)).await;
    assert_eq!(reply, Reply::Refused("NOT_CONNECTED"));
    assert_eq!(msg["payload"]["code"], "NOT_CONNECTED");
    assert!(world.registry.keys_of(&id).is_empty());
}

#[tokio::test]
async fn bad_messages_and_pings_are_answered() {
    let world = World::new(50);
    let id = world.connect("viewer=", None).await;
    let (reply, msg) = world.send(&id, None, "{{{", at(1)).await;
    assert_eq!(reply, Reply::Refused("BAD_MESSAGE"));
    assert_eq!(msg["type"], "ERROR");
    let (reply, msg) = world.subscribe(&id, None, "seats.x", at(1)).await;
    assert_eq!(reply, Reply::Refused("BAD_TOPIC"));
    assert_eq!(msg["payload"]["code"], "BAD_TOPIC");
    let (reply, msg) = world
        .send(
            &id,
            None,
            r#"{"action":"ping"}"#,
            at(1) + Duration::milliseconds(5),
        )
        .await;
    assert_eq!(reply, Reply::Pong);
    assert_eq!(msg["type"], "PONG");
    assert_eq!(msg["payload"]["serverNow"], msg["serverNow"]);
}
