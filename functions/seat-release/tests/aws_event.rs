//! The seat-release handler driven by AWS's example HTTP API event with a JWT authorizer
//! (the route needs a token), patched only where it must be ours.

use std::time::Duration;

use chrono::Utc;
use seat_release::{SeatReleaseFunction, handle};
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, SeatId, UserId,
    seats::{LockTerms, RequestId, SeatLocks},
};
use ticketrush_testkit::{
    events::{self, body},
    setting,
    wiring::Wiring,
};

const JWT_EVENT: &str = "example-apigw-v2-request-jwt-authorizer.json";

#[tokio::test]
async fn aws_event_releases_only_the_callers_seat() {
    // Seat-release reads no database; the test database's URL fills the setting.
    let database_url = setting(
        "TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/ticketrush_test",
    );
    let wiring = Wiring::new(
        &database_url,
        &[
            ("SEAT_LOCK_TTL_SECS", "30"),
            ("SEAT_FLUSH_WINDOW_MILLIS", "200"),
        ],
    )
    .await;
    let f = SeatReleaseFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("seat-release starts");
    let option = PerformanceKey {
        concert: ConcertId::from_stored(1),
        option: OptionId::from_stored(1),
    };
    let seat = SeatId::from_stored(1);
    let holder = UserId::parse("buyer-gold").unwrap();
    f.locks
        .select(
            option,
            seat,
            &holder,
            &RequestId::parse("r").unwrap(),
            Utc::now(),
            LockTerms {
                ttl: Duration::from_secs(30),
                max_per_user: 4,
                flush_window: Duration::from_millis(200),
            },
        )
        .await
        .unwrap();
    let release = |buyer: &'static str| {
        events::aws_http(JWT_EVENT, |e| {
            e.route(
                "DELETE /api/options/{optionId}/seats/{seatId}/select",
                &[("optionId", "1"), ("seatId", "1")],
            )
            .claims(&[("sub", buyer), ("tier", "GOLD"), ("admin", "false")])
        })
    };

    let resp = handle(&f, release("someone-else")).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(body(&resp)["code"], "NOT_SEAT_OWNER");
    assert_eq!(
        f.locks.holders(option, &[seat]).await.unwrap(),
        vec![Some(holder)]
    );

    let resp = handle(&f, release("buyer-gold")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body(&resp)["status"], "AVAILABLE");
    assert_eq!(f.locks.holders(option, &[seat]).await.unwrap(), vec![None]);
}
