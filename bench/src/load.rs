use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use ticketrush_adapters::{
    config::{Env, PostgresConfig, RedisConfig, Secret},
    postgres::{PostgresCatalog, connect_lazy},
    queue_tokens::HmacQueueTokens,
    redis::{RedisSeatLocks, RedisStore, RedisWaitingRoom},
};
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, SeatId, UserId,
    catalog::{CatalogRepository, SearchParams, SearchQuery},
    queue::{QueueTokens, WaitingRoom},
    seats::{LockTerms, RequestId, SeatLocks, SelectOutcome},
};

use crate::server::{BENCH_JWT_SECRET, BENCH_QUEUE_TOKEN_SECRET, BENCH_REDIS_PREFIX, Server};

#[derive(Clone, Copy)]
pub struct Bounds {
    pub duration: Duration,
    pub max_requests: usize,
}

/// What one measurement saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub latencies_us: Vec<u64>,
}

impl Measured {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

/// Runs `work(i)` from `concurrency` tasks until either bound is reached.
pub(crate) async fn drive<F, Fut>(concurrency: usize, bounds: Bounds, work: F) -> Measured
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let work = Arc::new(work);
    let issued = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + bounds.duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (work, issued) = (work.clone(), issued.clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                loop {
                    let i = issued.fetch_add(1, Ordering::Relaxed);
                    if i >= bounds.max_requests || Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    if !work(i).await {
                        errors += 1;
                    }
                    lat.push(t.elapsed().as_micros() as u64);
                }
                (lat, errors)
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("load task");
        latencies_us.extend(lat);
        errors += e;
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    Measured {
        requests: latencies_us.len(),
        errors,
        seconds,
        latencies_us,
    }
}

const SEARCHES: &[&str] = &[
    "/api/concerts/search?size=20&sort=saleOpensAt",
    "/api/concerts/search?size=10&page=1&sort=title,desc",
    "/api/concerts/search?q=live&size=20",
    "/api/concerts/search?status=OPEN&size=20",
    "/api/concerts/search?venue=hall&sort=startsAt",
];

pub(crate) fn token(user: &str) -> String {
    let now = Utc::now().timestamp();
    let claims = serde_json::json!({
        "sub": user, "tier": "BASIC", "iss": "ticketrush-local", "aud": "ticketrush", "iat": now, "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(BENCH_JWT_SECRET.as_bytes()),
    )
    .expect("sign")
}

/// A concert whose sale is open, for the join path.
pub(crate) async fn open_concert(
    catalog: &PostgresCatalog,
) -> Result<ConcertId, Box<dyn std::error::Error>> {
    let now = Utc::now();
    catalog
        .listings(&Default::default())
        .await?
        .into_iter()
        .find(|l| l.card(now, None).sale_status == ticketrush_core::sale::SaleStatus::Open)
        .map(|l| l.id)
        .ok_or_else(|| {
            "no OPEN concert in the catalog; run make bench (it loads the samples)".into()
        })
}

/// The first performance of an open concert: the hot option of `seat-select`, also the
/// one the coalescing count clicks in.
pub async fn hot_target() -> Result<Target, Box<dyn std::error::Error>> {
    let env = Env::process();
    let pool = connect_lazy(&PostgresConfig {
        max_connections: 2,
        ..PostgresConfig::from_env(&env)?
    })?;
    let catalog = PostgresCatalog::new(pool);
    let concert = open_concert(&catalog).await?;
    let record = catalog.concert(concert).await?.ok_or("concert vanished")?;
    target(&catalog, concert, record.performances[0].option_id).await
}

/// Search in process with the shared search cache and without, over the same queries: the
/// cached figure beside the uncached one, and PostgreSQL queries per search (the cache's
/// own count of its loads; an uncached search is exactly one listing query).
pub async fn search_cache(
    concurrency: usize,
    bounds: Bounds,
) -> Result<String, Box<dyn std::error::Error>> {
    use ticketrush_adapters::redis::RedisSearchCache;
    use ticketrush_core::catalog::{CachedListings, search_concerts};

    let env = Env::process();
    let pool = connect_lazy(&PostgresConfig {
        max_connections: 16,
        ..PostgresConfig::from_env(&env)?
    })?;
    let catalog = PostgresCatalog::new(pool);
    let store = RedisStore::connect(&RedisConfig {
        key_prefix: format!("{BENCH_REDIS_PREFIX}-search-{concurrency}"),
        ..RedisConfig::from_env(&env)?
    })
    .await?;
    let cache = RedisSearchCache::new(
        store,
        ticketrush_adapters::config::search_cache_from_env(&env)?,
    );
    let queries: Arc<Vec<SearchQuery>> =
        Arc::new(SEARCHES.iter().map(|u| search_query(u)).collect::<Vec<_>>());
    let (c2, q2) = (catalog.clone(), queries.clone());
    let uncached = drive(concurrency, bounds, move |i| {
        let (catalog, queries) = (c2.clone(), q2.clone());
        async move {
            search_concerts(&catalog, &queries[i % queries.len()], Utc::now(), None)
                .await
                .is_ok()
        }
    })
    .await;
    let (c3, q3, k3) = (catalog.clone(), queries.clone(), cache.clone());
    let cached = drive(concurrency, bounds, move |i| {
        let (catalog, queries, cache) = (c3.clone(), q3.clone(), k3.clone());
        async move {
            let via = CachedListings {
                cache: &cache,
                catalog: &catalog,
            };
            search_concerts(&via, &queries[i % queries.len()], Utc::now(), None)
                .await
                .is_ok()
        }
    })
    .await;
    Ok(format!(
        "search-cache c={concurrency:<4} cached {:>8.0} req/s p99 {:>6.2} ms err {} pg/search {:.4} | uncached {:>8.0} req/s p99 {:>6.2} ms err {} pg/search 1 | {:.1}x",
        cached.rps(),
        cached.percentile_ms(0.99),
        cached.errors,
        cache.loads() as f64 / cached.requests.max(1) as f64,
        uncached.rps(),
        uncached.percentile_ms(0.99),
        uncached.errors,
        cached.rps() / uncached.rps().max(f64::MIN_POSITIVE),
    ))
}

fn search_query(url: &str) -> SearchQuery {
    let q: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x{url}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (qq, venue, status, sort, page, size) = (
        get("q"),
        get("venue"),
        get("status"),
        get("sort"),
        get("page"),
        get("size"),
    );
    SearchQuery::parse(SearchParams {
        q: qq.as_deref(),
        venue: venue.as_deref(),
        status: status.as_deref(),
        sort: sort.as_deref(),
        page: page.as_deref(),
        size: size.as_deref(),
        ..Default::default()
    })
    .unwrap()
}

/// The scenario through the runtime, then the raw store doing the same work.
pub async fn run(
    scenario: &str,
    server: &Server,
    concurrency: usize,
    bounds: Bounds,
) -> Result<(Measured, Measured), Box<dyn std::error::Error>> {
    let env = Env::process();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let pool = connect_lazy(&PostgresConfig {
        max_connections: 16,
        ..PostgresConfig::from_env(&env)?
    })?;
    let catalog = PostgresCatalog::new(pool.clone());
    match scenario {
        "hold-confirm" => crate::holds::run(server, &pool, concurrency, bounds).await,
        "search" => {
            let base = server.base_url.clone();
            let app = drive(concurrency, bounds, move |i| {
                let (http, url) = (http.clone(), format!("{base}{}", SEARCHES[i % SEARCHES.len()]));
                async move { matches!(http.get(url).send().await, Ok(r) if r.status().is_success()) }
            })
            .await;
            let queries: Arc<Vec<SearchQuery>> =
                Arc::new(SEARCHES.iter().map(|u| search_query(u)).collect());
            let raw = drive(concurrency, bounds, move |i| {
                let (catalog, queries) = (catalog.clone(), queries.clone());
                async move {
                    catalog
                        .listings(&queries[i % queries.len()].filter)
                        .await
                        .is_ok()
                }
            })
            .await;
            Ok((app, raw))
        }
        "queue-join" => {
            let concert = open_concert(&catalog).await?;
            let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
            let base = server.base_url.clone();
            // Signed before the clock starts, so the generator spends its CPU on requests.
            let tokens: Arc<Vec<String>> = Arc::new(
                (0..bounds.max_requests)
                    .map(|i| token(&format!("bench-{run_id}-{concurrency}-app-{i}")))
                    .collect(),
            );
            let url = format!("{base}/api/queue/{concert}/join");
            let app = drive(concurrency, bounds, move |i| {
                let (http, url, tokens) = (http.clone(), url.clone(), tokens.clone());
                async move {
                    matches!(http.post(url).bearer_auth(&tokens[i]).send().await, Ok(r) if r.status().is_success())
                }
            })
            .await;
            let store = RedisStore::connect(&RedisConfig {
                key_prefix: BENCH_REDIS_PREFIX.into(),
                ..RedisConfig::from_env(&env)?
            })
            .await?;
            let room = RedisWaitingRoom::new(store.clone());
            let mut settings = ticketrush_adapters::config::queue_settings_from_env(&env)?;
            settings.capacity = 100_000_000;
            settings.join_limit = 1_000_000;
            let settings = Arc::new(settings);
            let raw = drive(concurrency, bounds, move |i| {
                let (room, settings) = (room.clone(), settings.clone());
                let user = UserId::parse(&format!("bench-{run_id}-{concurrency}-raw-{i}")).unwrap();
                async move {
                    room.join(concert, &user, Utc::now(), &settings)
                        .await
                        .is_ok()
                }
            })
            .await;
            // The waiting room goes, or the runtime's admission ticks would go on admitting
            // (and pushing to) these tens of thousands of buyers through the next scenarios.
            delete_keys(&store, &format!("q:{{{concert}}}*")).await?;
            Ok((app, raw))
        }
        "seat-select" => {
            // Select-and-release churn on one hot performance: each iteration is a new buyer
            // clicking a seat and letting it go (a 409 for a seat someone else holds is a
            // valid answer, not an error).
            let concert = open_concert(&catalog).await?;
            let record = catalog.concert(concert).await?.ok_or("concert vanished")?;
            let option = record.performances[0].option_id;
            let targets = vec![target(&catalog, concert, option).await?];
            seat_churn(server, http, &env, targets, concurrency, bounds).await
        }
        "seat-select-spread" => {
            let (concert, options) = crate::spread::bench_options(&pool).await?;
            let mut targets = Vec::with_capacity(options.len());
            for option in options {
                targets.push(target(&catalog, concert, option).await?);
            }
            seat_churn(server, http, &env, targets, concurrency, bounds).await
        }
        other => Err(format!("unknown scenario {other}").into()),
    }
}

/// Deletes the bench's Redis keys matching `pattern` (after the bench prefix).
pub(crate) async fn delete_keys(
    store: &RedisStore,
    pattern: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use redis::AsyncCommands;
    let mut conn = store.conn.clone();
    let keys: Vec<String> = {
        let mut iter: redis::AsyncIter<String> = conn.scan_match(store.key(pattern)).await?;
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key?);
        }
        keys
    };
    for chunk in keys.chunks(1_000) {
        let _: () = conn.del(chunk).await?;
    }
    Ok(())
}

