//! `POST /api/options/{optionId}/seats/{seatId}/select`: click a seat (a Redis soft lock).

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    cached_catalog::CachedCatalog,
    config::{self, Env},
    postgres::PostgresCatalog,
    push::SqsPushPublisher,
    queue_tokens::HmacQueueTokens,
    redis::RedisSeatLocks,
    wiring::{Clients, StartupError},
};
use ticketrush_core::seats::SelectError;
use ticketrush_core::{
    OptionId, SeatId,
    queue::ActiveToken,
    seats::{RequestId, SeatClick, SeatSettings, select_seat},
};
use ticketrush_lambda::metrics::{self, Metric};
use ticketrush_lambda::wire::SelectBody;
use ticketrush_lambda::{
    Problem,
    identity::require_identity,
    json,
    request::serve,
    request::{header, json_body, path},
};

pub struct SeatSelectFunction {
    pub catalog: CachedCatalog<PostgresCatalog>,
    pub locks: RedisSeatLocks,
    pub tokens: HmacQueueTokens,
    pub publisher: SqsPushPublisher,
    pub clock: SystemClock,
    pub settings: SeatSettings,
}

impl SeatSelectFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            catalog: CachedCatalog::new(
                PostgresCatalog::new(clients.postgres(env)?),
                config::catalog_cache_ttl_from_env(env)?,
            ),
            locks: RedisSeatLocks::new(clients.redis(env).await?),
            tokens: HmacQueueTokens::from_env(env)?,
            publisher: SqsPushPublisher::from_env(clients.sdk(), env)?,
            clock: SystemClock,
            settings: config::seat_settings_from_env(env)?,
        })
    }
}

pub async fn handle(f: &SeatSelectFunction, req: Request) -> Response<Body> {
    serve("seat-select", &req, select(f, &req)).await
}

async fn select(f: &SeatSelectFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let option = OptionId::parse("optionId", path(req, "optionId")?)?;
    let seat = SeatId::parse("seatId", path(req, "seatId")?)?;
    let body: SelectBody = json_body(req)?;
    let click = SeatClick {
        option,
        seat,
        user: caller.user,
        tier: caller.tier,
        request: RequestId::parse(&body.request_id)?,
        queue_token: header(req, "x-queue-token")
            .map(ActiveToken::parse)
            .transpose()?,
        now: f.clock.now(),
    };
    let selected = select_seat(
        &f.catalog,
        &f.locks,
        &f.tokens,
        &f.publisher,
        f.settings,
        &click,
    )
    .await
    .inspect_err(|e| {
        if matches!(e, SelectError::AlreadySelected) {
            metrics::count("seat-select", Metric::SoftLockConflicts, 1);
        }
    })?;
    metrics::count("seat-select", Metric::SeatSelects, 1);
    Ok(json(StatusCode::OK, &selected))
}
