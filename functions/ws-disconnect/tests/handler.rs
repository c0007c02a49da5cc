//! `ws-disconnect` driven by the events/ sample against DynamoDB.

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use chrono::Utc;
use ticketrush_adapters::connections::DynamoDbConnections;
use ticketrush_core::{
    push::connections::connect,
    push::{ConnectionId, ConnectionRegistry, Topic, TopicKey},
};
use ticketrush_testkit::{aws_config, events, setting, wiring::Wiring, ws::PushNames};
use ws_disconnect::{WsDisconnectFunction, handle};

/// ws-disconnect on the test's own tables. It needs no database; the test database's URL
/// stands in for the setting.
async fn function(names: &PushNames) -> WsDisconnectFunction {
    let database_url = setting(
        "TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/ticketrush_test",
    );
    let wiring = Wiring::new(
        &database_url,
        &[
            ("CONNECTIONS_TABLE", &names.connections),
            ("SUBSCRIPTIONS_TABLE", &names.subscriptions),
        ],
    )
    .await;
    WsDisconnectFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("ws-disconnect starts")
}

#[tokio::test]
async fn a_connection_and_all_its_subscriptions_go() {
    let names = PushNames::new();
    names.provision().await;
    let registry = DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    );
    let id = ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap();
    let now = Utc::now();
    connect(&registry, id.clone(), None, now, 4).await.unwrap();
    let seats = TopicKey::public(Topic::Seats(ticketrush_core::OptionId::from_stored(3)), 4);
    registry.subscribe(&seats[0], &id, now, 50).await.unwrap();

    let f = function(&names).await;
    let event: ApiGatewayWebsocketProxyRequest = events::typed("ws-disconnect.json");
    assert_eq!(handle(&f, &event).await.status_code, 200);
    assert!(registry.connection(&id).await.unwrap().is_none());
    assert!(
        registry
            .subscribers(&seats[0], None)
            .await
            .unwrap()
            .connections
            .is_empty()
    );
    for key in TopicKey::public(Topic::ConcertsLive, 4) {
        assert!(
            registry
                .subscribers(&key, None)
                .await
                .unwrap()
                .connections
                .is_empty()
        );
    }
    names.remove().await;
}
