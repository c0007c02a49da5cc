//! Holds against real PostgreSQL and Redis: races, idempotency, and the ledger's own guard.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sqlx::PgPool;
use ticketrush_adapters::{
    cached_catalog::CachedCatalog,
    postgres::{PostgresCatalog, PostgresReservations},
    push::LoggingPushPublisher,
    redis::RedisSeatLocks,
};
use ticketrush_core::{
    OptionId, PerformanceKey, SeatId, Tier, UserId,
    abuse::AbuseRules,
    reservations::{
        HoldAsk, HoldError, HoldOutcome, HoldRequest, HoldSettings, NewHold, ReservationLedger,
        confirm_hold,
    },
    seats::{LockTerms, RequestId, SeatClick, SeatLocks, SeatSettings, SelectError, select_seat},
};
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create, first_option},
    queue_tokens, redis_store,
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

struct World {
    catalog: CachedCatalog<PostgresCatalog>,
    locks: RedisSeatLocks,
    ledger: PostgresReservations,
}

async fn world(db: &TestDb) -> Arc<World> {
    Arc::new(World {
        catalog: CachedCatalog::new(
            PostgresCatalog::new(db.pool.clone()),
            Duration::from_secs(5),
        ),
        locks: RedisSeatLocks::new(redis_store().await),
        ledger: PostgresReservations::new(db.pool.clone()),
    })
}

async fn seat_ids(pool: &PgPool, option: OptionId) -> Vec<SeatId> {
    sqlx::query_scalar::<_, i64>("SELECT id FROM seats WHERE performance_id = $1 ORDER BY id")
        .bind(option.get())
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(SeatId::from_stored)
        .collect()
}

/// Seats held twice over, and seats in the HOLD state, for one performance.
async fn ledger_facts(pool: &PgPool, option: OptionId) -> (i64, i64) {
    let doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT seat_id FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id
          WHERE r.performance_id = $1 GROUP BY seat_id HAVING count(*) > 1) d",
    )
    .bind(option.get())
    .fetch_one(pool)
    .await
    .unwrap();
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM seats WHERE performance_id = $1 AND status = 'HOLD'",
    )
    .bind(option.get())
    .fetch_one(pool)
    .await
    .unwrap();
    (doubled, held)
}

#[tokio::test]
async fn a_thousand_buyers_ten_seats_twenty_times_never_a_double_sale() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    for round in 0..20 {
        let slug = format!("race-{round}");
        let concert = create(
            &db.pool,
            &ConcertSpec {
                slug: &slug,
                rows: 2,
                seats_per_row: 5,
                queue_gated: false,
                ..Default::default()
            },
        )
        .await;
        let option = first_option(&db.pool, concert).await;
        let seats = Arc::new(seat_ids(&db.pool, option).await);
        let buyers: Vec<_> = (0..1000)
            .map(|i| {
                let (w, seats) = (w.clone(), seats.clone());
                tokio::spawn(async move {
                    let user = UserId::parse(&format!("r{round}-buyer-{i}")).unwrap();
                    let seat = seats[(i * 7 + round) % seats.len()];
                    let click = SeatClick {
                        option,
                        seat,
                        user: user.clone(),
                        tier: Tier::Basic,
                        request: RequestId::parse(&format!("s-{i}")).unwrap(),
                        queue_token: None,
                        now: Utc::now(),
                    };
                    if select_seat(
                        &w.catalog,
                        &w.locks,
                        &queue_tokens(),
                        &LoggingPushPublisher,
                        SETTINGS.seats,
                        &click,
                    )
                    .await
                    .is_err()
                    {
                        return false;
                    }
                    let hold = HoldRequest::new(
                        option,
                        vec![seat],
                        RequestId::parse(&format!("h-{i}")).unwrap(),
                    )
                    .unwrap();
                    confirm_hold(
                        &w.catalog,
                        &w.locks,
                        &w.ledger,
                        &LoggingPushPublisher,
                        SETTINGS,
                        HoldAsk {
                            user: &user,
                            request: &hold,
                            now: Utc::now(),
                        },
                    )
                    .await
                    .is_ok()
                })
            })
            .collect();
        let mut winners = 0;
        for b in buyers {
            if b.await.unwrap() {
                winners += 1;
            }
        }
        let (doubled, held) = ledger_facts(&db.pool, option).await;
        assert_eq!((winners, held, doubled), (10, 10, 0), "round {round}");
    }
}

