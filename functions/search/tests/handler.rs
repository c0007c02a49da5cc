//! The search handler driven by its events/ sample against real PostgreSQL.

use chrono::{Duration, Utc};
use search::{SearchFunction, handle};
use ticketrush_core::Tier;
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create},
    wiring::Wiring,
};

/// Hybrid realtime, polling every 15 s, on top of `extra`.
async fn function(database_url: &str, extra: &[(&str, &str)]) -> SearchFunction {
    let realtime = [
        ("REALTIME_MODE", "hybrid"),
        ("HYBRID_POLL_INTERVAL_MILLIS", "15000"),
    ];
    let vars: Vec<(&str, &str)> = realtime.iter().chain(extra).copied().collect();
    let wiring = Wiring::new(database_url, &vars).await;
    SearchFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("search starts")
}

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

    let f = function(&db.url, &[]).await;
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
    let f = function(
        "postgres://postgres@127.0.0.1:1/nothing",
        &[
            ("DATABASE_MAX_CONNECTIONS", "1"),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "300"),
        ],
    )
    .await;
    let resp = handle(&f, events::http_request("search.json")).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(body(&resp)["code"], "UNAVAILABLE");
}

/// The sample event, anonymous: no Authorization header and no authorizer context.
fn anonymous(name: &str) -> lambda_http::Request {
    let mut event: serde_json::Value = serde_json::from_str(&events::text(name)).unwrap();
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn anonymous_answers_may_be_shared_for_a_second_and_tokened_ones_never() {
    let db = TestDb::new().await;
    create(&db.pool, &ConcertSpec::default()).await;
    let f = function(&db.url, &[]).await;

    let public = handle(&f, anonymous("search.json")).await;
    assert_eq!(public.status(), 200);
    assert_eq!(public.headers()["cache-control"], "public, max-age=1");

    let tokened = handle(&f, events::http_request("search.json")).await;
    assert_eq!(tokened.status(), 200);
    assert_eq!(tokened.headers()["cache-control"], "private, no-store");
}
