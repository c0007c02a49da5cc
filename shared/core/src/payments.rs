//! Paying for a reservation: the charge through a payment gateway, the gateway's signed
//! webhook that settles a charge it could not answer at once, and refunds.

use std::{fmt, future::Future, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;

use crate::{
    StoreError, UserId, ValidationError,
    catalog::SeatStatus,
    push::PushPublisher,
    queue::WaitingRoom,
    reservations::{
        Caller, LifecycleError, Reservation, ReservationId, ReservationLedger, ReservationStatus,
        Transition, load_for, notify, seat_ids, seats_changed,
    },
    seats::{RequestId, SeatLocks, SeatSettings},
};

/// The gateway's id for one charge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PaymentId(String);

impl PaymentId {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                field,
                format!("must be a payment id (1 to 64 letters, digits, '_' or '-'), got {raw:?}"),
            ))
        }
    }

    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The buyer's payment method as the gateway knows it (a card token, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod(String);

impl PaymentMethod {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "paymentMethod",
                "must be a payment method token (1 to 64 letters, digits, '_', '-' or '.')",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// The gateway has not answered yet; its webhook will.
    Pending,
    Approved,
    Denied,
    /// The ledger no longer counts the money as paid; the gateway has yet to return it.
    Refunding,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Denied => "DENIED",
            Self::Refunding => "REFUNDING",
            Self::Refunded => "REFUNDED",
        }
    }

    pub fn from_stored(raw: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Approved,
            Self::Denied,
            Self::Refunding,
            Self::Refunded,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// Our record of one charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The gateway's id; None while the gateway has not answered the charge.
    pub payment_id: Option<PaymentId>,
    pub reservation_id: ReservationId,
    #[serde(skip)]
    pub idempotency_key: String,
    pub amount: i64,
    pub status: PaymentStatus,
}

/// One charge, as asked of the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Charge<'a> {
    /// The same key always names the same charge: a retried call never charges twice.
    pub idempotency_key: &'a str,
    pub reservation: &'a ReservationId,
    pub amount: i64,
    pub method: &'a PaymentMethod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Approved(PaymentId),
    Denied {
        payment: PaymentId,
        reason: String,
    },
    /// No answer in time: the charge may still go through, and the webhook will say.
    Pending(PaymentId),
}

/// A payment provider.
pub trait PaymentGateway: Send + Sync {
    fn charge(
        &self,
        charge: Charge<'_>,
    ) -> impl Future<Output = Result<ChargeOutcome, StoreError>> + Send;

    /// Returns the money of an approved charge; repeating it is harmless.
    fn refund(&self, payment: &PaymentId) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The gateway's word on a pending charge, from its webhook, signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEvent {
    /// Unique per delivery attempt's content: a second delivery of it is a duplicate.
    pub event_id: String,
    pub payment: PaymentId,
    /// Increases with each event about the same payment: an older one arriving later is
    /// out of order.
    pub sequence: i64,
    pub approved: bool,
    pub signed_at: DateTime<Utc>,
}

/// What the ledger made of a webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    Applied(Reservation),
    /// Recorded, but the reservation had moved on (expired or cancelled meanwhile).
    ReservationMovedOn(ReservationStatus),
    /// Approved, but the reservation had moved on: the payment is now REFUNDING.
    RefundDue {
        status: ReservationStatus,
        payment: PaymentId,
    },
    Duplicate,
    OutOfOrder,
    UnknownPayment,
}

/// A refund past the cutoff, allowed by an admin, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOverride {
    pub admin: UserId,
    pub reason: String,
    pub cutoff: DateTime<Utc>,
}

/// A payment to open before the gateway is asked for the money.
#[derive(Debug, Clone, Copy)]
pub struct OpenPayment<'a> {
    pub reservation: &'a ReservationId,
    pub idempotency_key: &'a str,
    pub amount: i64,
    pub now: DateTime<Utc>,
    /// The hold is kept at least this long, so the seats outlive the charge in flight.
    pub hold_until: DateTime<Utc>,
}

/// The ledger's answer to opening a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A PENDING payment under this key is written: charge the gateway.
    New,
    /// This key's payment is open but the gateway's answer was never recorded: ask again
    /// under the same key (the gateway answers the same charge).
    Unanswered,
    /// This key was answered before.
    Answered(Payment),
    /// Another payment of this reservation is open.
    Busy,
    NotPaying(ReservationStatus),
    HoldExpired,
}

/// What recording the gateway's answer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Recorded; an approval or a decline moved the reservation (CONFIRMED or HOLD).
    Applied(Reservation),
    /// A concurrent call under the same key recorded the answer first.
    AlreadyAnswered(Payment),
    /// Approved, but the reservation had moved on: the payment is now REFUNDING.
    RefundDue(Reservation),
}

