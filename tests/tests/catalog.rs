//! End to end: ticketrush-local as a process, real HTTP, real PostgreSQL, Redis and the
//! AWS emulator.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use ticketrush_core::Tier;
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create, first_option, take_seats},
    http::{Caller, send},
    proxy::FaultProxy,
    runtime::{LocalRuntime, TEST_JWT_SECRET, token_with},
};

const CARD_FIELDS: [&str; 13] = [
    "concertId",
    "title",
    "artist",
    "venue",
    "saleStatus",
    "saleOpensAt",
    "saleOpensInSeconds",
    "reservationButtonVisible",
    "reservationButtonEnabled",
    "reservationButtonLabel",
    "availableSeatCount",
    "totalSeatCount",
    "remainingRate",
];

async fn get(client: &Client, url: &str) -> (StatusCode, Option<String>, Value) {
    let answer = send(client, reqwest::Method::GET, url, Caller::anonymous(), None).await;
    (
        StatusCode::from_u16(answer.status).expect("a status"),
        answer.content_type,
        answer.body,
    )
}

#[tokio::test]
async fn search_returns_live_cards_with_every_field() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "a",
            title: "Alpha Night",
            venue: "North Hall",
            ..Default::default()
        },
    )
    .await;
    let soon = create(
        &db.pool,
        &ConcertSpec {
            slug: "b",
            title: "Bravo Live",
            artist: "The Bravos",
            venue: "South Arena",
            opens_in: Some(Duration::minutes(4)),
            performances_in_days: &[30],
            ..Default::default()
        },
    )
    .await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "c",
            title: "Charlie",
            opens_in: None,
            ..Default::default()
        },
    )
    .await;
    let sold = create(
        &db.pool,
        &ConcertSpec {
            slug: "d",
            title: "Delta Sold",
            ..Default::default()
        },
    )
    .await;
    take_seats(
        &db.pool,
        first_option(&db.pool, sold).await,
        20,
        "CONFIRMED",
    )
    .await;

    let rt = LocalRuntime::start(
        &db.url,
        &[
            ("REALTIME_MODE", "hybrid"),
            ("HYBRID_POLL_INTERVAL_MILLIS", "20000"),
        ],
    )
    .await;
    let client = Client::new();
    let (status, ct, json) = get(
        &client,
        &rt.url("/api/concerts/search?size=2&sort=saleOpensAt"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("application/json"));
    for field in [
        "items",
        "page",
        "size",
        "totalElements",
        "totalPages",
        "hasNext",
        "serverNow",
        "realtimeMode",
        "hybridPollIntervalMillis",
    ] {
        assert!(json.get(field).is_some(), "response lacks {field}: {json}");
    }
    assert_eq!(json["totalElements"], 4);
    assert_eq!(json["totalPages"], 2);
    assert_eq!(json["hasNext"], true);
    assert_eq!(json["realtimeMode"], "hybrid");
    assert_eq!(json["hybridPollIntervalMillis"], 20000);
    let server_now: DateTime<Utc> = json["serverNow"].as_str().unwrap().parse().unwrap();
    assert!((Utc::now() - server_now).num_milliseconds().abs() < 1000);
    for card in json["items"].as_array().unwrap() {
        for field in CARD_FIELDS {
            assert!(card.get(field).is_some(), "card lacks {field}: {card}");
        }
    }

    let (_, _, all) = get(&client, &rt.url("/api/concerts/search?size=100")).await;
    let status_of = |title: &str| {
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["title"] == title)
            .unwrap()["saleStatus"]
            .clone()
    };
    assert_eq!(status_of("Alpha Night"), "OPEN");
    assert_eq!(status_of("Bravo Live"), "OPEN_SOON_5M");
    assert_eq!(status_of("Charlie"), "UNSCHEDULED");
    assert_eq!(status_of("Delta Sold"), "SOLD_OUT");

    // Filters: text, venue, status, performance dates.
    let ids = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["concertId"].as_i64().unwrap())
            .collect()
    };
    let (_, _, by_artist) = get(&client, &rt.url("/api/concerts/search?q=bravos")).await;
    assert_eq!(ids(&by_artist), vec![soon.get()]);
    let (_, _, by_venue) = get(&client, &rt.url("/api/concerts/search?venue=north")).await;
    assert_eq!(by_venue["totalElements"], 1);
    let (_, _, by_status) = get(&client, &rt.url("/api/concerts/search?status=SOLD_OUT")).await;
    assert_eq!(ids(&by_status), vec![sold.get()]);
    let from = (Utc::now() + Duration::days(20)).format("%Y-%m-%d");
    let (_, _, by_date) = get(
        &client,
        &rt.url(&format!("/api/concerts/search?from={from}")),
    )
    .await;
    assert_eq!(ids(&by_date), vec![soon.get()]);
    let (_, _, by_title) = get(&client, &rt.url("/api/concerts/search?sort=title,desc")).await;
    let titles: Vec<&str> = by_title["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        vec!["Delta Sold", "Charlie", "Bravo Live", "Alpha Night"]
    );
    rt.stop().await;
}

