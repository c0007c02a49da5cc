//! The queue-status and queue-leave handlers driven by their events/ samples against real Redis.

use chrono::Utc;
use queue_status::{QueueStatusFunction, handle};
use ticketrush_adapters::{SystemClock, redis::RedisWaitingRoom};
use ticketrush_core::{ConcertId, UserId, queue::WaitingRoom};
use ticketrush_testkit::{
    events::{self, body},
    queue_settings, queue_tokens, redis_store,
};

#[tokio::test]
async fn sample_event_reports_rank_and_absence() {
    let room = RedisWaitingRoom::new(redis_store().await);
    let f = QueueStatusFunction {
        room: room.clone(),
        tokens: queue_tokens(),
        clock: SystemClock,
        settings: queue_settings(),
    };
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
