//! `push-dispatch` driven by the events/ SQS batch: real DynamoDB, Redis, PostgreSQL, and
//! the local runtime's `@connections`.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use push_dispatch::{PushDispatchFunction, handle};
use ticketrush_adapters::{
    SystemClock,
    connections::DynamoDbConnections,
    postgres::PostgresCatalog,
    push::{ApiGatewayPusher, TokioPause},
    redis::RedisSeatLocks,
};
use ticketrush_core::seats::SeatLocks;
use ticketrush_core::{
    PerformanceKey, SeatId, UserId,
    catalog::SeatStatus,
    connections::connect,
    dispatch::DispatchSettings,
    push::{ConnectionId, ConnectionRegistry, Topic, TopicKey},
    realtime::{RealtimeMode, RealtimeSettings},
};
use ticketrush_testkit::{
    aws_config,
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create, first_option},
    redis_store,
    runtime::LocalRuntime,
    ws::{PushNames, WsClient},
};

#[tokio::test]
async fn a_batch_is_delivered_gone_connections_go_and_only_poison_comes_back() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let names = PushNames::new();
    names.provision().await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let sdk = aws_config().await;
    let registry =
        DynamoDbConnections::new(aws_sdk_dynamodb::Client::new(&sdk), &names.resources());
    // A buyer whose browser vanished without API Gateway telling us: every push finds it gone.
    let stale = ConnectionId::parse("StaleConnId0=").unwrap();
    let buyer = UserId::parse("buyer-1").unwrap();
    connect(&registry, stale.clone(), Some(buyer.clone()), Utc::now(), 2)
        .await
        .unwrap();
    registry
        .subscribe(
            &TopicKey::personal(Topic::Reservations, &buyer),
            &stale,
            Utc::now(),
        )
        .await
        .unwrap();

    let f = PushDispatchFunction {
        registry: registry.clone(),
        pusher: ApiGatewayPusher::new(&sdk, &rt.base_url),
        locks: RedisSeatLocks::new(redis_store().await),
        catalog: PostgresCatalog::new(db.pool.clone()),
        pause: TokioPause,
        clock: SystemClock,
        settings: DispatchSettings {
            concurrency: 8,
            live_shards: 2,
            throttle_attempts: 3,
            throttle_backoff: Duration::from_millis(10),
            max_seat_changes: 1_000,
            realtime: RealtimeSettings {
                realtime_mode: RealtimeMode::Websocket,
                hybrid_poll_interval_millis: 30_000,
            },
        },
    };
    let mut event: SqsEvent = events::typed("push-dispatch.json");
    event.records[0].body = Some(format!(
        r#"{{"event":"CONCERT_CHANGED","concertId":{concert}}}"#
    ));
    let mut poison = event.records[1].clone();
    poison.message_id = Some("poison".into());
    poison.body = Some("not an event".into());
    event.records.push(poison);

    let response = handle(&f, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["poison"]);
    assert!(registry.connection(&stale).await.unwrap().is_none());
    rt.stop().await;
    names.remove().await;
}

#[tokio::test]
async fn a_seat_flush_whose_first_delivery_fails_is_pushed_again_on_redelivery() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let option = first_option(&db.pool, concert).await;
    let names = PushNames::new();
    names.provision().await;
    let env = names.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rt = LocalRuntime::start(&db.url, &pairs).await;
    let mut viewer = WsClient::connect(&rt.base_url, None).await.unwrap();
    let topic = format!("seats.{option}");
    assert_eq!(viewer.subscribe(&topic).await["type"], "SUBSCRIBED");

    let sdk = aws_config().await;
    let registry =
        DynamoDbConnections::new(aws_sdk_dynamodb::Client::new(&sdk), &names.resources());
    let locks = RedisSeatLocks::new(redis_store().await);
    let seat: i64 = sqlx::query_scalar("SELECT min(id) FROM seats WHERE performance_id = $1")
        .bind(option.get())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    locks
        .record_ledger(
            PerformanceKey { concert, option },
            &UserId::parse("holder").unwrap(),
            &[(SeatId::from_stored(seat), SeatStatus::Hold)],
            Duration::from_millis(1),
        )
        .await
        .unwrap();
    let dispatcher = |endpoint: &str| PushDispatchFunction {
        registry: registry.clone(),
        pusher: ApiGatewayPusher::new(&sdk, endpoint),
        locks: locks.clone(),
        catalog: PostgresCatalog::new(db.pool.clone()),
        pause: TokioPause,
        clock: SystemClock,
        settings: DispatchSettings {
            concurrency: 8,
            live_shards: 2,
            throttle_attempts: 1,
            throttle_backoff: Duration::from_millis(10),
            max_seat_changes: 1_000,
            realtime: RealtimeSettings {
                realtime_mode: RealtimeMode::Websocket,
                hybrid_poll_interval_millis: 30_000,
            },
        },
    };
    let mut event: SqsEvent = events::typed("push-dispatch.json");
    event.records.truncate(1);
    event.records[0].message_id = Some("flush".into());
    event.records[0].body = Some(format!(
        r#"{{"event":"SEATS_CHANGED","concertId":{concert},"optionId":{option}}}"#
    ));

    // @connections unreachable: the flush fails and its message comes back.
    let down = handle(&dispatcher("http://127.0.0.1:9"), event.clone()).await;
    let failed: Vec<&str> = down
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["flush"]);
    assert!(
        viewer
            .next_of("SEAT_STATUS", Duration::from_millis(300))
            .await
            .is_none()
    );

    // The redelivery pushes the same change.
    let up = handle(&dispatcher(&rt.base_url), event).await;
    assert!(up.batch_item_failures.is_empty());
    let msg = viewer
        .next_of("SEAT_STATUS", Duration::from_secs(5))
        .await
        .expect("the redelivered flush pushes the change");
    assert_eq!(
        msg["payload"]["seats"],
        serde_json::json!([{"seatId": seat, "status": "HOLD"}])
    );
    rt.stop().await;
    names.remove().await;
}
