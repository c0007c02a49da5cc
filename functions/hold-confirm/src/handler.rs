//! `POST /api/holds`: the buyer's selected seats become a HOLD in one ledger transaction.

use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Deserialize;
use ticketrush_core::{
    Clock, OptionId, SeatId,
    abuse::{AbuseLedger, DeviceFingerprint},
    catalog::CatalogRepository,
    push::PushPublisher,
    reservations::{HoldRequest, HoldSettings, ReservationLedger, confirm_hold},
    seats::{RequestId, SeatLocks},
};
use ticketrush_lambda::metrics::{self, Metric};
use ticketrush_lambda::{
    Problem,
    identity::require_identity,
    json,
    problem::respond,
    request::{header, json_body},
};

pub struct HoldConfirmFunction<R, L, D, P, C> {
    pub catalog: R,
    pub locks: L,
    pub ledger: D,
    pub publisher: P,
    pub clock: C,
    pub settings: HoldSettings,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HoldBody {
    option_id: i64,
    seat_ids: Vec<i64>,
    request_id: String,
}

pub async fn handle<R, L, D, P, C>(
    f: &HoldConfirmFunction<R, L, D, P, C>,
    req: Request,
) -> Response<Body>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger + AbuseLedger,
    P: PushPublisher,
    C: Clock,
{
    respond(hold(f, &req).await)
}

async fn hold<R, L, D, P, C>(
    f: &HoldConfirmFunction<R, L, D, P, C>,
    req: &Request,
) -> Result<Response<Body>, Problem>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger + AbuseLedger,
    P: PushPublisher,
    C: Clock,
{
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
        &caller.user,
        &request,
        f.clock.now(),
    )
    .await?;
    if let Some(err) = &confirmed.redis_follow_up {
        tracing::warn!(error = %err, reservation = %confirmed.reservation.reservation_id, "hold committed; Redis not updated");
    }
    let status = if confirmed.replayed {
        StatusCode::OK
    } else {
        metrics::count("hold-confirm", Metric::Holds, 1);
        StatusCode::CREATED
    };
    Ok(json(status, &confirmed.reservation))
}