/// Payments in the ledger beside the reservations they pay for.
pub trait PaymentLedger: Send + Sync {
    /// One transaction with the reservation locked: a PAYING reservation, unexpired, with no
    /// other open (PENDING or APPROVED) payment gets a PENDING payment under the key.
    fn open_payment(
        &self,
        open: OpenPayment<'_>,
    ) -> impl Future<Output = Result<Opened, StoreError>> + Send;

    /// One transaction: the gateway's answer on the key's payment and, for an approval or
    /// a decline, the reservation PAYING -> CONFIRMED or HOLD with its seats.
    fn settle(
        &self,
        idempotency_key: &str,
        payment: &PaymentId,
        status: PaymentStatus,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send;

    /// The approved, not yet refunded, payment of a reservation.
    fn paid_for(
        &self,
        reservation: &ReservationId,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;

    /// One transaction: the event is recorded once; a pending payment with an older last
    /// event becomes approved or denied, and a PAYING reservation CONFIRMED or HOLD. An
    /// approval for a reservation that moved on makes the payment REFUNDING.
    fn apply_event(
        &self,
        event: &PaymentEvent,
    ) -> impl Future<Output = Result<EventOutcome, StoreError>> + Send;

    /// One transaction: the reservation `from` -> REFUNDED (seats freed), the payment
    /// APPROVED -> REFUNDING, and the override's audit row. None if it was no longer `from`.
    /// The gateway is asked for the money only after this commits.
    fn refund(
        &self,
        reservation: &ReservationId,
        from: ReservationStatus,
        payment: &PaymentId,
        audit: Option<&RefundOverride>,
    ) -> impl Future<Output = Result<Option<Reservation>, StoreError>> + Send;

    /// REFUNDING -> REFUNDED, once the gateway returned the money.
    fn refund_done(
        &self,
        payment: &PaymentId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Payments still REFUNDING, oldest first.
    fn refunds_due(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PaymentId>, StoreError>> + Send;
}

/// Payment settings, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentSettings {
    /// Refunds close this long before the show starts.
    pub refund_cutoff: Duration,
    /// A webhook signed longer ago (or further ahead) than this is refused as stale.
    pub webhook_tolerance: Duration,
    /// How long a payment in flight keeps its seats: the gateway's own timeout for an
    /// answer, with a margin. `pay` and each charge extend the hold to at least this.
    pub payment_window: Duration,
}

impl PaymentSettings {
    pub fn hold_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.payment_window).unwrap_or_default()
    }
}

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

/// PAYING -> CONFIRMED through the gateway, by the owner. Idempotent on (reservation,
/// requestId): a retry never charges twice and answers what the first call settled. One
/// payment is open per reservation at a time: it is written before the gateway is called,
/// so a second confirm with another requestId is refused, never charged.
#[allow(clippy::too_many_arguments)]
pub async fn confirm_payment<D, G, L, P>(
    ledger: &D,
    gateway: &G,
    locks: &L,
    publisher: &P,
    settings: SeatSettings,
    payments: PaymentSettings,
    caller: Caller<'_>,
    id: &ReservationId,
    request: &RequestId,
    method: &PaymentMethod,
    now: DateTime<Utc>,
) -> Result<Confirmation, PaymentError>
where
    D: ReservationLedger + PaymentLedger,
    G: PaymentGateway,
    L: SeatLocks,
    P: PushPublisher,
{
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

/// Asks the gateway for the money of a payment the ledger marked REFUNDING, then records it
/// REFUNDED. On failure the payment stays REFUNDING and `retry_refunds` asks again.
async fn return_money<D: PaymentLedger, G: PaymentGateway>(
    ledger: &D,
    gateway: &G,
    payment: &PaymentId,
) -> Result<(), StoreError> {
    gateway.refund(payment).await?;
    ledger.refund_done(payment).await
}

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
#[allow(clippy::too_many_arguments)]
pub async fn receive_payment_event<D, G, L, P>(
    ledger: &D,
    gateway: &G,
    locks: &L,
    publisher: &P,
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

/// A paid reservation (CONFIRMED, or CANCELLED after paying) -> REFUNDED, until the cutoff
/// before the show; past it only with an admin's audited override. The ledger moves first,
/// so money is never returned for a reservation the ledger still counts as paid.
#[allow(clippy::too_many_arguments)]
pub async fn refund_reservation<D, G, L, W, P>(
    ledger: &D,
    gateway: &G,
    locks: &L,
    room: &W,
    publisher: &P,
    seats: SeatSettings,
    settings: PaymentSettings,
    caller: Caller<'_>,
    id: &ReservationId,
    override_reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<RefundMade, RefundError>
where
    D: ReservationLedger + PaymentLedger,
    G: PaymentGateway,
    L: SeatLocks,
    W: WaitingRoom,
    P: PushPublisher,
{
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
                reason,
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

#[cfg(test)]
#[path = "payment_tests.rs"]
mod tests;
