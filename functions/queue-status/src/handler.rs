//! `GET /api/queue/{concertId}/status`: the buyer's rank or token; also marks them present.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    Clock, ConcertId,
    queue::{QueueSettings, QueueTokens, WaitingRoom, queue_status},
};
use ticketrush_lambda::{
    Problem, identity::require_identity, json, problem::respond, request::path,
};

pub struct QueueStatusFunction<W, T, C> {
    pub room: W,
    pub tokens: T,
    pub clock: C,
    pub settings: QueueSettings,
}

pub async fn handle<W: WaitingRoom, T: QueueTokens, C: Clock>(
    f: &QueueStatusFunction<W, T, C>,
    req: Request,
) -> Response<Body> {
    respond(status(f, &req).await)
}

async fn status<W: WaitingRoom, T: QueueTokens, C: Clock>(
    f: &QueueStatusFunction<W, T, C>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let concert = ConcertId::parse("concertId", path(req, "concertId")?)?;
    let view = queue_status(
        &f.room,
        &f.tokens,
        &f.settings,
        concert,
        &caller.user,
        f.clock.now(),
    )
    .await?;
    Ok(json(StatusCode::OK, &view))
}
