//! The seat-release handler driven by its events/ sample against real Redis.

use std::time::Duration;

use chrono::Utc;
use lambda_http::Body;
use seat_release::{SeatReleaseFunction, handle};
use serde_json::Value;
use ticketrush_adapters::{push::LoggingPushPublisher, redis::RedisSeatLocks};
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, SeatId, UserId,
    seats::{LockTerms, RequestId, SeatLocks, SeatSettings},
};
use ticketrush_testkit::{events, redis_store};

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

#[tokio::test]
async fn only_the_holder_releases() {
    let locks = RedisSeatLocks::new(redis_store().await);
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
    let f = SeatReleaseFunction {
        locks: locks.clone(),
        publisher: LoggingPushPublisher,
        settings: SETTINGS,
    };
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
