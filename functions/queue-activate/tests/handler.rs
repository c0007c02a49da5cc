//! The admission tick loop driven by its events/ sample (EventBridge Scheduler's payload)
//! against real PostgreSQL and Redis.

use std::sync::Arc;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::Utc;
use lambda_runtime::LambdaEvent;
use queue_activate::{QueueActivateFunction, handle};
use serde_json::{Value, json};
use ticketrush_adapters::redis::RedisWaitingRoom;
use ticketrush_core::{
    UserId,
    queue::{Standing, WaitingRoom},
};
use ticketrush_lambda::{routes::QUEUE_ACTIVATE_SCHEDULE, ticks};
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
            tokio::spawn(async move { handle(&f, invocation(&format!("invocation-{i}"))).await })
        })
        .collect();
    let mut summaries = Vec::new();
    for r in runs {
        summaries.push(r.await.unwrap());
    }
    // The sample's minute is long past: each invocation runs its last tick, and only one of
    // them gets it.
    let ran: u32 = summaries.iter().map(|s| s.ran).sum();
    let taken: u32 = summaries.iter().map(|s| s.taken).sum();
    assert_eq!((ran, taken), (1, 3), "{summaries:?}");
    assert!(
        summaries.iter().all(|s| s.failed == 0 && s.passed == 59),
        "{summaries:?}"
    );
    let ran = summaries.iter().find(|s| s.ran == 1).unwrap();
    assert_eq!(ran.totals.admitted, settings.admit_per_tick);
    assert_eq!(
        ran.totals.concerts, 1,
        "only the concert whose sale is open"
    );

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
    let late = handle(&f, invocation("invocation-late")).await;
    assert_eq!((late.ran, late.taken), (0, 1));
}

/// The sample (EventBridge Scheduler's payload) as Lambda hands it over: a request id and a
/// deadline of the function's timeout.
fn invocation(request_id: &str) -> LambdaEvent<CloudWatchEvent> {
    ticks::invocation(
        events::scheduled("queue-activate.json"),
        request_id,
        QUEUE_ACTIVATE_SCHEDULE.timeout(),
    )
}

#[tokio::test]
async fn the_handler_takes_the_scheduler_string_detail_and_a_rule_object_detail() {
    let db = TestDb::new().await;
    let wiring = Wiring::new(&db.url, &QUEUE_ENV).await;
    let f = QueueActivateFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("queue-activate starts");
    let scheduler: Value = serde_json::from_str(&events::text("queue-activate.json")).unwrap();
    assert_eq!(
        scheduler["detail"],
        json!("{}"),
        "EventBridge Scheduler sends a string"
    );
    assert_eq!(scheduler["source"], json!("aws.scheduler"));
    // An EventBridge rule (AWS's example scheduled event) sends an object instead.
    let mut rule = scheduler.clone();
    rule["detail"] = json!({});
    rule["source"] = json!("aws.events");
    rule["time"] = json!("2026-11-21T06:05:00Z");
    for (name, payload) in [("scheduler", scheduler), ("rule", rule)] {
        let event: CloudWatchEvent = serde_json::from_value(payload).expect(name);
        let summary = handle(
            &f,
            ticks::invocation(event, name, QUEUE_ACTIVATE_SCHEDULE.timeout()),
        )
        .await;
        assert_eq!((summary.ran, summary.failed), (1, 0), "{name}: {summary:?}");
    }
}
