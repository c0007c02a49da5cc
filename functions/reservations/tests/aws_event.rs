//! The reservations handler driven by AWS's example HTTP API event with a JWT authorizer
//! (the routes need a token), patched only where it must be ours.

use reservations::{ReservationsFunction, handle};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create, hold_first_seat},
    wiring::Wiring,
};

const JWT_EVENT: &str = "example-apigw-v2-request-jwt-authorizer.json";

#[tokio::test]
async fn aws_event_reads_only_the_callers_reservation() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let held = hold_first_seat(&db.pool, concert, "buyer-gold").await;
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
    let id = held.reservation_id.to_string();
    let read = |caller: &'static str| {
        events::aws_http(JWT_EVENT, |e| {
            e.route("GET /api/reservations/{id}", &[("id", &id)])
                .claims(&[("sub", caller), ("tier", "GOLD"), ("admin", "false")])
        })
    };

    let resp = handle(&f, read("buyer-gold")).await;
    assert_eq!(resp.status(), 200, "{:?}", body(&resp));
    let json = body(&resp);
    assert_eq!(json["reservationId"], id.as_str());
    assert_eq!(json["status"], "HOLD");

    let resp = handle(&f, read("other-buyer")).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(body(&resp)["code"], "NOT_FOUND");
}
