//! The dispatcher against in-memory fakes of its ports: a paged connection registry, a
//! scripted pusher that records every post (and how many are in flight), a pause that
//! records its waits, and a catalog of a few concerts.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

use chrono::TimeZone;

use super::*;
use crate::{
    UserId,
    catalog::ConcertListing,
    fakes::{self, FakeCatalog, FakeLocks, FakePusher, FakeRegistry},
    ids::ActiveToken,
    push::realtime::RealtimeMode,
    sale::SalesPolicy,
};

const SHARDS: u16 = 4;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
}

fn user(raw: &str) -> UserId {
    UserId::parse(raw).unwrap()
}

fn settings() -> DispatchSettings {
    DispatchSettings {
        concurrency: 8,
        live_shards: SHARDS,
        throttle_attempts: 4,
        throttle_backoff: Duration::from_millis(100),
        max_seat_changes: 100,
        realtime: RealtimeSettings {
            realtime_mode: RealtimeMode::Websocket,
            hybrid_poll_interval_millis: 30_000,
        },
    }
}

// ---------------------------------------------------------------------------------------
// The registry and the pusher are `fakes::{FakeRegistry, FakePusher}`.

/// Records every wait instead of waiting.
#[derive(Default)]
struct FakePause(Mutex<Vec<Duration>>);

