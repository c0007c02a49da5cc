//! `GET /api/queue/{concertId}/status`: the buyer's rank or token; also marks them present.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    Clock, ConcertId,
    queue::{QueueSettings, WaitingRoom, queue_status},
};
use ticketrush_lambda::{
    Problem, identity::require_identity, json, problem::respond, request::path,
};

pub struct QueueStatusFunction<W, C> {
    pub room: W,
    pub clock: C,
    pub settings: QueueSettings,
}

pub async fn handle<W: WaitingRoom, C: Clock>(
    f: &QueueStatusFunction<W, C>,
    req: Request,
) -> Response<Body> {
    respond(status(f, &req).await)
}

async fn status<W: WaitingRoom, C: Clock>(
    f: &QueueStatusFunction<W, C>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let concert = ConcertId::parse("concertId", path(req, "concertId")?)?;
    let view = queue_status(&f.room, &f.settings, concert, &caller.user, f.clock.now()).await?;
    Ok(json(StatusCode::OK, &view))
}
