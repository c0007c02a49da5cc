//! The reservation lifecycle routes: read one, list mine, pay, confirm (through the payment
//! gateway), cancel and refund.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    postgres::{self, PostgresReservations, SandboxPayments},
    push::SqsPushPublisher,
    redis::{RedisSeatLocks, RedisWaitingRoom},
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    payments::{
        Confirmation, PaymentConfirm, PaymentError, PaymentMethod, PaymentPorts, PaymentSettings,
        RefundAsk, confirm_payment, refund_reservation,
    },
    reservations::{
        Caller, Page, ReservationId, cancel_reservation, get_reservation, list_reservations,
        pay_reservation,
    },
    seats::{RequestId, SeatSettings},
};
use ticketrush_lambda::metrics::{self, Metric};
use ticketrush_lambda::wire::{ConfirmBody, MAX_OVERRIDE_REASON, RefundBody, ReservationList};
use ticketrush_lambda::{
    Problem,
    identity::require_identity,
    json,
    request::serve,
    request::{json_body, optional_json_body, path, query, route_key},
};

const FUNCTION: &str = "reservations";

pub struct ReservationsFunction {
    pub ledger: PostgresReservations,
    pub gateway: SandboxPayments,
    pub locks: RedisSeatLocks,
    pub room: RedisWaitingRoom,
    pub publisher: SqsPushPublisher,
    pub clock: SystemClock,
    pub seats: SeatSettings,
    pub payments: PaymentSettings,
}

impl ReservationsFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let pool = clients.postgres(env)?;
        let redis = clients.redis(env).await?;
        Ok(Self {
            ledger: PostgresReservations::new(pool.clone()),
            gateway: postgres::payment_gateway(config::payment_gateway_from_env(env)?, pool),
            locks: RedisSeatLocks::new(redis.clone()),
            room: RedisWaitingRoom::new(redis),
            publisher: SqsPushPublisher::from_env(clients.sdk(), env)?,
            clock: SystemClock,
            seats: config::seat_settings_from_env(env)?,
            payments: config::payment_settings_from_env(env)?,
        })
    }

    fn payment_ports(
        &self,
    ) -> PaymentPorts<'_, PostgresReservations, SandboxPayments, RedisSeatLocks, SqsPushPublisher>
    {
        PaymentPorts {
            ledger: &self.ledger,
            gateway: &self.gateway,
            locks: &self.locks,
            publisher: &self.publisher,
        }
    }
}

pub async fn handle(f: &ReservationsFunction, req: Request) -> Response<Body> {
    serve("reservations", &req, route(f, &req)).await
}

async fn route(f: &ReservationsFunction, req: &Request) -> Result<Response<Body>, Problem> {
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
                &ReservationList {
                    items,
                    page: page.page,
                    size: page.size,
                },
            ))
        }
        Some("GET /api/reservations/{id}") => Ok(json(
            StatusCode::OK,
            &get_reservation(&f.ledger, caller, &id()?).await?,
        )),
        Some("POST /api/reservations/{id}/pay") => {
            let now = f.clock.now();
            let paying = pay_reservation(
                &f.ledger,
                &f.publisher,
                caller,
                &id()?,
                now,
                f.payments.hold_until(now),
            )
            .await?;
            Ok(json(StatusCode::OK, &paying))
        }
        Some("POST /api/reservations/{id}/confirm") => {
            let id = id()?;
            let body: ConfirmBody = json_body(req)?;
            let request = RequestId::parse(&body.request_id)?;
            let method = PaymentMethod::parse(&body.payment_method)?;
            let confirmation = confirm_payment(
                f.payment_ports(),
                f.seats,
                f.payments,
                PaymentConfirm {
                    caller,
                    reservation: &id,
                    request: &request,
                    method: &method,
                    now: f.clock.now(),
                },
            )
            .await
            .inspect(|c| match c {
                Confirmation::Confirmed(_) => {
                    metrics::count(FUNCTION, Metric::PaymentsApproved, 1);
                    metrics::count(FUNCTION, Metric::HoldsConfirmed, 1);
                }
                Confirmation::Pending(_) => metrics::count(FUNCTION, Metric::PaymentsPending, 1),
            })
            .inspect_err(|e| {
                if matches!(e, PaymentError::Declined(_)) {
                    metrics::count(FUNCTION, Metric::PaymentsDenied, 1);
                }
            })?;
            Ok(match confirmation {
                Confirmation::Confirmed(r) => json(StatusCode::OK, &r),
                // The gateway has not answered: the outcome arrives by webhook and push.
                Confirmation::Pending(r) => json(StatusCode::ACCEPTED, &r),
            })
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
        Some("POST /api/reservations/{id}/refund") => {
            let id = id()?;
            let body: Option<RefundBody> = optional_json_body(req)?;
            let reason = body.and_then(|b| b.override_reason);
            if let Some(reason) = &reason
                && (reason.trim().is_empty() || reason.len() > MAX_OVERRIDE_REASON)
            {
                return Err(ticketrush_core::ValidationError::new(
                    "overrideReason",
                    format!("must be 1 to {MAX_OVERRIDE_REASON} characters"),
                )
                .into());
            }
            let refunded = refund_reservation(
                f.payment_ports(),
                &f.room,
                f.seats,
                f.payments,
                RefundAsk {
                    caller,
                    reservation: &id,
                    override_reason: reason.as_deref(),
                    now: f.clock.now(),
                },
            )
            .await?;
            if let Some(err) = &refunded.gateway_follow_up {
                // The ledger says REFUNDED; the money goes back when the retry reaches it.
                tracing::error!(reservation = %id, error = %err, "gateway refund failed; retried by the expiry tick");
            }
            Ok(json(StatusCode::OK, &refunded.reservation))
        }
        other => Err(Problem::not_found(format!(
            "no reservations route {}",
            other.unwrap_or("(none)")
        ))),
    }
}
