//! `GET /api/options/{id}/seats`: a page of a performance's seats, with live soft locks
//! shown as SELECTING.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    OptionId,
    catalog::{CatalogRepository, SeatPage},
    seats::{SeatLocks, seat_map},
};
use ticketrush_lambda::{Problem, json, problem::respond, request::path, request::query};

pub struct SeatMapFunction<R, L> {
    pub catalog: R,
    pub locks: L,
}

pub async fn handle<R: CatalogRepository, L: SeatLocks>(
    f: &SeatMapFunction<R, L>,
    req: Request,
) -> Response<Body> {
    respond(seats(f, &req).await)
}

async fn seats<R: CatalogRepository, L: SeatLocks>(
    f: &SeatMapFunction<R, L>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
    let id = OptionId::parse("id", path(req, "id")?)?;
    let page = SeatPage::parse(query(req, "page"), query(req, "size"))?;
    let map = seat_map(&f.catalog, &f.locks, id, page).await?;
    Ok(json(StatusCode::OK, &map))
}
