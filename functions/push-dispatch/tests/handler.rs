//! `push-dispatch` driven by the events/ SQS batch: real DynamoDB, Redis, PostgreSQL, and
//! the local runtime's `@connections`.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use push_dispatch::{PushDispatchFunction, handle};
use ticketrush_adapters::{connections::DynamoDbConnections, redis::RedisSeatLocks};
use ticketrush_core::seats::SeatLocks;
use ticketrush_core::{
    PerformanceKey, SeatId, UserId,
    catalog::SeatStatus,
    push::connections::connect,
    push::{Caller, ConnectionId, ConnectionRegistry, Topic, TopicKey},
};
use ticketrush_testkit::{
    aws_config,
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create, first_option},
    runtime::LocalRuntime,
    wiring::Wiring,
    ws::{PushNames, WsClient},
};

/// The test's push tables, 8 concurrent posts over 2 live shards, `throttle_attempts`
/// tries 10 ms apart, up to 1,000 seat changes a push, WebSocket realtime polling every 30 s.
async fn push_wiring(db: &TestDb, names: &PushNames, throttle_attempts: &str) -> Wiring {
    Wiring::new(
        &db.url,
        &[
            ("CONNECTIONS_TABLE", &names.connections),
            ("SUBSCRIPTIONS_TABLE", &names.subscriptions),
            ("PUSH_CONCURRENCY", "8"),
            ("LIVE_TOPIC_SHARDS", "2"),
            ("PUSH_THROTTLE_ATTEMPTS", throttle_attempts),
            ("PUSH_THROTTLE_BACKOFF_MILLIS", "10"),
            ("PUSH_MAX_SEAT_CHANGES", "1000"),
            ("REALTIME_MODE", "websocket"),
            ("HYBRID_POLL_INTERVAL_MILLIS", "30000"),
        ],
    )
    .await
}

/// push-dispatch reaching `@connections` at `endpoint`.
async fn dispatcher(wiring: &Wiring, endpoint: &str) -> PushDispatchFunction {
    PushDispatchFunction::from_env(
        &wiring.env.with("APIGW_MANAGEMENT_ENDPOINT", endpoint),
        &wiring.clients,
    )
    .await
    .expect("push-dispatch starts")
}

#[tokio::test]
async fn a_batch_is_delivered_gone_connections_go_and_only_poison_comes_back() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let names = PushNames::new();
    names.provision().await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let registry = DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    );
    // A buyer whose browser vanished without API Gateway telling us: every push finds it gone.
    let stale = ConnectionId::parse("StaleConnId0=").unwrap();
    let buyer = UserId::parse("buyer-1").unwrap();
    let caller = Caller {
        user: buyer.clone(),
        token_expires_at: Some(Utc::now() + chrono::Duration::minutes(30)),
    };
    connect(&registry, stale.clone(), Some(caller), Utc::now(), 2)
        .await
        .unwrap();
    registry
        .subscribe(
            &TopicKey::personal(Topic::Reservations, &buyer),
            &stale,
            Utc::now() + chrono::Duration::hours(2),
            50,
        )
        .await
        .unwrap();

    let wiring = push_wiring(&db, &names, "3").await;
    let f = dispatcher(&wiring, &rt.base_url).await;
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

    let wiring = push_wiring(&db, &names, "1").await;
    // The seat ledger the dispatcher reads: the same Redis store and key prefix.
    let locks = RedisSeatLocks::new(wiring.redis().await);
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
    let mut event: SqsEvent = events::typed("push-dispatch.json");
    event.records.truncate(1);
    event.records[0].message_id = Some("flush".into());
    event.records[0].body = Some(format!(
        r#"{{"event":"SEATS_CHANGED","concertId":{concert},"optionId":{option}}}"#
    ));

    // @connections unreachable: the flush fails and its message comes back.
    let down = handle(
        &dispatcher(&wiring, "http://127.0.0.1:9").await,
        event.clone(),
    )
    .await;
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
    let up = handle(&dispatcher(&wiring, &rt.base_url).await, event).await;
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

