//! `GET /api/concerts/search`: concert cards with live sale status.

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Serialize;
use ticketrush_core::{
    Clock,
    catalog::{CardPage, CatalogRepository, SearchParams, SearchQuery, search_concerts},
    realtime::RealtimeSettings,
    time,
};
use ticketrush_lambda::{Problem, identity::viewer_tier, json, problem::respond, request::query};

pub struct SearchFunction<R, C> {
    pub catalog: R,
    pub clock: C,
    pub realtime: RealtimeSettings,
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

pub async fn handle<R: CatalogRepository, C: Clock>(
    f: &SearchFunction<R, C>,
    req: Request,
) -> Response<Body> {
    respond(search(f, &req).await)
}

async fn search<R: CatalogRepository, C: Clock>(
    f: &SearchFunction<R, C>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
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
