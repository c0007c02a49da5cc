//! `GET /api/concerts/search`: concert cards with live sale status.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    postgres::PostgresCatalog,
    redis::RedisSearchCache,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    catalog::{CachedListings, SearchParams, SearchQuery, search_concerts},
    push::realtime::RealtimeSettings,
};
use ticketrush_lambda::wire::SearchResponse;
use ticketrush_lambda::{
    Problem, identity::viewer_tier, json, request::query, request::serve, response::public_read,
};

pub struct SearchFunction {
    pub catalog: PostgresCatalog,
    pub cache: RedisSearchCache,
    pub clock: SystemClock,
    pub realtime: RealtimeSettings,
}

impl SearchFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let fresh = config::search_cache_from_env(env)?;
        Ok(Self {
            catalog: PostgresCatalog::new(clients.postgres(env)?),
            cache: RedisSearchCache::new(clients.redis(env).await?, fresh),
            clock: SystemClock,
            realtime: config::realtime_from_env(env)?,
        })
    }
}

pub async fn handle(f: &SearchFunction, req: Request) -> Response<Body> {
    let resp = serve("search", &req, search(f, &req)).await;
    public_read(&req, resp)
}

async fn search(f: &SearchFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let search = SearchQuery::parse(SearchParams {
        q: query(req, "q"),
        venue: query(req, "venue"),
        status: query(req, "status"),
        from: query(req, "from"),
        to: query(req, "to"),
        sort: query(req, "sort"),
        page: query(req, "page"),
        size: query(req, "size"),
    })?;
    let viewer = viewer_tier(req)?;
    let now = f.clock.now();
    let cached = CachedListings {
        cache: &f.cache,
        catalog: &f.catalog,
    };
    let page = search_concerts(&cached, &search, now, viewer).await?;
    Ok(json(
        StatusCode::OK,
        &SearchResponse {
            page,
            server_now: now,
            realtime: f.realtime,
        },
    ))
}
