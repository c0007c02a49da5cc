//! The gateway's signed word on a charge it could not answer at once.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::*;
#[derive(Debug, Error)]
pub enum WebhookError {
    #[error("the webhook signature does not match")]
    BadSignature,
    #[error("the webhook was signed at {signed_at}, outside the accepted window")]
    Stale { signed_at: DateTime<Utc> },
    #[error("no payment {0}")]
    UnknownPayment(PaymentId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a webhook delivery did; duplicates and out-of-order deliveries change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookReceipt {
    Applied(Reservation),
    ReservationMovedOn(ReservationStatus),
    /// An approval for a reservation that had moved on: the charge is refunded. With the
    /// gateway's error when that call failed (the payment stays REFUNDING and is retried).
    Refunded {
        status: ReservationStatus,
        failure: Option<String>,
    },
    Duplicate,
    OutOfOrder,
}

/// Applies a verified gateway event: stale ones are refused, duplicates and older
/// events are acknowledged without effect, and a settled charge moves the reservation.
pub async fn receive_payment_event<D, G, L, P>(
    ports: PaymentPorts<'_, D, G, L, P>,
    seats: SeatSettings,
    settings: PaymentSettings,
    event: &PaymentEvent,
    now: DateTime<Utc>,
) -> Result<WebhookReceipt, WebhookError>
where
    D: PaymentLedger,
    G: PaymentGateway,
    L: SeatLocks,
    P: PushPublisher,
{
    let PaymentPorts {
        ledger,
        gateway,
        locks,
        publisher,
    } = ports;
    let age = (now - event.signed_at).abs();
    if age.to_std().unwrap_or(Duration::MAX) > settings.webhook_tolerance {
        return Err(WebhookError::Stale {
            signed_at: event.signed_at,
        });
    }
    match ledger.apply_event(event).await? {
        EventOutcome::Applied(reservation) => {
            notify(publisher, &reservation).await;
            if reservation.status == ReservationStatus::Confirmed {
                seats_changed(locks, publisher, seats, &reservation, SeatStatus::Confirmed).await;
            }
            Ok(WebhookReceipt::Applied(reservation))
        }
        EventOutcome::ReservationMovedOn(status) => Ok(WebhookReceipt::ReservationMovedOn(status)),
        EventOutcome::RefundDue { status, payment } => Ok(WebhookReceipt::Refunded {
            status,
            failure: return_money(ledger, gateway, &payment)
                .await
                .err()
                .map(|e| e.to_string()),
        }),
        EventOutcome::Duplicate => Ok(WebhookReceipt::Duplicate),
        EventOutcome::OutOfOrder => Ok(WebhookReceipt::OutOfOrder),
        EventOutcome::UnknownPayment => Err(WebhookError::UnknownPayment(event.payment.clone())),
    }
}
