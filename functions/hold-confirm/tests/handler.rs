//! The hold-confirm handler driven by its events/ sample against real PostgreSQL and Redis.

use std::time::Duration;

use chrono::Utc;
use hold_confirm::{HoldConfirmFunction, handle};
use ticketrush_adapters::redis::RedisSeatLocks;
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, SeatId, UserId,
    abuse::AbuseRules,
    reservations::HoldSettings,
    seats::{LockTerms, RequestId, SeatLocks, SeatSettings},
};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create},
    wiring::Wiring,
};

const SETTINGS: HoldSettings = HoldSettings {
    hold_ttl: Duration::from_secs(600),
    seats: SeatSettings {
        lock_ttl: Duration::from_secs(30),
        flush_window: Duration::from_millis(200),
    },
    abuse: AbuseRules {
        max_holds: 100,
        holds_window: Duration::from_secs(60),
        repeat_window: Duration::from_secs(10),
        device_window: Duration::from_secs(600),
    },
};

const PERFORMANCE: PerformanceKey = PerformanceKey {
    concert: ConcertId::from_stored(1),
    option: OptionId::from_stored(1),
};

#[tokio::test]
async fn sample_event_holds_the_selected_seats_and_replays() {
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
    let me = UserId::parse("buyer-gold").unwrap();
    let terms = LockTerms {
        ttl: SETTINGS.seats.lock_ttl,
        max_per_user: 4,
        flush_window: SETTINGS.seats.flush_window,
    };
    for seat in [1, 2] {
        locks
            .select(
                PERFORMANCE,
                SeatId::from_stored(seat),
                &me,
                &RequestId::parse("s").unwrap(),
                Utc::now(),
                terms,
            )
            .await
            .unwrap();
    }
    let f = HoldConfirmFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("hold-confirm starts");
    assert_eq!(
        f.settings, SETTINGS,
        "the env gives the settings this test expects"
    );
    let resp = handle(&f, events::http_request("hold-confirm.json")).await;
    assert_eq!(resp.status(), 201);
    let json = body(&resp);
    assert_eq!(json["status"], "HOLD");
    assert_eq!(json["seats"].as_array().unwrap().len(), 2);
    assert!(json["reservationId"].is_string() && json["holdExpiresAt"].is_string());
    let held: Vec<String> =
        sqlx::query_scalar("SELECT status FROM seats WHERE id IN (1, 2) ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(held, vec!["HOLD", "HOLD"]);
    assert_eq!(
        locks
            .holders(PERFORMANCE, &[SeatId::from_stored(1)])
            .await
            .unwrap(),
        vec![None],
        "the soft locks became the hold"
    );

    let replay = handle(&f, events::http_request("hold-confirm.json")).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(body(&replay)["reservationId"], json["reservationId"]);

    let reused = events::text("hold-confirm.json")
        .replace("[1,2]", "[3]")
        .replace("[1, 2]", "[3]");
    let resp = handle(&f, lambda_http::request::from_str(&reused).unwrap()).await;
    assert_eq!(resp.status(), 422);
    assert_eq!(body(&resp)["code"], "IDEMPOTENCY_KEY_REUSED");
}
