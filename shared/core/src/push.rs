//! Domain events on their way to connected browsers.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::{
    ConcertId, OptionId, UserId,
    queue::ActiveToken,
    reservations::{ReservationId, ReservationStatus},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// The buyer was admitted: their token, for them only.
    QueueActive {
        concert: ConcertId,
        user: UserId,
        token: ActiveToken,
        expires_at: DateTime<Utc>,
    },
    /// The buyer's true place in line, for them only.
    QueueRank {
        concert: ConcertId,
        user: UserId,
        rank: u64,
        estimated_wait_seconds: u64,
    },
    /// Seats of this performance changed: the dispatcher reads the option's change log
    /// (after the coalescing window) and pushes one SEAT_STATUS.
    SeatsChanged { option: OptionId },
    /// A concert's metadata or policy changed: its card is pushed to every screen.
    ConcertChanged { concert: ConcertId },
    /// A change to one of the buyer's reservations, for them only.
    ReservationStatus {
        user: UserId,
        update: ReservationUpdate,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservationUpdate {
    /// The hold for this request could not be written; the seats were let go.
    Failed { request_id: String },
    Changed {
        reservation: ReservationId,
        status: ReservationStatus,
    },
}

/// Sends events towards subscribers. Publishing never fails the caller's work: a failure
/// is the adapter's to log, and the state it reports can always be read back.
pub trait PushPublisher: Send + Sync {
    fn publish(&self, event: PushEvent) -> impl Future<Output = ()> + Send;
}
