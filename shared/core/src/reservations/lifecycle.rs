//! The reservation lifecycle: which moves are legal, and the pay and cancel use cases.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::{
    PerformanceKey, SeatId, StoreError, UserId, ValidationError,
    catalog::SeatStatus,
    push::{PushEvent, PushPublisher, ReservationUpdate},
    queue::WaitingRoom,
    seats::{SeatLocks, SeatSettings},
};

use super::{Reservation, ReservationId, ReservationLedger, ReservationStatus};

/// What can happen to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    Pay,
    PaymentApproved,
    PaymentDenied,
    Cancel,
    Refund,
    Expire,
}

impl ReservationStatus {
    /// The reservation lifecycle: the status after `transition`, or None if it is illegal.
    ///
    /// HOLD -> PAYING -> CONFIRMED; a denied payment goes back to HOLD; HOLD and PAYING
    /// expire; HOLD and CONFIRMED can be cancelled; a confirmed or cancelled paid
    /// reservation can be refunded.
    pub fn after(self, transition: Transition) -> Option<ReservationStatus> {
        use ReservationStatus::*;
        use Transition::*;
        match (self, transition) {
            (Hold, Pay) => Some(Paying),
            (Paying, PaymentApproved) => Some(Confirmed),
            (Paying, PaymentDenied) => Some(Hold),
            (Hold | Confirmed, Cancel) => Some(Cancelled),
            (Confirmed | Cancelled, Refund) => Some(Refunded),
            (Hold | Paying, Expire) => Some(Expired),
            _ => None,
        }
    }

    /// Whether seats in this status are taken in the ledger.
    pub fn takes_seats(self) -> bool {
        matches!(
            self,
            ReservationStatus::Hold | ReservationStatus::Paying | ReservationStatus::Confirmed
        )
    }
}

/// A page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub size: u32,
}

impl Page {
    pub const MAX_SIZE: u32 = 100;
    pub const DEFAULT_SIZE: u32 = 20;
    pub const MAX_PAGE: u32 = 10_000;

    pub fn parse(page: Option<&str>, size: Option<&str>) -> Result<Self, ValidationError> {
        let number = crate::error::bounded_integer;
        Ok(Self {
            page: number("page", page, 0, 0, Self::MAX_PAGE)?,
            size: number("size", size, Self::DEFAULT_SIZE, 1, Self::MAX_SIZE)?,
        })
    }
}

impl std::str::FromStr for ReservationStatus {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReservationStatus::from_stored(&s.to_ascii_uppercase()).ok_or_else(|| {
            ValidationError::new(
                "status",
                format!(
                    "must be HOLD, PAYING, CONFIRMED, CANCELLED, REFUNDED or EXPIRED, got {s:?}"
                ),
            )
        })
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user: &'a UserId,
    pub admin: bool,
}

