//! The payment-webhook handler driven by its events/ sample against real PostgreSQL and Redis.

use std::time::Duration;

use chrono::Utc;
use payment_webhook::{PaymentWebhookFunction, handle};
use ticketrush_adapters::{
    config::Secret,
    payment_webhook::{HmacWebhookSignatures, SIGNATURE_HEADER},
    postgres::PostgresReservations,
};
use ticketrush_core::{
    payments::PaymentSettings,
    reservations::{ReservationLedger, ReservationStatus},
    seats::SeatSettings,
};
use ticketrush_testkit::{
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create, hold_first_seat, pending_payment},
    runtime::TEST_PAYMENT_WEBHOOK_SECRET,
    wiring::Wiring,
};

#[tokio::test]
async fn sample_event_settles_a_pending_payment_once_and_only_when_signed() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let ledger = PostgresReservations::new(db.pool.clone());
    let signatures = HmacWebhookSignatures::new(Secret::from(TEST_PAYMENT_WEBHOOK_SECRET));
    let wiring = Wiring::new(
        &db.url,
        &[
            ("PAYMENT_WEBHOOK_SECRET", TEST_PAYMENT_WEBHOOK_SECRET),
            ("SEAT_LOCK_TTL_SECS", "30"),
            ("SEAT_FLUSH_WINDOW_MILLIS", "200"),
            ("REFUND_CUTOFF_HOURS", "24"),
            ("PAYMENT_WEBHOOK_TOLERANCE_SECS", "300"),
            ("PAYMENT_WINDOW_SECS", "900"),
        ],
    )
    .await;
    let f = PaymentWebhookFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("payment-webhook starts");
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

    // A PAYING reservation whose charge the gateway left pending, as the sample names it.
    let held = hold_first_seat(&db.pool, concert, "buyer-gold").await;
    let id = held.reservation_id.clone();
    pending_payment(&db.pool, &id, "pay_sample0001").await;

    // The sample's signature is a placeholder: refused, nothing applied.
    let resp = handle(&f, events::http_request("payment-webhook.json")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(events::body(&resp)["code"], "WEBHOOK_SIGNATURE_INVALID");

    // The same event, signed now with the shared secret: applied once.
    let sample: serde_json::Value =
        serde_json::from_str(&events::text("payment-webhook.json")).unwrap();
    let body = sample["body"].as_str().unwrap();
    let signed = |at| {
        let mut event = sample.clone();
        event["headers"][SIGNATURE_HEADER] = signatures.sign(at, body.as_bytes()).into();
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let resp = handle(&f, signed(Utc::now())).await;
    assert_eq!(resp.status(), 200);
    let answer = events::body(&resp);
    assert_eq!(answer["result"], "APPLIED", "{answer}");
    assert_eq!(answer["reservation"]["status"], "CONFIRMED");
    let resp = handle(&f, signed(Utc::now())).await;
    assert_eq!(events::body(&resp)["result"], "DUPLICATE");
    let resp = handle(&f, signed(Utc::now() - chrono::Duration::hours(1))).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(events::body(&resp)["code"], "WEBHOOK_STALE");
    assert_eq!(
        ledger.reservation(&id).await.unwrap().unwrap().status,
        ReservationStatus::Confirmed
    );
}
