//! Paying: the charge through the gateway, once per request id.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::*;
#[derive(Debug, Error)]
pub enum PaymentError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error("the payment was declined ({0}); the seats stay held until the hold expires")]
    Declined(String),
    #[error("the payment method was already used for a declined attempt; send a new requestId")]
    DeclinedBefore,
    #[error(
        "another payment for this reservation is in progress; wait for its outcome or retry with its requestId"
    )]
    InProgress,
    #[error(
        "the reservation became {0:?} while the payment went through; the charge is being refunded"
    )]
    ChargeRefunded(ReservationStatus),
}

/// How a confirm ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed(Reservation),
    /// The gateway did not answer in time; the reservation stays PAYING until its webhook.
    Pending(Reservation),
}

/// One confirm call: who asks, for which reservation, under which request id, with what.
#[derive(Debug, Clone, Copy)]
pub struct PaymentConfirm<'a> {
    pub caller: Caller<'a>,
    pub reservation: &'a ReservationId,
    pub request: &'a RequestId,
    pub method: &'a PaymentMethod,
    pub now: DateTime<Utc>,
}

/// PAYING -> CONFIRMED through the gateway, by the owner. Idempotent on (reservation,
/// requestId): a retry never charges twice and answers what the first call settled. One
/// payment is open per reservation at a time: it is written before the gateway is called,
/// so a second confirm with another requestId is refused, never charged.
pub async fn confirm_payment<D, G, L, P>(
    ports: PaymentPorts<'_, D, G, L, P>,
    settings: SeatSettings,
    payments: PaymentSettings,
    confirm: PaymentConfirm<'_>,
) -> Result<Confirmation, PaymentError>
where
    D: ReservationLedger + PaymentLedger,
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
    let PaymentConfirm {
        caller,
        reservation: id,
        request,
        method,
        now,
    } = confirm;
    let owner = Caller {
        admin: false,
        ..caller
    };
    let reservation = load_for(ledger, owner, id).await?;
    let key = format!("{}:{}", id, request.as_str());
    let amount = reservation.seats.iter().map(|s| s.price).sum();
    let opened = ledger
        .open_payment(OpenPayment {
            reservation: id,
            idempotency_key: &key,
            amount,
            now,
            hold_until: payments.hold_until(now),
        })
        .await
        .map_err(LifecycleError::from)?;
    match opened {
        Opened::New | Opened::Unanswered => {}
        Opened::Answered(earlier) => return answered(ledger, owner, id, &earlier).await,
        Opened::Busy => return Err(PaymentError::InProgress),
        Opened::NotPaying(from) => {
            return Err(LifecycleError::IllegalTransition {
                from,
                action: "confirmed",
            }
            .into());
        }
        Opened::HoldExpired => return Err(LifecycleError::HoldExpired.into()),
    }
    // A failure here leaves the payment open under this key: the same requestId asks again.
    let outcome = gateway
        .charge(Charge {
            idempotency_key: &key,
            reservation: id,
            amount,
            method,
        })
        .await
        .map_err(LifecycleError::from)?;
    let (payment_id, status, declined) = match outcome {
        ChargeOutcome::Approved(p) => (p, PaymentStatus::Approved, None),
        ChargeOutcome::Denied { payment, reason } => (payment, PaymentStatus::Denied, Some(reason)),
        ChargeOutcome::Pending(p) => (p, PaymentStatus::Pending, None),
    };
    let after = match ledger
        .settle(&key, &payment_id, status)
        .await
        .map_err(LifecycleError::from)?
    {
        Settled::Applied(after) => after,
        Settled::AlreadyAnswered(earlier) => return answered(ledger, owner, id, &earlier).await,
        Settled::RefundDue(after) => {
            // Logged by the caller as ChargeRefunded; a failed refund is retried by the tick.
            let _ = return_money(ledger, gateway, &payment_id).await;
            return Err(PaymentError::ChargeRefunded(after.status));
        }
    };
    if after.status != reservation.status {
        notify(publisher, &after).await;
    }
    if after.status == ReservationStatus::Confirmed {
        seats_changed(locks, publisher, settings, &after, SeatStatus::Confirmed).await;
    }
    match (declined, status) {
        (Some(reason), _) => Err(PaymentError::Declined(reason)),
        (None, PaymentStatus::Pending) => Ok(Confirmation::Pending(after)),
        _ => Ok(Confirmation::Confirmed(after)),
    }
}

/// The answer a request id already got, for its retry.
async fn answered<D: ReservationLedger>(
    ledger: &D,
    owner: Caller<'_>,
    id: &ReservationId,
    earlier: &Payment,
) -> Result<Confirmation, PaymentError> {
    let reservation = load_for(ledger, owner, id).await?;
    match earlier.status {
        PaymentStatus::Approved => Ok(Confirmation::Confirmed(reservation)),
        // Refunded after it confirmed: the confirm stood.
        PaymentStatus::Refunding | PaymentStatus::Refunded
            if reservation.status == ReservationStatus::Refunded =>
        {
            Ok(Confirmation::Confirmed(reservation))
        }
        // Approved after the reservation moved on, and given back: what the first call said.
        PaymentStatus::Refunding | PaymentStatus::Refunded => {
            Err(PaymentError::ChargeRefunded(reservation.status))
        }
        PaymentStatus::Pending => Ok(Confirmation::Pending(reservation)),
        PaymentStatus::Denied => Err(PaymentError::DeclinedBefore),
    }
}
