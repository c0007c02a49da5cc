//! `ws-connect` and the registry, driven by the events/ sample against DynamoDB.

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use ticketrush_adapters::connections::DynamoDbConnections;
use ticketrush_core::{
    UserId,
    push::{ConnectionId, ConnectionRegistry, Topic, TopicKey},
};
use ticketrush_testkit::{aws_config, events, setting, wiring::Wiring, ws::PushNames};
use ws_connect::{WsConnectFunction, handle};

/// ws-connect on the test's own tables. It needs no database; the test database's URL
/// stands in for the setting.
async fn function(names: &PushNames) -> WsConnectFunction {
    let database_url = setting(
        "TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/ticketrush_test",
    );
    let wiring = Wiring::new(
        &database_url,
        &[
            ("CONNECTIONS_TABLE", &names.connections),
            ("SUBSCRIPTIONS_TABLE", &names.subscriptions),
            ("LIVE_TOPIC_SHARDS", "4"),
        ],
    )
    .await;
    WsConnectFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("ws-connect starts")
}

#[tokio::test]
async fn a_connection_is_recorded_with_its_user_and_hears_the_live_cards() {
    let names = PushNames::new();
    names.provision().await;
    let registry = DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    );
    let f = function(&names).await;
    let event: ApiGatewayWebsocketProxyRequest = events::typed("ws-connect.json");
    assert_eq!(handle(&f, &event).await.status_code, 200);

    let id = ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap();
    let recorded = registry.connection(&id).await.unwrap().expect("recorded");
    assert_eq!(recorded.user, Some(UserId::parse("buyer-1").unwrap()));
    // The TTL attribute is whole epoch seconds, so up to a second is truncated.
    let lifetime = (recorded.expires_at - recorded.connected_at).num_milliseconds();
    assert!(
        (7_199_000..=7_200_000).contains(&lifetime),
        "two hours, got {lifetime} ms"
    );
    let key = TopicKey::for_subscription(Topic::ConcertsLive, &id, None, 4).unwrap();
    assert_eq!(
        registry.subscribers(&key, None).await.unwrap().connections,
        vec![id]
    );

    let mut broken = event.clone();
    broken.request_context.connection_id = None;
    assert_eq!(handle(&f, &broken).await.status_code, 400);
    names.remove().await;
}
