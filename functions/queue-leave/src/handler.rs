//! `DELETE /api/queue/{concertId}`: give up the place in line (or the active token).

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    config::Env,
    redis::RedisWaitingRoom,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{ConcertId, queue::leave_queue};
use ticketrush_lambda::{Problem, identity::require_identity, json, request::path, request::serve};

pub struct QueueLeaveFunction {
    pub room: RedisWaitingRoom,
    pub clock: SystemClock,
}

impl QueueLeaveFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            room: RedisWaitingRoom::new(clients.redis(env).await?),
            clock: SystemClock,
        })
    }
}

pub async fn handle(f: &QueueLeaveFunction, req: Request) -> Response<Body> {
    serve("queue-leave", &req, leave(f, &req)).await
}

async fn leave(f: &QueueLeaveFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let concert = ConcertId::parse("concertId", path(req, "concertId")?)?;
    let view = leave_queue(&f.room, concert, &caller.user, f.clock.now()).await?;
    Ok(json(StatusCode::OK, &view))
}