/// A performance buyers click in, with its concert (for queue tokens) and its seats.
pub(crate) struct Target {
    pub concert: ConcertId,
    pub option: OptionId,
    pub seats: Vec<SeatId>,
}

impl Target {
    pub fn performance(&self) -> PerformanceKey {
        PerformanceKey {
            concert: self.concert,
            option: self.option,
        }
    }
}

pub(crate) async fn target(
    catalog: &PostgresCatalog,
    concert: ConcertId,
    option: OptionId,
) -> Result<Target, Box<dyn std::error::Error>> {
    let seats = catalog
        .option(option)
        .await?
        .ok_or("performance vanished")?
        .seat_ids;
    Ok(Target {
        concert,
        option,
        seats,
    })
}

/// Iteration `i` clicks in target `i % n`, on a seat spread over that performance.
fn pick(targets: &[Target], i: usize) -> (&Target, SeatId) {
    let t = &targets[i % targets.len()];
    (t, t.seats[(i / targets.len() * 7919) % t.seats.len()])
}

/// A buyer's bearer token and queue token for iteration `i`, signed ahead of the clock.
pub(crate) fn buyers(targets: &[Target], label: &str, count: usize) -> Vec<(String, String)> {
    let signer = HmacQueueTokens::new(Secret::from(BENCH_QUEUE_TOKEN_SECRET));
    let expires = Utc::now() + chrono::Duration::minutes(30);
    (0..count)
        .map(|i| {
            let user = format!("bench-{label}-sel-{i}");
            let (t, _) = pick(targets, i);
            let queue = signer.mint(t.concert, &UserId::parse(&user).unwrap(), expires);
            (token(&user), queue.as_str().to_owned())
        })
        .collect()
}

