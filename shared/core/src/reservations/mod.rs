//! Reservations: the ledger's record of who holds which seats, and the port to it. The use
//! cases live beside it: `holds` (soft locks become a reservation), `expiry` (the expiry
//! tick), `lifecycle` (pay, cancel, and the rules every move follows).

mod expiry;
mod holds;
mod lifecycle;

pub use expiry::*;
pub use holds::*;
pub use lifecycle::*;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    ConcertId, OptionId, SeatId, StoreError, UserId, ValidationError,
    abuse::DeviceFingerprint,
    seats::{RequestId, TakenSeat},
    time,
};

pub use crate::ids::{ReservationId, ReservationStatus};

/// Most seats one hold may take.
pub const MAX_SEATS_PER_HOLD: usize = 20;

/// A hold request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    pub option: OptionId,
    /// Sorted, distinct.
    pub seats: Vec<SeatId>,
    pub request: RequestId,
    /// The client's device, for the one-device-one-buyer rule; not part of the fingerprint.
    pub device: Option<DeviceFingerprint>,
}

impl HoldRequest {
    pub fn new(
        option: OptionId,
        seats: Vec<SeatId>,
        request: RequestId,
    ) -> Result<Self, ValidationError> {
        if seats.is_empty() || seats.len() > MAX_SEATS_PER_HOLD {
            return Err(ValidationError::new(
                "seatIds",
                format!("must list 1 to {MAX_SEATS_PER_HOLD} seats"),
            ));
        }
        let mut sorted = seats.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != seats.len() {
            return Err(ValidationError::new("seatIds", "must not repeat a seat"));
        }
        Ok(Self {
            option,
            seats: sorted,
            request,
            device: None,
        })
    }

    pub fn with_device(mut self, device: Option<DeviceFingerprint>) -> Self {
        self.device = device;
        self
    }

    /// What was asked, so a replay can be told from a reused key.
    pub fn fingerprint(&self) -> String {
        let seats: Vec<String> = self.seats.iter().map(ToString::to_string).collect();
        format!("{}:{}", self.option, seats.join(","))
    }
}

/// A seat as a reservation lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservedSeat {
    pub seat_id: SeatId,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub grade: String,
    pub price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub reservation_id: ReservationId,
    #[serde(skip)]
    pub user: UserId,
    #[serde(skip)]
    pub fingerprint: String,
    pub concert_id: ConcertId,
    pub option_id: OptionId,
    pub status: ReservationStatus,
    #[serde(with = "time")]
    pub hold_expires_at: DateTime<Utc>,
    /// When the performance starts; refunds close a while before.
    #[serde(with = "time")]
    pub starts_at: DateTime<Utc>,
    pub seats: Vec<ReservedSeat>,
}

/// The ledger's answer to a hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    Held(Reservation),
    /// At least one seat was not AVAILABLE: nothing was written.
    SeatsTaken,
    /// The buyer would hold more than the policy allows for this concert: nothing was written.
    LimitExceeded {
        wanted: u32,
    },
    /// This buyer already used this request id (perhaps concurrently): here is that reservation.
    Existing(Reservation),
}

/// The new hold, for the ledger to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold<'a> {
    pub user: &'a UserId,
    pub concert: ConcertId,
    pub request: &'a HoldRequest,
    pub expires_at: DateTime<Utc>,
    /// The policy's most seats per buyer for the concert, checked inside the transaction.
    pub max_seats_per_user: u16,
}

/// Reservations in the ledger.
pub trait ReservationLedger: Send + Sync {
    fn by_request(
        &self,
        user: &UserId,
        request: &RequestId,
    ) -> impl Future<Output = Result<Option<Reservation>, StoreError>> + Send;

    /// One transaction, under a lock on (buyer, concert): the seats the buyer holds, is
    /// paying for or owns for the concert stay within `max_seats_per_user`; then the
    /// reservation row, then exactly these seats AVAILABLE -> HOLD, or nothing.
    fn hold(
        &self,
        hold: NewHold<'_>,
    ) -> impl Future<Output = Result<HoldOutcome, StoreError>> + Send;

    fn reservation(
        &self,
        id: &ReservationId,
    ) -> impl Future<Output = Result<Option<Reservation>, StoreError>> + Send;

    /// A buyer's reservations, newest first.
    fn for_user(
        &self,
        user: &UserId,
        status: Option<ReservationStatus>,
        page: Page,
    ) -> impl Future<Output = Result<Vec<Reservation>, StoreError>> + Send;

    /// Moves the reservation from `from` to `to` if it is still `from`, and its seats with
    /// it (HOLD, CONFIRMED, or AVAILABLE again), in one transaction. None if it was not `from`.
    fn transition(
        &self,
        id: &ReservationId,
        from: ReservationStatus,
        to: ReservationStatus,
    ) -> impl Future<Output = Result<Option<Reservation>, StoreError>> + Send;

    /// HOLD -> PAYING if it is still HOLD and unexpired at `now`, its hold kept at least until
    /// `hold_until`. None if it was not.
    fn start_paying(
        &self,
        id: &ReservationId,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Reservation>, StoreError>> + Send;

    /// Every seat of the performance that the ledger holds or sold, with its holder.
    fn taken_seats(
        &self,
        option: OptionId,
    ) -> impl Future<Output = Result<Vec<TakenSeat>, StoreError>> + Send;

    /// Moves up to `limit` HOLD and PAYING reservations past their expiry to EXPIRED and
    /// frees their seats, in one transaction.
    fn expire_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ExpiredHold>, StoreError>> + Send;
}

/// A hold that ran out, with the seats it gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredHold {
    pub reservation: ReservationId,
    pub user: UserId,
    pub concert: ConcertId,
    pub option: OptionId,
    pub seats: Vec<SeatId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_requests_are_checked_and_fingerprinted_in_seat_order() {
        let req = RequestId::parse("r").unwrap();
        let seats = |v: &[i64]| {
            v.iter()
                .map(|s| SeatId::from_stored(*s))
                .collect::<Vec<_>>()
        };
        let a = HoldRequest::new(OptionId::from_stored(3), seats(&[9, 2]), req.clone()).unwrap();
        let b = HoldRequest::new(OptionId::from_stored(3), seats(&[2, 9]), req.clone()).unwrap();
        assert_eq!(a.fingerprint(), "3:2,9");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            HoldRequest::new(OptionId::from_stored(3), seats(&[]), req.clone())
                .unwrap_err()
                .field,
            "seatIds"
        );
        assert!(HoldRequest::new(OptionId::from_stored(3), seats(&[1, 1]), req.clone()).is_err());
        assert!(
            HoldRequest::new(
                OptionId::from_stored(3),
                seats(&(1..=21).collect::<Vec<_>>()),
                req
            )
            .is_err()
        );
    }

    #[test]
    fn reservation_ids_are_uuids() {
        assert!(ReservationId::parse("id", "0f8fad5b-d9cb-469f-a165-70867728950e").is_ok());
        assert!(ReservationId::parse("id", "0f8fad5b").is_err());
        assert!(ReservationId::parse("id", "0f8fad5b-d9cb-469f-a165-70867728950g").is_err());
    }
}
