//! The payment-webhook handler driven by AWS's example HTTP API event without an authorizer
//! (the gateway signs the body instead), patched only where it must be ours.

use chrono::Utc;
use payment_webhook::{PaymentWebhookFunction, handle};
use serde_json::json;
use ticketrush_adapters::{
    config::Secret,
    payment_webhook::{HmacWebhookSignatures, SIGNATURE_HEADER},
    postgres::PostgresReservations,
};
use ticketrush_core::reservations::{ReservationLedger, ReservationStatus};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, AwsEvent, body},
    fixtures::{ConcertSpec, create, hold_first_seat, pending_payment},
    runtime::TEST_PAYMENT_WEBHOOK_SECRET,
    wiring::Wiring,
};

const NO_AUTHORIZER_EVENT: &str = "example-apigw-v2-request-no-authorizer.json";

#[tokio::test]
async fn aws_event_settles_a_pending_payment_only_when_signed() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let ledger = PostgresReservations::new(db.pool.clone());

    // A PAYING reservation whose charge the gateway left pending.
    let held = hold_first_seat(&db.pool, concert, "buyer-gold").await;
    let id = held.reservation_id.clone();
    pending_payment(&db.pool, &id, "pay_sample0001").await;

    let wiring = Wiring::new(&db.url, &[]).await;
    let f = PaymentWebhookFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("payment-webhook starts");
    let payload = json!({
        "eventId": "evt_0001",
        "paymentId": "pay_sample0001",
        "sequence": 2,
        "outcome": "APPROVED"
    });
    let webhook = |e: AwsEvent| e.route("POST /api/payments/webhook", &[]).body(&payload);

    let resp = handle(&f, events::aws_http(NO_AUTHORIZER_EVENT, webhook)).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(body(&resp)["code"], "WEBHOOK_SIGNATURE_INVALID");

    let signature = HmacWebhookSignatures::new(Secret::from(TEST_PAYMENT_WEBHOOK_SECRET))
        .sign(Utc::now(), payload.to_string().as_bytes());
    let signed = events::aws_http(NO_AUTHORIZER_EVENT, |e| {
        webhook(e).header(SIGNATURE_HEADER, &signature)
    });
    let resp = handle(&f, signed).await;
    assert_eq!(resp.status(), 200, "{:?}", body(&resp));
    let answer = body(&resp);
    assert_eq!(answer["result"], "APPLIED", "{answer}");
    assert_eq!(answer["reservation"]["status"], "CONFIRMED");
    assert_eq!(
        ledger.reservation(&id).await.unwrap().unwrap().status,
        ReservationStatus::Confirmed
    );
}
