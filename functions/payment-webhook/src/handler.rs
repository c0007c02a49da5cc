//! The payment gateway's webhook: a signed event settles a charge the gateway could not
//! answer at once. Stale, duplicate and out-of-order deliveries change nothing.

use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Deserialize;
use ticketrush_adapters::payment_webhook::SIGNATURE_HEADER;
use ticketrush_core::{
    Clock, ValidationError,
    payments::{
        PaymentEvent, PaymentGateway, PaymentId, PaymentLedger, PaymentSettings, WebhookError,
        WebhookReceipt, WebhookSignatures, receive_payment_event,
    },
    push::PushPublisher,
    seats::{SeatLocks, SeatSettings},
};
use ticketrush_lambda::{
    Problem, json,
    problem::respond,
    request::{body_bytes, header, json_body},
};

pub struct PaymentWebhookFunction<D, G, S, L, P, C> {
    pub ledger: D,
    /// Refunds an approval that arrives after its reservation moved on.
    pub gateway: G,
    pub signatures: S,
    pub locks: L,
    pub publisher: P,
    pub clock: C,
    pub seats: SeatSettings,
    pub payments: PaymentSettings,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WebhookBody {
    event_id: String,
    payment_id: String,
    sequence: i64,
    outcome: String,
}

pub async fn handle<D, G, S, L, P, C>(
    f: &PaymentWebhookFunction<D, G, S, L, P, C>,
    req: Request,
) -> Response<Body>
where
    D: PaymentLedger,
    G: PaymentGateway,
    S: WebhookSignatures,
    L: SeatLocks,
    P: PushPublisher,
    C: Clock,
{
    respond(receive(f, &req).await)
}

async fn receive<D, G, S, L, P, C>(
    f: &PaymentWebhookFunction<D, G, S, L, P, C>,
    req: &Request,
) -> Result<Response<Body>, Problem>
where
    D: PaymentLedger,
    G: PaymentGateway,
    S: WebhookSignatures,
    L: SeatLocks,
    P: PushPublisher,
    C: Clock,
{
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
        &f.ledger,
        &f.gateway,
        &f.locks,
        &f.publisher,
        f.seats,
        f.payments,
        &event,
        f.clock.now(),
    )
    .await?;
    let (result, reservation) = match receipt {
        WebhookReceipt::Applied(r) => ("APPLIED", Some(r)),
        WebhookReceipt::ReservationMovedOn(status) => {
            tracing::info!(
                payment = %event.payment,
                reservation_status = status.as_str(),
                "a declined payment settled after its reservation moved on"
            );
            ("RESERVATION_MOVED_ON", None)
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
            ("REFUNDED", None)
        }
        WebhookReceipt::Duplicate => ("DUPLICATE", None),
        WebhookReceipt::OutOfOrder => ("OUT_OF_ORDER", None),
    };
    // Acknowledged either way: a gateway retries anything else, and a retry changes nothing.
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "applied": result == "APPLIED",
            "result": result,
            "reservation": reservation,
        }),
    ))
}
