//! `GET /api/options/{id}/seats`: a page of a performance's seats with their status.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    OptionId,
    catalog::{CatalogRepository, SeatPage, seat_map},
};
use ticketrush_lambda::{Problem, json, problem::respond, request::path, request::query};

pub struct SeatMapFunction<R> {
    pub catalog: R,
}

pub async fn handle<R: CatalogRepository>(f: &SeatMapFunction<R>, req: Request) -> Response<Body> {
    respond(seats(f, &req).await)
}

async fn seats<R: CatalogRepository>(
    f: &SeatMapFunction<R>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
    let id = OptionId::parse("id", path(req, "id")?)?;
    let page = SeatPage::parse(query(req, "page"), query(req, "size"))?;
    let map = seat_map(&f.catalog, id, page).await?;
    Ok(json(StatusCode::OK, &map))
}
