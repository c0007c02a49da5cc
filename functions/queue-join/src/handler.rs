//! `POST /api/queue/{concertId}/join`: enter the concert's waiting room.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    Clock, ConcertId,
    catalog::CatalogRepository,
    queue::{QueueSettings, QueueTokens, WaitingRoom, join_queue},
};
use ticketrush_lambda::metrics::{self, Metric};
use ticketrush_lambda::{
    Problem, identity::require_identity, json, problem::respond, request::path,
};

pub struct QueueJoinFunction<R, W, T, C> {
    pub catalog: R,
    pub room: W,
    pub tokens: T,
    pub clock: C,
    pub settings: QueueSettings,
}

pub async fn handle<R: CatalogRepository, W: WaitingRoom, T: QueueTokens, C: Clock>(
    f: &QueueJoinFunction<R, W, T, C>,
    req: Request,
) -> Response<Body> {
    respond(join(f, &req).await)
}

async fn join<R: CatalogRepository, W: WaitingRoom, T: QueueTokens, C: Clock>(
    f: &QueueJoinFunction<R, W, T, C>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let concert = ConcertId::parse("concertId", path(req, "concertId")?)?;
    let view = join_queue(
        &f.catalog,
        &f.room,
        &f.tokens,
        &f.settings,
        concert,
        &caller.user,
        caller.tier,
        f.clock.now(),
    )
    .await?;
    metrics::count("queue-join", Metric::QueueJoins, 1);
    Ok(json(StatusCode::OK, &view))
}
