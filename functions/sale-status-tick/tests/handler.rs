//! The sale-status tick driven by its events/ sample: real PostgreSQL, Redis and SQS.

use std::{sync::Arc, time::Duration};

use chrono::Duration as ChronoDuration;
use sale_status_tick::{SaleStatusTickFunction, handle};
use ticketrush_adapters::push::decode;
use ticketrush_core::push::PushEvent;
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
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let (f, event) = (f.clone(), event.clone());
            tokio::spawn(async move { handle(&f, event, &format!("inv-{i}")).await.unwrap() })
        })
        .collect();
    let mut ran = Vec::new();
    for r in runs {
        ran.push(r.await.unwrap());
    }
    assert_eq!(ran.iter().filter(|s| s.ran).count(), 1);
    assert_eq!(ran.iter().find(|s| s.ran).unwrap().changed, 2);

    // The next tick sees nothing new and publishes nothing.
    let mut next = event.clone();
    next.time += ChronoDuration::seconds(1);
    let quiet = handle(&f, next, "inv-next").await.unwrap();
    assert!(quiet.ran);
    assert_eq!(quiet.changed, 0);

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
