//! `ws-disconnect` driven by AWS's example WebSocket `$disconnect` event against DynamoDB,
//! unchanged: its connection id is the one the test connects.

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use chrono::Utc;
use ticketrush_adapters::connections::DynamoDbConnections;
use ticketrush_core::{
    OptionId,
    push::{ConnectionId, ConnectionRegistry, Topic, TopicKey, connections::connect},
};
use ticketrush_testkit::{aws_config, events, setting, wiring::Wiring, ws::PushNames};
use ws_disconnect::{WsDisconnectFunction, handle};

const DISCONNECT_EVENT: &str = "example-apigw-websocket-request-disconnect-route.json";

#[tokio::test]
async fn aws_event_removes_the_connection_and_its_subscriptions() {
    let names = PushNames::new();
    names.provision().await;
    let registry = DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    );
    let event: ApiGatewayWebsocketProxyRequest = events::aws_typed(DISCONNECT_EVENT, |e| e);
    let id = ConnectionId::parse(event.request_context.connection_id.as_deref().unwrap()).unwrap();
    let now = Utc::now();
    connect(&registry, id.clone(), None, now, 4).await.unwrap();
    let seats = TopicKey::public(Topic::Seats(OptionId::from_stored(3)), 4).remove(0);
    registry.subscribe(&seats, &id, now, 50).await.unwrap();

    // It needs no database; the test database's URL stands in for the setting.
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
    let f = WsDisconnectFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("ws-disconnect starts");
    assert_eq!(handle(&f, &event).await.status_code, 200);
    assert!(registry.connection(&id).await.unwrap().is_none());
    assert!(
        registry
            .subscribers(&seats, None)
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
