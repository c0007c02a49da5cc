//! `ws-message` driven by AWS's example WebSocket event as a `subscribe` message: the route
//! key, the body and the authorizer context's values are ours. DynamoDB for subscriptions,
//! PostgreSQL for the topics that exist, the local runtime's `@connections` for the reply
//! (the event's connection is none of its sockets, so the reply finds it gone, as API
//! Gateway would answer).

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use chrono::{Duration, Utc};
use serde_json::json;
use ticketrush_adapters::connections::DynamoDbConnections;
use ticketrush_core::{
    UserId,
    push::{Caller, ConnectionId, ConnectionRegistry, Topic, TopicKey, connections::connect},
};
use ticketrush_lambda::websocket::TOKEN_EXPIRES_AT;
use ticketrush_testkit::{
    aws_config,
    db::TestDb,
    events::{self, AwsEvent},
    fixtures::{ConcertSpec, create, first_option},
    runtime::LocalRuntime,
    wiring::Wiring,
    ws::PushNames,
};
use ws_message::{WsMessageFunction, handle};

const MESSAGE_EVENT: &str = "example-apigw-websocket-request.json";

fn subscribe(e: AwsEvent, topic: &str) -> AwsEvent {
    e.ws_route("subscribe")
        .body(&json!({"action": "subscribe", "topic": topic}))
}

#[tokio::test]
async fn aws_event_subscribes_public_topics_and_personal_ones_for_the_authorizers_caller() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let option = first_option(&db.pool, concert).await;
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

    let buyer = UserId::parse("buyer-1").unwrap();
    let expires_at = Utc::now() + Duration::minutes(30);
    let expires = expires_at.timestamp().to_string();
    let mine = |e: AwsEvent| {
        e.context(&[
            ("principalId", "buyer-1"),
            ("userId", "buyer-1"),
            ("tier", "GOLD"),
            ("admin", "false"),
            (TOKEN_EXPIRES_AT, &expires),
        ])
    };
    let event: ApiGatewayWebsocketProxyRequest =
        events::aws_typed(MESSAGE_EVENT, |e| mine(subscribe(e, "reservations")));
    let id = ConnectionId::parse(event.request_context.connection_id.as_deref().unwrap()).unwrap();
    let caller = Caller {
        user: buyer.clone(),
        token_expires_at: Some(expires_at),
    };
    connect(&registry, id.clone(), Some(caller), Utc::now(), 4)
        .await
        .unwrap();

    assert_eq!(handle(&f, &event).await.status_code, 200);
    let personal = TopicKey::personal(Topic::Reservations, &buyer);
    assert_eq!(
        registry.subscribers(&personal, None).await.unwrap().ids(),
        vec![id.clone()]
    );

    // AWS's own context names no user: public topics only.
    let seats = format!("seats.{option}");
    let public: ApiGatewayWebsocketProxyRequest =
        events::aws_typed(MESSAGE_EVENT, |e| subscribe(e, &seats));
    assert_eq!(handle(&f, &public).await.status_code, 200);
    let key = TopicKey::public(Topic::Seats(option), 4).remove(0);
    assert_eq!(
        registry.subscribers(&key, None).await.unwrap().ids(),
        vec![id.clone()]
    );
    let queue: ApiGatewayWebsocketProxyRequest =
        events::aws_typed(MESSAGE_EVENT, |e| subscribe(e, &format!("queue.{concert}")));
    assert_eq!(handle(&f, &queue).await.status_code, 200);
    let queue_key = TopicKey::personal(Topic::Queue(concert), &buyer);
    assert!(
        registry
            .subscribers(&queue_key, None)
            .await
            .unwrap()
            .ids()
            .is_empty()
    );
    rt.stop().await;
    names.remove().await;
}
