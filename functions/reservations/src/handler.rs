//! The reservation lifecycle routes: read one, list mine, pay, cancel.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_core::{
    Clock,
    push::PushPublisher,
    queue::WaitingRoom,
    reservations::{
        Caller, Page, ReservationId, ReservationLedger, cancel_reservation, get_reservation,
        list_reservations, pay_reservation,
    },
    seats::{SeatLocks, SeatSettings},
};
use ticketrush_lambda::{
    Problem,
    identity::require_identity,
    json,
    problem::respond,
    request::{path, query, route_key},
};

pub struct ReservationsFunction<D, L, W, P, C> {
    pub ledger: D,
    pub locks: L,
    pub room: W,
    pub publisher: P,
    pub clock: C,
    pub seats: SeatSettings,
}

pub async fn handle<D, L, W, P, C>(
    f: &ReservationsFunction<D, L, W, P, C>,
    req: Request,
) -> Response<Body>
where
    D: ReservationLedger,
    L: SeatLocks,
    W: WaitingRoom,
    P: PushPublisher,
    C: Clock,
{
    respond(route(f, &req).await)
}

async fn route<D, L, W, P, C>(
    f: &ReservationsFunction<D, L, W, P, C>,
    req: &Request,
) -> Result<Response<Body>, Problem>
where
    D: ReservationLedger,
    L: SeatLocks,
    W: WaitingRoom,
    P: PushPublisher,
    C: Clock,
{
    let identity = require_identity(req)?;
    let caller = Caller {
        user: &identity.user,
        admin: identity.admin,
    };
    let id = || ReservationId::parse("id", path(req, "id")?);
    match route_key(req) {
        Some("GET /api/me/reservations") => {
            let status = query(req, "status").map(str::parse).transpose()?;
            let page = Page::parse(query(req, "page"), query(req, "size"))?;
            let items = list_reservations(&f.ledger, &identity.user, status, page).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "items": items, "page": page.page, "size": page.size }),
            ))
        }
        Some("GET /api/reservations/{id}") => Ok(json(
            StatusCode::OK,
            &get_reservation(&f.ledger, caller, &id()?).await?,
        )),
        Some("POST /api/reservations/{id}/pay") => {
            let paying =
                pay_reservation(&f.ledger, &f.publisher, caller, &id()?, f.clock.now()).await?;
            Ok(json(StatusCode::OK, &paying))
        }
        Some("POST /api/reservations/{id}/cancel") => {
            let cancelled = cancel_reservation(
                &f.ledger,
                &f.locks,
                &f.room,
                &f.publisher,
                f.seats,
                caller,
                &id()?,
            )
            .await?;
            Ok(json(StatusCode::OK, &cancelled))
        }
        other => Err(Problem::not_found(format!(
            "no reservations route {}",
            other.unwrap_or("(none)")
        ))),
    }
}
