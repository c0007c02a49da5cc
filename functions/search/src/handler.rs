//! `GET /api/concerts/search`: concert cards with live sale status.

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Serialize;
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    postgres::PostgresCatalog,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    catalog::{CardPage, SearchParams, SearchQuery, search_concerts},
    push::realtime::RealtimeSettings,
    time,
};
use ticketrush_lambda::{Problem, identity::viewer_tier, json, problem::respond, request::query};

pub struct SearchFunction {
    pub catalog: PostgresCatalog,
    pub clock: SystemClock,
    pub realtime: RealtimeSettings,
}

impl SearchFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            catalog: PostgresCatalog::new(clients.postgres(env)?),
            clock: SystemClock,
            realtime: config::realtime_from_env(env)?,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchResponse {
    #[serde(flatten)]
    page: CardPage,
    #[serde(with = "time")]
    server_now: DateTime<Utc>,
    #[serde(flatten)]
    realtime: RealtimeSettings,
}

pub async fn handle(f: &SearchFunction, req: Request) -> Response<Body> {
    respond(search(f, &req).await)
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
    let page = search_concerts(&f.catalog, &search, now, viewer).await?;
    Ok(json(
        StatusCode::OK,
        &SearchResponse {
            page,
            server_now: now,
            realtime: f.realtime,
        },
    ))
}
