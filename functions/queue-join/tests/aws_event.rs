//! The queue-join handler driven by AWS's example HTTP API event with a JWT authorizer (the
//! route needs a token), patched only where it must be ours. The function reads no body, so
//! AWS's stays.

use chrono::Duration;
use queue_join::{QueueJoinFunction, handle};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create},
    wiring::Wiring,
};

const JWT_EVENT: &str = "example-apigw-v2-request-jwt-authorizer.json";

#[tokio::test]
async fn aws_event_joins_and_joining_again_keeps_the_place() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "soon",
            opens_in: Some(Duration::minutes(3)),
            ..Default::default()
        },
    )
    .await;
    let wiring = Wiring::new(
        &db.url,
        &[
            ("QUEUE_CAPACITY", "100000"),
            ("QUEUE_ADMIT_PER_TICK", "10"),
            ("QUEUE_MAX_ACTIVE", "1000"),
            ("QUEUE_ACTIVE_TTL_SECS", "60"),
            ("QUEUE_ABANDON_AFTER_SECS", "60"),
            ("QUEUE_TICK_MILLIS", "1000"),
            ("QUEUE_JOIN_LIMIT", "10"),
            ("QUEUE_JOIN_WINDOW_SECS", "10"),
            ("QUEUE_RANK_PUSH_PER_TICK", "100"),
            ("CATALOG_CACHE_MILLIS", "1000"),
        ],
    )
    .await;
    let f = QueueJoinFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("queue-join starts");
    let join = |buyer: &'static str| {
        events::aws_http(JWT_EVENT, |e| {
            e.route("POST /api/queue/{concertId}/join", &[("concertId", "1")])
                .claims(&[("sub", buyer), ("tier", "GOLD"), ("admin", "false")])
        })
    };

    let resp = handle(&f, join("buyer-gold")).await;
    assert_eq!(resp.status(), 200, "{:?}", body(&resp));
    let json = body(&resp);
    assert_eq!(json["status"], "WAITING");
    assert_eq!(json["rank"], 1);
    assert!(json["serverNow"].is_string());
    assert!(json.get("activeToken").is_none());
    assert_eq!(body(&handle(&f, join("buyer-gold")).await)["rank"], 1);
    assert_eq!(body(&handle(&f, join("buyer-next")).await)["rank"], 2);
}
