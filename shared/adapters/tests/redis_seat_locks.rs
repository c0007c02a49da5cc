//! RedisSeatLocks against real Redis, a key prefix per test.

use std::{sync::Arc, time::Duration};

use chrono::{Duration as ChronoDuration, Utc};
use ticketrush_adapters::redis::RedisSeatLocks;
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, SeatId, UserId,
    catalog::SeatStatus,
    seats::{LockTerms, ReleaseOutcome, RequestId, SeatLocks, SelectOutcome, TakenSeat},
};
use ticketrush_testkit::redis_store;

const TERMS: LockTerms = LockTerms {
    ttl: Duration::from_secs(30),
    max_per_user: 4,
    flush_window: Duration::from_millis(200),
};

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn req(i: usize) -> RequestId {
    RequestId::parse(&format!("req-{i}")).unwrap()
}

const PERFORMANCE: PerformanceKey = PerformanceKey {
    concert: ConcertId::from_stored(1),
    option: OptionId::from_stored(1),
};

fn taken(n: i64, holder: &UserId) -> TakenSeat {
    TakenSeat {
        seat: seat(n),
        status: SeatStatus::Hold,
        holder: holder.clone(),
    }
}

fn seat(n: i64) -> SeatId {
    SeatId::from_stored(n)
}

