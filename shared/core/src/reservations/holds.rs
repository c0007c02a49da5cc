//! Holds: the buyer's soft-locked seats become a reservation in one ledger transaction,
//! idempotent on the client's request id.

use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::{
    PerformanceKey, SeatId, StoreError, UserId,
    abuse::{AbuseError, AbuseLedger, AbuseRules, Attempt, check_hold},
    catalog::{CatalogRepository, SeatStatus},
    push::{PushEvent, PushPublisher, ReservationUpdate},
    seats::{SeatLocks, SeatSettings},
};

use super::{HoldOutcome, HoldRequest, NewHold, Reservation, ReservationLedger};

#[derive(Debug, Error)]
pub enum HoldError {
    #[error("performance {0} not found")]
    OptionNotFound(crate::OptionId),
    #[error("seat {0} is not a seat of this performance")]
    SeatNotFound(SeatId),
    #[error("select every seat first: seat {0} is not selected by you")]
    NotSelected(SeatId),
    #[error("this requestId was already used for a different hold")]
    IdempotencyKeyReused,
    #[error("this hold would give you {wanted} seats; at most {limit} per buyer")]
    LimitExceeded { wanted: u32, limit: u16 },
    #[error("one of these seats is no longer available")]
    SeatsTaken,
    #[error("the sale has no sales policy")]
    NoPolicy,
    #[error(transparent)]
    Abuse(#[from] AbuseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A confirmed hold: new (201) or replayed (200).
#[derive(Debug)]
pub struct HoldConfirmed {
    pub reservation: Reservation,
    pub replayed: bool,
    /// The hold is committed, but telling Redis failed: the soft locks lapse by themselves
    /// and the next re-sync fixes the mirror. For the caller to log.
    pub redis_follow_up: Option<StoreError>,
}

/// Hold settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldSettings {
    pub hold_ttl: Duration,
    pub seats: SeatSettings,
    pub abuse: AbuseRules,
}

/// One buyer's hold request, as the edge checked it, at `now`.
#[derive(Debug, Clone, Copy)]
pub struct HoldAsk<'a> {
    pub user: &'a UserId,
    pub request: &'a HoldRequest,
    pub now: DateTime<Utc>,
}

/// Confirms the buyer's selected seats as a HOLD. A replay of the same request returns the
/// same reservation; the ledger's conditional update, not Redis, is what makes a double
/// sale impossible. When a store fails, nothing is written and the soft locks are released.
pub async fn confirm_hold<R, L, D, P>(
    catalog: &R,
    locks: &L,
    ledger: &D,
    publisher: &P,
    settings: HoldSettings,
    ask: HoldAsk<'_>,
) -> Result<HoldConfirmed, HoldError>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger + AbuseLedger,
    P: PushPublisher,
{
    let HoldAsk { user, request, now } = ask;
    match write_hold(catalog, locks, ledger, settings, user, request, now).await {
        Ok(Written::Held(reservation)) => {
            let changes: Vec<(SeatId, SeatStatus)> = request
                .seats
                .iter()
                .map(|s| (*s, SeatStatus::Hold))
                .collect();
            let performance = PerformanceKey {
                concert: reservation.concert_id,
                option: request.option,
            };
            let redis_follow_up = match locks
                .record_ledger(performance, user, &changes, settings.seats.flush_window)
                .await
            {
                Ok(flush) => {
                    if flush {
                        publisher
                            .publish(PushEvent::SeatsChanged { performance })
                            .await;
                    }
                    None
                }
                Err(err) => Some(err),
            };
            publisher
                .publish(PushEvent::ReservationStatus {
                    user: user.clone(),
                    update: ReservationUpdate::Changed {
                        reservation: reservation.reservation_id.clone(),
                        status: reservation.status,
                    },
                })
                .await;
            Ok(HoldConfirmed {
                reservation,
                replayed: false,
                redis_follow_up,
            })
        }
        Ok(Written::Existing(existing)) => replay(existing, request),
        Err(HoldError::Store(err) | HoldError::Abuse(AbuseError::Store(err))) => {
            // Nothing was written; let the seats go so others are not blocked by a hold
            // that cannot be made, and tell the buyer.
            if let Ok(Some(concert)) = locks.concert_of(request.option).await {
                let performance = PerformanceKey {
                    concert,
                    option: request.option,
                };
                for seat in &request.seats {
                    let _ = locks
                        .release(performance, *seat, user, settings.seats.flush_window)
                        .await;
                }
            }
            publisher
                .publish(PushEvent::ReservationStatus {
                    user: user.clone(),
                    update: ReservationUpdate::Failed {
                        request_id: request.request.as_str().to_owned(),
                    },
                })
                .await;
            Err(HoldError::Store(err))
        }
        Err(other) => Err(other),
    }
}

enum Written {
    Held(Reservation),
    Existing(Reservation),
}

async fn write_hold<R, L, D>(
    catalog: &R,
    locks: &L,
    ledger: &D,
    settings: HoldSettings,
    user: &UserId,
    request: &HoldRequest,
    now: DateTime<Utc>,
) -> Result<Written, HoldError>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger + AbuseLedger,
{
    if let Some(existing) = ledger.by_request(user, &request.request).await? {
        return Ok(Written::Existing(existing));
    }
    // Abuse rules come before anything else is read, so a bot's second submit of the same
    // seats is caught (and audited) rather than answered as "not selected".
    let fingerprint = request.fingerprint();
    check_hold(
        ledger,
        settings.abuse,
        Attempt {
            user,
            fingerprint: &fingerprint,
            request_id: request.request.as_str(),
            device: request.device.as_ref(),
            now,
        },
    )
    .await?;
    let record = catalog
        .option(request.option)
        .await?
        .ok_or(HoldError::OptionNotFound(request.option))?;
    if let Some(seat) = request.seats.iter().find(|s| !record.has_seat(**s)) {
        return Err(HoldError::SeatNotFound(*seat));
    }
    let performance = PerformanceKey {
        concert: record.concert.id,
        option: request.option,
    };
    let holders = locks.holders(performance, &request.seats).await?;
    if let Some((seat, _)) = request
        .seats
        .iter()
        .zip(&holders)
        .find(|(_, holder)| holder.as_ref() != Some(user))
    {
        // A concurrent copy of this request may have just turned the locks into its hold.
        return match ledger.by_request(user, &request.request).await? {
            Some(existing) => Ok(Written::Existing(existing)),
            None => Err(HoldError::NotSelected(*seat)),
        };
    }
    let policy = record.concert.policy.as_ref().ok_or(HoldError::NoPolicy)?;
    let limit = policy.max_seats_per_user();
    let hold = NewHold {
        user,
        concert: record.concert.id,
        request,
        expires_at: now + chrono::Duration::from_std(settings.hold_ttl).unwrap_or_default(),
        max_seats_per_user: limit,
    };
    match ledger.hold(hold).await? {
        HoldOutcome::Held(reservation) => Ok(Written::Held(reservation)),
        HoldOutcome::Existing(existing) => Ok(Written::Existing(existing)),
        HoldOutcome::SeatsTaken => Err(HoldError::SeatsTaken),
        HoldOutcome::LimitExceeded { wanted } => Err(HoldError::LimitExceeded { wanted, limit }),
    }
}

fn replay(existing: Reservation, request: &HoldRequest) -> Result<HoldConfirmed, HoldError> {
    if existing.fingerprint == request.fingerprint() {
        Ok(HoldConfirmed {
            reservation: existing,
            replayed: true,
            redis_follow_up: None,
        })
    } else {
        Err(HoldError::IdempotencyKeyReused)
    }
}
