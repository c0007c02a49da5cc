//! `ws-connect` and the registry, driven by the events/ sample against DynamoDB.

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use chrono::{Duration, Utc};
use ticketrush_adapters::connections::DynamoDbConnections;
use ticketrush_core::{
    OptionId, UserId,
    push::{ConnectionId, ConnectionRegistry, SubscribeOutcome, Topic, TopicKey},
};
use ticketrush_lambda::websocket::TOKEN_EXPIRES_AT;
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
async fn a_connection_is_recorded_with_its_user_and_token_expiry_and_hears_the_live_cards() {
    let names = PushNames::new();
    names.provision().await;
    let registry = DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &names.resources(),
    );
    let f = function(&names).await;
    let mut event: ApiGatewayWebsocketProxyRequest = events::typed("ws-connect.json");
    // The token's expiry, as ws-authorize passes it in its context.
    let token_expires_at = Utc::now() + Duration::minutes(30);
    event.request_context.authorizer.fields.insert(
        TOKEN_EXPIRES_AT.into(),
        token_expires_at.timestamp().to_string().into(),
    );
    assert_eq!(handle(&f, &event).await.status_code, 200);

    let id = ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap();
    let recorded = registry.connection(&id).await.unwrap().expect("recorded");
    assert_eq!(recorded.user, Some(UserId::parse("buyer-1").unwrap()));
    assert_eq!(
        recorded.token_expires_at.map(|t| t.timestamp()),
        Some(token_expires_at.timestamp())
    );
    // The TTL attribute is whole epoch seconds, so up to a second is truncated.
    let lifetime = (recorded.expires_at - recorded.connected_at).num_milliseconds();
    assert!(
        (7_199_000..=7_200_000).contains(&lifetime),
        "two hours, got {lifetime} ms"
    );
    let key = TopicKey::for_subscription(Topic::ConcertsLive, &id, None, 4).unwrap();
    let live = registry.subscribers(&key, None).await.unwrap().connections;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, id);
    assert_eq!(live[0].token_expires_at, recorded.token_expires_at);

    let mut broken = event.clone();
    broken.request_context.connection_id = None;
    assert_eq!(handle(&f, &broken).await.status_code, 400);
    let mut bad_expiry = event.clone();
    bad_expiry
        .request_context
        .authorizer
        .fields
        .insert(TOKEN_EXPIRES_AT.into(), "soon".into());
    assert_eq!(handle(&f, &bad_expiry).await.status_code, 400);
    names.remove().await;
}

#[tokio::test]
async fn the_registry_bounds_a_connections_subscriptions_even_when_they_race() {
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
    let until = Utc::now() + Duration::hours(2);
    let seats = |i: i64| TopicKey::public(Topic::Seats(OptionId::from_stored(i)), 4).remove(0);

    // Twenty subscribes at once to a connection that may hold five, `concerts.live` included.
    let mut racing = tokio::task::JoinSet::new();
    for i in 1..=20 {
        let (registry, id, key) = (registry.clone(), id.clone(), seats(i));
        racing.spawn(async move { (i, registry.subscribe(&key, &id, until, 5).await.unwrap()) });
    }
    let mut outcomes = racing.join_all().await;
    outcomes.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<SubscribeOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    let held = outcomes
        .iter()
        .filter(|o| **o == SubscribeOutcome::Subscribed)
        .count();
    assert_eq!(held, 4, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, SubscribeOutcome::Subscribed | SubscribeOutcome::Full))
    );
    let mut written = 0;
    for i in 1..=20 {
        written += registry
            .subscribers(&seats(i), None)
            .await
            .unwrap()
            .connections
            .len();
    }
    assert_eq!(written, 4, "a refused subscribe writes nothing");

    // Subscribing again under a key it holds is fine when full; leaving one makes room.
    let mine = (1..=20)
        .find(|i| outcomes[(*i - 1) as usize] == SubscribeOutcome::Subscribed)
        .unwrap();
    let other = (1..=20)
        .find(|i| outcomes[(*i - 1) as usize] == SubscribeOutcome::Full)
        .unwrap();
    assert_eq!(
        registry
            .subscribe(&seats(mine), &id, until, 5)
            .await
            .unwrap(),
        SubscribeOutcome::Subscribed
    );
    registry.unsubscribe(&seats(mine), &id).await.unwrap();
    assert_eq!(
        registry
            .subscribe(&seats(other), &id, until, 5)
            .await
            .unwrap(),
        SubscribeOutcome::Subscribed
    );

    // A connection that is not registered gets nothing, and no record appears for it.
    let gone = ConnectionId::parse("GoneConnId00=").unwrap();
    assert_eq!(
        registry
            .subscribe(&seats(1), &gone, until, 5)
            .await
            .unwrap(),
        SubscribeOutcome::NoConnection
    );
    registry.unsubscribe(&seats(1), &gone).await.unwrap();
    assert!(registry.connection(&gone).await.unwrap().is_none());
    assert!(
        !registry
            .subscribers(&seats(1), None)
            .await
            .unwrap()
            .ids()
            .contains(&gone)
    );
    names.remove().await;
}
