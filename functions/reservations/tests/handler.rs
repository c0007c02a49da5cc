//! The reservations handler driven by its events/ sample against real PostgreSQL and Redis.

use std::time::Duration;

use lambda_http::Body;
use reservations::{ReservationsFunction, handle};
use serde_json::Value;
use ticketrush_core::{payments::PaymentSettings, seats::SeatSettings};
use ticketrush_testkit::{
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create, hold_first_seat},
    wiring::Wiring,
};

#[tokio::test]
async fn sample_event_reads_only_the_callers_reservation() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let wiring = Wiring::new(
        &db.url,
        &[
            ("SEAT_LOCK_TTL_SECS", "30"),
            ("SEAT_FLUSH_WINDOW_MILLIS", "200"),
            ("REFUND_CUTOFF_HOURS", "24"),
            ("PAYMENT_WEBHOOK_TOLERANCE_SECS", "300"),
            ("PAYMENT_WINDOW_SECS", "900"),
        ],
    )
    .await;
    let f = ReservationsFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("reservations starts");
    assert_eq!(
        (f.seats, f.payments),
        (
            SeatSettings {
                lock_ttl: Duration::from_secs(30),
                flush_window: Duration::from_millis(200),
            },
            PaymentSettings {
                refund_cutoff: Duration::from_secs(24 * 3600),
                webhook_tolerance: Duration::from_secs(300),
                payment_window: Duration::from_secs(900),
            },
        ),
        "the env gives the settings this test expects"
    );
    let resp = handle(&f, events::http_request("reservations.json")).await;
    assert_eq!(resp.status(), 404, "unknown reservation");

    // Someone else's reservation is not revealed to the event's caller (buyer-gold).
    let theirs = hold_first_seat(&db.pool, concert, "other-buyer").await;
    let event = events::text("reservations.json").replace(
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        theirs.reservation_id.as_str(),
    );
    let resp = handle(&f, lambda_http::request::from_str(&event).unwrap()).await;
    assert_eq!(resp.status(), 404);
    let Body::Text(text) = resp.body() else {
        panic!("text")
    };
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap()["code"],
        "NOT_FOUND"
    );
}
