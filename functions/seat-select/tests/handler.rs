//! The seat-select handler driven by its events/ sample against real PostgreSQL and Redis.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use seat_select::{SeatSelectFunction, handle};
use serde_json::Value;
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, SeatId, UserId,
    queue::QueueTokens,
    seats::{LockTerms, RequestId, SeatLocks, SeatSettings},
};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create},
    queue_tokens,
    wiring::Wiring,
};

const SETTINGS: SeatSettings = SeatSettings {
    lock_ttl: StdDuration::from_secs(30),
    flush_window: StdDuration::from_millis(200),
};

async fn function(db: &TestDb) -> SeatSelectFunction {
    let wiring = Wiring::new(
        &db.url,
        &[
            ("SEAT_LOCK_TTL_SECS", "30"),
            ("SEAT_FLUSH_WINDOW_MILLIS", "200"),
        ],
    )
    .await;
    SeatSelectFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("seat-select starts")
}

#[tokio::test]
async fn sample_event_selects_and_a_second_buyer_is_refused() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let f = function(&db).await;
    let resp = handle(&f, events::http_request("seat-select.json")).await;
    assert_eq!(resp.status(), 200);
    let json = body(&resp);
    assert_eq!(json["status"], "SELECTING");
    assert_eq!(
        (json["optionId"].as_i64(), json["seatId"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(json["ttlSeconds"], 30);
    assert!(json["expiresAt"].is_string());
    assert_eq!(
        handle(&f, events::http_request("seat-select.json"))
            .await
            .status(),
        200,
        "same buyer again"
    );

    let other = UserId::parse("someone-else").unwrap();
    let terms = LockTerms {
        ttl: SETTINGS.lock_ttl,
        max_per_user: 4,
        flush_window: SETTINGS.flush_window,
    };
    f.locks
        .select(
            PerformanceKey {
                concert: ConcertId::from_stored(1),
                option: OptionId::from_stored(1),
            },
            SeatId::from_stored(2),
            &other,
            &RequestId::parse("x").unwrap(),
            Utc::now(),
            terms,
        )
        .await
        .unwrap();
    let mut req = events::text("seat-select.json").replace("/seats/1/select", "/seats/2/select");
    req = req.replace("\"seatId\": \"1\"", "\"seatId\": \"2\"");
    let resp = handle(&f, lambda_http::request::from_str(&req).unwrap()).await;
    assert_eq!(resp.status(), 409);
    let json = body(&resp);
    assert_eq!(json["code"], "SEAT_ALREADY_SELECTED");
    assert!(
        !json.to_string().contains("someone-else"),
        "the holder is not revealed"
    );
}

#[tokio::test]
async fn a_gated_sale_needs_the_buyers_queue_token() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let f = function(&db).await;
    let resp = handle(&f, events::http_request("seat-select.json")).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(body(&resp)["code"], "QUEUE_TOKEN_REQUIRED");

    let with_token = |token: &str| {
        let mut event: Value = serde_json::from_str(&events::text("seat-select.json")).unwrap();
        event["headers"]["x-queue-token"] = Value::String(token.to_owned());
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let tokens = queue_tokens();
    let someone_elses = tokens.mint(
        concert,
        &UserId::parse("other").unwrap(),
        Utc::now() + Duration::minutes(5),
    );
    assert_eq!(
        handle(&f, with_token(someone_elses.as_str()))
            .await
            .status(),
        403
    );
    let expired = tokens.mint(
        concert,
        &UserId::parse("buyer-gold").unwrap(),
        Utc::now() - Duration::seconds(1),
    );
    assert_eq!(handle(&f, with_token(expired.as_str())).await.status(), 403);
    let mine = tokens.mint(
        concert,
        &UserId::parse("buyer-gold").unwrap(),
        Utc::now() + Duration::minutes(5),
    );
    assert_eq!(handle(&f, with_token(mine.as_str())).await.status(), 200);
    assert_eq!(handle(&f, with_token("not a token!")).await.status(), 400);
}

#[tokio::test]
async fn a_sale_not_yet_open_and_unknown_seats_are_refused() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            opens_in: Some(Duration::minutes(3)),
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let f = function(&db).await;
    let resp = handle(&f, events::http_request("seat-select.json")).await;
    assert_eq!(resp.status(), 409);
    assert_eq!(body(&resp)["code"], "SALE_NOT_OPEN");

    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let f = function(&db).await;
    let missing =
        events::text("seat-select.json").replace("\"seatId\": \"1\"", "\"seatId\": \"999\"");
    let resp = handle(&f, lambda_http::request::from_str(&missing).unwrap()).await;
    assert_eq!(resp.status(), 404);
    let no_body = events::text("seat-select.json").replace(
        "\"body\": \"{\\\"requestId\\\": \\\"5f0c1f9e-2b1a-4c77-9d1e-7f3a2b9c0d11\\\"}\"",
        "\"body\": \"{\\\"requestId\\\": 5}\"",
    );
    let resp = handle(&f, lambda_http::request::from_str(&no_body).unwrap()).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body(&resp)["field"], "body");
}
