//! `ws-message` driven by the events/ sample: DynamoDB for subscriptions, PostgreSQL for the
//! topics that exist, the local runtime's `@connections` for the reply (the sample's
//! connection is not one of its sockets, so the reply finds it gone, as API Gateway would
//! answer). Then a browser of the local runtime, which reads the replies.

use std::time::Duration;

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use chrono::Utc;
use serde_json::json;
use ticketrush_adapters::connections::DynamoDbConnections;
use ticketrush_core::{
    ConcertId, OptionId, UserId,
    push::{Caller, ConnectionId, ConnectionRegistry, Topic, TopicKey, connections::connect},
};
use ticketrush_lambda::websocket::TOKEN_EXPIRES_AT;
use ticketrush_testkit::{
    aws_config,
    db::TestDb,
    events,
    fixtures::{ConcertSpec, create, first_option},
    runtime::LocalRuntime,
    wiring::Wiring,
    ws::{PushNames, WsClient},
};
use ws_message::{WsMessageFunction, handle};

const SAMPLE_CONNECTION: &str = "L0SM9cOFvHcCIhw=";

async fn registry(names: &PushNames) -> DynamoDbConnections {
    DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    )
}

/// ws-message on the test's tables, holding at most `max` subscriptions a connection.
async fn function(
    db: &TestDb,
    names: &PushNames,
    rt: &LocalRuntime,
    max: &str,
) -> WsMessageFunction {
    let wiring = Wiring::new(
        &db.url,
        &[
            ("CONNECTIONS_TABLE", &names.connections),
            ("SUBSCRIPTIONS_TABLE", &names.subscriptions),
            ("APIGW_MANAGEMENT_ENDPOINT", &rt.base_url),
            ("LIVE_TOPIC_SHARDS", "4"),
            ("WS_MAX_SUBSCRIPTIONS", max),
        ],
    )
    .await;
    WsMessageFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("ws-message starts")
}

/// The sample event with `body` as the browser's message.
fn message(body: serde_json::Value) -> ApiGatewayWebsocketProxyRequest {
    let mut event: ApiGatewayWebsocketProxyRequest = events::typed("ws-message.json");
    event.body = Some(body.to_string());
    event
}

async fn subscribed(registry: &DynamoDbConnections, key: &TopicKey) -> Vec<ConnectionId> {
    registry.subscribers(key, None).await.unwrap().ids()
}

