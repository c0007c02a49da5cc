//! The expiry tick loop driven by its events/ sample (EventBridge Scheduler's payload)
//! against real PostgreSQL and Redis.

use std::{sync::Arc, time::Duration};

use chrono::{Duration as ChronoDuration, Utc};
use hold_expire::{HoldExpireFunction, handle};
use ticketrush_adapters::{postgres::PostgresReservations, redis::RedisWaitingRoom};
use ticketrush_core::{
    SeatId, UserId,
    queue::{AdmitRequest, WaitingRoom},
    reservations::{HoldOutcome, HoldRequest, NewHold, ReservationLedger},
    seats::{RequestId, SeatSettings},
};
use ticketrush_lambda::{routes::HOLD_EXPIRE_SCHEDULE, ticks};
use ticketrush_testkit::{
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create, first_option},
    queue_settings,
    wiring::Wiring,
};

#[tokio::test]
async fn due_holds_expire_once_per_tick_and_their_seats_return() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let option = first_option(&db.pool, concert).await;
    let ledger = PostgresReservations::new(db.pool.clone());
    let hold = |user: &'static str, seats: [i64; 2], expires_in: i64| {
        let ledger = ledger.clone();
        async move {
            let user = UserId::parse(user).unwrap();
            let request = HoldRequest::new(
                option,
                seats.iter().map(|s| SeatId::from_stored(*s)).collect(),
                RequestId::parse("h").unwrap(),
            )
            .unwrap();
            let new = NewHold {
                user: &user,
                concert,
                request: &request,
                expires_at: Utc::now() + ChronoDuration::seconds(expires_in),
                max_seats_per_user: 20,
            };
            match ledger.hold(new).await.unwrap() {
                HoldOutcome::Held(r) => r.reservation_id,
                other => panic!("{other:?}"),
            }
        }
    };
    let lapsed = hold("late", [1, 2], -5).await;
    let live = hold("on-time", [3, 4], 600).await;

    let wiring = Wiring::new(
        &db.url,
        &[
            ("HOLD_EXPIRE_TICK_MILLIS", "1000"),
            ("SEAT_LOCK_TTL_SECS", "30"),
            ("SEAT_FLUSH_WINDOW_MILLIS", "200"),
        ],
    )
    .await;
    let room = RedisWaitingRoom::new(wiring.redis().await);
    for i in 0..5 {
        room.join(
            concert,
            &UserId::parse(&format!("w{i}")).unwrap(),
            Utc::now(),
            &queue_settings(),
        )
        .await
        .unwrap();
    }
    let f = Arc::new(
        HoldExpireFunction::from_env(&wiring.env, &wiring.clients)
            .await
            .expect("hold-expire starts"),
    );
    assert_eq!(
        (f.seats, f.tick),
        (
            SeatSettings {
                lock_ttl: Duration::from_secs(30),
                flush_window: Duration::from_millis(200),
            },
            Duration::from_secs(1),
        ),
        "the env gives the settings this test expects"
    );
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move {
                let event = ticks::invocation(
                    events::scheduled("hold-expire.json"),
                    format!("inv-{i}"),
                    HOLD_EXPIRE_SCHEDULE.timeout(),
                );
                handle(&f, event).await
            })
        })
        .collect();
    let mut summaries = Vec::new();
    for r in runs {
        summaries.push(r.await.unwrap());
    }
    // The sample's minute is long past: each invocation runs its last tick, one gets it.
    assert_eq!(
        summaries.iter().map(|s| s.ran).sum::<u32>(),
        1,
        "{summaries:?}"
    );
    assert_eq!(summaries.iter().map(|s| s.taken).sum::<u32>(), 3);
    let ran = summaries.iter().find(|s| s.ran == 1).unwrap();
    assert_eq!((ran.totals.expired, ran.totals.seats_freed), (1, 2));

    let status = |id: String| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM reservations WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(status(lapsed.to_string()).await, "EXPIRED");
    assert_eq!(status(live.to_string()).await, "HOLD");
    let seats: Vec<String> =
        sqlx::query_scalar("SELECT status FROM seats WHERE id IN (1, 2, 3, 4) ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(seats, vec!["AVAILABLE", "AVAILABLE", "HOLD", "HOLD"]);

    // The two freed seats let two more buyers in even with no room under the active cap.
    let admission = room
        .admit(
            concert,
            Utc::now(),
            &AdmitRequest {
                max_batch: 10,
                max_active: 0,
                active_ttl: Duration::from_secs(60),
                seen_since: Utc::now() - ChronoDuration::minutes(1),
            },
        )
        .await
        .unwrap();
    assert_eq!(admission.admitted.len(), 2);
}
