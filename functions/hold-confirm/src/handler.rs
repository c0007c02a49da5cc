//! `POST /api/holds`: the buyer's selected seats become a HOLD in one ledger transaction.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    cached_catalog::CachedCatalog,
    config::{self, Env},
    postgres::{PostgresCatalog, PostgresReservations},
    push::SqsPushPublisher,
    redis::RedisSeatLocks,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    OptionId, SeatId,
    abuse::DeviceFingerprint,
    reservations::{HoldAsk, HoldRequest, HoldSettings, confirm_hold},
    seats::RequestId,
};
use ticketrush_lambda::metrics::{self, Metric};
use ticketrush_lambda::wire::HoldBody;
use ticketrush_lambda::{
    Problem,
    identity::require_identity,
    json,
    request::serve,
    request::{header, json_body},
};

pub struct HoldConfirmFunction {
    pub catalog: CachedCatalog<PostgresCatalog>,
    pub locks: RedisSeatLocks,
    pub ledger: PostgresReservations,
    pub publisher: SqsPushPublisher,
    pub clock: SystemClock,
    pub settings: HoldSettings,
}

impl HoldConfirmFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let pool = clients.postgres(env)?;
        Ok(Self {
            catalog: CachedCatalog::new(
                PostgresCatalog::new(pool.clone()),
                config::catalog_cache_ttl_from_env(env)?,
            ),
            locks: RedisSeatLocks::new(clients.redis(env).await?),
            ledger: PostgresReservations::new(pool),
            publisher: SqsPushPublisher::from_env(clients.sdk(), env)?,
            clock: SystemClock,
            settings: HoldSettings {
                hold_ttl: config::hold_ttl_from_env(env)?,
                seats: config::seat_settings_from_env(env)?,
                abuse: config::abuse_rules_from_env(env)?,
            },
        })
    }
}

pub async fn handle(f: &HoldConfirmFunction, req: Request) -> Response<Body> {
    serve("hold-confirm", &req, hold(f, &req)).await
}

async fn hold(f: &HoldConfirmFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let body: HoldBody = json_body(req)?;
    let option = OptionId::parse("optionId", &body.option_id.to_string())?;
    let seats = body
        .seat_ids
        .iter()
        .map(|s| SeatId::parse("seatIds", &s.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let device = header(req, "x-device-fingerprint")
        .map(DeviceFingerprint::parse)
        .transpose()?;
    let request =
        HoldRequest::new(option, seats, RequestId::parse(&body.request_id)?)?.with_device(device);
    let confirmed = confirm_hold(
        &f.catalog,
        &f.locks,
        &f.ledger,
        &f.publisher,
        f.settings,
        HoldAsk {
            user: &caller.user,
            request: &request,
            now: f.clock.now(),
        },
    )
    .await?;
    if let Some(err) = &confirmed.redis_follow_up {
        tracing::warn!(error = %err, reservation = %confirmed.reservation.reservation_id, "hold committed; Redis not updated");
    }
    let status = if confirmed.replayed {
        StatusCode::OK
    } else {
        metrics::count("hold-confirm", Metric::HoldsMade, 1);
        StatusCode::CREATED
    };
    Ok(json(status, &confirmed.reservation))
}
