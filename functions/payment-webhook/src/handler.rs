//! The payment gateway's webhook: a signed event settles a charge the gateway could not
//! answer at once. Stale, duplicate and out-of-order deliveries change nothing.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    payment_webhook::{HmacWebhookSignatures, SIGNATURE_HEADER},
    postgres::{self, PostgresReservations, SandboxPayments},
    push::SqsPushPublisher,
    redis::RedisSeatLocks,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    ValidationError,
    payments::{
        PaymentEvent, PaymentId, PaymentPorts, PaymentSettings, WebhookError, WebhookReceipt,
        receive_payment_event,
    },
    seats::SeatSettings,
};
use ticketrush_lambda::metrics::{self, Metric};
use ticketrush_lambda::wire::{WebhookAck, WebhookBody, WebhookResult};
use ticketrush_lambda::{
    Problem, json,
    request::serve,
    request::{body_bytes, header, json_body},
};

const FUNCTION: &str = "payment-webhook";

pub struct PaymentWebhookFunction {
    pub ledger: PostgresReservations,
    /// Refunds an approval that arrives after its reservation moved on.
    pub gateway: SandboxPayments,
    pub signatures: HmacWebhookSignatures,
    pub locks: RedisSeatLocks,
    pub publisher: SqsPushPublisher,
    pub clock: SystemClock,
    pub seats: SeatSettings,
    pub payments: PaymentSettings,
}

impl PaymentWebhookFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let pool = clients.postgres(env)?;
        Ok(Self {
            ledger: PostgresReservations::new(pool.clone()),
            gateway: postgres::payment_gateway(config::payment_gateway_from_env(env)?, pool),
            signatures: HmacWebhookSignatures::from_env(env)?,
            locks: RedisSeatLocks::new(clients.redis(env).await?),
            publisher: SqsPushPublisher::from_env(clients.sdk(), env)?,
            clock: SystemClock,
            seats: config::seat_settings_from_env(env)?,
            payments: config::payment_settings_from_env(env)?,
        })
    }
}

pub async fn handle(f: &PaymentWebhookFunction, req: Request) -> Response<Body> {
    serve("payment-webhook", &req, receive(f, &req)).await
}

async fn receive(f: &PaymentWebhookFunction, req: &Request) -> Result<Response<Body>, Problem> {
    // Nothing in the body is trusted, or even parsed, before its signature checks out.
    let signed_at = header(req, SIGNATURE_HEADER)
        .and_then(|sig| f.signatures.verify(sig, body_bytes(req).ok()?))
        .ok_or(WebhookError::BadSignature)?;
    let body: WebhookBody = json_body(req)?;
    let approved = match body.outcome.as_str() {
        "APPROVED" => true,
        "DENIED" => false,
        other => {
            return Err(ValidationError::new(
                "outcome",
                format!("must be APPROVED or DENIED, got {other:?}"),
            )
            .into());
        }
    };
    if body.event_id.is_empty() || body.event_id.len() > 128 {
        return Err(ValidationError::new("eventId", "must be 1 to 128 characters").into());
    }
    if body.sequence < 1 {
        return Err(ValidationError::new("sequence", "must be a positive integer").into());
    }
    let event = PaymentEvent {
        event_id: body.event_id,
        payment: PaymentId::parse("paymentId", &body.payment_id)?,
        sequence: body.sequence,
        approved,
        signed_at,
    };
    let receipt = receive_payment_event(
        PaymentPorts {
            ledger: &f.ledger,
            gateway: &f.gateway,
            locks: &f.locks,
            publisher: &f.publisher,
        },
        f.seats,
        f.payments,
        &event,
        f.clock.now(),
    )
    .await?;
    let (result, reservation) = match receipt {
        WebhookReceipt::Applied(r) => {
            if event.approved {
                metrics::count(FUNCTION, Metric::PaymentsApproved, 1);
                metrics::count(FUNCTION, Metric::HoldsConfirmed, 1);
            } else {
                metrics::count(FUNCTION, Metric::PaymentsDenied, 1);
            }
            (WebhookResult::Applied, Some(r))
        }
        WebhookReceipt::ReservationMovedOn(status) => {
            tracing::info!(
                payment = %event.payment,
                reservation_status = status.as_str(),
                "a declined payment settled after its reservation moved on"
            );
            (WebhookResult::ReservationMovedOn, None)
        }
        WebhookReceipt::Refunded { status, failure } => {
            match failure {
                None => tracing::warn!(
                    payment = %event.payment,
                    reservation_status = status.as_str(),
                    "an approval arrived after its reservation moved on; the charge is refunded"
                ),
                Some(error) => tracing::error!(
                    payment = %event.payment,
                    reservation_status = status.as_str(),
                    %error,
                    "an approval arrived after its reservation moved on; its refund failed and is retried by the expiry tick"
                ),
            }
            metrics::count(FUNCTION, Metric::PaymentsRefundDue, 1);
            (WebhookResult::Refunded, None)
        }
        WebhookReceipt::Duplicate => (WebhookResult::Duplicate, None),
        WebhookReceipt::OutOfOrder => (WebhookResult::OutOfOrder, None),
    };
    // Acknowledged either way: a gateway retries anything else, and a retry changes nothing.
    Ok(json(
        StatusCode::OK,
        &WebhookAck {
            applied: result == WebhookResult::Applied,
            result,
            reservation,
        },
    ))
}