/// An SQS batch of `bodies`, message ids `m0`, `m1`, ...
fn batch(bodies: &[String]) -> SqsEvent {
    let mut event: SqsEvent = events::typed("push-dispatch.json");
    let template = event.records[0].clone();
    event.records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = template.clone();
            record.message_id = Some(format!("m{i}"));
            record.body = Some(body.clone());
            record
        })
        .collect();
    event
}

#[tokio::test]
async fn personal_pushes_stop_at_the_tokens_expiry_and_public_ones_go_on() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let names = PushNames::new();
    names.provision().await;
    // The dispatcher below walks two live shards: the runtime's ws-connect must agree.
    let mut env = names.env();
    env.push(("LIVE_TOPIC_SHARDS", "2".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rt = LocalRuntime::start(&db.url, &pairs).await;
    let registry = DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    );
    let (late, fresh) = (
        UserId::parse("buyer-late").unwrap(),
        UserId::parse("buyer-fresh").unwrap(),
    );
    let mut late_client =
        WsClient::connect(&rt.base_url, Some(&rt.token("buyer-late", "GOLD", false)))
            .await
            .unwrap();
    let mut fresh_client =
        WsClient::connect(&rt.base_url, Some(&rt.token("buyer-fresh", "GOLD", false)))
            .await
            .unwrap();
    for client in [&mut late_client, &mut fresh_client] {
        assert_eq!(client.subscribe("reservations").await["type"], "SUBSCRIBED");
    }

    // buyer-late's token runs out: their connection's record and subscription say so, as
    // they would have had the token been issued with that expiry.
    let key = TopicKey::personal(Topic::Reservations, &late);
    let id = registry
        .subscribers(&key, None)
        .await
        .unwrap()
        .ids()
        .remove(0);
    let mut record = registry.connection(&id).await.unwrap().expect("recorded");
    assert!(
        record.token_expires_at.is_some(),
        "ws-connect recorded the expiry"
    );
    record.token_expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
    registry.register(&record).await.unwrap();
    registry
        .subscribe(&key, &id, record.expires_at, 50)
        .await
        .unwrap();

    let wiring = push_wiring(&db, &names, "3").await;
    let f = dispatcher(&wiring, &rt.base_url).await;
    let status = |user: &UserId| {
        format!(
            r#"{{"event":"RESERVATION_STATUS","userId":"{user}","requestId":"req-{user}","status":"FAILED"}}"#
        )
    };
    let personal = handle(&f, batch(&[status(&late), status(&fresh)])).await;
    assert!(personal.batch_item_failures.is_empty());
    // The cards at an instant of their own, so their message is told from any other refresh.
    let marker = "2030-01-01T00:00:00.000Z";
    let public = handle(
        &f,
        batch(&[format!(
            r#"{{"event":"CONCERTS_REFRESH","concertIds":[{concert}],"at":"{marker}"}}"#
        )]),
    )
    .await;
    assert!(public.batch_item_failures.is_empty());

    let heard = fresh_client
        .next_of("RESERVATION_STATUS", Duration::from_secs(10))
        .await
        .expect("a valid token still hears its own news");
    assert_eq!(heard["payload"]["requestId"], "req-buyer-fresh");
    // Both batches were delivered, in order, before these reads: had the personal one
    // reached the expired connection, it would come before the marked cards.
    let mut before_cards = Vec::new();
    loop {
        let msg = late_client
            .next(Duration::from_secs(10))
            .await
            .expect("the cards reach the expired connection");
        if msg["serverNow"] == marker {
            assert_eq!(msg["type"], "CONCERTS_REFRESH");
            assert_eq!(msg["payload"]["items"][0]["concertId"], concert.get());
            break;
        }
        before_cards.push(msg["type"].clone());
    }
    assert!(
        !before_cards.contains(&"RESERVATION_STATUS".into()),
        "{before_cards:?}"
    );
    assert!(
        registry.connection(&id).await.unwrap().is_some(),
        "an expired token keeps its connection"
    );
    rt.stop().await;
    names.remove().await;
}
