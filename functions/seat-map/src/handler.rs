//! `GET /api/options/{id}/seats`: a page of a performance's seats, with live soft locks
//! shown as SELECTING.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    config::Env,
    postgres::PostgresCatalog,
    redis::RedisSeatLocks,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{OptionId, catalog::SeatPage, seats::seat_map};
use ticketrush_lambda::{Problem, json, request::path, request::query, request::serve};

pub struct SeatMapFunction {
    pub catalog: PostgresCatalog,
    pub locks: RedisSeatLocks,
}

impl SeatMapFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            catalog: PostgresCatalog::new(clients.postgres(env)?),
            locks: RedisSeatLocks::new(clients.redis(env).await?),
        })
    }
}

pub async fn handle(f: &SeatMapFunction, req: Request) -> Response<Body> {
    serve("seat-map", &req, seats(f, &req)).await
}

async fn seats(f: &SeatMapFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let id = OptionId::parse("id", path(req, "id")?)?;
    let page = SeatPage::parse(query(req, "page"), query(req, "size"))?;
    let map = seat_map(&f.catalog, &f.locks, id, page).await?;
    Ok(json(StatusCode::OK, &map))
}