#[tokio::test]
async fn personal_topics_take_the_user_from_the_authorizer_only() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    names.provision().await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let registry = registry(&names).await;
    let f = function(&db, &names, &rt, "50").await;
    let id = ConnectionId::parse(SAMPLE_CONNECTION).unwrap();
    let buyer = UserId::parse("buyer-1").unwrap();
    let token_expires_at = Utc::now() + chrono::Duration::minutes(30);
    let caller = Caller {
        user: buyer.clone(),
        token_expires_at: Some(token_expires_at),
    };
    connect(&registry, id.clone(), Some(caller), Utc::now(), 4)
        .await
        .unwrap();
    let mine = TopicKey::personal(Topic::Reservations, &buyer);

    let mut event: ApiGatewayWebsocketProxyRequest = events::typed("ws-message.json");
    event.request_context.authorizer.fields.insert(
        TOKEN_EXPIRES_AT.into(),
        token_expires_at.timestamp().to_string().into(),
    );
    assert_eq!(handle(&f, &event).await.status_code, 200);
    let page = registry.subscribers(&mine, None).await.unwrap();
    assert_eq!(page.ids(), vec![id.clone()]);
    assert_eq!(
        page.connections[0].token_expires_at.map(|t| t.timestamp()),
        Some(token_expires_at.timestamp()),
        "the subscription carries the connection's token expiry"
    );

    // Without the authorizer's user the same message subscribes nothing, whatever it says.
    let anon = ConnectionId::parse("AnonConnId00=").unwrap();
    connect(&registry, anon.clone(), None, Utc::now(), 4)
        .await
        .unwrap();
    let mut anonymous = event.clone();
    anonymous.request_context.authorizer.fields.clear();
    anonymous.request_context.connection_id = Some(anon.to_string());
    anonymous.body =
        Some(r#"{"action":"subscribe","topic":"reservations","userId":"buyer-1"}"#.into());
    assert_eq!(handle(&f, &anonymous).await.status_code, 200);
    assert_eq!(subscribed(&registry, &mine).await, vec![id.clone()]);

    // A token that has expired subscribes to nothing personal.
    let mut expired = event.clone();
    expired.request_context.authorizer.fields.insert(
        TOKEN_EXPIRES_AT.into(),
        (Utc::now().timestamp() - 1).to_string().into(),
    );
    expired.body = Some(r#"{"action":"subscribe","topic":"queue.7"}"#.into());
    assert_eq!(handle(&f, &expired).await.status_code, 200);
    let queue = TopicKey::personal(Topic::Queue(ConcertId::from_stored(7)), &buyer);
    assert!(subscribed(&registry, &queue).await.is_empty());

    // Garbage is answered, not crashed on.
    let mut garbage = event.clone();
    garbage.body = Some("{{{".into());
    assert_eq!(handle(&f, &garbage).await.status_code, 200);

    let mut leave = event.clone();
    leave.body = Some(r#"{"action":"unsubscribe","topic":"reservations"}"#.into());
    assert_eq!(handle(&f, &leave).await.status_code, 200);
    assert!(subscribed(&registry, &mine).await.is_empty());
    rt.stop().await;
    names.remove().await;
}

#[tokio::test]
async fn a_subscribe_names_a_performance_that_exists_within_the_limit() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let option = first_option(&db.pool, concert).await;
    let names = PushNames::new();
    names.provision().await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let registry = registry(&names).await;
    // Three a connection: `concerts.live` from the connect, and two more.
    let f = function(&db, &names, &rt, "3").await;
    let id = ConnectionId::parse(SAMPLE_CONNECTION).unwrap();
    connect(&registry, id.clone(), None, Utc::now(), 4)
        .await
        .unwrap();
    let seats = |o: OptionId| TopicKey::public(Topic::Seats(o), 4).remove(0);
    let mut viewer = message(json!({}));
    viewer.request_context.authorizer.fields.clear();
    let send = |body: serde_json::Value| {
        let mut event = viewer.clone();
        event.body = Some(body.to_string());
        event
    };

    let unknown = OptionId::from_stored(option.get() + 1_000_000);
    let answer = handle(
        &f,
        &send(json!({"action": "subscribe", "topic": format!("seats.{unknown}")})),
    )
    .await;
    assert_eq!(answer.status_code, 200);
    assert!(subscribed(&registry, &seats(unknown)).await.is_empty());

    assert_eq!(
        handle(
            &f,
            &send(json!({"action": "subscribe", "topic": format!("seats.{option}")}))
        )
        .await
        .status_code,
        200
    );
    assert_eq!(
        subscribed(&registry, &seats(option)).await,
        vec![id.clone()]
    );

    // A second concert's performance is the third subscription; a third concert's is refused.
    let others: Vec<OptionId> = {
        let mut ids = Vec::new();
        for slug in ["second", "third"] {
            let c = create(
                &db.pool,
                &ConcertSpec {
                    slug,
                    ..ConcertSpec::default()
                },
            )
            .await;
            ids.push(first_option(&db.pool, c).await);
        }
        ids
    };
    for o in &others {
        handle(
            &f,
            &send(json!({"action": "subscribe", "topic": format!("seats.{o}")})),
        )
        .await;
    }
    assert_eq!(
        subscribed(&registry, &seats(others[0])).await,
        vec![id.clone()]
    );
    assert!(
        subscribed(&registry, &seats(others[1])).await.is_empty(),
        "the fourth subscription is refused"
    );

    // Leaving one makes room.
    handle(
        &f,
        &send(json!({"action": "unsubscribe", "topic": format!("seats.{option}")})),
    )
    .await;
    handle(
        &f,
        &send(json!({"action": "subscribe", "topic": format!("seats.{}", others[1])})),
    )
    .await;
    assert_eq!(subscribed(&registry, &seats(others[1])).await, vec![id]);
    rt.stop().await;
    names.remove().await;
}

#[tokio::test]
async fn a_browser_is_told_why_a_subscribe_was_refused() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let option = first_option(&db.pool, concert).await;
    let names = PushNames::new();
    names.provision().await;
    let mut env: Vec<(&str, String)> = names.env();
    env.push(("WS_MAX_SUBSCRIPTIONS", "3".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rt = LocalRuntime::start(&db.url, &pairs).await;
    let token = rt.token("buyer-1", "GOLD", false);
    let mut client = WsClient::connect(&rt.base_url, Some(&token)).await.unwrap();

    let refused = client.subscribe("seats.987654321").await;
    assert_eq!(refused["type"], "ERROR");
    assert_eq!(refused["topic"], "seats.987654321");
    assert_eq!(refused["payload"]["code"], "UNKNOWN_TOPIC");
    let refused = client.subscribe("queue.987654321").await;
    assert_eq!(refused["payload"]["code"], "UNKNOWN_TOPIC");

    assert_eq!(
        client.subscribe(&format!("seats.{option}")).await["type"],
        "SUBSCRIBED"
    );
    assert_eq!(
        client.subscribe(&format!("queue.{concert}")).await["type"],
        "SUBSCRIBED"
    );
    let full = client.subscribe("reservations").await;
    assert_eq!(full["type"], "ERROR");
    assert_eq!(full["payload"]["code"], "TOO_MANY_SUBSCRIPTIONS");

    client
        .send(json!({"action": "unsubscribe", "topic": format!("seats.{option}")}))
        .await;
    assert_eq!(
        client
            .next_of("UNSUBSCRIBED", Duration::from_secs(10))
            .await
            .expect("unsubscribed")["topic"],
        format!("seats.{option}")
    );
    assert_eq!(client.subscribe("reservations").await["type"], "SUBSCRIBED");
    rt.stop().await;
    names.remove().await;
}
