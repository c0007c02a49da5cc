//! The queue-status and queue-leave handlers driven by their events/ samples against real Redis.

use chrono::Utc;
use queue_status::{QueueStatusFunction, handle};
use ticketrush_adapters::redis::RedisWaitingRoom;
use ticketrush_core::{ConcertId, UserId, queue::WaitingRoom};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    queue_settings,
    wiring::Wiring,
};

/// The env that yields `testkit::queue_settings()`.
const QUEUE_ENV: [(&str, &str); 9] = [
    ("QUEUE_CAPACITY", "100000"),
    ("QUEUE_ADMIT_PER_TICK", "10"),
    ("QUEUE_MAX_ACTIVE", "1000"),
    ("QUEUE_ACTIVE_TTL_SECS", "60"),
    ("QUEUE_ABANDON_AFTER_SECS", "60"),
    ("QUEUE_TICK_MILLIS", "1000"),
    ("QUEUE_JOIN_LIMIT", "10"),
    ("QUEUE_JOIN_WINDOW_SECS", "10"),
    ("QUEUE_RANK_PUSH_PER_TICK", "100"),
];

#[tokio::test]
async fn sample_event_reports_rank_and_absence() {
    let db = TestDb::new().await;
    let wiring = Wiring::new(&db.url, &QUEUE_ENV).await;
    let f = QueueStatusFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("queue-status starts");
    assert_eq!(f.settings, queue_settings());
    let room = RedisWaitingRoom::new(wiring.redis().await);
    let absent = body(&handle(&f, events::http_request("queue-status.json")).await);
    assert_eq!(absent["status"], "NOT_IN_QUEUE");

    let concert = ConcertId::from_stored(1);
    let settings = queue_settings();
    room.join(
        concert,
        &UserId::parse("someone-first").unwrap(),
        Utc::now(),
        &settings,
    )
    .await
    .unwrap();
    room.join(
        concert,
        &UserId::parse("buyer-gold").unwrap(),
        Utc::now(),
        &settings,
    )
    .await
    .unwrap();
    let resp = handle(&f, events::http_request("queue-status.json")).await;
    assert_eq!(resp.status(), 200);
    let json = body(&resp);
    assert_eq!(json["status"], "WAITING");
    assert_eq!(json["rank"], 2);
}
