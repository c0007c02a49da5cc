//! The seat-select handler driven by AWS's example HTTP API event with a JWT authorizer
//! (the route needs a token), patched only where it must be ours.

use chrono::{Duration, Utc};
use seat_select::{SeatSelectFunction, handle};
use serde_json::json;
use ticketrush_core::{UserId, queue::QueueTokens};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, AwsEvent, body},
    fixtures::{ConcertSpec, create},
    queue_tokens,
    wiring::Wiring,
};

const JWT_EVENT: &str = "example-apigw-v2-request-jwt-authorizer.json";

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

/// `buyer` clicks seat 1 of option 1.
fn select(e: AwsEvent, buyer: &str) -> AwsEvent {
    e.route(
        "POST /api/options/{optionId}/seats/{seatId}/select",
        &[("optionId", "1"), ("seatId", "1")],
    )
    .claims(&[("sub", buyer), ("tier", "GOLD"), ("admin", "false")])
    .body(&json!({"requestId": "5f0c1f9e-2b1a-4c77-9d1e-7f3a2b9c0d11"}))
}

#[tokio::test]
async fn aws_event_selects_and_a_second_buyer_is_refused() {
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
    let resp = handle(&f, events::aws_http(JWT_EVENT, |e| select(e, "buyer-gold"))).await;
    assert_eq!(resp.status(), 200, "{:?}", body(&resp));
    let json = body(&resp);
    assert_eq!(json["status"], "SELECTING");
    assert_eq!(
        (json["optionId"].as_i64(), json["seatId"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(json["ttlSeconds"], 30);
    assert!(json["expiresAt"].is_string());

    let resp = handle(
        &f,
        events::aws_http(JWT_EVENT, |e| select(e, "someone-else")),
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert_eq!(body(&resp)["code"], "SEAT_ALREADY_SELECTED");
}

#[tokio::test]
async fn aws_event_with_the_buyers_queue_token_passes_the_gate() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let f = function(&db).await;
    let resp = handle(&f, events::aws_http(JWT_EVENT, |e| select(e, "buyer-gold"))).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(body(&resp)["code"], "QUEUE_TOKEN_REQUIRED");

    let token = queue_tokens().mint(
        concert,
        &UserId::parse("buyer-gold").unwrap(),
        Utc::now() + Duration::minutes(5),
    );
    let resp = handle(
        &f,
        events::aws_http(JWT_EVENT, |e| {
            select(e, "buyer-gold").header("x-queue-token", token.as_str())
        }),
    )
    .await;
    assert_eq!(resp.status(), 200, "{:?}", body(&resp));
    assert_eq!(body(&resp)["status"], "SELECTING");
}