#[tokio::test]
async fn of_a_hundred_concurrent_clicks_on_one_seat_exactly_one_wins() {
    let locks = Arc::new(RedisSeatLocks::new(redis_store().await));
    let clicks: Vec<_> = (0..100)
        .map(|i| {
            let locks = locks.clone();
            tokio::spawn(async move {
                locks
                    .select(
                        PERFORMANCE,
                        seat(7),
                        &user(&format!("fan-{i}")),
                        &req(i),
                        Utc::now(),
                        TERMS,
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for c in clicks {
        match c.await.unwrap() {
            SelectOutcome::Selected { .. } => winners += 1,
            SelectOutcome::HeldByOther => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1);
    let holders = locks
        .holders(PERFORMANCE, &[seat(7), seat(8)])
        .await
        .unwrap();
    assert!(holders[0].is_some() && holders[1].is_none());
}

#[tokio::test]
async fn only_the_owner_releases_and_reselecting_is_idempotent() {
    let locks = RedisSeatLocks::new(redis_store().await);
    let (a, b) = (user("auth0|alice"), user("bob"));
    let first = locks
        .select(PERFORMANCE, seat(1), &a, &req(1), Utc::now(), TERMS)
        .await
        .unwrap();
    let SelectOutcome::Selected { expires_at, .. } = first else {
        panic!("{first:?}")
    };
    match locks
        .select(PERFORMANCE, seat(1), &a, &req(2), Utc::now(), TERMS)
        .await
        .unwrap()
    {
        SelectOutcome::Selected {
            expires_at: again, ..
        } => assert_eq!(again, expires_at),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        locks.holders(PERFORMANCE, &[seat(1)]).await.unwrap(),
        vec![Some(a.clone())]
    );
    assert_eq!(
        locks
            .release(PERFORMANCE, seat(1), &b, TERMS.flush_window)
            .await
            .unwrap(),
        ReleaseOutcome::NotOwner
    );
    assert!(matches!(
        locks
            .release(PERFORMANCE, seat(1), &a, TERMS.flush_window)
            .await
            .unwrap(),
        ReleaseOutcome::Released { .. }
    ));
    assert_eq!(
        locks
            .release(PERFORMANCE, seat(1), &a, TERMS.flush_window)
            .await
            .unwrap(),
        ReleaseOutcome::NotHeld
    );
    assert!(matches!(
        locks
            .select(PERFORMANCE, seat(1), &b, &req(3), Utc::now(), TERMS)
            .await
            .unwrap(),
        SelectOutcome::Selected { .. }
    ));
}

#[tokio::test]
async fn a_lapsed_lock_frees_the_seat_and_is_logged_as_available() {
    let locks = RedisSeatLocks::new(redis_store().await);
    let short = LockTerms {
        ttl: Duration::from_millis(150),
        ..TERMS
    };
    locks
        .select(PERFORMANCE, seat(3), &user("a"), &req(1), Utc::now(), short)
        .await
        .unwrap();
    assert!(
        !locks
            .extend(PERFORMANCE, seat(3), &user("b"), Utc::now(), short.ttl)
            .await
            .unwrap(),
        "not b's"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        !locks
            .extend(PERFORMANCE, seat(3), &user("a"), Utc::now(), short.ttl)
            .await
            .unwrap(),
        "gone"
    );
    assert!(matches!(
        locks
            .select(PERFORMANCE, seat(3), &user("b"), &req(2), Utc::now(), TERMS)
            .await
            .unwrap(),
        SelectOutcome::Selected { .. }
    ));
    locks
        .release(PERFORMANCE, seat(3), &user("b"), TERMS.flush_window)
        .await
        .unwrap();

    locks
        .select(PERFORMANCE, seat(4), &user("a"), &req(3), Utc::now(), short)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (swept, _) = locks
        .sweep_expired(PERFORMANCE, Utc::now(), TERMS.flush_window)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    let changes = locks
        .changes_since(PERFORMANCE, None, 100)
        .await
        .unwrap()
        .changes;
    assert_eq!(changes.last(), Some(&(seat(4), SeatStatus::Available)));
}

#[tokio::test]
async fn a_buyer_holds_at_most_the_per_user_cap() {
    let locks = RedisSeatLocks::new(redis_store().await);
    let a = user("a");
    for n in 0..4 {
        assert!(matches!(
            locks
                .select(
                    PERFORMANCE,
                    seat(10 + n),
                    &a,
                    &req(n as usize),
                    Utc::now(),
                    TERMS
                )
                .await
                .unwrap(),
            SelectOutcome::Selected { .. }
        ));
    }
    assert_eq!(
        locks
            .select(PERFORMANCE, seat(20), &a, &req(9), Utc::now(), TERMS)
            .await
            .unwrap(),
        SelectOutcome::UserLimit
    );
    locks
        .release(PERFORMANCE, seat(10), &a, TERMS.flush_window)
        .await
        .unwrap();
    assert!(matches!(
        locks
            .select(PERFORMANCE, seat(20), &a, &req(10), Utc::now(), TERMS)
            .await
            .unwrap(),
        SelectOutcome::Selected { .. }
    ));
}

#[tokio::test]
async fn ledger_changes_block_clicks_clear_locks_and_are_logged_in_order() {
    let locks = RedisSeatLocks::new(redis_store().await);
    let a = user("a");
    locks
        .select(PERFORMANCE, seat(1), &a, &req(1), Utc::now(), TERMS)
        .await
        .unwrap();
    locks
        .record_ledger(
            PERFORMANCE,
            &a,
            &[
                (seat(1), SeatStatus::Hold),
                (seat(2), SeatStatus::Confirmed),
            ],
            TERMS.flush_window,
        )
        .await
        .unwrap();
    assert_eq!(
        locks.holders(PERFORMANCE, &[seat(1)]).await.unwrap(),
        vec![None],
        "the hold replaced the soft lock"
    );
    assert_eq!(
        locks
            .select(PERFORMANCE, seat(2), &a, &req(2), Utc::now(), TERMS)
            .await
            .unwrap(),
        SelectOutcome::Unavailable
    );
    locks
        .record_ledger(
            PERFORMANCE,
            &a,
            &[(seat(2), SeatStatus::Available)],
            TERMS.flush_window,
        )
        .await
        .unwrap();
    assert!(matches!(
        locks
            .select(PERFORMANCE, seat(2), &a, &req(3), Utc::now(), TERMS)
            .await
            .unwrap(),
        SelectOutcome::Selected { .. }
    ));

    let batch = locks.changes_since(PERFORMANCE, None, 100).await.unwrap();
    let (all, cursor) = (batch.changes, batch.cursor);
    assert_eq!(
        all,
        vec![
            (seat(1), SeatStatus::Selecting),
            (seat(1), SeatStatus::Hold),
            (seat(2), SeatStatus::Confirmed),
            (seat(2), SeatStatus::Available),
            (seat(2), SeatStatus::Selecting),
        ]
    );
    locks
        .release(PERFORMANCE, seat(2), &a, TERMS.flush_window)
        .await
        .unwrap();
    let after = locks
        .changes_since(PERFORMANCE, cursor.as_deref(), 100)
        .await
        .unwrap()
        .changes;
    assert_eq!(after, vec![(seat(2), SeatStatus::Available)]);
}

#[tokio::test]
async fn only_the_first_change_in_a_window_asks_for_a_flush() {
    let locks = RedisSeatLocks::new(redis_store().await);
    let flushes = |o: SelectOutcome| matches!(o, SelectOutcome::Selected { flush: true, .. });
    let first = locks
        .select(PERFORMANCE, seat(1), &user("a"), &req(1), Utc::now(), TERMS)
        .await
        .unwrap();
    let second = locks
        .select(PERFORMANCE, seat(2), &user("b"), &req(2), Utc::now(), TERMS)
        .await
        .unwrap();
    assert!(flushes(first));
    assert!(!flushes(second), "inside the window");
    tokio::time::sleep(TERMS.flush_window + Duration::from_millis(50)).await;
    let third = locks
        .select(
            PERFORMANCE,
            seat(3),
            &user("c"),
            &req(3),
            Utc::now() + ChronoDuration::zero(),
            TERMS,
        )
        .await
        .unwrap();
    assert!(flushes(third), "a new window");
}

#[tokio::test]
async fn resync_makes_redis_agree_with_the_ledger() {
    let locks = RedisSeatLocks::new(redis_store().await);
    let a = user("a");
    // Redis thinks seat 1 is free and clicked, and seat 2 taken; the ledger says 1 is HOLD, 2 free.
    locks
        .select(PERFORMANCE, seat(1), &a, &req(1), Utc::now(), TERMS)
        .await
        .unwrap();
    locks
        .record_ledger(
            PERFORMANCE,
            &a,
            &[(seat(2), SeatStatus::Confirmed)],
            TERMS.flush_window,
        )
        .await
        .unwrap();
    let (changed, _) = locks
        .resync(PERFORMANCE, &[taken(1, &a)], TERMS.flush_window)
        .await
        .unwrap();
    assert_eq!(changed, 2);
    assert_eq!(
        locks.holders(PERFORMANCE, &[seat(1)]).await.unwrap(),
        vec![None],
        "the stale soft lock is gone"
    );
    assert_eq!(
        locks
            .select(PERFORMANCE, seat(1), &a, &req(2), Utc::now(), TERMS)
            .await
            .unwrap(),
        SelectOutcome::Unavailable
    );
    assert!(matches!(
        locks
            .select(PERFORMANCE, seat(2), &a, &req(3), Utc::now(), TERMS)
            .await
            .unwrap(),
        SelectOutcome::Selected { .. }
    ));
    let changes = locks
        .changes_since(PERFORMANCE, None, 100)
        .await
        .unwrap()
        .changes;
    assert!(
        changes.contains(&(seat(1), SeatStatus::Hold))
            && changes.contains(&(seat(2), SeatStatus::Available))
    );
    let (again, _) = locks
        .resync(PERFORMANCE, &[taken(1, &a)], TERMS.flush_window)
        .await
        .unwrap();
    assert_eq!(again, 0, "nothing left to correct");
}

const OTHER_PERFORMANCE: PerformanceKey = PerformanceKey {
    concert: ConcertId::from_stored(1),
    option: OptionId::from_stored(2),
};

const OTHER_CONCERT: PerformanceKey = PerformanceKey {
    concert: ConcertId::from_stored(2),
    option: OptionId::from_stored(3),
};

const TWO_EACH: LockTerms = LockTerms {
    max_per_user: 2,
    ..TERMS
};

#[tokio::test]
async fn the_seat_limit_counts_soft_locks_and_ledger_seats_across_the_concerts_performances() {
    let locks = RedisSeatLocks::new(redis_store().await);
    let a = user("a");
    let click = |performance, n, i| {
        let (locks, a) = (locks.clone(), a.clone());
        async move {
            locks
                .select(performance, seat(n), &a, &req(i), Utc::now(), TWO_EACH)
                .await
                .unwrap()
        }
    };
    assert!(matches!(
        click(PERFORMANCE, 1, 1).await,
        SelectOutcome::Selected { .. }
    ));
    assert!(matches!(
        click(OTHER_PERFORMANCE, 1, 2).await,
        SelectOutcome::Selected { .. }
    ));
    assert_eq!(
        click(OTHER_PERFORMANCE, 2, 3).await,
        SelectOutcome::UserLimit,
        "two soft locks in two performances of one concert"
    );
    assert!(
        matches!(
            click(OTHER_CONCERT, 1, 4).await,
            SelectOutcome::Selected { .. }
        ),
        "another concert counts apart"
    );

    // The first seat becomes a hold: it still counts, now from the ledger.
    locks
        .record_ledger(
            PERFORMANCE,
            &a,
            &[(seat(1), SeatStatus::Hold)],
            TERMS.flush_window,
        )
        .await
        .unwrap();
    assert_eq!(click(PERFORMANCE, 5, 5).await, SelectOutcome::UserLimit);
    locks
        .release(OTHER_PERFORMANCE, seat(1), &a, TERMS.flush_window)
        .await
        .unwrap();
    assert!(matches!(
        click(PERFORMANCE, 5, 6).await,
        SelectOutcome::Selected { .. }
    ));
    assert_eq!(click(PERFORMANCE, 6, 7).await, SelectOutcome::UserLimit);

    // The hold expires: the ledger seat stops counting.
    locks
        .record_ledger(
            PERFORMANCE,
            &a,
            &[(seat(1), SeatStatus::Available)],
            TERMS.flush_window,
        )
        .await
        .unwrap();
    assert!(matches!(
        click(PERFORMANCE, 6, 8).await,
        SelectOutcome::Selected { .. }
    ));
}

#[tokio::test]
async fn resync_rebuilds_each_holders_count() {
    let store = redis_store().await;
    let locks = RedisSeatLocks::new(store.clone());
    let (a, b) = (user("a"), user("b"));
    // The ledger gives a two seats; Redis never heard of them (a lost follow-up).
    let ledger = [taken(1, &a), taken(2, &a)];
    locks
        .resync(PERFORMANCE, &ledger, TERMS.flush_window)
        .await
        .unwrap();
    assert_eq!(
        locks
            .select(
                OTHER_PERFORMANCE,
                seat(9),
                &a,
                &req(1),
                Utc::now(),
                TWO_EACH
            )
            .await
            .unwrap(),
        SelectOutcome::UserLimit,
        "the ledger's seats count at the click"
    );
    // The ledger moves seat 2 to b (a's hold expired, b bought it): a may click again.
    let ledger = [taken(1, &a), taken(2, &b)];
    locks
        .resync(PERFORMANCE, &ledger, TERMS.flush_window)
        .await
        .unwrap();
    assert!(matches!(
        locks
            .select(
                OTHER_PERFORMANCE,
                seat(9),
                &a,
                &req(2),
                Utc::now(),
                TWO_EACH
            )
            .await
            .unwrap(),
        SelectOutcome::Selected { .. }
    ));
    assert!(matches!(
        locks
            .select(
                OTHER_PERFORMANCE,
                seat(10),
                &b,
                &req(3),
                Utc::now(),
                TWO_EACH
            )
            .await
            .unwrap(),
        SelectOutcome::Selected { .. }
    ));
    assert_eq!(
        locks
            .select(
                OTHER_PERFORMANCE,
                seat(11),
                &b,
                &req(4),
                Utc::now(),
                TWO_EACH
            )
            .await
            .unwrap(),
        SelectOutcome::UserLimit
    );
}

#[tokio::test]
async fn a_clicked_performance_points_to_its_concert() {
    let locks = RedisSeatLocks::new(redis_store().await);
    assert_eq!(locks.concert_of(OTHER_CONCERT.option).await.unwrap(), None);
    locks
        .select(
            OTHER_CONCERT,
            seat(1),
            &user("a"),
            &req(1),
            Utc::now(),
            TERMS,
        )
        .await
        .unwrap();
    assert_eq!(
        locks.concert_of(OTHER_CONCERT.option).await.unwrap(),
        Some(OTHER_CONCERT.concert)
    );
}
