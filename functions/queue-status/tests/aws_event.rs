//! The queue-status handler driven by AWS's example HTTP API event with a JWT authorizer
//! (the route needs a token), patched only where it must be ours.

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

const JWT_EVENT: &str = "example-apigw-v2-request-jwt-authorizer.json";

#[tokio::test]
async fn aws_event_reports_absence_then_rank() {
    let db = TestDb::new().await;
    let wiring = Wiring::new(&db.url, &[]).await;
    let f = QueueStatusFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("queue-status starts");
    let status = || {
        events::aws_http(JWT_EVENT, |e| {
            e.route("GET /api/queue/{concertId}/status", &[("concertId", "1")])
                .claims(&[("sub", "buyer-gold"), ("tier", "GOLD"), ("admin", "false")])
        })
    };
    let resp = handle(&f, status()).await;
    assert_eq!(resp.status(), 200, "{:?}", body(&resp));
    assert_eq!(body(&resp)["status"], "NOT_IN_QUEUE");

    let room = RedisWaitingRoom::new(wiring.redis().await);
    for user in ["someone-first", "buyer-gold"] {
        room.join(
            ConcertId::from_stored(1),
            &UserId::parse(user).unwrap(),
            Utc::now(),
            &queue_settings(),
        )
        .await
        .unwrap();
    }
    let json = body(&handle(&f, status()).await);
    assert_eq!(json["status"], "WAITING");
    assert_eq!(json["rank"], 2);
}
