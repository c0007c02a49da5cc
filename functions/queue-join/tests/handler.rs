//! The queue-join handler driven by its events/ sample against real PostgreSQL and Redis.

use chrono::Duration;
use queue_join::{QueueJoinFunction, handle};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create},
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

async fn function(db: &TestDb) -> QueueJoinFunction {
    let mut extra = QUEUE_ENV.to_vec();
    extra.push(("CATALOG_CACHE_MILLIS", "1000"));
    let wiring = Wiring::new(&db.url, &extra).await;
    let f = QueueJoinFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("queue-join starts");
    assert_eq!(f.settings, queue_settings());
    f
}

#[tokio::test]
async fn sample_event_joins_and_joining_again_keeps_the_place() {
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
    let f = function(&db).await;
    let resp = handle(&f, events::http_request("queue-join.json")).await;
    assert_eq!(resp.status(), 200);
    let json = body(&resp);
    assert_eq!(json["status"], "WAITING");
    assert_eq!(json["rank"], 1);
    assert_eq!(json["estimatedWaitSeconds"], 1);
    assert!(json["serverNow"].is_string());
    assert!(json.get("activeToken").is_none());
    let again = body(&handle(&f, events::http_request("queue-join.json")).await);
    assert_eq!(again["rank"], 1);
}

#[tokio::test]
async fn joining_before_the_last_five_minutes_is_refused() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "later",
            opens_in: Some(Duration::minutes(30)),
            ..Default::default()
        },
    )
    .await;
    let resp = handle(
        &function(&db).await,
        events::http_request("queue-join.json"),
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert_eq!(body(&resp)["code"], "SALE_NOT_OPEN");
}

#[tokio::test]
async fn too_many_joins_are_rate_limited_with_retry_after() {
    let db = TestDb::new().await;
    create(&db.pool, &ConcertSpec::default()).await;
    let f = function(&db).await;
    for _ in 0..f.settings.join_limit {
        assert_eq!(
            handle(&f, events::http_request("queue-join.json"))
                .await
                .status(),
            200
        );
    }
    let resp = handle(&f, events::http_request("queue-join.json")).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry));
    assert_eq!(body(&resp)["code"], "RATE_LIMITED");
}