impl FakePause {
    fn waits(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

impl Pause for FakePause {
    async fn pause(&self, duration: Duration) {
        self.0.lock().unwrap().push(duration);
    }
}

// ---------------------------------------------------------------------------------------
// The catalog: what card refreshes read. The seat locks are `fakes::FakeLocks`: an empty
// change log, as if nobody ever clicked; the seat log is never read here.

/// A concert on general sale since five minutes before `t0`, 3 of its 10 seats left.
fn listing(id: i64, title: &str) -> ConcertListing {
    let starts = Some(t0() + chrono::Duration::days(10));
    ConcertListing {
        policy: Some(
            SalesPolicy::new(None, t0() - chrono::Duration::minutes(5), None, 4, false).unwrap(),
        ),
        first_starts_at: starts,
        last_starts_at: starts,
        ..fakes::listing(id, title, 3)
    }
}

fn catalog() -> FakeCatalog {
    FakeCatalog::with(vec![
        listing(1, "One"),
        listing(2, "Two"),
        listing(3, "Three"),
    ])
}

// ---------------------------------------------------------------------------------------
// The world a delivery runs in.

struct World {
    registry: FakeRegistry,
    pusher: FakePusher,
    locks: FakeLocks,
    catalog: FakeCatalog,
    pause: FakePause,
    settings: DispatchSettings,
}

impl World {
    fn new() -> Self {
        Self {
            registry: FakeRegistry::new(SHARDS),
            pusher: FakePusher::default(),
            locks: FakeLocks::default(),
            catalog: catalog(),
            pause: FakePause::default(),
            settings: settings(),
        }
    }

    /// `n` anonymous viewers of the live topic: `live00=`, `live01=`...
    fn join_live(&self, n: usize) -> Vec<ConnectionId> {
        (0..n)
            .map(|i| {
                self.registry
                    .join(&format!("live{i:02}="), None, &[Topic::ConcertsLive])
            })
            .collect()
    }

    async fn dispatch(&self, event: &PushEvent) -> Result<DispatchReport, DispatchError> {
        Dispatcher {
            registry: &self.registry,
            pusher: &self.pusher,
            locks: &self.locks,
            catalog: &self.catalog,
            pause: &self.pause,
            settings: self.settings,
        }
        .dispatch(event, t0())
        .await
    }
}

fn concert_changed(id: i64) -> PushEvent {
    PushEvent::ConcertChanged {
        concert: ConcertId::from_stored(id),
    }
}

fn queue_active(concert: i64, owner: &str) -> PushEvent {
    PushEvent::QueueActive {
        concert: ConcertId::from_stored(concert),
        user: user(owner),
        token: ActiveToken::minted("tok-1".into()),
        expires_at: t0() + chrono::Duration::minutes(10),
    }
}

fn json(message: &[u8]) -> serde_json::Value {
    serde_json::from_slice(message).unwrap()
}

/// The concert ids of a CONCERTS_REFRESH message's cards.
fn card_ids(message: &[u8]) -> Vec<i64> {
    let v = json(message);
    assert_eq!(v["type"], "CONCERTS_REFRESH");
    v["payload"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["concertId"].as_i64().unwrap())
        .collect()
}

fn undelivered(
    result: Result<DispatchReport, DispatchError>,
) -> (u32, u32, String, DispatchReport) {
    match result {
        Err(DispatchError::Undelivered {
            attempted,
            failed,
            last,
            report,
        }) => (attempted, failed, last, report),
        other => panic!("expected Undelivered, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_subscriber_of_a_card_change_receives_it_exactly_once() {
    let world = World::new();
    let live = world.join_live(25);
    let shards: BTreeSet<u16> = live.iter().map(|id| id.shard(SHARDS)).collect();
    assert!(shards.len() > 1, "the viewers spread over several shards");
    let elsewhere = world.registry.join(
        "seats-only=",
        None,
        &[Topic::Seats(OptionId::from_stored(7))],
    );

    let report = world.dispatch(&concert_changed(2)).await.unwrap();

    assert_eq!(
        report,
        DispatchReport {
            messages: 1,
            delivered: 25,
            gone: 0,
            expired_tokens: 0,
            throttled: 0,
        }
    );
    let counts = world.pusher.post_counts();
    assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), live);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert!(!counts.contains_key(&elsewhere));
    let posts = world.pusher.posts();
    assert!(
        posts.iter().all(|(_, m)| *m == posts[0].1),
        "one message for all"
    );
    assert_eq!(card_ids(&posts[0].1), vec![2]);
    let v = json(&posts[0].1);
    assert_eq!(v["topic"], "concerts.live");
    assert_eq!(v["payload"]["items"][0]["saleStatus"], "OPEN");
    assert_eq!(v["payload"]["realtimeMode"], "websocket");
}

#[tokio::test]
async fn a_status_refresh_carries_the_named_cards_at_its_instant() {
    let world = World::new();
    let a = world.registry.join("a=", None, &[Topic::ConcertsLive]);
    let b = world.registry.join("b=", None, &[Topic::ConcertsLive]);
    let at = t0() - chrono::Duration::minutes(10);
    let event = PushEvent::ConcertsRefresh {
        concerts: vec![ConcertId::from_stored(3), ConcertId::from_stored(1)],
        at,
    };

    let report = world.dispatch(&event).await.unwrap();

    assert_eq!(report.delivered, 2);
    let posts = world.pusher.posts();
    assert_eq!(world.pusher.post_counts().len(), 2);
    assert!(posts.iter().all(|(id, _)| *id == a || *id == b));
    // Catalog order, only the named concerts, computed at `at`: five minutes before opening.
    assert_eq!(card_ids(&posts[0].1), vec![1, 3]);
    let v = json(&posts[0].1);
    assert_eq!(v["serverNow"], "2026-12-01T09:50:00.000Z");
    assert_eq!(v["payload"]["items"][0]["saleStatus"], "OPEN_SOON_5M");

    // A concert that is not in the catalog: nothing to push, nobody posted.
    let before = world.pusher.posts().len();
    let report = world.dispatch(&concert_changed(99)).await.unwrap();
    assert_eq!(report, DispatchReport::default());
    assert_eq!(world.pusher.posts().len(), before);
}

#[tokio::test]
async fn a_gone_connection_is_removed_with_every_subscription() {
    let world = World::new();
    let gone = world.registry.join(
        "gone=",
        Some("u1"),
        &[
            Topic::ConcertsLive,
            Topic::Reservations,
            Topic::Seats(OptionId::from_stored(7)),
        ],
    );
    let alive = world.registry.join(
        "alive=",
        Some("u2"),
        &[Topic::ConcertsLive, Topic::Reservations],
    );
    world.pusher.script(&gone, vec![Ok(PostOutcome::Gone)]);
    assert_eq!(world.registry.keys_of(&gone).len(), 3);

    let report = world.dispatch(&concert_changed(1)).await.unwrap();

    assert_eq!(
        report,
        DispatchReport {
            messages: 1,
            delivered: 1,
            gone: 1,
            expired_tokens: 0,
            throttled: 0,
        }
    );
    assert_eq!(world.registry.removed(), vec![gone.clone()]);
    assert!(!world.registry.is_registered(&gone));
    assert!(
        world.registry.keys_of(&gone).is_empty(),
        "every subscription goes"
    );
    assert!(world.registry.is_registered(&alive));
    assert_eq!(world.registry.keys_of(&alive).len(), 2);
    assert_eq!(
        world.pusher.post_counts()[&gone],
        1,
        "a gone connection is not retried"
    );
}

#[tokio::test]
async fn a_throttled_post_is_retried_after_jittered_doubling_pauses() {
    let world = World::new();
    let busy = world.registry.join("busy=", None, &[Topic::ConcertsLive]);
    world.pusher.script(
        &busy,
        vec![
            Ok(PostOutcome::Throttled),
            Ok(PostOutcome::Throttled),
            Ok(PostOutcome::Delivered),
        ],
    );

    let report = world.dispatch(&concert_changed(1)).await.unwrap();

    assert_eq!(report.delivered, 1);
    assert_eq!(world.pusher.post_counts()[&busy], 3);
    let base = world.settings.throttle_backoff;
    let waits = world.pause.waits();
    assert_eq!(waits.len(), 2);
    for (i, wait) in waits.iter().enumerate() {
        let backoff = base * 2_u32.pow(i as u32);
        assert!(
            *wait >= backoff / 2 && *wait <= backoff,
            "pause {i}: {wait:?} within half to all of {backoff:?}"
        );
        assert_eq!(*wait, jittered(backoff, &busy, i as u32 + 1));
    }
}

#[tokio::test]
async fn a_post_throttled_on_every_attempt_is_reported_undelivered() {
    let world = World::new();
    let busy = world.registry.join("busy=", None, &[Topic::ConcertsLive]);
    let fine = world.registry.join("fine=", None, &[Topic::ConcertsLive]);
    world.pusher.script(&busy, vec![Ok(PostOutcome::Throttled)]);

    let (attempted, failed, last, report) = undelivered(world.dispatch(&concert_changed(1)).await);

    assert_eq!((attempted, failed), (2, 1));
    assert!(
        last.contains("busy=") && last.contains("still throttled"),
        "{last}"
    );
    assert_eq!(
        report,
        DispatchReport {
            messages: 1,
            delivered: 1,
            gone: 0,
            expired_tokens: 0,
            throttled: 1,
        }
    );
    let attempts = world.settings.throttle_attempts;
    assert_eq!(world.pusher.post_counts()[&busy], attempts as usize);
    assert_eq!(world.pusher.post_counts()[&fine], 1);
    let waits = world.pause.waits();
    assert_eq!(
        waits.len(),
        attempts as usize - 1,
        "no pause after the last try"
    );
    let base = world.settings.throttle_backoff;
    for (i, wait) in waits.iter().enumerate() {
        let backoff = base * 2_u32.pow(i as u32);
        assert!(
            *wait >= backoff / 2 && *wait <= backoff,
            "pause {i}: {wait:?}"
        );
    }
    assert!(
        world.registry.is_registered(&busy),
        "a throttled connection stays"
    );
    assert!(world.registry.removed().is_empty());
}

#[tokio::test]
async fn a_failing_endpoint_fails_the_message_and_keeps_the_connection() {
    let world = World::new();
    let broken = world.registry.join("broken=", None, &[Topic::ConcertsLive]);
    let fine = world.registry.join("fine=", None, &[Topic::ConcertsLive]);
    world.pusher.script(
        &broken,
        vec![Err(StoreError::unavailable("endpoint timed out"))],
    );

    let (attempted, failed, last, report) = undelivered(world.dispatch(&concert_changed(1)).await);

    assert_eq!((attempted, failed), (2, 1));
    assert!(
        last.contains("broken=") && last.contains("endpoint timed out"),
        "{last}"
    );
    assert_eq!(
        report.delivered, 1,
        "the posts that went through are counted"
    );
    assert_eq!(report.gone, 0);
    assert_eq!(
        world.pusher.post_counts()[&broken],
        1,
        "a store failure is not retried"
    );
    assert_eq!(world.pusher.post_counts()[&fine], 1);
    assert!(world.pause.waits().is_empty());
    assert!(world.registry.is_registered(&broken));
}

#[tokio::test]
async fn personal_events_reach_only_that_users_connections() {
    let world = World::new();
    let queue1 = Topic::Queue(ConcertId::from_stored(1));
    let phone = world.registry.join(
        "u1-phone=",
        Some("u1"),
        &[Topic::ConcertsLive, queue1, Topic::Reservations],
    );
    let laptop = world.registry.join("u1-laptop=", Some("u1"), &[queue1]);
    let other = world
        .registry
        .join("u2=", Some("u2"), &[queue1, Topic::Reservations]);
    let anonymous = world.registry.join("anon=", None, &[Topic::ConcertsLive]);

    let report = world.dispatch(&queue_active(1, "u1")).await.unwrap();

    assert_eq!(report.delivered, 2);
    let counts = world.pusher.post_counts();
    assert_eq!(
        counts,
        BTreeMap::from([(laptop.clone(), 1), (phone.clone(), 1)])
    );
    let v = json(&world.pusher.posts()[0].1);
    assert_eq!(v["type"], "QUEUE_ACTIVE");
    assert_eq!(v["topic"], "queue.1");
    assert_eq!(v["payload"]["activeToken"], "tok-1");
    assert_eq!(v["payload"]["concertId"], 1);

    // u2's reservation news: u2 alone.
    let report = world
        .dispatch(&PushEvent::ReservationStatus {
            user: user("u2"),
            update: ReservationUpdate::Failed {
                request_id: "req-9".into(),
            },
        })
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    let (id, message) = world.pusher.posts().pop().unwrap();
    assert_eq!(id, other);
    let v = json(&message);
    assert_eq!(v["type"], "RESERVATION_STATUS");
    assert_eq!(v["payload"]["status"], "FAILED");
    assert_eq!(v["payload"]["requestId"], "req-9");

    // u1's place in the line of a concert they do not wait for: nobody.
    let before = world.pusher.posts().len();
    let report = world
        .dispatch(&PushEvent::QueueRank {
            concert: ConcertId::from_stored(2),
            user: user("u1"),
            rank: 3,
            estimated_wait_seconds: 30,
        })
        .await
        .unwrap();
    assert_eq!(report.delivered, 0);
    assert_eq!(world.pusher.posts().len(), before);
    assert!(!world.pusher.post_counts().contains_key(&anonymous));
}

#[tokio::test]
async fn personal_events_stop_at_the_tokens_expiry_while_public_ones_go_on() {
    let world = World::new();
    let queue1 = Topic::Queue(ConcertId::from_stored(1));
    let all = [Topic::ConcertsLive, queue1, Topic::Reservations];
    // Dispatched at t0: a token expiring at t0 is no longer valid, one a second later is.
    let expired = world
        .registry
        .join_until("u1-old=", Some("u1"), Some(t0()), &all);
    let valid = world.registry.join_until(
        "u1-new=",
        Some("u1"),
        Some(t0() + chrono::Duration::seconds(1)),
        &all,
    );
    // An authorizer that did not say: the connection's own end bounds it.
    let unsaid = world.registry.join("u1-unsaid=", Some("u1"), &[queue1]);

    let report = world.dispatch(&queue_active(1, "u1")).await.unwrap();

    assert_eq!((report.delivered, report.expired_tokens), (2, 1));
    assert_eq!(
        world.pusher.post_counts(),
        BTreeMap::from([(unsaid.clone(), 1), (valid.clone(), 1)])
    );
    let report = world
        .dispatch(&PushEvent::ReservationStatus {
            user: user("u1"),
            update: ReservationUpdate::Failed {
                request_id: "req-1".into(),
            },
        })
        .await
        .unwrap();
    assert_eq!((report.delivered, report.expired_tokens), (1, 1));
    assert!(!world.pusher.post_counts().contains_key(&expired));

    // The cards are public: the connection with the expired token still hears them.
    let report = world.dispatch(&concert_changed(1)).await.unwrap();
    assert_eq!((report.delivered, report.expired_tokens), (2, 0));
    assert_eq!(world.pusher.post_counts()[&expired], 1);
    assert!(world.registry.is_registered(&expired));
}

#[tokio::test]
async fn posts_in_flight_stay_within_the_concurrency() {
    // One key (a user's queue topic) with ten connections.
    let mut world = World::new();
    world.settings.concurrency = 3;
    for i in 0..10 {
        world.registry.join(
            &format!("c{i}="),
            Some("u1"),
            &[Topic::Queue(ConcertId::from_stored(1))],
        );
    }
    let report = world.dispatch(&queue_active(1, "u1")).await.unwrap();
    assert_eq!(report.delivered, 10);
    assert_eq!(world.pusher.most_in_flight(), 3);

    // The sharded live topic: the bound holds across the shards walked at once.
    let mut world = World::new();
    world.settings.concurrency = 8;
    world.join_live(40);
    let report = world.dispatch(&concert_changed(1)).await.unwrap();
    assert_eq!(report.delivered, 40);
    let most = world.pusher.most_in_flight();
    assert!((2..=8).contains(&most), "{most} in flight");
}

#[tokio::test]
async fn the_concurrency_bound_holds_with_more_shards_than_posts_allowed() {
    let mut world = World::new();
    world.settings.concurrency = 1;
    world.join_live(40);
    let report = world.dispatch(&concert_changed(1)).await.unwrap();
    assert_eq!(report.delivered, 40);
    assert_eq!(world.pusher.most_in_flight(), 1);
}
