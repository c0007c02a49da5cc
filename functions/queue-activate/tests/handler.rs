//! The admission tick driven by its events/ sample against real PostgreSQL and Redis.

use std::sync::Arc;

use chrono::Utc;
use queue_activate::{QueueActivateFunction, handle};
use ticketrush_adapters::redis::RedisWaitingRoom;
use ticketrush_core::{
    UserId,
    queue::{Standing, WaitingRoom},
};
use ticketrush_testkit::{
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create},
    queue_settings,
    wiring::Wiring,
};

/// The env that yields `testkit::queue_settings()`.
const QUEUE_ENV: [(&str, &str); 9] = [
    ("QUEUE_CAPACITY", "100000"),
    ("QUEUE_ADMIT_PER_TICK", "10"),
    ("QUEUE_MAX_ACTIVE", "1000"),
    ("QUEUE_ACTIVE_TTL_SECS", "60"),
    ("QUEUE_ABANDON_AFTER_SECS", "60"),
    ("QUEUE_TICK_MILLIS", "1000"),
    ("QUEUE_JOIN_LIMIT", "10"),
    ("QUEUE_JOIN_WINDOW_SECS", "10"),
    ("QUEUE_RANK_PUSH_PER_TICK", "100"),
];

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
    let wiring = Wiring::new(&db.url, &QUEUE_ENV).await;
    let room = RedisWaitingRoom::new(wiring.redis().await);
    let settings = queue_settings();
    for concert in [open, later] {
        for i in 0..25 {
            let user = UserId::parse(&format!("buyer-{i}")).unwrap();
            room.join(concert, &user, Utc::now(), &settings)
                .await
                .unwrap();
        }
    }
    let f = Arc::new(
        QueueActivateFunction::from_env(&wiring.env, &wiring.clients)
            .await
            .expect("queue-activate starts"),
    );
    assert_eq!(f.settings, settings);
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move {
                handle(
                    &f,
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
        &f,
        events::scheduled("queue-activate.json"),
        "invocation-late",
    )
    .await
    .unwrap();
    assert!(!late.ran);
}
