//! `GET /api/queue/{concertId}/status`: the buyer's rank or token; also marks them present.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    queue_tokens::HmacQueueTokens,
    redis::RedisWaitingRoom,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    ConcertId,
    queue::{QueueSettings, queue_status},
};
use ticketrush_lambda::{Problem, identity::require_identity, json, request::path, request::serve};

pub struct QueueStatusFunction {
    pub room: RedisWaitingRoom,
    pub tokens: HmacQueueTokens,
    pub clock: SystemClock,
    pub settings: QueueSettings,
}

impl QueueStatusFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            room: RedisWaitingRoom::new(clients.redis(env).await?),
            tokens: HmacQueueTokens::from_env(env)?,
            clock: SystemClock,
            settings: config::queue_settings_from_env(env)?,
        })
    }
}

pub async fn handle(f: &QueueStatusFunction, req: Request) -> Response<Body> {
    serve("queue-status", &req, status(f, &req)).await
}

async fn status(f: &QueueStatusFunction, req: &Request) -> Result<Response<Body>, Problem> {
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
