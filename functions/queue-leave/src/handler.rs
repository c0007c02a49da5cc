//! `DELETE /api/queue/{concertId}`: give up the place in line (or the active token).

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    Clock, ConcertId,
    queue::{WaitingRoom, leave_queue},
};
use ticketrush_lambda::{
    Problem, identity::require_identity, json, problem::respond, request::path,
};

pub struct QueueLeaveFunction<W, C> {
    pub room: W,
    pub clock: C,
}

pub async fn handle<W: WaitingRoom, C: Clock>(
    f: &QueueLeaveFunction<W, C>,
    req: Request,
) -> Response<Body> {
    respond(leave(f, &req).await)
}

async fn leave<W: WaitingRoom, C: Clock>(
    f: &QueueLeaveFunction<W, C>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let concert = ConcertId::parse("concertId", path(req, "concertId")?)?;
    let view = leave_queue(&f.room, concert, &caller.user, f.clock.now()).await?;
    Ok(json(StatusCode::OK, &view))
}
