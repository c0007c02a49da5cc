//! `ws-message` driven by the events/ sample: DynamoDB for subscriptions, the local
//! runtime's `@connections` for the reply (the sample's connection is not one of its
//! sockets, so the reply finds it gone, as API Gateway would answer).

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use ticketrush_adapters::connections::DynamoDbConnections;
use ticketrush_core::{
    UserId,
    push::{ConnectionId, ConnectionRegistry, Topic, TopicKey},
};
use ticketrush_testkit::{
    aws_config, db::TestDb, events, runtime::LocalRuntime, wiring::Wiring, ws::PushNames,
};
use ws_message::{WsMessageFunction, handle};

#[tokio::test]
async fn personal_topics_take_the_user_from_the_authorizer_only() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    names.provision().await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let registry = DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    );
    let wiring = Wiring::new(
        &db.url,
        &[
            ("CONNECTIONS_TABLE", &names.connections),
            ("SUBSCRIPTIONS_TABLE", &names.subscriptions),
            ("APIGW_MANAGEMENT_ENDPOINT", &rt.base_url),
            ("LIVE_TOPIC_SHARDS", "4"),
        ],
    )
    .await;
    let f = WsMessageFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("ws-message starts");
    let id = ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap();
    let mine = TopicKey::personal(Topic::Reservations, &UserId::parse("buyer-1").unwrap());

    let event: ApiGatewayWebsocketProxyRequest = events::typed("ws-message.json");
    assert_eq!(handle(&f, &event).await.status_code, 200);
    assert_eq!(
        registry.subscribers(&mine, None).await.unwrap().connections,
        vec![id.clone()]
    );

    // Without the authorizer's user the same message subscribes nothing, whatever it says.
    let mut anonymous = event.clone();
    anonymous.request_context.authorizer.fields.clear();
    anonymous.request_context.connection_id = Some("AnonConnId00=".into());
    anonymous.body =
        Some(r#"{"action":"subscribe","topic":"reservations","userId":"buyer-1"}"#.into());
    assert_eq!(handle(&f, &anonymous).await.status_code, 200);
    assert_eq!(
        registry.subscribers(&mine, None).await.unwrap().connections,
        vec![id.clone()]
    );

    // Garbage is answered, not crashed on.
    let mut garbage = event.clone();
    garbage.body = Some("{{{".into());
    assert_eq!(handle(&f, &garbage).await.status_code, 200);

    let mut leave = event.clone();
    leave.body = Some(r#"{"action":"unsubscribe","topic":"reservations"}"#.into());
    assert_eq!(handle(&f, &leave).await.status_code, 200);
    assert!(
        registry
            .subscribers(&mine, None)
            .await
            .unwrap()
            .connections
            .is_empty()
    );
    rt.stop().await;
    names.remove().await;
}
