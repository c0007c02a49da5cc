//! The search handler driven by its events/ sample against real PostgreSQL.

use chrono::{Duration, Utc};
use search::{SearchFunction, handle};
use ticketrush_adapters::{
    SystemClock,
    config::{PostgresConfig, Secret},
    postgres::{PostgresCatalog, connect_lazy},
};
use ticketrush_core::{
    Tier,
    realtime::{RealtimeMode, RealtimeSettings},
};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create},
};

const REALTIME: RealtimeSettings = RealtimeSettings {
    realtime_mode: RealtimeMode::Hybrid,
    hybrid_poll_interval_millis: 15_000,
};

#[tokio::test]
async fn sample_event_returns_cards_for_the_gold_caller() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "dawn",
            title: "Dawn Chorus",
            opens_in: Some(Duration::days(2)),
            presale: Some((Duration::minutes(-5), Tier::Gold)),
            ..Default::default()
        },
    )
    .await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "other",
            title: "Something Else",
            ..Default::default()
        },
    )
    .await;

    let f = SearchFunction {
        catalog: PostgresCatalog::new(db.pool.clone()),
        clock: SystemClock,
        realtime: REALTIME,
    };
    let before = Utc::now();
    let resp = handle(&f, events::http_request("search.json")).await;
    assert_eq!(resp.status(), 200);
    let json = body(&resp);
    assert_eq!(json["totalElements"], 1, "{json}");
    assert_eq!(json["realtimeMode"], "hybrid");
    assert_eq!(json["hybridPollIntervalMillis"], 15_000);
    let server_now: chrono::DateTime<Utc> = json["serverNow"].as_str().unwrap().parse().unwrap();
    assert!(server_now >= before - Duration::milliseconds(1) && server_now <= Utc::now());
    let card = &json["items"][0];
    // The event's caller is GOLD, so the GOLD presale is open for them.
    assert_eq!(card["title"], "Dawn Chorus");
    assert_eq!(card["saleStatus"], "OPEN");
    assert_eq!(card["reservationButtonLabel"], "Presale: book now");
    assert_eq!(card["totalSeatCount"], 20);
    assert_eq!(card["availableSeatCount"], 20);
    assert_eq!(card["remainingRate"], 1.0);
}

#[tokio::test]
async fn unreachable_database_answers_503_with_retry_after() {
    let pool = connect_lazy(&PostgresConfig {
        url: Secret::from("postgres://postgres@127.0.0.1:1/nothing"),
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_millis(300),
    })
    .unwrap();
    let f = SearchFunction {
        catalog: PostgresCatalog::new(pool),
        clock: SystemClock,
        realtime: REALTIME,
    };
    let resp = handle(&f, events::http_request("search.json")).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(body(&resp)["code"], "UNAVAILABLE");
}
