//! The hold-confirm handler driven by AWS's example HTTP API event with a JWT authorizer
//! (the route needs a token), patched only where it must be ours.

use std::time::Duration;

use chrono::Utc;
use hold_confirm::{HoldConfirmFunction, handle};
use serde_json::json;
use ticketrush_adapters::redis::RedisSeatLocks;
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, SeatId, UserId,
    seats::{LockTerms, RequestId, SeatLocks},
};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create},
    wiring::Wiring,
};

const JWT_EVENT: &str = "example-apigw-v2-request-jwt-authorizer.json";

#[tokio::test]
async fn aws_event_holds_the_selected_seats_and_replays() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let wiring = Wiring::new(
        &db.url,
        &[
            ("HOLD_TTL_SECS", "600"),
            ("SEAT_LOCK_TTL_SECS", "30"),
            ("SEAT_FLUSH_WINDOW_MILLIS", "200"),
            ("ABUSE_MAX_HOLDS", "100"),
            ("ABUSE_HOLDS_WINDOW_SECS", "60"),
            ("ABUSE_REPEAT_WINDOW_SECS", "10"),
            ("ABUSE_DEVICE_WINDOW_SECS", "600"),
            ("CATALOG_CACHE_MILLIS", "1000"),
        ],
    )
    .await;
    let locks = RedisSeatLocks::new(wiring.redis().await);
    let performance = PerformanceKey {
        concert: ConcertId::from_stored(1),
        option: OptionId::from_stored(1),
    };
    for seat in [1, 2] {
        locks
            .select(
                performance,
                SeatId::from_stored(seat),
                &UserId::parse("buyer-gold").unwrap(),
                &RequestId::parse("s").unwrap(),
                Utc::now(),
                LockTerms {
                    ttl: Duration::from_secs(30),
                    max_per_user: 4,
                    flush_window: Duration::from_millis(200),
                },
            )
            .await
            .unwrap();
    }
    let f = HoldConfirmFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("hold-confirm starts");
    let confirm = || {
        events::aws_http(JWT_EVENT, |e| {
            e.route("POST /api/holds", &[])
                .claims(&[("sub", "buyer-gold"), ("tier", "GOLD"), ("admin", "false")])
                .body(&json!({
                    "optionId": 1,
                    "seatIds": [1, 2],
                    "requestId": "0b6f1c2e-8d4a-4f7e-9a51-3c2d1e0f9a87"
                }))
        })
    };

    let resp = handle(&f, confirm()).await;
    assert_eq!(resp.status(), 201, "{:?}", body(&resp));
    let json = body(&resp);
    assert_eq!(json["status"], "HOLD");
    assert_eq!(json["seats"].as_array().unwrap().len(), 2);
    assert!(json["holdExpiresAt"].is_string());
    let held: Vec<String> =
        sqlx::query_scalar("SELECT status FROM seats WHERE id IN (1, 2) ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(held, vec!["HOLD", "HOLD"]);

    let replay = handle(&f, confirm()).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(body(&replay)["reservationId"], json["reservationId"]);
}
