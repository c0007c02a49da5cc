//! End to end: the shared search cache in ticketrush-local. A sales-policy write evicts it
//! and that eviction's push reaches a connected page; with the catalog unchanged, searches
//! are answered from Redis without PostgreSQL.

use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use serde_json::{Value, json};
use ticketrush_adapters::redis::{RedisPublishedStatuses, RedisStore};
use ticketrush_core::{ConcertId, status_tick::PublishedStatuses};
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create},
    proxy::FaultProxy,
    redis_store,
    runtime::LocalRuntime,
    ws::{PushNames, WsClient},
};

const PATIENCE: Duration = Duration::from_secs(30);
/// Far longer than any test runs: a cached search can only change through an eviction.
const LONG_CACHE: &str = "60000";

async fn search(rt: &LocalRuntime, query: &str) -> (u16, Value) {
    let resp = reqwest::get(rt.url(&format!("/api/concerts/search{query}")))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn status_of(page: &Value, concert: ConcertId) -> Option<String> {
    page["items"]
        .as_array()?
        .iter()
        .find(|c| c["concertId"] == concert.get())
        .and_then(|c| c["saleStatus"].as_str())
        .map(str::to_owned)
}

/// Waits until the sale-status tick has told screens every concert's status: from then
/// on, with nothing changing, no tick evicts the cache.
async fn statuses_published(rt: &LocalRuntime, concerts: usize) {
    let statuses = RedisPublishedStatuses::new(RedisStore {
        prefix: rt.redis_prefix.clone(),
        ..redis_store().await
    });
    tokio::time::timeout(PATIENCE, async {
        loop {
            if statuses.load().await.unwrap().len() >= concerts {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the first sale-status tick runs");
}

#[tokio::test]
async fn a_policy_write_evicts_pushes_and_the_next_search_shows_it() {
    let db = TestDb::new().await;
    let names = PushNames::new();
    let concert = create(
        &db.pool,
        &ConcertSpec {
            opens_in: None,
            ..Default::default()
        },
    )
    .await;
    let mut env: Vec<(&str, String)> = names.env();
    env.push(("SEARCH_CACHE_MILLIS", LONG_CACHE.into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rt = LocalRuntime::start(&db.url, &pairs).await;
    statuses_published(&rt, 1).await;
    let (_, before) = search(&rt, "").await;
    assert_eq!(status_of(&before, concert).as_deref(), Some("UNSCHEDULED"));
    let mut page = WsClient::connect(&rt.base_url, None).await.unwrap();

    let resp = reqwest::Client::new()
        .put(rt.url(&format!("/api/concerts/{concert}/sales-policy")))
        .bearer_auth(rt.token("organiser", "BASIC", true))
        .json(&json!({
            "generalSaleStartsAt": ticketrush_core::time::format(&(Utc::now() - ChronoDuration::minutes(1))),
            "maxSeatsPerUser": 4,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);

    let pushed = tokio::time::timeout(PATIENCE, async {
        loop {
            let msg = page
                .next_of("CONCERTS_REFRESH", PATIENCE)
                .await
                .expect("a refresh");
            if status_of(&msg["payload"], concert).as_deref() == Some("OPEN") {
                return msg;
            }
        }
    })
    .await
    .expect("the page hears the policy change");
    assert_eq!(pushed["topic"], "concerts.live");
    // The cached search would keep UNSCHEDULED for a minute: only the eviction explains this.
    let (status, after) = search(&rt, "").await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&after, concert).as_deref(), Some("OPEN"));
    rt.stop().await;
    names.remove().await;
}

#[tokio::test]
async fn repeated_searches_of_an_unchanged_catalog_read_no_postgres() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let proxy = FaultProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let rt = LocalRuntime::start(
        &db.url_via(proxy.addr),
        &[("SEARCH_CACHE_MILLIS", LONG_CACHE)],
    )
    .await;
    statuses_published(&rt, 1).await;
    let (status, first) = search(&rt, "?q=spec&size=5").await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&first, concert).as_deref(), Some("OPEN"));

    // PostgreSQL unreachable: every search of the cached filter, whatever its paging,
    // sorting or status filter (applied after the store), still answers the same cards.
    proxy.cut();
    for query in [
        "?q=spec&size=5",
        "?q=SPEC",
        "?q=spec&sort=title,desc",
        "?q=spec&status=OPEN",
    ] {
        for _ in 0..5 {
            let (status, page) = search(&rt, query).await;
            assert_eq!(status, 200, "{query}: {page}");
            assert_eq!(page["items"], first["items"], "{query}");
        }
    }
    // A filter nobody searched yet needs the store, which is gone: the cut is real.
    let (status, problem) = search(&rt, "?q=nobody-searched-this").await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "UNAVAILABLE");
    proxy.restore().await;
    rt.stop().await;
}
