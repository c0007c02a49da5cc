//! End to end: live push through ticketrush-local. Real WebSocket clients, the runtime's
//! WebSocket API and `@connections`, DynamoDB and SQS in the emulator, PostgreSQL and Redis.

use std::{collections::HashMap, time::Duration};

use chrono::Duration as ChronoDuration;
use futures_util::future::join_all;
use serde_json::{Value, json};
use ticketrush_adapters::{
    aws::PushResources,
    connections::DynamoDbConnections,
    push::{SqsPushPublisher, encode},
};
use ticketrush_core::{
    ConcertId, UserId,
    push::{
        Connection, ConnectionId, ConnectionRegistry, PushEvent, PushPublisher, ReservationUpdate,
        Topic, TopicKey,
    },
    queue::ActiveToken,
    reservations::{ReservationId, ReservationStatus},
};
use ticketrush_testkit::{
    aws_config,
    db::TestDb,
    fixtures::{ConcertSpec, create, first_option},
    runtime::LocalRuntime,
    ws::{PushNames, WsClient},
};

/// A runtime with push tables and queues of its own. The push queue keeps its 30 s
/// visibility timeout, so a slow delivery under load is never received twice.
async fn runtime(db: &TestDb, names: &PushNames, extra: &[(&str, &str)]) -> LocalRuntime {
    let env: Vec<(&str, String)> = names.env();
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend_from_slice(extra);
    LocalRuntime::start(&db.url, &pairs).await
}

async fn publisher(names: &PushNames) -> SqsPushPublisher {
    SqsPushPublisher::new(
        aws_sdk_sqs::Client::new(&aws_config().await),
        names.queue.clone(),
    )
}

async fn registry(names: &PushNames) -> DynamoDbConnections {
    DynamoDbConnections::new(
        aws_sdk_dynamodb::Client::new(&aws_config().await),
        &PushResources {
            connections_table: names.connections.clone(),
            subscriptions_table: names.subscriptions.clone(),
            push_queue: names.queue.clone(),
            push_dead_letter_queue: names.dlq.clone(),
            visibility_timeout_secs: 1,
            max_receive_count: 2,
        },
    )
}

fn refresh_says(msg: &Value, concert: ConcertId, status: &str) -> bool {
    msg["type"] == "CONCERTS_REFRESH"
        && msg["payload"]["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| i["concertId"] == concert.get() && i["saleStatus"] == status)
        })
}

