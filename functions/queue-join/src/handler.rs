//! `POST /api/queue/{concertId}/join`: enter the concert's waiting room.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    Clock, ConcertId,
    catalog::CatalogRepository,
    queue::{QueueSettings, WaitingRoom, join_queue},
};
use ticketrush_lambda::{
    Problem, identity::require_identity, json, problem::respond, request::path,
};

pub struct QueueJoinFunction<R, W, C> {
    pub catalog: R,
    pub room: W,
    pub clock: C,
    pub settings: QueueSettings,
}

pub async fn handle<R: CatalogRepository, W: WaitingRoom, C: Clock>(
    f: &QueueJoinFunction<R, W, C>,
    req: Request,
) -> Response<Body> {
    respond(join(f, &req).await)
}

async fn join<R: CatalogRepository, W: WaitingRoom, C: Clock>(
    f: &QueueJoinFunction<R, W, C>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let concert = ConcertId::parse("concertId", path(req, "concertId")?)?;
    let view = join_queue(
        &f.catalog,
        &f.room,
        &f.settings,
        concert,
        &caller.user,
        caller.tier,
        f.clock.now(),
    )
    .await?;
    Ok(json(StatusCode::OK, &view))
}
