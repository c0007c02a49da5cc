//! `POST /api/queue/{concertId}/join`: enter the concert's waiting room.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    cached_catalog::CachedCatalog,
    config::{self, Env},
    postgres::PostgresCatalog,
    queue_tokens::HmacQueueTokens,
    redis::RedisWaitingRoom,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    ConcertId,
    queue::{QueueJoin, QueueSettings, join_queue},
};
use ticketrush_lambda::metrics::{self, Metric};
use ticketrush_lambda::{Problem, identity::require_identity, json, request::path, request::serve};

pub struct QueueJoinFunction {
    pub catalog: CachedCatalog<PostgresCatalog>,
    pub room: RedisWaitingRoom,
    pub tokens: HmacQueueTokens,
    pub clock: SystemClock,
    pub settings: QueueSettings,
}

impl QueueJoinFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            catalog: CachedCatalog::new(
                PostgresCatalog::new(clients.postgres(env)?),
                config::catalog_cache_ttl_from_env(env)?,
            ),
            room: RedisWaitingRoom::new(clients.redis(env).await?),
            tokens: HmacQueueTokens::from_env(env)?,
            clock: SystemClock,
            settings: config::queue_settings_from_env(env)?,
        })
    }
}

pub async fn handle(f: &QueueJoinFunction, req: Request) -> Response<Body> {
    serve("queue-join", &req, join(f, &req)).await
}

async fn join(f: &QueueJoinFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let concert = ConcertId::parse("concertId", path(req, "concertId")?)?;
    let view = join_queue(
        &f.catalog,
        &f.room,
        &f.tokens,
        &f.settings,
        QueueJoin {
            concert,
            user: &caller.user,
            tier: caller.tier,
            now: f.clock.now(),
        },
    )
    .await?;
    metrics::count("queue-join", Metric::QueueJoins, 1);
    Ok(json(StatusCode::OK, &view))
}
