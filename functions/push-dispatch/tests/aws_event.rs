//! `push-dispatch` driven by AWS's example SQS event: the message ids and bodies are ours.
//! Real DynamoDB, Redis, PostgreSQL, and the local runtime's `@connections`.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use push_dispatch::{PushDispatchFunction, handle};
use ticketrush_adapters::connections::DynamoDbConnections;
use ticketrush_core::{
    UserId,
    push::{Caller, ConnectionId, ConnectionRegistry, connections::connect},
};
use ticketrush_testkit::{
    aws_config,
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create},
    runtime::LocalRuntime,
    wiring::Wiring,
    ws::PushNames,
};

const SQS_EVENT: &str = "example-sqs-event.json";

#[tokio::test]
async fn aws_event_is_delivered_and_only_its_unreadable_message_comes_back() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let names = PushNames::new();
    names.provision().await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let registry = DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    );
    // A viewer whose browser vanished without API Gateway telling us: the push finds it gone.
    let stale = ConnectionId::parse("StaleConnId0=").unwrap();
    let caller = Caller {
        user: UserId::parse("buyer-1").unwrap(),
        token_expires_at: Some(Utc::now() + chrono::Duration::minutes(30)),
    };
    connect(&registry, stale.clone(), Some(caller), Utc::now(), 2)
        .await
        .unwrap();
    let wiring = Wiring::new(
        &db.url,
        &[
            ("CONNECTIONS_TABLE", &names.connections),
            ("SUBSCRIPTIONS_TABLE", &names.subscriptions),
            ("LIVE_TOPIC_SHARDS", "2"),
            ("APIGW_MANAGEMENT_ENDPOINT", &rt.base_url),
        ],
    )
    .await;
    let f = PushDispatchFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("push-dispatch starts");

    let changed = format!(r#"{{"event":"CONCERT_CHANGED","concertId":{concert}}}"#);
    let mut event: SqsEvent =
        events::aws_typed(SQS_EVENT, |e| e.messages(&[("changed", &changed)]));
    // AWS's record as it is: its body ("Message Body") is no event of ours.
    let untouched: SqsEvent = events::aws_typed(SQS_EVENT, |e| e);
    event.records.extend(untouched.records);

    let response = handle(&f, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["MessageID_1"]);
    assert!(
        registry.connection(&stale).await.unwrap().is_none(),
        "the refresh reached the connection and found it gone"
    );
    rt.stop().await;
    names.remove().await;
}
