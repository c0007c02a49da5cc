//! RedisWaitingRoom and RedisSchedulerLock against real Redis, a key prefix per test.

use std::{sync::Arc, time::Duration};

use chrono::{Duration as ChronoDuration, Utc};
use ticketrush_adapters::redis::{RedisSchedulerLock, RedisWaitingRoom};
use ticketrush_core::{
    ConcertId, SeatId, UserId,
    queue::{AdmitRequest, JoinOutcome, Standing, WaitingRoom},
    schedule::SchedulerLock,
};
use ticketrush_testkit::{queue_settings, redis_store};

fn user(i: usize) -> UserId {
    UserId::parse(&format!("user-{i}")).unwrap()
}

fn admit_request(batch: u32) -> AdmitRequest {
    AdmitRequest {
        max_batch: batch,
        max_active: 1_000,
        active_ttl: Duration::from_secs(60),
        seen_since: Utc::now() - ChronoDuration::seconds(60),
    }
}

#[tokio::test]
async fn ten_thousand_concurrent_joins_get_ranks_one_to_ten_thousand() {
    let room = Arc::new(RedisWaitingRoom::new(redis_store().await));
    let concert = ConcertId::from_stored(1);
    let settings = Arc::new(queue_settings());
    let joins = (0..10_000).map(|i| {
        let (room, settings) = (room.clone(), settings.clone());
        tokio::spawn(async move {
            room.join(concert, &user(i), Utc::now(), &settings)
                .await
                .unwrap()
        })
    });
    let mut ranks: Vec<u64> = Vec::with_capacity(10_000);
    for j in joins {
        match j.await.unwrap() {
            JoinOutcome::Waiting { rank } => ranks.push(rank),
            other => panic!("unexpected {other:?}"),
        }
    }
    ranks.sort_unstable();
    assert_eq!(
        ranks,
        (1..=10_000).collect::<Vec<u64>>(),
        "no gaps, no duplicates"
    );
}

