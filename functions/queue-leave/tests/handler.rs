//! The queue-leave handler driven by its events/ sample against real Redis.

use chrono::Utc;
use lambda_http::Body;
use queue_leave::{QueueLeaveFunction, handle};
use serde_json::Value;
use ticketrush_adapters::redis::RedisWaitingRoom;
use ticketrush_core::{
    ConcertId, UserId,
    queue::{Standing, WaitingRoom},
};
use ticketrush_testkit::{db::TestDb, events, queue_settings, wiring::Wiring};

#[tokio::test]
async fn sample_event_gives_up_the_place() {
    let db = TestDb::new().await;
    let wiring = Wiring::new(&db.url, &[]).await;
    let room = RedisWaitingRoom::new(wiring.redis().await);
    let concert = ConcertId::from_stored(1);
    let me = UserId::parse("buyer-gold").unwrap();
    let next = UserId::parse("next-in-line").unwrap();
    room.join(concert, &me, Utc::now(), &queue_settings())
        .await
        .unwrap();
    room.join(concert, &next, Utc::now(), &queue_settings())
        .await
        .unwrap();
    let f = QueueLeaveFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("queue-leave starts");
    let resp = handle(&f, events::http_request("queue-leave.json")).await;
    assert_eq!(resp.status(), 200);
    let json: Value = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => panic!("text body"),
    };
    assert_eq!(json["status"], "NOT_IN_QUEUE");
    assert_eq!(
        room.standing(concert, &me, Utc::now()).await.unwrap(),
        Standing::Absent
    );
    assert_eq!(
        room.standing(concert, &next, Utc::now()).await.unwrap(),
        Standing::Waiting { rank: 1 }
    );
}
