//! Refunds: the ledger first, then the money, retried until the gateway confirms.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::*;
/// Most refunds one retry pass asks the gateway for.
pub const REFUND_RETRY_BATCH: u32 = 100;

/// What one retry pass over REFUNDING payments did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundRetryReport {
    pub returned: u32,
    /// Still REFUNDING after this pass: the gateway failed again.
    pub failed: u32,
    pub last_failure: Option<String>,
}

/// Asks the gateway again for every refund the ledger marked but the gateway has not
/// confirmed (its call failed, or the process stopped in between). Run on a schedule.
pub async fn retry_refunds<D: PaymentLedger, G: PaymentGateway>(
    ledger: &D,
    gateway: &G,
) -> Result<RefundRetryReport, StoreError> {
    let mut report = RefundRetryReport::default();
    for payment in ledger.refunds_due(REFUND_RETRY_BATCH).await? {
        match return_money(ledger, gateway, &payment).await {
            Ok(()) => report.returned += 1,
            Err(err) => {
                report.failed += 1;
                report.last_failure = Some(format!("{payment}: {err}"));
            }
        }
    }
    Ok(report)
}

#[derive(Debug, Error)]
pub enum RefundError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error("reservation {0} was never paid; there is nothing to refund")]
    NotPaid(ReservationId),
    #[error(
        "refunds closed at {cutoff}, {hours} h before the show; an admin can refund with an override reason"
    )]
    WindowClosed { cutoff: DateTime<Utc>, hours: u64 },
    #[error("only an admin can override the refund cutoff")]
    OverrideNotAllowed,
}

/// A refund the ledger committed. With the gateway's error when returning the money failed:
/// the payment stays REFUNDING and `retry_refunds` asks again.
#[derive(Debug)]
pub struct RefundMade {
    pub reservation: Reservation,
    pub gateway_follow_up: Option<StoreError>,
}

/// One refund call: who asks, for which reservation, with an admin's override reason if any.
#[derive(Debug, Clone, Copy)]
pub struct RefundAsk<'a> {
    pub caller: Caller<'a>,
    pub reservation: &'a ReservationId,
    pub override_reason: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// A paid reservation (CONFIRMED, or CANCELLED after paying) -> REFUNDED, until the cutoff
/// before the show; past it only with an admin's audited override. The ledger moves first,
/// so money is never returned for a reservation the ledger still counts as paid.
pub async fn refund_reservation<D, G, L, W, P>(
    ports: PaymentPorts<'_, D, G, L, P>,
    room: &W,
    seats: SeatSettings,
    settings: PaymentSettings,
    ask: RefundAsk<'_>,
) -> Result<RefundMade, RefundError>
where
    D: ReservationLedger + PaymentLedger,
    G: PaymentGateway,
    L: SeatLocks,
    W: WaitingRoom,
    P: PushPublisher,
{
    let PaymentPorts {
        ledger,
        gateway,
        locks,
        publisher,
    } = ports;
    let RefundAsk {
        caller,
        reservation: id,
        override_reason,
        now,
    } = ask;
    if override_reason.is_some() && !caller.admin {
        return Err(RefundError::OverrideNotAllowed);
    }
    let reservation = load_for(ledger, caller, id).await?;
    let illegal = || LifecycleError::IllegalTransition {
        from: reservation.status,
        action: "refunded",
    };
    reservation
        .status
        .after(Transition::Refund)
        .ok_or_else(illegal)?;
    let payment = ledger
        .paid_for(id)
        .await
        .map_err(LifecycleError::from)?
        .ok_or_else(|| RefundError::NotPaid(id.clone()))?;
    let cutoff = reservation.starts_at
        - chrono::Duration::from_std(settings.refund_cutoff).unwrap_or_default();
    let audit = if now < cutoff {
        None
    } else {
        match override_reason {
            Some(reason) => Some(RefundOverride {
                admin: caller.user.clone(),
                reason: reason.to_owned(),
                cutoff,
            }),
            None => {
                return Err(RefundError::WindowClosed {
                    cutoff,
                    hours: settings.refund_cutoff.as_secs() / 3600,
                });
            }
        }
    };
    let payment_id = payment
        .payment_id
        .ok_or_else(|| RefundError::NotPaid(id.clone()))?;
    let refunded = ledger
        .refund(id, reservation.status, &payment_id, audit.as_ref())
        .await
        .map_err(LifecycleError::from)?
        .ok_or_else(illegal)?;
    let gateway_follow_up = return_money(ledger, gateway, &payment_id).await.err();
    if reservation.status.takes_seats() {
        seats_changed(locks, publisher, seats, &refunded, SeatStatus::Available).await;
        let _ = room
            .credit_freed_seats(refunded.concert_id, &seat_ids(&refunded))
            .await;
    }
    notify(publisher, &refunded).await;
    Ok(RefundMade {
        reservation: refunded,
        gateway_follow_up,
    })
}