#[tokio::test]
async fn one_buyer_joining_fifty_times_at_once_holds_one_place() {
    let room = Arc::new(RedisWaitingRoom::new(redis_store().await));
    let concert = ConcertId::from_stored(2);
    let mut settings = queue_settings();
    settings.join_limit = 100;
    let settings = Arc::new(settings);
    room.join(concert, &user(0), Utc::now(), &settings)
        .await
        .unwrap();
    let joins: Vec<_> = (0..50)
        .map(|_| {
            let (room, settings) = (room.clone(), settings.clone());
            tokio::spawn(async move {
                room.join(concert, &user(1), Utc::now(), &settings)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for j in joins {
        assert_eq!(j.await.unwrap(), JoinOutcome::Waiting { rank: 2 });
    }
    let after = room
        .join(concert, &user(2), Utc::now(), &settings)
        .await
        .unwrap();
    assert_eq!(
        after,
        JoinOutcome::Waiting { rank: 3 },
        "the repeated joins took one place"
    );
}

#[tokio::test]
async fn joins_past_the_limit_are_throttled() {
    let room = RedisWaitingRoom::new(redis_store().await);
    let concert = ConcertId::from_stored(3);
    let settings = queue_settings();
    for _ in 0..settings.join_limit {
        assert!(matches!(
            room.join(concert, &user(1), Utc::now(), &settings)
                .await
                .unwrap(),
            JoinOutcome::Waiting { .. }
        ));
    }
    match room
        .join(concert, &user(1), Utc::now(), &settings)
        .await
        .unwrap()
    {
        JoinOutcome::Throttled { retry_after } => assert!(retry_after <= settings.join_window),
        other => panic!("expected throttling, got {other:?}"),
    }
}

#[tokio::test]
async fn the_capacity_cap_holds_exactly_under_concurrency() {
    let room = Arc::new(RedisWaitingRoom::new(redis_store().await));
    let concert = ConcertId::from_stored(4);
    let mut settings = queue_settings();
    settings.capacity = 100;
    let settings = Arc::new(settings);
    let joins: Vec<_> = (0..150)
        .map(|i| {
            let (room, settings) = (room.clone(), settings.clone());
            tokio::spawn(async move {
                room.join(concert, &user(i), Utc::now(), &settings)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut waiting, mut full) = (0, 0);
    for j in joins {
        match j.await.unwrap() {
            JoinOutcome::Waiting { .. } => waiting += 1,
            JoinOutcome::Full => full += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((waiting, full), (100, 50));
}

#[tokio::test]
async fn admission_takes_the_head_in_order_and_skips_the_abandoned() {
    let room = RedisWaitingRoom::new(redis_store().await);
    let concert = ConcertId::from_stored(5);
    let settings = queue_settings();
    let long_ago = Utc::now() - ChronoDuration::minutes(10);
    room.join(concert, &user(0), long_ago, &settings)
        .await
        .unwrap();
    for i in 1..=4 {
        room.join(concert, &user(i), Utc::now(), &settings)
            .await
            .unwrap();
    }
    let admission = room
        .admit(concert, Utc::now(), &admit_request(2))
        .await
        .unwrap();
    let admitted: Vec<&str> = admission.admitted.iter().map(|a| a.user.as_str()).collect();
    assert_eq!(
        admitted,
        vec!["user-1", "user-2"],
        "user-0 was not seen for ten minutes"
    );
    assert_eq!(admission.dropped, 1);
    assert_eq!(admission.still_waiting, 2);
    assert_eq!(
        room.standing(concert, &user(0), Utc::now()).await.unwrap(),
        Standing::Absent
    );
    assert_eq!(
        room.standing(concert, &user(3), Utc::now()).await.unwrap(),
        Standing::Waiting { rank: 1 }
    );
    let ranks = room.ranks(concert, 0, 10).await.unwrap();
    assert_eq!(ranks, vec![(user(3), 1), (user(4), 2)]);

    // An admitted buyer joining again stays active with the same expiry.
    let a = &admission.admitted[0];
    match room
        .join(concert, &a.user, Utc::now(), &settings)
        .await
        .unwrap()
    {
        JoinOutcome::Active { expires_at } => assert_eq!(expires_at, a.expires_at),
        other => panic!("expected ACTIVE, got {other:?}"),
    }
}

#[tokio::test]
async fn admission_lasts_its_ttl() {
    let room = RedisWaitingRoom::new(redis_store().await);
    let concert = ConcertId::from_stored(6);
    room.join(concert, &user(1), Utc::now(), &queue_settings())
        .await
        .unwrap();
    let mut request = admit_request(5);
    request.active_ttl = Duration::from_secs(30);
    let now = Utc::now();
    let admission = room.admit(concert, now, &request).await.unwrap();
    let a = &admission.admitted[0];
    assert_eq!(
        a.expires_at.timestamp_millis(),
        (now + ChronoDuration::seconds(30)).timestamp_millis()
    );
    assert_eq!(
        room.standing(concert, &a.user, now).await.unwrap(),
        Standing::Active {
            expires_at: a.expires_at
        }
    );
    let later = now + ChronoDuration::seconds(31);
    assert_eq!(
        room.standing(concert, &a.user, later).await.unwrap(),
        Standing::Absent
    );
}

#[tokio::test]
async fn admission_respects_the_active_cap_and_spends_freed_seat_credits() {
    let room = RedisWaitingRoom::new(redis_store().await);
    let concert = ConcertId::from_stored(8);
    for i in 0..10 {
        room.join(concert, &user(i), Utc::now(), &queue_settings())
            .await
            .unwrap();
    }
    let mut request = admit_request(5);
    request.max_active = 3;
    assert_eq!(
        room.admit(concert, Utc::now(), &request)
            .await
            .unwrap()
            .admitted
            .len(),
        3
    );
    assert_eq!(
        room.admit(concert, Utc::now(), &request)
            .await
            .unwrap()
            .admitted
            .len(),
        0,
        "cap reached"
    );
    let freed = [SeatId::from_stored(1), SeatId::from_stored(2)];
    room.credit_freed_seats(concert, &freed).await.unwrap();
    let resale = room.admit(concert, Utc::now(), &request).await.unwrap();
    assert_eq!((resale.admitted.len(), resale.credits_used), (2, 2));
    assert_eq!(
        room.admit(concert, Utc::now(), &request)
            .await
            .unwrap()
            .admitted
            .len(),
        0,
        "credits spent"
    );
    // The same two seats held and cancelled again within a token lifetime earn nothing more.
    room.credit_freed_seats(concert, &freed).await.unwrap();
    room.credit_freed_seats(concert, &freed).await.unwrap();
    let again = room.admit(concert, Utc::now(), &request).await.unwrap();
    assert_eq!((again.admitted.len(), again.credits_used), (0, 0));
}

#[tokio::test]
async fn an_admitted_buyer_who_leaves_keeps_the_slot_counted_and_gets_it_back_on_rejoining() {
    let room = RedisWaitingRoom::new(redis_store().await);
    let concert = ConcertId::from_stored(31);
    let mut request = admit_request(5);
    request.max_active = 1;
    room.join(concert, &user(0), Utc::now(), &queue_settings())
        .await
        .unwrap();
    let first = room.admit(concert, Utc::now(), &request).await.unwrap();
    assert_eq!(first.admitted.len(), 1);
    let expires_at = first.admitted[0].expires_at;
    room.leave(concert, &user(0)).await.unwrap();
    assert_eq!(
        room.standing(concert, &user(0), Utc::now()).await.unwrap(),
        Standing::Absent
    );
    room.join(concert, &user(1), Utc::now(), &queue_settings())
        .await
        .unwrap();
    assert_eq!(
        room.admit(concert, Utc::now(), &request)
            .await
            .unwrap()
            .admitted
            .len(),
        0,
        "the leaver's token still works, so their slot still counts"
    );
    assert_eq!(
        room.join(concert, &user(0), Utc::now(), &queue_settings())
            .await
            .unwrap(),
        JoinOutcome::Active { expires_at },
        "rejoining gives the same admission back, not a second one"
    );
}

#[tokio::test]
async fn leaving_frees_the_place() {
    let room = RedisWaitingRoom::new(redis_store().await);
    let concert = ConcertId::from_stored(9);
    for i in 0..3 {
        room.join(concert, &user(i), Utc::now(), &queue_settings())
            .await
            .unwrap();
    }
    assert!(room.leave(concert, &user(0)).await.unwrap());
    assert!(!room.leave(concert, &user(0)).await.unwrap());
    assert_eq!(
        room.standing(concert, &user(2), Utc::now()).await.unwrap(),
        Standing::Waiting { rank: 2 }
    );
}

#[tokio::test]
async fn the_scheduler_lock_has_one_owner_and_only_the_owner_releases_it() {
    let lock = RedisSchedulerLock::new(redis_store().await);
    assert!(
        lock.try_acquire("job:1", "a", Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        !lock
            .try_acquire("job:1", "b", Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        !lock.release("job:1", "b").await.unwrap(),
        "not b's to release"
    );
    assert!(lock.release("job:1", "a").await.unwrap());
    assert!(
        lock.try_acquire("job:1", "b", Duration::from_millis(100))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        lock.try_acquire("job:1", "c", Duration::from_secs(5))
            .await
            .unwrap(),
        "expired"
    );
}
