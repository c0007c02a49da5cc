//! The seat-release handler driven by its events/ sample against real Redis.

use std::time::Duration;

use chrono::Utc;
use lambda_http::Body;
use seat_release::{SeatReleaseFunction, handle};
use serde_json::Value;
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, SeatId, UserId,
    seats::{LockTerms, RequestId, SeatLocks, SeatSettings},
};
use ticketrush_testkit::{events, setting, wiring::Wiring};

const SETTINGS: SeatSettings = SeatSettings {
    lock_ttl: Duration::from_secs(30),
    flush_window: Duration::from_millis(200),
};

fn code(resp: &lambda_http::Response<Body>) -> Value {
    match resp.body() {
        Body::Text(t) => serde_json::from_str::<Value>(t).unwrap(),
        _ => panic!("text body"),
    }
}

/// Seat-release reads no DATABASE_URL; the test database URL fills the setting.
async fn function() -> SeatReleaseFunction {
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
    SeatReleaseFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("seat-release starts")
}

#[tokio::test]
async fn only_the_holder_releases() {
    let f = function().await;
    let locks = &f.locks;
    let terms = LockTerms {
        ttl: SETTINGS.lock_ttl,
        max_per_user: 4,
        flush_window: SETTINGS.flush_window,
    };
    let option = PerformanceKey {
        concert: ConcertId::from_stored(1),
        option: OptionId::from_stored(1),
    };
    let seat = SeatId::from_stored(1);
    let other = UserId::parse("other").unwrap();
    locks
        .select(
            option,
            seat,
            &other,
            &RequestId::parse("r").unwrap(),
            Utc::now(),
            terms,
        )
        .await
        .unwrap();
    let resp = handle(&f, events::http_request("seat-release.json")).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(code(&resp)["code"], "NOT_SEAT_OWNER");
    assert_eq!(
        locks.holders(option, &[seat]).await.unwrap(),
        vec![Some(other.clone())]
    );

    locks
        .release(option, seat, &other, SETTINGS.flush_window)
        .await
        .unwrap();
    let me = UserId::parse("buyer-gold").unwrap();
    locks
        .select(
            option,
            seat,
            &me,
            &RequestId::parse("r").unwrap(),
            Utc::now(),
            terms,
        )
        .await
        .unwrap();
    let resp = handle(&f, events::http_request("seat-release.json")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(code(&resp)["status"], "AVAILABLE");
    assert_eq!(locks.holders(option, &[seat]).await.unwrap(), vec![None]);
}
