//! The sale-status tick loop driven by its events/ sample (EventBridge Scheduler's payload):
//! real PostgreSQL, Redis and SQS.

use std::{sync::Arc, time::Duration};

use chrono::Duration as ChronoDuration;
use sale_status_tick::{SaleStatusTickFunction, handle};
use ticketrush_adapters::push::decode;
use ticketrush_core::push::PushEvent;
use ticketrush_lambda::{routes::SALE_STATUS_TICK_SCHEDULE, ticks};
use ticketrush_testkit::{
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create},
    wiring::Wiring,
};

#[tokio::test]
async fn four_concurrent_invocations_publish_one_refresh_per_change() {
    let db = TestDb::new().await;
    let open = create(&db.pool, &ConcertSpec::default()).await;
    let soon = create(
        &db.pool,
        &ConcertSpec {
            slug: "soon",
            opens_in: Some(ChronoDuration::minutes(3)),
            ..ConcertSpec::default()
        },
    )
    .await;
    let wiring = Wiring::new(&db.url, &[("SALE_STATUS_TICK_MILLIS", "1000")]).await;
    let f = Arc::new(
        SaleStatusTickFunction::from_env(&wiring.env, &wiring.clients)
            .await
            .expect("sale-status-tick starts"),
    );
    assert_eq!(f.tick, Duration::from_secs(1));
    let event = events::scheduled("sale-status-tick.json");
    let invocation =
        |event, id: String| ticks::invocation(event, id, SALE_STATUS_TICK_SCHEDULE.timeout());
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let (f, event) = (f.clone(), invocation(event.clone(), format!("inv-{i}")));
            tokio::spawn(async move { handle(&f, event).await })
        })
        .collect();
    let mut ran = Vec::new();
    for r in runs {
        ran.push(r.await.unwrap());
    }
    // The sample's minute is long past: each invocation runs its last tick, one gets it.
    assert_eq!(ran.iter().map(|s| s.ran).sum::<u32>(), 1, "{ran:?}");
    assert_eq!(ran.iter().find(|s| s.ran == 1).unwrap().totals.changed, 2);

    // The next minute's tick sees nothing new and publishes nothing.
    let mut next = event.clone();
    next.time += ChronoDuration::minutes(1);
    let quiet = handle(&f, invocation(next, "inv-next".into())).await;
    assert_eq!((quiet.ran, quiet.failed), (1, 0));
    assert_eq!(quiet.totals.changed, 0);

    let events: Vec<PushEvent> = wiring
        .published()
        .await
        .iter()
        .map(|body| decode(body).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    match &events[0] {
        PushEvent::ConcertsRefresh { concerts, .. } => {
            let mut got = concerts.clone();
            got.sort();
            assert_eq!(got, vec![open, soon]);
        }
        other => panic!("{other:?}"),
    }
}
