//! `DELETE /api/options/{optionId}/seats/{seatId}/select`: let go of a seat (holder only).

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    OptionId, SeatId,
    push::PushPublisher,
    seats::{SeatLocks, SeatSettings, release_seat},
};
use ticketrush_lambda::{
    Problem, identity::require_identity, json, problem::respond, request::path,
};

pub struct SeatReleaseFunction<L, P> {
    pub locks: L,
    pub publisher: P,
    pub settings: SeatSettings,
}

pub async fn handle<L: SeatLocks, P: PushPublisher>(
    f: &SeatReleaseFunction<L, P>,
    req: Request,
) -> Response<Body> {
    respond(release(f, &req).await)
}

async fn release<L: SeatLocks, P: PushPublisher>(
    f: &SeatReleaseFunction<L, P>,
    req: &Request,
) -> Result<Response<Body>, Problem> {
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