#[tokio::test]
async fn every_screen_hears_the_sale_open_exactly_once() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let concert = create(
        &db.pool,
        &ConcertSpec {
            opens_in: Some(ChronoDuration::hours(2)),
            ..ConcertSpec::default()
        },
    )
    .await;
    let rt = runtime(&db, &names, &[]).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.extend(
            join_all((0..50).map(|_| WsClient::connect(&rt.base_url, None)))
                .await
                .into_iter()
                .map(|c| c.expect("connects")),
        );
    }

    // The organiser moves the opening to a few seconds from now: the write itself refreshes
    // the card, and the tick flips it to OPEN at the instant.
    let opens_at = chrono::Utc::now() + ChronoDuration::seconds(4);
    let resp = reqwest::Client::new()
        .put(rt.url(&format!("/api/concerts/{concert}/sales-policy")))
        .bearer_auth(rt.token("organiser", "BASIC", true))
        .json(&json!({
            "generalSaleStartsAt": ticketrush_core::time::format(&opens_at),
            "maxSeatsPerUser": 4,
            "queueGated": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let listen_until = tokio::time::Instant::now() + Duration::from_secs(12);
    let counts: Vec<(usize, usize)> = join_all(clients.into_iter().map(|mut c| async move {
        let (mut soon, mut open) = (0, 0);
        while let Some(msg) = c
            .next(listen_until.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if refresh_says(&msg, concert, "OPEN_SOON_5M") {
                soon += 1;
            }
            if refresh_says(&msg, concert, "OPEN") {
                assert_eq!(msg["payload"]["realtimeMode"], "websocket");
                assert!(msg["payload"]["hybridPollIntervalMillis"].is_u64());
                assert!(msg["serverNow"].is_string());
                assert_eq!(msg["topic"], "concerts.live");
                open += 1;
            }
        }
        (soon, open)
    }))
    .await;
    assert!(
        counts.iter().all(|&(_, open)| open == 1),
        "OPEN refreshes per client: {counts:?}"
    );
    assert!(
        counts.iter().all(|&(soon, _)| soon >= 1),
        "every client heard the policy change: {counts:?}"
    );
    rt.stop().await;
    names.remove().await;
}

#[tokio::test]
async fn a_click_is_seen_as_selecting_and_a_burst_arrives_coalesced() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let concert = create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            rows: 10,
            seats_per_row: 12,
            ..ConcertSpec::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let rt = runtime(&db, &names, &[]).await;
    let mut viewer = WsClient::connect(&rt.base_url, None).await.unwrap();
    let topic = format!("seats.{option}");
    assert_eq!(viewer.subscribe(&topic).await["type"], "SUBSCRIBED");

    let http = reqwest::Client::new();
    let click = |user: String, seat: i64| {
        let http = http.clone();
        let url = rt.url(&format!("/api/options/{option}/seats/{seat}/select"));
        let bearer = rt.token(&user, "BASIC", false);
        async move {
            let resp = http
                .post(url)
                .bearer_auth(bearer)
                .json(&json!({"requestId": format!("r-{user}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
        }
    };
    // Seat ids of the first performance start at the first seat's id.
    let first: i64 = sqlx::query_scalar("SELECT min(id) FROM seats WHERE performance_id = $1")
        .bind(option.get())
        .fetch_one(&db.pool)
        .await
        .unwrap();

    let clicked = tokio::time::Instant::now();
    click("a".into(), first).await;
    let msg = viewer
        .next_of("SEAT_STATUS", Duration::from_secs(5))
        .await
        .expect("a SEAT_STATUS");
    let waited = clicked.elapsed();
    assert_eq!(msg["topic"], topic.as_str());
    assert_eq!(msg["payload"]["optionId"], option.get());
    assert_eq!(
        msg["payload"]["seats"],
        json!([{"seatId": first, "status": "SELECTING"}])
    );
    assert!(waited < Duration::from_secs(1), "seen after {waited:?}");

    // A burst of 100 clicks by 100 buyers.
    join_all((1..=100).map(|i| click(format!("b{i}"), first + i))).await;
    let mut seen: HashMap<i64, String> = HashMap::new();
    let mut messages = 0;
    while seen.len() < 100 {
        let msg = viewer
            .next_of("SEAT_STATUS", Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("only {} of 100 seats seen", seen.len()));
        messages += 1;
        for s in msg["payload"]["seats"].as_array().unwrap() {
            seen.insert(
                s["seatId"].as_i64().unwrap(),
                s["status"].as_str().unwrap().into(),
            );
        }
    }
    assert!(seen.values().all(|s| s == "SELECTING"));
    assert!(
        messages <= 15,
        "100 clicks should arrive as a few coalesced messages, got {messages}"
    );
    rt.stop().await;
    names.remove().await;
}

#[tokio::test]
async fn personal_topics_reach_only_their_user_and_never_an_anonymous_connection() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let rt = runtime(&db, &names, &[]).await;
    // A subscribe must name a concert that exists.
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let queue = format!("queue.{concert}");

    let token_a = rt.token("alice", "BASIC", false);
    let token_b = rt.token("bob", "BASIC", false);
    let mut a = WsClient::connect(&rt.base_url, Some(&token_a))
        .await
        .unwrap();
    let mut b = WsClient::connect(&rt.base_url, Some(&token_b))
        .await
        .unwrap();
    let mut anon = WsClient::connect(&rt.base_url, None).await.unwrap();
    for client in [&mut a, &mut b] {
        assert_eq!(client.subscribe("reservations").await["type"], "SUBSCRIBED");
        assert_eq!(client.subscribe(&queue).await["type"], "SUBSCRIBED");
    }
    for topic in ["reservations", queue.as_str()] {
        let refused = anon.subscribe(topic).await;
        assert_eq!(refused["type"], "ERROR", "{refused}");
        assert_eq!(refused["payload"]["code"], "UNAUTHORIZED");
    }
    // A bad token is refused at the door.
    assert_eq!(
        WsClient::connect(&rt.base_url, Some("not-a-token"))
            .await
            .err(),
        Some(403)
    );
    // Malformed and unknown actions get an ERROR, and the connection stays usable.
    anon.send(json!({"action": "dance"})).await;
    assert_eq!(
        anon.next_of("ERROR", Duration::from_secs(5)).await.unwrap()["payload"]["code"],
        "BAD_MESSAGE"
    );
    anon.send(json!({"action": "subscribe", "topic": "seats.x"}))
        .await;
    assert_eq!(
        anon.next_of("ERROR", Duration::from_secs(5)).await.unwrap()["payload"]["code"],
        "BAD_TOPIC"
    );
    anon.send(json!({"action": "ping"})).await;
    let pong = anon.next_of("PONG", Duration::from_secs(5)).await.unwrap();
    assert!(pong["payload"]["serverNow"].is_string());

    let alice = UserId::parse("alice").unwrap();
    let publisher = publisher(&names).await;
    // One SendMessageBatch carries both.
    publisher
        .publish_all(vec![
            PushEvent::QueueActive {
                concert,
                user: alice.clone(),
                token: ActiveToken::parse("tok-1").unwrap(),
                expires_at: chrono::Utc::now(),
            },
            PushEvent::ReservationStatus {
                user: alice,
                update: ReservationUpdate::Changed {
                    reservation: ReservationId::parse("id", "8f14e45f-ceea-467f-a0e6-2a0b5c1b1a8d")
                        .unwrap(),
                    status: ReservationStatus::Confirmed,
                },
            },
        ])
        .await;
    let heard = a
        .each_of(
            &["QUEUE_ACTIVE", "RESERVATION_STATUS"],
            Duration::from_secs(30),
        )
        .await
        .expect("alice hears her admission and her reservation");
    let active = &heard["QUEUE_ACTIVE"];
    assert_eq!(active["topic"], queue);
    assert_eq!(active["payload"]["activeToken"], "tok-1");
    assert_eq!(
        heard["RESERVATION_STATUS"]["payload"]["status"],
        "CONFIRMED"
    );
    // Both were delivered to alice; anything for bob or the anonymous screen would have
    // been posted in the same dispatch. (The card of the concert created above may come.)
    for (client, wait) in [
        (&mut b, Duration::from_secs(1)),
        (&mut anon, Duration::from_millis(200)),
    ] {
        while let Some(msg) = client.next(wait).await {
            assert_eq!(msg["type"], "CONCERTS_REFRESH", "{msg}");
        }
    }
    rt.stop().await;
    names.remove().await;
}

#[tokio::test]
async fn a_vanished_connection_is_removed_after_the_next_push_and_others_still_hear() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let rt = runtime(
        &db,
        &names,
        &[("LIVE_TOPIC_SHARDS", "2"), ("METRICS_FORMAT", "emf")],
    )
    .await;
    let mut alive = WsClient::connect(&rt.base_url, None).await.unwrap();
    let vanished = WsClient::connect(&rt.base_url, None).await.unwrap();
    vanished.vanish();

    // A connection the API no longer has, whose $disconnect never came: only a push finds out.
    let registry = registry(&names).await;
    let stale = ConnectionId::parse("StaleConnId0=").unwrap();
    let now = chrono::Utc::now();
    registry
        .register(&Connection {
            id: stale.clone(),
            user: None,
            token_expires_at: None,
            connected_at: now,
            expires_at: now + ChronoDuration::hours(2),
        })
        .await
        .unwrap();
    for key in TopicKey::public(Topic::ConcertsLive, 2) {
        registry.subscribe(&key, &stale, now, 50).await.unwrap();
    }

    publisher(&names)
        .await
        .publish(PushEvent::ConcertChanged { concert })
        .await;
    let msg = alive
        .next_of("CONCERTS_REFRESH", Duration::from_secs(30))
        .await
        .expect("the live client still hears");
    assert_eq!(msg["payload"]["items"][0]["concertId"], concert.get());

    let mut removed = false;
    for _ in 0..50 {
        let left: usize = {
            let mut n = 0;
            for key in TopicKey::public(Topic::ConcertsLive, 2) {
                n += registry
                    .subscribers(&key, None)
                    .await
                    .unwrap()
                    .connections
                    .iter()
                    .filter(|c| c.id == stale)
                    .count();
            }
            n
        };
        if left == 0 && registry.connection(&stale).await.unwrap().is_none() {
            removed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        removed,
        "the stale connection and its subscriptions are gone"
    );
    // The vanished client is gone too, and only the live one is still subscribed.
    let mut subscribed = 0;
    for key in TopicKey::public(Topic::ConcertsLive, 2) {
        subscribed += registry
            .subscribers(&key, None)
            .await
            .unwrap()
            .connections
            .len();
    }
    assert_eq!(subscribed, 1);
    // The delivery and the dead connection were counted as metrics (written just after).
    for _ in 0..50 {
        if rt.metric_total("PushesGone") >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rt.metric_total("PushesDelivered") >= 1);
    assert!(rt.metric_total("PushesGone") >= 1);
    assert_eq!(rt.metric_total("PushesFailed"), 0);
    rt.stop().await;
    names.remove().await;
}

#[tokio::test]
async fn a_poisoned_message_does_not_block_its_batch_and_ends_in_the_dlq() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    // A failed message comes back after a second, and its second failure sends it to the DLQ.
    let rt = runtime(
        &db,
        &names,
        &[
            ("PUSH_POLLERS", "1"),
            ("PUSH_VISIBILITY_TIMEOUT_SECS", "1"),
            ("PUSH_MAX_RECEIVE_COUNT", "2"),
        ],
    )
    .await;
    let mut client = WsClient::connect(&rt.base_url, None).await.unwrap();

    let sqs = aws_sdk_sqs::Client::new(&aws_config().await);
    let url = sqs
        .get_queue_url()
        .queue_name(&names.queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let good = encode(&PushEvent::ConcertChanged { concert });
    let mut batch = sqs.send_message_batch().queue_url(&url);
    for (i, body) in [
        good.as_str(),
        "{\"event\":\"NOPE\"}",
        good.as_str(),
        good.as_str(),
    ]
    .iter()
    .enumerate()
    {
        batch = batch.entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(*body)
                .build()
                .unwrap(),
        );
    }
    batch.send().await.unwrap();
    for i in 0..3 {
        client
            .next_of("CONCERTS_REFRESH", Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("refresh {i} of 3 delivered"));
    }

    let dlq = sqs
        .get_queue_url()
        .queue_name(&names.dlq)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let mut dead = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        dead.extend(out.messages.unwrap_or_default());
        if !dead.is_empty() {
            break;
        }
    }
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body.as_deref(), Some("{\"event\":\"NOPE\"}"));
    rt.stop().await;
    names.remove().await;
}

/// A measurement, not a check: the time from publishing one event until the last of N
/// connected clients has it, through the whole local path (SQS in the emulator,
/// push-dispatch, DynamoDB, `@connections`, the sockets). Run with
/// `PUSH_FANOUT_CLIENTS=1000 cargo test -p ticketrush-testkit --test push fanout -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement; run on demand"]
async fn fanout_publish_to_last_receipt() {
    let n: usize = std::env::var("PUSH_FANOUT_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let db = TestDb::new().await;
    let names = PushNames::new();
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let rt = runtime(&db, &names, &[]).await;
    let mut clients = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        clients.extend(
            join_all(chunk.iter().map(|_| WsClient::connect(&rt.base_url, None)))
                .await
                .into_iter()
                .map(|c| c.expect("connects")),
        );
    }
    let publisher = publisher(&names).await;
    for round in 0..3 {
        let started = tokio::time::Instant::now();
        publisher
            .publish(PushEvent::ConcertChanged { concert })
            .await;
        let published = started.elapsed();
        let receipts: Vec<Duration> = join_all(clients.iter_mut().map(|c| async move {
            c.next_of("CONCERTS_REFRESH", Duration::from_secs(60))
                .await
                .expect("every client hears");
            started.elapsed()
        }))
        .await;
        let mut sorted = receipts.clone();
        sorted.sort();
        println!(
            "fanout round {round}: N={n} publish {:?}, first {:?}, p50 {:?}, p99 {:?}, last {:?}",
            published,
            sorted[0],
            sorted[n / 2],
            sorted[n * 99 / 100],
            sorted[n - 1]
        );
    }
    rt.stop().await;
    names.remove().await;
}
