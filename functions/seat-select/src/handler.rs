//! `POST /api/options/{optionId}/seats/{seatId}/select`: click a seat (a Redis soft lock).

use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Deserialize;
use ticketrush_core::seats::SelectError;
use ticketrush_core::{
    Clock, OptionId, SeatId,
    catalog::CatalogRepository,
    push::PushPublisher,
    queue::{ActiveToken, QueueTokens},
    seats::{RequestId, SeatClick, SeatLocks, SeatSettings, select_seat},
};
use ticketrush_lambda::metrics::{self, Metric};
use ticketrush_lambda::{
    Problem,
    identity::require_identity,
    json,
    problem::respond,
    request::{header, json_body, path},
};

pub struct SeatSelectFunction<R, L, T, P, C> {
    pub catalog: R,
    pub locks: L,
    pub tokens: T,
    pub publisher: P,
    pub clock: C,
    pub settings: SeatSettings,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SelectBody {
    request_id: String,
}

pub async fn handle<R, L, T, P, C>(
    f: &SeatSelectFunction<R, L, T, P, C>,
    req: Request,
) -> Response<Body>
where
    R: CatalogRepository,
    L: SeatLocks,
    T: QueueTokens,
    P: PushPublisher,
    C: Clock,
{
    respond(select(f, &req).await)
}

async fn select<R, L, T, P, C>(
    f: &SeatSelectFunction<R, L, T, P, C>,
    req: &Request,
) -> Result<Response<Body>, Problem>
where
    R: CatalogRepository,
    L: SeatLocks,
    T: QueueTokens,
    P: PushPublisher,
    C: Clock,
{
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
    Ok(json(StatusCode::OK, &selected))
}