#[tokio::test]
async fn direct_holds_that_bypass_the_soft_locks_still_never_double_sell() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            rows: 2,
            seats_per_row: 5,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let seats = Arc::new(seat_ids(&db.pool, option).await);
    let ledger = Arc::new(PostgresReservations::new(db.pool.clone()));
    let attempts: Vec<_> = (0..200)
        .map(|i| {
            let (ledger, seats) = (ledger.clone(), seats.clone());
            tokio::spawn(async move {
                let user = UserId::parse(&format!("direct-{i}")).unwrap();
                let pair = vec![seats[i % 10], seats[(i * 3 + 1) % 10]];
                let Ok(request) =
                    HoldRequest::new(option, pair, RequestId::parse(&format!("d-{i}")).unwrap())
                else {
                    return false;
                };
                let hold = NewHold {
                    user: &user,
                    concert,
                    request: &request,
                    expires_at: Utc::now() + chrono::Duration::minutes(10),
                    max_seats_per_user: 20,
                };
                matches!(ledger.hold(hold).await.unwrap(), HoldOutcome::Held(_))
            })
        })
        .collect();
    let mut held_reservations = 0;
    for a in attempts {
        if a.await.unwrap() {
            held_reservations += 1;
        }
    }
    let (doubled, held) = ledger_facts(&db.pool, option).await;
    assert_eq!(doubled, 0, "no seat in two reservations");
    assert_eq!(
        held,
        held_reservations * 2,
        "every held seat belongs to exactly one winning hold"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        rows, held_reservations,
        "refused holds left no reservation behind"
    );
}

