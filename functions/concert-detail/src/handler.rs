//! `GET /api/concerts/{id}`: a concert, its live card and its performances.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    config::Env,
    postgres::PostgresCatalog,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{ConcertId, catalog::concert_detail};
use ticketrush_lambda::{
    Problem, identity::viewer_tier, json, request::path, request::serve, response::public_read,
};

pub struct ConcertDetailFunction {
    pub catalog: PostgresCatalog,
    pub clock: SystemClock,
}

impl ConcertDetailFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            catalog: PostgresCatalog::new(clients.postgres(env)?),
            clock: SystemClock,
        })
    }
}

pub async fn handle(f: &ConcertDetailFunction, req: Request) -> Response<Body> {
    let resp = serve("concert-detail", &req, detail(f, &req)).await;
    public_read(&req, resp)
}

async fn detail(f: &ConcertDetailFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let id = ConcertId::parse("id", path(req, "id")?)?;
    let viewer = viewer_tier(req)?;
    let detail = concert_detail(&f.catalog, id, f.clock.now(), viewer).await?;
    Ok(json(StatusCode::OK, &detail))
}
