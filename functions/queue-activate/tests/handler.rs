//! The admission tick driven by its events/ sample against real PostgreSQL and Redis.

use std::sync::Arc;

use chrono::Utc;
use queue_activate::{QueueActivateFunction, handle};
use ticketrush_adapters::{
    SystemClock,
    postgres::PostgresCatalog,
    push::LoggingPushPublisher,
    redis::{RedisSchedulerLock, RedisWaitingRoom},
};
use ticketrush_core::{
    UserId,
    queue::{Standing, WaitingRoom},
};
use ticketrush_testkit::{
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create},
    queue_settings, queue_tokens, redis_store,
};

#[tokio::test]
async fn four_concurrent_invocations_of_one_tick_admit_exactly_one_batch() {
    let db = TestDb::new().await;
    let open = create(
        &db.pool,
        &ConcertSpec {
            slug: "open",
            ..Default::default()
        },
    )
    .await;
    let later = create(
        &db.pool,
        &ConcertSpec {
            slug: "later",
            opens_in: Some(chrono::Duration::hours(3)),
            ..Default::default()
        },
    )
    .await;
    let redis = redis_store().await;
    let room = RedisWaitingRoom::new(redis.clone());
    let settings = queue_settings();
    for concert in [open, later] {
        for i in 0..25 {
            let user = UserId::parse(&format!("buyer-{i}")).unwrap();
            room.join(concert, &user, Utc::now(), &settings)
                .await
                .unwrap();
        }
    }
    let f = Arc::new(QueueActivateFunction {
        catalog: PostgresCatalog::new(db.pool.clone()),
        room: room.clone(),
        lock: RedisSchedulerLock::new(redis),
        publisher: LoggingPushPublisher,
        tokens: queue_tokens(),
        clock: SystemClock,
        settings: settings.clone(),
    });
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move {
                handle(
                    &*f,
                    events::scheduled("queue-activate.json"),
                    &format!("invocation-{i}"),
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut summaries = Vec::new();
    for r in runs {
        summaries.push(r.await.unwrap());
    }
    assert_eq!(
        summaries.iter().filter(|s| s.ran).count(),
        1,
        "{summaries:?}"
    );
    assert_eq!(
        summaries.iter().map(|s| s.admitted).sum::<u32>(),
        settings.admit_per_tick
    );
    let ran = summaries.iter().find(|s| s.ran).unwrap();
    assert_eq!(ran.concerts, 1, "only the concert whose sale is open");

    let first = UserId::parse("buyer-0").unwrap();
    assert!(matches!(
        room.standing(open, &first, Utc::now()).await.unwrap(),
        Standing::Active { .. }
    ));
    assert!(matches!(
        room.standing(later, &first, Utc::now()).await.unwrap(),
        Standing::Waiting { rank: 1 }
    ));
    let eleventh = UserId::parse("buyer-10").unwrap();
    assert_eq!(
        room.standing(open, &eleventh, Utc::now()).await.unwrap(),
        Standing::Waiting { rank: 1 }
    );

    // The same tick delivered again later still does nothing.
    let late = handle(
        &*f,
        events::scheduled("queue-activate.json"),
        "invocation-late",
    )
    .await
    .unwrap();
    assert!(!late.ran);
}