#[tokio::test]
async fn twenty_concurrent_confirms_of_one_request_make_one_reservation() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let seats = seat_ids(&db.pool, option).await;
    let w = world(&db).await;
    let user = UserId::parse("the-buyer").unwrap();
    for (i, seat) in seats[..2].iter().enumerate() {
        let click = SeatClick {
            option,
            seat: *seat,
            user: user.clone(),
            tier: Tier::Basic,
            request: RequestId::parse(&format!("sel-{i}")).unwrap(),
            queue_token: None,
            now: Utc::now(),
        };
        select_seat(
            &w.catalog,
            &w.locks,
            &queue_tokens(),
            &LoggingPushPublisher,
            SETTINGS.seats,
            &click,
        )
        .await
        .unwrap();
    }
    let request = Arc::new(
        HoldRequest::new(
            option,
            seats[..2].to_vec(),
            RequestId::parse("one-request").unwrap(),
        )
        .unwrap(),
    );
    let confirms: Vec<_> = (0..20)
        .map(|_| {
            let (w, user, request) = (w.clone(), user.clone(), request.clone());
            tokio::spawn(async move {
                confirm_hold(
                    &w.catalog,
                    &w.locks,
                    &w.ledger,
                    &LoggingPushPublisher,
                    SETTINGS,
                    HoldAsk {
                        user: &user,
                        request: &request,
                        now: Utc::now(),
                    },
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut created = 0;
    for c in confirms {
        let confirmed = c.await.unwrap();
        created += usize::from(!confirmed.replayed);
        ids.push(confirmed.reservation.reservation_id);
    }
    assert_eq!(created, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1, "every replay returned the same reservation");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);

    // The same key for a different hold is refused.
    let other = HoldRequest::new(
        option,
        vec![seats[3]],
        RequestId::parse("one-request").unwrap(),
    )
    .unwrap();
    let err = confirm_hold(
        &w.catalog,
        &w.locks,
        &w.ledger,
        &LoggingPushPublisher,
        SETTINGS,
        HoldAsk {
            user: &user,
            request: &other,
            now: Utc::now(),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HoldError::IdempotencyKeyReused), "{err:?}");
}

#[tokio::test]
async fn a_hold_needs_the_buyers_own_locks_and_respects_the_per_buyer_limit() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let seats = seat_ids(&db.pool, option).await;
    let w = world(&db).await;
    let (alice, bob) = (
        UserId::parse("alice").unwrap(),
        UserId::parse("bob").unwrap(),
    );
    let select = |user: &UserId, seat: SeatId, i: usize| SeatClick {
        option,
        seat,
        user: user.clone(),
        tier: Tier::Basic,
        request: RequestId::parse(&format!("x-{i}")).unwrap(),
        queue_token: None,
        now: Utc::now(),
    };
    select_seat(
        &w.catalog,
        &w.locks,
        &queue_tokens(),
        &LoggingPushPublisher,
        SETTINGS.seats,
        &select(&alice, seats[0], 0),
    )
    .await
    .unwrap();
    let bobs = HoldRequest::new(option, vec![seats[0]], RequestId::parse("b").unwrap()).unwrap();
    let err = confirm_hold(
        &w.catalog,
        &w.locks,
        &w.ledger,
        &LoggingPushPublisher,
        SETTINGS,
        HoldAsk {
            user: &bob,
            request: &bobs,
            now: Utc::now(),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HoldError::NotSelected(_)), "{err:?}");

    // The policy allows 4 per buyer, counting what they already hold.
    for (i, seat) in seats[1..4].iter().enumerate() {
        select_seat(
            &w.catalog,
            &w.locks,
            &queue_tokens(),
            &LoggingPushPublisher,
            SETTINGS.seats,
            &select(&alice, *seat, i + 1),
        )
        .await
        .unwrap();
    }
    let four =
        HoldRequest::new(option, seats[..4].to_vec(), RequestId::parse("a4").unwrap()).unwrap();
    confirm_hold(
        &w.catalog,
        &w.locks,
        &w.ledger,
        &LoggingPushPublisher,
        SETTINGS,
        HoldAsk {
            user: &alice,
            request: &four,
            now: Utc::now(),
        },
    )
    .await
    .unwrap();
    // The click refuses a fifth seat at once...
    let err = select_seat(
        &w.catalog,
        &w.locks,
        &queue_tokens(),
        &LoggingPushPublisher,
        SETTINGS.seats,
        &select(&alice, seats[5], 9),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SelectError::LimitExceeded(4)), "{err:?}");
    // ...and the hold keeps its own check, for a lock taken past the click's count (a
    // Redis that lost the buyer's count, say).
    w.locks
        .select(
            PerformanceKey { concert, option },
            seats[5],
            &alice,
            &RequestId::parse("x-9").unwrap(),
            Utc::now(),
            LockTerms {
                ttl: SETTINGS.seats.lock_ttl,
                max_per_user: 10,
                flush_window: SETTINGS.seats.flush_window,
            },
        )
        .await
        .unwrap();
    let fifth = HoldRequest::new(option, vec![seats[5]], RequestId::parse("a5").unwrap()).unwrap();
    let err = confirm_hold(
        &w.catalog,
        &w.locks,
        &w.ledger,
        &LoggingPushPublisher,
        SETTINGS,
        HoldAsk {
            user: &alice,
            request: &fifth,
            now: Utc::now(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            HoldError::LimitExceeded {
                wanted: 5,
                limit: 4
            }
        ),
        "{err:?}"
    );
}

async fn audited(pool: &PgPool, rule: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM abuse_audit WHERE rule = $1")
        .bind(rule)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn abuse_rules_block_and_every_block_is_audited() {
    use ticketrush_core::abuse::{AbuseError, DeviceFingerprint};

    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            rows: 2,
            seats_per_row: 10,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let seats = seat_ids(&db.pool, option).await;
    let w = world(&db).await;
    let mut settings = SETTINGS;
    settings.abuse.max_holds = 2;
    let attempt = |user: &str, seat: SeatId, request: &str, device: Option<&str>| {
        let (w, user, request, device) = (
            w.clone(),
            UserId::parse(user).unwrap(),
            request.to_owned(),
            device.map(str::to_owned),
        );
        async move {
            let click = SeatClick {
                option,
                seat,
                user: user.clone(),
                tier: Tier::Basic,
                request: RequestId::parse(&format!("sel-{request}")).unwrap(),
                queue_token: None,
                now: Utc::now(),
            };
            let _ = select_seat(
                &w.catalog,
                &w.locks,
                &queue_tokens(),
                &LoggingPushPublisher,
                settings.seats,
                &click,
            )
            .await;
            let hold = HoldRequest::new(option, vec![seat], RequestId::parse(&request).unwrap())
                .unwrap()
                .with_device(device.map(|d| DeviceFingerprint::parse(&d).unwrap()));
            confirm_hold(
                &w.catalog,
                &w.locks,
                &w.ledger,
                &LoggingPushPublisher,
                settings,
                HoldAsk {
                    user: &user,
                    request: &hold,
                    now: Utc::now(),
                },
            )
            .await
        }
    };

    // A bot submits the same seats twice under two request ids.
    attempt("bot", seats[0], "b1", None).await.unwrap();
    let err = attempt("bot", seats[0], "b2", None).await.unwrap_err();
    assert!(
        matches!(err, HoldError::Abuse(AbuseError::RepeatedRequest)),
        "{err:?}"
    );
    assert_eq!(audited(&db.pool, "REPEATED_REQUEST").await, 1);

    // Too many holds in the window.
    attempt("bot", seats[1], "b3", None).await.unwrap();
    let err = attempt("bot", seats[2], "b4", None).await.unwrap_err();
    assert!(
        matches!(err, HoldError::Abuse(AbuseError::HoldRate { .. })),
        "{err:?}"
    );
    assert_eq!(audited(&db.pool, "HOLD_RATE").await, 1);

    // One device, two accounts.
    attempt("alice", seats[5], "a1", Some("device-123"))
        .await
        .unwrap();
    let err = attempt("mallory", seats[6], "m1", Some("device-123"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HoldError::Abuse(AbuseError::DeviceShared)),
        "{err:?}"
    );
    assert_eq!(audited(&db.pool, "DEVICE_SHARED").await, 1);
    attempt("alice", seats[7], "a2", Some("device-123"))
        .await
        .unwrap();

    let held_by_blocked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservations WHERE request_id IN ('b2', 'b4', 'm1')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        held_by_blocked, 0,
        "a blocked hold writes no reservation, only its audit row"
    );
}

#[tokio::test]
async fn concurrent_holds_in_two_performances_never_exceed_the_per_buyer_maximum() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            performances_in_days: &[10, 11],
            rows: 5,
            ..ConcertSpec::default()
        },
    )
    .await;
    let options: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM performances WHERE concert_id = $1 ORDER BY starts_at")
            .bind(concert.get())
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let ledger = Arc::new(PostgresReservations::new(db.pool.clone()));
    for trial in 0..8_i64 {
        let user = UserId::parse(&format!("greedy-{trial}")).unwrap();
        let holds = options.iter().map(|option| {
            let (ledger, user, db) = (ledger.clone(), user.clone(), db.pool.clone());
            let option = OptionId::from_stored(*option);
            async move {
                // Three seats of this performance, fresh for each trial.
                let seats: Vec<SeatId> = sqlx::query_scalar(
                    "SELECT id FROM seats WHERE performance_id = $1 ORDER BY id OFFSET $2 LIMIT 3",
                )
                .bind(option.get())
                .bind(trial * 3)
                .fetch_all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(SeatId::from_stored)
                .collect();
                let request = HoldRequest::new(
                    option,
                    seats,
                    RequestId::parse(&format!("in-{option}")).unwrap(),
                )
                .unwrap();
                ledger
                    .hold(NewHold {
                        user: &user,
                        concert,
                        request: &request,
                        expires_at: Utc::now() + chrono::Duration::minutes(10),
                        max_seats_per_user: 4,
                    })
                    .await
                    .unwrap()
            }
        });
        let outcomes = futures_util::future::join_all(holds).await;
        let held = outcomes
            .iter()
            .filter(|o| matches!(o, HoldOutcome::Held(_)))
            .count();
        let refused = outcomes
            .iter()
            .filter(|o| matches!(o, HoldOutcome::LimitExceeded { wanted: 6 }))
            .count();
        assert_eq!((held, refused), (1, 1), "trial {trial}: {outcomes:?}");
        let taken: i64 = sqlx::query_scalar(
            r#"SELECT count(*) FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id
               WHERE r.user_id = $1 AND r.status = 'HOLD'"#,
        )
        .bind(user.as_str())
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(taken, 3, "trial {trial}");
    }
}
