//! Holds: the buyer's soft-locked seats become a reservation in one ledger transaction,
//! idempotent on the client's request id.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;

use crate::{
    ConcertId, OptionId, PerformanceKey, SeatId, StoreError, Tier, UserId, ValidationError,
    abuse::{AbuseError, AbuseLedger, AbuseRules, Attempt, DeviceFingerprint, check_hold},
    catalog::{CatalogRepository, SeatStatus},
    push::{PushEvent, PushPublisher, ReservationUpdate},
    queue::WaitingRoom,
    sale::{SaleStatus, sale_view},
    schedule::{SchedulerLock, TickRun},
    seats::{RequestId, SeatLocks, SeatSettings, TakenSeat},
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedSeat {
    pub seat_id: SeatId,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub grade: String,
    pub price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// What one expiry tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    pub ran: bool,
    pub expired: u32,
    pub seats_freed: u32,
    pub locks_lapsed: u32,
    /// Seats whose Redis state the periodic re-sync corrected.
    pub resynced: u32,
}

/// Every this many ticks, the expiry tick also re-syncs Redis with the ledger.
pub const RESYNC_EVERY_TICKS: u64 = 30;

/// Most holds one tick expires; the rest wait for the next tick.
pub const EXPIRE_BATCH: u32 = 500;

/// One expiry tick, once per tick under the scheduler lock: expire due holds, free their
/// seats (logged as AVAILABLE, and counted as resale for the waiting room), tell each buyer,
/// and log lapsed soft locks of the performances on sale as AVAILABLE.
#[allow(clippy::too_many_arguments)]
pub async fn expire_tick<R, L, D, W, S, P>(
    catalog: &R,
    locks: &L,
    ledger: &D,
    room: &W,
    scheduler: &S,
    publisher: &P,
    settings: SeatSettings,
    tick: &TickRun,
    now: DateTime<Utc>,
) -> Result<ExpiryReport, StoreError>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger,
    W: WaitingRoom,
    S: SchedulerLock,
    P: PushPublisher,
{
    let Some(claim) = tick.claim(scheduler, "hold-expire").await? else {
        return Ok(ExpiryReport::default());
    };
    let resync = tick.sequence.is_multiple_of(RESYNC_EVERY_TICKS);
    let outcome = expire_and_sweep(
        catalog, locks, ledger, room, publisher, settings, now, resync,
    )
    .await;
    claim.finish(scheduler, outcome.is_ok()).await?;
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn expire_and_sweep<R, L, D, W, P>(
    catalog: &R,
    locks: &L,
    ledger: &D,
    room: &W,
    publisher: &P,
    settings: SeatSettings,
    now: DateTime<Utc>,
    resync: bool,
) -> Result<ExpiryReport, StoreError>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger,
    W: WaitingRoom,
    P: PushPublisher,
{
    let mut report = ExpiryReport {
        ran: true,
        ..Default::default()
    };
    // The ledger is the truth: once the transaction commits the seats are free, whatever
    // happens to the Redis follow-ups below (the DB guard and the next sweep cover them).
    for hold in ledger.expire_due(now, EXPIRE_BATCH).await? {
        report.expired += 1;
        report.seats_freed += hold.seats.len() as u32;
        let changes: Vec<(SeatId, SeatStatus)> = hold
            .seats
            .iter()
            .map(|s| (*s, SeatStatus::Available))
            .collect();
        let performance = PerformanceKey {
            concert: hold.concert,
            option: hold.option,
        };
        if locks
            .record_ledger(performance, &hold.user, &changes, settings.flush_window)
            .await?
        {
            publisher
                .publish(PushEvent::SeatsChanged { performance })
                .await;
        }
        room.credit_freed_seats(hold.concert, &hold.seats).await?;
        publisher
            .publish(PushEvent::ReservationStatus {
                user: hold.user,
                update: ReservationUpdate::Changed {
                    reservation: hold.reservation,
                    status: ReservationStatus::Expired,
                },
            })
            .await;
    }
    for listing in catalog.listings(&Default::default()).await? {
        let status = sale_view(
            listing.policy.as_ref(),
            listing.closes_at(),
            listing.counts,
            now,
            Some(Tier::Vip),
        )
        .status;
        if status != SaleStatus::Open {
            continue;
        }
        let Some(record) = catalog.concert(listing.id).await? else {
            continue;
        };
        for performance in record.performances {
            let performance = PerformanceKey {
                concert: listing.id,
                option: performance.option_id,
            };
            let (lapsed, mut flush) = locks
                .sweep_expired(performance, now, settings.flush_window)
                .await?;
            report.locks_lapsed += lapsed;
            if resync {
                let taken = ledger.taken_seats(performance.option).await?;
                let (changed, resync_flush) = locks
                    .resync(performance, &taken, settings.flush_window)
                    .await?;
                report.resynced += changed;
                flush |= resync_flush;
            }
            if flush {
                publisher
                    .publish(PushEvent::SeatsChanged { performance })
                    .await;
            }
        }
    }
    Ok(report)
}

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

/// Confirms the buyer's selected seats as a HOLD. A replay of the same request returns the
/// same reservation; the ledger's conditional update, not Redis, is what makes a double
/// sale impossible. When a store fails, nothing is written and the soft locks are released.
#[allow(clippy::too_many_arguments)]
pub async fn confirm_hold<R, L, D, P>(
    catalog: &R,
    locks: &L,
    ledger: &D,
    publisher: &P,
    settings: HoldSettings,
    user: &UserId,
    request: &HoldRequest,
    now: DateTime<Utc>,
) -> Result<HoldConfirmed, HoldError>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger + AbuseLedger,
    P: PushPublisher,
{
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

    pub fn parse(page: Option<&str>, size: Option<&str>) -> Result<Self, ValidationError> {
        let number = |field: &'static str, raw: Option<&str>, default: u32, min: u32, max: u32| {
            let Some(raw) = raw else { return Ok(default) };
            match raw.trim().parse::<i64>() {
                Ok(v) if v >= i64::from(min) && v <= i64::from(max) => Ok(v as u32),
                _ => Err(ValidationError::new(
                    field,
                    format!("must be an integer from {min} to {max}, got {raw:?}"),
                )),
            }
        };
        Ok(Self {
            page: number("page", page, 0, 0, 10_000)?,
            size: number("size", size, 20, 1, Self::MAX_SIZE)?,
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
#[allow(clippy::too_many_arguments)]
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

#[cfg(test)]
mod lifecycle_tests {
    use proptest::prelude::*;

    use super::{ReservationStatus::*, Transition::*, *};

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