/// One click and its release through the runtime: the clicks made, or None if something
/// failed (a 409 for a seat someone else holds is a valid answer, one click).
pub(crate) async fn select_release(
    http: &reqwest::Client,
    url: &str,
    (bearer, queue): &(String, String),
    i: usize,
) -> Option<usize> {
    let selected = http
        .post(url)
        .bearer_auth(bearer)
        .header("x-queue-token", queue)
        .json(&serde_json::json!({"requestId": format!("r{i}")}))
        .send()
        .await;
    match selected {
        Ok(r) if r.status().is_success() => {
            match http.delete(url).bearer_auth(bearer).send().await {
                Ok(r) if r.status().is_success() => Some(2),
                _ => None,
            }
        }
        Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => Some(1),
        _ => None,
    }
}

pub(crate) fn seat_url(base: &str, option: OptionId, seat: SeatId) -> String {
    format!("{base}/api/options/{option}/seats/{seat}/select")
}

/// Select-and-release churn over `targets` through the runtime, then the same two Lua
/// scripts through redis-rs.
async fn seat_churn(
    server: &Server,
    http: reqwest::Client,
    env: &Env,
    targets: Vec<Target>,
    concurrency: usize,
    bounds: Bounds,
) -> Result<(Measured, Measured), Box<dyn std::error::Error>> {
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let targets = Arc::new(targets);
    let buyers = Arc::new(buyers(
        &targets,
        &format!("{run_id}-{concurrency}"),
        bounds.max_requests,
    ));
    let base = server.base_url.clone();
    let app_targets = targets.clone();
    let app = drive(concurrency, bounds, move |i| {
        let (http, buyers) = (http.clone(), buyers.clone());
        let (t, seat) = pick(&app_targets, i);
        let url = seat_url(&base, t.option, seat);
        async move { select_release(&http, &url, &buyers[i], i).await.is_some() }
    })
    .await;
    let locks = RedisSeatLocks::new(
        RedisStore::connect(&RedisConfig {
            key_prefix: BENCH_REDIS_PREFIX.into(),
            ..RedisConfig::from_env(env)?
        })
        .await?,
    );
    let terms = LockTerms {
        ttl: std::time::Duration::from_secs(30),
        max_per_user: 4,
        flush_window: std::time::Duration::from_millis(200),
    };
    let raw = drive(concurrency, bounds, move |i| {
        let (locks, targets, run_id) = (locks.clone(), targets.clone(), run_id.clone());
        async move {
            let user = UserId::parse(&format!("bench-{run_id}-{concurrency}-raw-{i}")).unwrap();
            let (t, seat) = pick(&targets, i);
            let request = RequestId::parse(&format!("r{i}")).unwrap();
            match locks
                .select(t.performance(), seat, &user, &request, Utc::now(), terms)
                .await
            {
                Ok(SelectOutcome::Selected { .. }) => locks
                    .release(t.performance(), seat, &user, terms.flush_window)
                    .await
                    .is_ok(),
                Ok(_) => true,
                Err(_) => false,
            }
        }
    })
    .await;
    Ok((app, raw))
}
