//! End to end: the waiting room through ticketrush-local, with its admission tick.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use reqwest::Client;
use serde_json::Value;
use ticketrush_core::{
    ConcertId, UserId,
    queue::{ActiveToken, TokenCheckError, require_active_token},
};
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create},
    http::{Caller, send},
    queue_tokens,
    runtime::LocalRuntime,
};

async fn call(
    client: &Client,
    method: reqwest::Method,
    url: String,
    token: &str,
) -> (u16, Value, Option<String>) {
    let answer = send(client, method, &url, Caller::bearer(token), None).await;
    (answer.status, answer.body, answer.retry_after)
}

#[tokio::test]
async fn join_wait_for_the_tick_and_hold_a_usable_token() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let rt = LocalRuntime::start(
        &db.url,
        &[("QUEUE_TICK_MILLIS", "200"), ("QUEUE_ADMIT_PER_TICK", "1")],
    )
    .await;
    let client = Client::new();
    let tokens: Vec<String> = (0..3)
        .map(|i| rt.token(&format!("fan-{i}"), "BASIC", false))
        .collect();
    for t in &tokens {
        let (status, json, _) = call(
            &client,
            reqwest::Method::POST,
            rt.url(&format!("/api/queue/{concert}/join")),
            t,
        )
        .await;
        assert_eq!(status, 200, "{json}");
        assert!(
            json["status"] == "WAITING" || json["status"] == "ACTIVE",
            "{json}"
        );
    }
    // One admission per tick: all three are active within a few ticks, in arrival order.
    let mut admitted: Vec<(usize, String)> = Vec::new();
    for _ in 0..100 {
        for (i, t) in tokens.iter().enumerate() {
            if admitted.iter().any(|(j, _)| *j == i) {
                continue;
            }
            let (_, json, _) = call(
                &client,
                reqwest::Method::GET,
                rt.url(&format!("/api/queue/{concert}/status")),
                t,
            )
            .await;
            if json["status"] == "ACTIVE" {
                assert!(json["activeExpiresAt"].is_string());
                admitted.push((i, json["activeToken"].as_str().unwrap().to_owned()));
            }
        }
        if admitted.len() == 3 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_eq!(
        admitted.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![0, 1, 2],
        "first come, first served"
    );

    // The token is what the seat functions will check: valid for this buyer and concert only.
    let tokens = queue_tokens();
    let token = ActiveToken::parse(&admitted[0].1).unwrap();
    let fan0 = UserId::parse("fan-0").unwrap();
    let gate = |concert: ConcertId, user: &UserId| {
        require_active_token(&tokens, true, concert, user, Some(&token), Utc::now())
    };
    assert_eq!(gate(concert, &fan0), Ok(()));
    assert_eq!(
        gate(concert, &UserId::parse("fan-1").unwrap()),
        Err(TokenCheckError::Required)
    );
    assert_eq!(
        gate(ConcertId::from_stored(concert.get() + 1), &fan0),
        Err(TokenCheckError::Required)
    );
    rt.stop().await;
}

#[tokio::test]
async fn join_is_refused_clearly_when_it_cannot_be_served() {
    let db = TestDb::new().await;
    let far = create(
        &db.pool,
        &ConcertSpec {
            slug: "far",
            opens_in: Some(Duration::days(2)),
            ..Default::default()
        },
    )
    .await;
    let soon = create(
        &db.pool,
        &ConcertSpec {
            slug: "soon",
            opens_in: Some(Duration::minutes(4)),
            ..Default::default()
        },
    )
    .await;
    let rt = LocalRuntime::start(&db.url, &[("QUEUE_CAPACITY", "2")]).await;
    let client = Client::new();
    let post = |concert: ConcertId, user: &str| {
        let url = rt.url(&format!("/api/queue/{concert}/join"));
        let token = rt.token(user, "BASIC", false);
        let client = client.clone();
        async move { call(&client, reqwest::Method::POST, url, &token).await }
    };
    let (status, json, _) = post(far, "a").await;
    assert_eq!(
        (status, json["code"].as_str()),
        (409, Some("SALE_NOT_OPEN"))
    );
    assert_eq!(post(soon, "a").await.0, 200);
    assert_eq!(post(soon, "b").await.0, 200);
    let (status, json, retry) = post(soon, "c").await;
    assert_eq!((status, json["code"].as_str()), (429, Some("QUEUE_FULL")));
    assert!(retry.is_some());
    let (status, json, _) = post(ConcertId::from_stored(9_999), "a").await;
    assert_eq!((status, json["code"].as_str()), (404, Some("NOT_FOUND")));
    let anonymous = client
        .post(rt.url(&format!("/api/queue/{soon}/join")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    rt.stop().await;
}

#[tokio::test]
async fn stopped_redis_gets_503_and_nothing_is_lost_or_doubled() {
    let db = TestDb::new().await;
    // Opens in minutes: joins are accepted, the tick admits nobody, ranks stay put.
    let concert = create(
        &db.pool,
        &ConcertSpec {
            opens_in: Some(Duration::minutes(4)),
            ..Default::default()
        },
    )
    .await;
    let (proxy, proxied) = ticketrush_testkit::proxy::test_redis_behind_proxy().await;
    let rt = LocalRuntime::start(
        &db.url,
        &[("REDIS_URL", &proxied), ("REDIS_TIMEOUT_MS", "300")],
    )
    .await;
    let client = Client::new();
    let join = |i: usize| {
        let url = rt.url(&format!("/api/queue/{concert}/join"));
        let token = rt.token(&format!("fan-{i}"), "BASIC", false);
        let client = client.clone();
        async move { call(&client, reqwest::Method::POST, url, &token).await }
    };
    let status = |i: usize| {
        let url = rt.url(&format!("/api/queue/{concert}/status"));
        let token = rt.token(&format!("fan-{i}"), "BASIC", false);
        let client = client.clone();
        async move { call(&client, reqwest::Method::GET, url, &token).await }
    };
    for i in 0..5 {
        assert_eq!(join(i).await.1["rank"], i + 1);
    }

    proxy.cut();
    for (code, json, retry) in [join(5).await, status(0).await] {
        assert_eq!(code, 503, "{json}");
        assert_eq!(json["code"], "UNAVAILABLE");
        assert!(retry.is_some());
    }

    proxy.restore().await;
    let mut back = false;
    for _ in 0..50 {
        if status(0).await.0 == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(back, "the waiting room answers again once Redis is back");
    for i in 0..5 {
        assert_eq!(status(i).await.1["rank"], i + 1, "fan-{i} kept their place");
    }
    let (_, json, _) = join(5).await;
    assert_eq!(json["rank"], 6, "the refused join was not half-written");
    assert_eq!(join(2).await.1["rank"], 3, "no duplicate place");
    rt.stop().await;
}