#[derive(Debug, Error)]
pub enum LifecycleError {
    /// Also what a caller who is neither the owner nor an admin sees: existence is not revealed.
    #[error("reservation {0} not found")]
    NotFound(ReservationId),
    #[error("a {from:?} reservation cannot be {action}")]
    IllegalTransition {
        from: ReservationStatus,
        action: &'static str,
    },
    #[error("the hold expired; select the seats again")]
    HoldExpired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn owned_by(reservation: &Reservation, caller: Caller<'_>) -> bool {
    caller.admin || &reservation.user == caller.user
}

pub(crate) async fn load_for<D: ReservationLedger>(
    ledger: &D,
    caller: Caller<'_>,
    id: &ReservationId,
) -> Result<Reservation, LifecycleError> {
    ledger
        .reservation(id)
        .await?
        .filter(|r| owned_by(r, caller))
        .ok_or_else(|| LifecycleError::NotFound(id.clone()))
}

pub async fn get_reservation<D: ReservationLedger>(
    ledger: &D,
    caller: Caller<'_>,
    id: &ReservationId,
) -> Result<Reservation, LifecycleError> {
    load_for(ledger, caller, id).await
}

pub async fn list_reservations<D: ReservationLedger>(
    ledger: &D,
    user: &UserId,
    status: Option<ReservationStatus>,
    page: Page,
) -> Result<Vec<Reservation>, LifecycleError> {
    Ok(ledger.for_user(user, status, page).await?)
}

async fn apply<D: ReservationLedger>(
    ledger: &D,
    reservation: &Reservation,
    transition: Transition,
    action: &'static str,
) -> Result<Reservation, LifecycleError> {
    let illegal = || LifecycleError::IllegalTransition {
        from: reservation.status,
        action,
    };
    let to = reservation.status.after(transition).ok_or_else(illegal)?;
    ledger
        .transition(&reservation.reservation_id, reservation.status, to)
        .await?
        .ok_or_else(illegal)
}

/// HOLD -> PAYING, by the owner, before the hold expires. The hold is extended to at least
/// `hold_until`, so a payment started now outlives the gateway's answer.
pub async fn pay_reservation<D: ReservationLedger, P: PushPublisher>(
    ledger: &D,
    publisher: &P,
    caller: Caller<'_>,
    id: &ReservationId,
    now: DateTime<Utc>,
    hold_until: DateTime<Utc>,
) -> Result<Reservation, LifecycleError> {
    let reservation = load_for(
        ledger,
        Caller {
            admin: false,
            ..caller
        },
        id,
    )
    .await?;
    if reservation.status == ReservationStatus::Hold && reservation.hold_expires_at <= now {
        return Err(LifecycleError::HoldExpired);
    }
    let illegal = || LifecycleError::IllegalTransition {
        from: reservation.status,
        action: "paid for",
    };
    reservation
        .status
        .after(Transition::Pay)
        .ok_or_else(illegal)?;
    let paying = ledger
        .start_paying(id, now, hold_until)
        .await?
        .ok_or_else(illegal)?;
    notify(publisher, &paying).await;
    Ok(paying)
}

/// HOLD or CONFIRMED -> CANCELLED, by the owner or an admin; the seats go back on sale and
/// count as resale for the waiting room.
pub async fn cancel_reservation<D, L, W, P>(
    ledger: &D,
    locks: &L,
    room: &W,
    publisher: &P,
    settings: SeatSettings,
    caller: Caller<'_>,
    id: &ReservationId,
) -> Result<Reservation, LifecycleError>
where
    D: ReservationLedger,
    L: SeatLocks,
    W: WaitingRoom,
    P: PushPublisher,
{
    let reservation = load_for(ledger, caller, id).await?;
    let cancelled = apply(ledger, &reservation, Transition::Cancel, "cancelled").await?;
    seats_changed(
        locks,
        publisher,
        settings,
        &cancelled,
        SeatStatus::Available,
    )
    .await;
    let _ = room
        .credit_freed_seats(cancelled.concert_id, &seat_ids(&cancelled))
        .await;
    notify(publisher, &cancelled).await;
    Ok(cancelled)
}

/// Logs the reservation's seats as `status` for viewers. The ledger has committed; a Redis
/// follow-up that fails is repaired by the expiry tick's re-sync and never allows a double sale.
pub(crate) async fn seats_changed<L: SeatLocks, P: PushPublisher>(
    locks: &L,
    publisher: &P,
    settings: SeatSettings,
    reservation: &Reservation,
    status: SeatStatus,
) {
    let changes: Vec<(SeatId, SeatStatus)> = reservation
        .seats
        .iter()
        .map(|s| (s.seat_id, status))
        .collect();
    let performance = PerformanceKey {
        concert: reservation.concert_id,
        option: reservation.option_id,
    };
    if let Ok(true) = locks
        .record_ledger(
            performance,
            &reservation.user,
            &changes,
            settings.flush_window,
        )
        .await
    {
        publisher
            .publish(PushEvent::SeatsChanged { performance })
            .await;
    }
}

pub(crate) fn seat_ids(reservation: &Reservation) -> Vec<SeatId> {
    reservation.seats.iter().map(|s| s.seat_id).collect()
}

pub(crate) async fn notify<P: PushPublisher>(publisher: &P, reservation: &Reservation) {
    publisher
        .publish(PushEvent::ReservationStatus {
            user: reservation.user.clone(),
            update: ReservationUpdate::Changed {
                reservation: reservation.reservation_id.clone(),
                status: reservation.status,
            },
        })
        .await;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{ReservationStatus, ReservationStatus::*, Transition::*, *};

    const ALL: [ReservationStatus; 6] = [Hold, Paying, Confirmed, Cancelled, Refunded, Expired];
    const TRANSITIONS: [Transition; 6] =
        [Pay, PaymentApproved, PaymentDenied, Cancel, Refund, Expire];

    #[test]
    fn the_buy_walk_and_its_illegal_steps() {
        let walk = [Pay, PaymentApproved, Cancel, Refund];
        let end = walk.iter().try_fold(Hold, |s, t| s.after(*t));
        assert_eq!(end, Some(Refunded));
        assert_eq!(Paying.after(PaymentDenied), Some(Hold));
        assert_eq!(
            Hold.after(PaymentApproved),
            None,
            "no confirmation without paying"
        );
        assert_eq!(Confirmed.after(Expire), None, "a paid seat never expires");
        assert_eq!(Hold.after(Refund), None, "nothing to refund");
    }

    proptest! {
        #[test]
        fn terminal_states_stay_terminal_and_seats_free_exactly_once(
            steps in proptest::collection::vec(proptest::sample::select(TRANSITIONS.to_vec()), 0..20)
        ) {
            let mut status = Hold;
            let mut freed = 0;
            for t in steps {
                if let Some(next) = status.after(t) {
                    if status.takes_seats() && !next.takes_seats() {
                        freed += 1;
                    }
                    prop_assert!(!(matches!(status, Refunded | Expired)), "{status:?} is terminal");
                    status = next;
                }
            }
            prop_assert!(freed <= 1, "seats freed {freed} times");
            for s in ALL {
                if matches!(s, Refunded | Expired) {
                    for t in TRANSITIONS {
                        prop_assert_eq!(s.after(t), None);
                    }
                }
            }
        }
    }
}
