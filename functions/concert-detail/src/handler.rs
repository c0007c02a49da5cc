//! `GET /api/concerts/{id}`: a concert, its live card and its performances.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    Clock, ConcertId,
    catalog::{CatalogRepository, concert_detail},
};
use ticketrush_lambda::{Problem, identity::viewer_tier, json, problem::respond, request::path};

pub struct ConcertDetailFunction<R, C> {
    pub catalog: R,
    pub clock: C,
}

pub async fn handle<R: CatalogRepository, C: Clock>(
    f: &ConcertDetailFunction<R, C>,
    req: Request,
) -> Response<Body> {
    respond(detail(f, &req).await)
}

async fn detail<R: CatalogRepository, C: Clock>(
    f: &ConcertDetailFunction<R, C>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
    let id = ConcertId::parse("id", path(req, "id")?)?;
    let viewer = viewer_tier(req)?;
    let detail = concert_detail(&f.catalog, id, f.clock.now(), viewer).await?;
    Ok(json(StatusCode::OK, &detail))
}