#[tokio::test]
async fn a_card_turns_open_at_its_opening_instant() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "soon",
            opens_in: Some(Duration::seconds(2)),
            ..Default::default()
        },
    )
    .await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let client = Client::new();
    let (_, _, before) = get(&client, &rt.url("/api/concerts/search")).await;
    let card = &before["items"][0];
    assert_eq!(card["saleStatus"], "OPEN_SOON_5M");
    assert_eq!(card["reservationButtonEnabled"], false);
    let opens_at: DateTime<Utc> = card["saleOpensAt"].as_str().unwrap().parse().unwrap();
    let wait = (opens_at - Utc::now()).to_std().unwrap_or_default() + StdDuration::from_millis(50);
    tokio::time::sleep(wait).await;
    let (_, _, after) = get(&client, &rt.url("/api/concerts/search")).await;
    let card = &after["items"][0];
    assert_eq!(card["saleStatus"], "OPEN");
    assert_eq!(card["saleOpensInSeconds"], 0);
    assert_eq!(card["reservationButtonEnabled"], true);
    rt.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_problem_that_names_it() {
    let db = TestDb::new().await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let client = Client::new();
    for (query, field) in [
        ("size=1000", "size"),
        ("page=-1", "page"),
        ("sort=bogus", "sort"),
        ("status=MAYBE", "status"),
        ("from=tomorrow", "from"),
    ] {
        let (status, ct, json) =
            get(&client, &rt.url(&format!("/api/concerts/search?{query}"))).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
        assert_eq!(json["code"], "VALIDATION_FAILED");
        assert_eq!(json["field"], field);
        assert!(
            json["detail"].as_str().unwrap().starts_with(field),
            "{json}"
        );
    }
    let (status, _, json) = get(&client, &rt.url("/api/concerts/abc")).await;
    assert_eq!(
        (status, json["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("id"))
    );
    let (status, _, json) = get(&client, &rt.url("/api/concerts/999")).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    let (status, _, json) = get(&client, &rt.url("/api/options/999/seats")).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    let (status, _, json) = get(&client, &rt.url("/api/options/1/seats?size=5000")).await;
    assert_eq!(
        (status, json["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("size"))
    );
    let (status, _, _) = get(&client, &rt.url("/api/nowhere")).await;
    assert_eq!(status, 404);
    let resp = client
        .delete(rt.url("/api/concerts/search"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);

    // Tokens are checked before any handler runs, the way the route's authorizer would: on a
    // public route the Lambda authorizer, whose refusal API Gateway answers with 403.
    let expired = token_with(TEST_JWT_SECRET, "u1", "GOLD", false, -60);
    let forged = token_with("some-other-secret-entirely", "u1", "GOLD", false, 600);
    for header in [
        "Bearer not.a.jwt",
        "Basic dXNlcjpwYXNz",
        &format!("Bearer {expired}"),
        &format!("Bearer {forged}"),
    ] {
        let resp = client
            .get(rt.url("/api/concerts/search"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{header}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let json: Value = resp.json().await.unwrap();
        assert_eq!(json["code"], "FORBIDDEN");
    }
    rt.stop().await;
}

#[tokio::test]
async fn presale_is_open_for_members_at_or_above_its_tier_only() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "presale",
            opens_in: Some(Duration::days(3)),
            presale: Some((Duration::minutes(-10), Tier::Gold)),
            ..Default::default()
        },
    )
    .await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let client = Client::new();
    let status_for = |token: Option<String>| {
        let client = client.clone();
        let url = rt.url("/api/concerts/search");
        async move {
            let mut req = client.get(url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let json: Value = req.send().await.unwrap().json().await.unwrap();
            json["items"][0]["saleStatus"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(status_for(None).await, "PREOPEN");
    assert_eq!(
        status_for(Some(rt.token("s", "SILVER", false))).await,
        "PREOPEN"
    );
    assert_eq!(status_for(Some(rt.token("g", "GOLD", false))).await, "OPEN");
    assert_eq!(status_for(Some(rt.token("v", "VIP", false))).await, "OPEN");
    rt.stop().await;
}

#[tokio::test]
async fn stopped_postgres_gets_503_and_the_runtime_recovers() {
    let db = TestDb::new().await;
    create(&db.pool, &ConcertSpec::default()).await;
    let proxy = FaultProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let rt = LocalRuntime::start(&db.url_via(proxy.addr), &[]).await;
    let client = Client::new();
    let (status, _, _) = get(&client, &rt.url("/api/concerts/search")).await;
    assert_eq!(status, 200);

    proxy.cut();
    let resp = client
        .get(rt.url("/api/concerts/search"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(resp.headers()["retry-after"], "2");
    let json: Value = resp.json().await.unwrap();
    assert_eq!(json["code"], "UNAVAILABLE");
    assert!(
        !json["detail"].as_str().unwrap().contains("5432"),
        "no internals leak: {json}"
    );
    let health = client.get(rt.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["dependencies"]["postgres"]["reachable"], false);
    assert_eq!(health["dependencies"]["redis"]["reachable"], true);

    proxy.restore().await;
    let mut recovered = false;
    for _ in 0..50 {
        if client
            .get(rt.url("/api/concerts/search"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(recovered, "search answers again once PostgreSQL is back");
    let health = client.get(rt.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    rt.stop().await;
}

#[tokio::test]
async fn sample_catalog_loads_idempotently_with_every_status() {
    let db = TestDb::new().await;
    let setup = || {
        let url = db.url.clone();
        async move {
            let out = tokio::process::Command::new(ticketrush_testkit::runtime::local_binary())
                .args(["setup", "--samples"])
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../samples/catalog.json"
                ))
                .envs(ticketrush_testkit::runtime::base_env(&url))
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "setup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    setup().await;
    let count = |sql: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let (concerts, seats) = (
        count("SELECT count(*) FROM concerts").await,
        count("SELECT count(*) FROM seats").await,
    );
    assert!(concerts >= 20, "{concerts} concerts");
    assert!(seats >= 50_000, "{seats} seats");
    setup().await;
    assert_eq!(count("SELECT count(*) FROM concerts").await, concerts);
    assert_eq!(count("SELECT count(*) FROM seats").await, seats);
    assert_eq!(
        count("SELECT count(*) FROM performances").await,
        count("SELECT count(DISTINCT performance_id) FROM seats").await
    );

    let rt = LocalRuntime::start(&db.url, &[]).await;
    let (_, _, json) = get(&Client::new(), &rt.url("/api/concerts/search?size=100")).await;
    let statuses: std::collections::HashSet<&str> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["saleStatus"].as_str().unwrap())
        .collect();
    for s in [
        "UNSCHEDULED",
        "PREOPEN",
        "OPEN_SOON_1H",
        "OPEN_SOON_5M",
        "OPEN",
        "SOLD_OUT",
        "CLOSED",
    ] {
        assert!(
            statuses.contains(s),
            "no sample concert is {s}: {statuses:?}"
        );
    }
    let presale_label = json["items"].as_array().unwrap().iter().any(|c| {
        c["reservationButtonLabel"]
            .as_str()
            .unwrap()
            .starts_with("Presale for")
    });
    assert!(presale_label, "a presale card is in the samples");
    rt.stop().await;
}

#[tokio::test]
async fn an_operator_opens_a_sale_and_the_card_follows() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            opens_in: None,
            ..Default::default()
        },
    )
    .await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let client = Client::new();
    let card = || {
        let (client, url) = (client.clone(), rt.url("/api/concerts/search"));
        async move {
            let json: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            json["items"][0]["saleStatus"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(card().await, "UNSCHEDULED");
    let policy = serde_json::json!({
        "generalSaleStartsAt": (Utc::now() - Duration::minutes(1)).to_rfc3339(),
        "maxSeatsPerUser": 2,
    });
    let url = rt.url(&format!("/api/concerts/{concert}/sales-policy"));
    let refused = client
        .put(&url)
        .bearer_auth(rt.token("fan", "VIP", false))
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let saved = client
        .put(&url)
        .bearer_auth(rt.token("ops", "VIP", true))
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    assert_eq!(card().await, "OPEN");
    let read: Value = client
        .get(&url)
        .bearer_auth(rt.token("ops", "VIP", true))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["maxSeatsPerUser"], 2);
    assert_eq!(read["queueGated"], true);
    rt.stop().await;
}
