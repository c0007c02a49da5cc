//! `ws-connect` driven by AWS's example WebSocket `$connect` events against DynamoDB: one
//! with a Lambda authorizer's context (its values ours), one without an authorizer.

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use chrono::{Duration, Utc};
use ticketrush_adapters::connections::DynamoDbConnections;
use ticketrush_core::{
    UserId,
    push::{ConnectionId, ConnectionRegistry, Topic, TopicKey},
};
use ticketrush_lambda::websocket::TOKEN_EXPIRES_AT;
use ticketrush_testkit::{aws_config, events, setting, wiring::Wiring, ws::PushNames};
use ws_connect::{WsConnectFunction, handle};

const CONNECT_EVENT: &str = "example-apigw-websocket-request.json";
const ANONYMOUS_CONNECT_EVENT: &str = "example-apigw-websocket-request-without-method.json";

#[tokio::test]
async fn aws_events_record_the_authorizers_caller_or_an_anonymous_viewer() {
    let names = PushNames::new();
    names.provision().await;
    let registry = DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    );
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
            ("LIVE_TOPIC_SHARDS", "4"),
        ],
    )
    .await;
    let f = WsConnectFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("ws-connect starts");

    let expires = (Utc::now() + Duration::minutes(30)).timestamp().to_string();
    let event: ApiGatewayWebsocketProxyRequest = events::aws_typed(CONNECT_EVENT, |e| {
        e.context(&[
            ("principalId", "buyer-1"),
            ("userId", "buyer-1"),
            ("tier", "GOLD"),
            ("admin", "false"),
            (TOKEN_EXPIRES_AT, &expires),
        ])
    });
    assert_eq!(handle(&f, &event).await.status_code, 200);
    let id = ConnectionId::parse(event.request_context.connection_id.as_deref().unwrap()).unwrap();
    let recorded = registry.connection(&id).await.unwrap().expect("recorded");
    assert_eq!(recorded.user, Some(UserId::parse("buyer-1").unwrap()));
    assert_eq!(
        recorded.token_expires_at.map(|t| t.timestamp().to_string()),
        Some(expires)
    );
    let live = TopicKey::for_subscription(Topic::ConcertsLive, &id, None, 4).unwrap();
    assert_eq!(
        registry.subscribers(&live, None).await.unwrap().ids(),
        vec![id]
    );

    let anonymous: ApiGatewayWebsocketProxyRequest =
        events::aws_typed(ANONYMOUS_CONNECT_EVENT, |e| e);
    assert_eq!(handle(&f, &anonymous).await.status_code, 200);
    let id =
        ConnectionId::parse(anonymous.request_context.connection_id.as_deref().unwrap()).unwrap();
    let recorded = registry.connection(&id).await.unwrap().expect("recorded");
    assert_eq!((recorded.user, recorded.token_expires_at), (None, None));
    names.remove().await;
}
