//! `DELETE /api/options/{optionId}/seats/{seatId}/select`: let go of a seat (holder only).

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    config::{self, Env},
    push::SqsPushPublisher,
    redis::RedisSeatLocks,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    OptionId, SeatId,
    seats::{SeatSettings, release_seat},
};
use ticketrush_lambda::{Problem, identity::require_identity, json, request::path, request::serve};

pub struct SeatReleaseFunction {
    pub locks: RedisSeatLocks,
    pub publisher: SqsPushPublisher,
    pub settings: SeatSettings,
}

impl SeatReleaseFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let publisher = SqsPushPublisher::from_env(clients.sdk(), env)?;
        Ok(Self {
            locks: RedisSeatLocks::new(clients.redis(env).await?),
            publisher,
            settings: config::seat_settings_from_env(env)?,
        })
    }
}

pub async fn handle(f: &SeatReleaseFunction, req: Request) -> Response<Body> {
    serve("seat-release", &req, release(f, &req)).await
}

async fn release(f: &SeatReleaseFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let option = OptionId::parse("optionId", path(req, "optionId")?)?;
    let seat = SeatId::parse("seatId", path(req, "seatId")?)?;
    let released = release_seat(
        &f.locks,
        &f.publisher,
        f.settings,
        option,
        seat,
        &caller.user,
    )
    .await?;
    Ok(json(StatusCode::OK, &released))
}
