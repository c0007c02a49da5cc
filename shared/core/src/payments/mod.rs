//! Paying for a reservation: the charge through a payment gateway, the gateway's signed
//! webhook that settles a charge it could not answer at once, and refunds.

use std::{fmt, future::Future, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;

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

mod confirm;
mod refund;
mod webhook;

pub use confirm::{Confirmation, PaymentConfirm, PaymentError, confirm_payment};
pub use refund::{
    REFUND_RETRY_BATCH, RefundAsk, RefundError, RefundMade, RefundRetryReport, refund_reservation,
    retry_refunds,
};
pub use webhook::{WebhookError, WebhookReceipt, receive_payment_event};

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

/// The stores and services the payment use cases work on.
pub struct PaymentPorts<'a, D, G, L, P> {
    pub ledger: &'a D,
    pub gateway: &'a G,
    pub locks: &'a L,
    pub publisher: &'a P,
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

#[cfg(test)]
mod tests;
