//! The payment state machine against in-memory fakes of its ports: a ledger with a small
//! honest model of reservations and payments, a scripted gateway, and recorders for the
//! seat locks, the waiting room and the publisher (the shared ones from `crate::fakes`).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Mutex, MutexGuard},
};

use super::*;
use crate::{
    ConcertId, OptionId, PerformanceKey, SeatId,
    fakes::{FakeLocks, FakePublisher, LedgerRecord, at},
    push::{PushEvent, ReservationUpdate},
    queue::{Admission, AdmitRequest, JoinOutcome, QueueSettings, Standing},
    reservations::{ExpiredHold, HoldOutcome, NewHold, Page, ReservedSeat},
    seats::TakenSeat,
};

// ---------------------------------------------------------------------------------------
// The ledger: reservations by id, payments by idempotency key, webhook events by id.

#[derive(Debug, Clone)]
struct StoredPayment {
    payment: Payment,
    /// The sequence of the last webhook event applied to it.
    last_sequence: i64,
    /// When it last changed, in ledger steps: `refunds_due` answers oldest first.
    touched: u64,
}

#[derive(Default)]
struct LedgerState {
    reservations: HashMap<ReservationId, Reservation>,
    payments: Vec<StoredPayment>,
    events: HashSet<String>,
    overrides: Vec<(ReservationId, RefundOverride)>,
    steps: u64,
}

impl LedgerState {
    fn step(&mut self) -> u64 {
        self.steps += 1;
        self.steps
    }

    fn by_key(&mut self, key: &str) -> Option<&mut StoredPayment> {
        self.payments
            .iter_mut()
            .find(|p| p.payment.idempotency_key == key)
    }

    fn by_payment(&mut self, payment: &PaymentId) -> Option<&mut StoredPayment> {
        self.payments
            .iter_mut()
            .find(|p| p.payment.payment_id.as_ref() == Some(payment))
    }

    /// `from` -> `to` if the reservation is still `from` (its seats follow its status).
    fn move_reservation(
        &mut self,
        id: &ReservationId,
        from: ReservationStatus,
        to: ReservationStatus,
    ) -> bool {
        match self.reservations.get_mut(id) {
            Some(r) if r.status == from => {
                r.status = to;
                true
            }
            _ => false,
        }
    }

    fn current(&self, id: &ReservationId) -> Result<Reservation, StoreError> {
        self.reservations
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::internal(format!("reservation {id} vanished")))
    }
}

#[derive(Default)]
struct FakeLedger(Mutex<LedgerState>);

impl FakeLedger {
    fn with(reservation: Reservation) -> Self {
        let ledger = Self::default();
        ledger
            .state()
            .reservations
            .insert(reservation.reservation_id.clone(), reservation);
        ledger
    }

    fn state(&self) -> MutexGuard<'_, LedgerState> {
        self.0.lock().unwrap()
    }

    fn reservation_now(&self) -> Reservation {
        self.state().reservations[&rid()].clone()
    }

    fn status(&self) -> ReservationStatus {
        self.reservation_now().status
    }

    fn payment(&self, request: &str) -> Option<Payment> {
        self.state()
            .by_key(&key(request))
            .map(|p| p.payment.clone())
    }

    fn payment_status(&self, request: &str) -> Option<PaymentStatus> {
        self.payment(request).map(|p| p.status)
    }

    fn overrides(&self) -> Vec<(ReservationId, RefundOverride)> {
        self.state().overrides.clone()
    }
}

impl ReservationLedger for FakeLedger {
    async fn by_request(
        &self,
        _user: &UserId,
        _request: &RequestId,
    ) -> Result<Option<Reservation>, StoreError> {
        Ok(None)
    }

    async fn hold(&self, _hold: NewHold<'_>) -> Result<HoldOutcome, StoreError> {
        Ok(HoldOutcome::SeatsTaken)
    }

    async fn reservation(&self, id: &ReservationId) -> Result<Option<Reservation>, StoreError> {
        Ok(self.state().reservations.get(id).cloned())
    }

    async fn for_user(
        &self,
        user: &UserId,
        status: Option<ReservationStatus>,
        page: Page,
    ) -> Result<Vec<Reservation>, StoreError> {
        Ok(self
            .state()
            .reservations
            .values()
            .filter(|r| &r.user == user && status.is_none_or(|s| r.status == s))
            .skip((page.page * page.size) as usize)
            .take(page.size as usize)
            .cloned()
            .collect())
    }

    async fn transition(
        &self,
        id: &ReservationId,
        from: ReservationStatus,
        to: ReservationStatus,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut state = self.state();
        if !state.move_reservation(id, from, to) {
            return Ok(None);
        }
        state.current(id).map(Some)
    }

    async fn start_paying(
        &self,
        id: &ReservationId,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut state = self.state();
        match state.reservations.get_mut(id) {
            Some(r) if r.status == ReservationStatus::Hold && r.hold_expires_at > now => {
                r.status = ReservationStatus::Paying;
                r.hold_expires_at = r.hold_expires_at.max(hold_until);
                Ok(Some(r.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn taken_seats(&self, option: OptionId) -> Result<Vec<TakenSeat>, StoreError> {
        Ok(self
            .state()
            .reservations
            .values()
            .filter(|r| r.option_id == option && r.status.takes_seats())
            .flat_map(|r| {
                let status = if r.status == ReservationStatus::Confirmed {
                    SeatStatus::Confirmed
                } else {
                    SeatStatus::Hold
                };
                r.seats.iter().map(move |s| TakenSeat {
                    seat: s.seat_id,
                    status,
                    holder: r.user.clone(),
                })
            })
            .collect())
    }

    async fn expire_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ExpiredHold>, StoreError> {
        let mut state = self.state();
        let mut expired = Vec::new();
        for r in state.reservations.values_mut() {
            if expired.len() as u32 == limit {
                break;
            }
            let open = matches!(
                r.status,
                ReservationStatus::Hold | ReservationStatus::Paying
            );
            if open && r.hold_expires_at <= now {
                r.status = ReservationStatus::Expired;
                expired.push(ExpiredHold {
                    reservation: r.reservation_id.clone(),
                    user: r.user.clone(),
                    concert: r.concert_id,
                    option: r.option_id,
                    seats: seat_ids(r),
                });
            }
        }
        Ok(expired)
    }
}

impl PaymentLedger for FakeLedger {
    async fn open_payment(&self, open: OpenPayment<'_>) -> Result<Opened, StoreError> {
        let mut state = self.state();
        let reservation = state.current(open.reservation)?;
        if let Some(earlier) = state.by_key(open.idempotency_key) {
            return Ok(match earlier.payment.payment_id {
                None => Opened::Unanswered,
                Some(_) => Opened::Answered(earlier.payment.clone()),
            });
        }
        if reservation.status != ReservationStatus::Paying {
            return Ok(Opened::NotPaying(reservation.status));
        }
        if reservation.hold_expires_at <= open.now {
            return Ok(Opened::HoldExpired);
        }
        let busy = state.payments.iter().any(|p| {
            &p.payment.reservation_id == open.reservation
                && matches!(
                    p.payment.status,
                    PaymentStatus::Pending | PaymentStatus::Approved
                )
        });
        if busy {
            return Ok(Opened::Busy);
        }
        let touched = state.step();
        state.payments.push(StoredPayment {
            payment: Payment {
                payment_id: None,
                reservation_id: open.reservation.clone(),
                idempotency_key: open.idempotency_key.to_owned(),
                amount: open.amount,
                status: PaymentStatus::Pending,
            },
            last_sequence: 0,
            touched,
        });
        let held = state.reservations.get_mut(open.reservation).unwrap();
        held.hold_expires_at = held.hold_expires_at.max(open.hold_until);
        Ok(Opened::New)
    }

    async fn settle(
        &self,
        idempotency_key: &str,
        payment: &PaymentId,
        status: PaymentStatus,
    ) -> Result<Settled, StoreError> {
        let mut state = self.state();
        let touched = state.step();
        let stored = state
            .by_key(idempotency_key)
            .ok_or_else(|| StoreError::internal(format!("no payment {idempotency_key}")))?;
        if stored.payment.payment_id.is_some() {
            return Ok(Settled::AlreadyAnswered(stored.payment.clone()));
        }
        stored.payment.payment_id = Some(payment.clone());
        stored.payment.status = status;
        stored.touched = touched;
        let reservation = stored.payment.reservation_id.clone();
        let to = match status {
            PaymentStatus::Approved => Some(ReservationStatus::Confirmed),
            PaymentStatus::Denied => Some(ReservationStatus::Hold),
            _ => None,
        };
        let mut refund_due = false;
        if let Some(to) = to {
            let moved = state.move_reservation(&reservation, ReservationStatus::Paying, to);
            if !moved && status == PaymentStatus::Approved {
                state.by_key(idempotency_key).unwrap().payment.status = PaymentStatus::Refunding;
                refund_due = true;
            }
        }
        let current = state.current(&reservation)?;
        Ok(if refund_due {
            Settled::RefundDue(current)
        } else {
            Settled::Applied(current)
        })
    }

    async fn paid_for(&self, reservation: &ReservationId) -> Result<Option<Payment>, StoreError> {
        Ok(self
            .state()
            .payments
            .iter()
            .find(|p| {
                &p.payment.reservation_id == reservation
                    && p.payment.status == PaymentStatus::Approved
            })
            .map(|p| p.payment.clone()))
    }

    async fn apply_event(&self, event: &PaymentEvent) -> Result<EventOutcome, StoreError> {
        let mut state = self.state();
        let touched = state.step();
        let Some(stored) = state.by_payment(&event.payment) else {
            return Ok(EventOutcome::UnknownPayment);
        };
        let (reservation, status, last) = (
            stored.payment.reservation_id.clone(),
            stored.payment.status,
            stored.last_sequence,
        );
        if !state.events.insert(event.event_id.clone()) {
            return Ok(EventOutcome::Duplicate);
        }
        if event.sequence <= last || status != PaymentStatus::Pending {
            // Recorded all the same: a redelivery of it is a duplicate.
            return Ok(EventOutcome::OutOfOrder);
        }
        let to = if event.approved {
            ReservationStatus::Confirmed
        } else {
            ReservationStatus::Hold
        };
        let moved = state.move_reservation(&reservation, ReservationStatus::Paying, to);
        let settled = match (event.approved, moved) {
            (true, true) => PaymentStatus::Approved,
            (true, false) => PaymentStatus::Refunding,
            (false, _) => PaymentStatus::Denied,
        };
        let stored = state.by_payment(&event.payment).unwrap();
        stored.payment.status = settled;
        stored.last_sequence = event.sequence;
        stored.touched = touched;
        let current = state.current(&reservation)?;
        Ok(match (moved, settled) {
            (true, _) => EventOutcome::Applied(current),
            (false, PaymentStatus::Refunding) => EventOutcome::RefundDue {
                status: current.status,
                payment: event.payment.clone(),
            },
            (false, _) => EventOutcome::ReservationMovedOn(current.status),
        })
    }

    async fn refund(
        &self,
        reservation: &ReservationId,
        from: ReservationStatus,
        payment: &PaymentId,
        audit: Option<&RefundOverride>,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut state = self.state();
        let touched = state.step();
        let is_from = state
            .reservations
            .get(reservation)
            .is_some_and(|r| r.status == from);
        let approved = state
            .by_payment(payment)
            .is_some_and(|p| p.payment.status == PaymentStatus::Approved);
        if !is_from || !approved {
            return Ok(None);
        }
        state.move_reservation(reservation, from, ReservationStatus::Refunded);
        let stored = state.by_payment(payment).unwrap();
        stored.payment.status = PaymentStatus::Refunding;
        stored.touched = touched;
        if let Some(audit) = audit {
            state.overrides.push((reservation.clone(), audit.clone()));
        }
        state.current(reservation).map(Some)
    }

    async fn refund_done(&self, payment: &PaymentId) -> Result<(), StoreError> {
        let mut state = self.state();
        let touched = state.step();
        if let Some(stored) = state.by_payment(payment)
            && stored.payment.status == PaymentStatus::Refunding
        {
            stored.payment.status = PaymentStatus::Refunded;
            stored.touched = touched;
        }
        Ok(())
    }

    async fn refunds_due(&self, limit: u32) -> Result<Vec<PaymentId>, StoreError> {
        let state = self.state();
        let mut due: Vec<&StoredPayment> = state
            .payments
            .iter()
            .filter(|p| p.payment.status == PaymentStatus::Refunding)
            .collect();
        due.sort_by_key(|p| p.touched);
        Ok(due
            .into_iter()
            .filter_map(|p| p.payment.payment_id.clone())
            .take(limit as usize)
            .collect())
    }
}

// ---------------------------------------------------------------------------------------
// The gateway: scripted answers, every charge and refund attempt counted.

#[derive(Default)]
struct FakeGateway {
    answers: Mutex<VecDeque<Result<ChargeOutcome, StoreError>>>,
    /// (idempotency key, amount) of every charge asked.
    charges: Mutex<Vec<(String, i64)>>,
    /// How many of the next refunds fail.
    refund_failures: Mutex<u32>,
    /// Every refund asked, and whether it went through.
    refunds: Mutex<Vec<(PaymentId, bool)>>,
}

impl FakeGateway {
    fn answering(answers: impl IntoIterator<Item = Result<ChargeOutcome, StoreError>>) -> Self {
        Self {
            answers: Mutex::new(answers.into_iter().collect()),
            ..Self::default()
        }
    }

    fn failing_refunds(self, times: u32) -> Self {
        *self.refund_failures.lock().unwrap() = times;
        self
    }

    fn charges(&self) -> Vec<(String, i64)> {
        self.charges.lock().unwrap().clone()
    }

    fn charges_for(&self, request: &str) -> usize {
        let key = key(request);
        self.charges().iter().filter(|(k, _)| *k == key).count()
    }

    fn refunded(&self) -> Vec<PaymentId> {
        self.refunds
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn refund_attempts(&self) -> usize {
        self.refunds.lock().unwrap().len()
    }
}

impl PaymentGateway for FakeGateway {
    async fn charge(&self, charge: Charge<'_>) -> Result<ChargeOutcome, StoreError> {
        self.charges
            .lock()
            .unwrap()
            .push((charge.idempotency_key.to_owned(), charge.amount));
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err(StoreError::internal("the test scripted no further answer")))
    }

    async fn refund(&self, payment: &PaymentId) -> Result<(), StoreError> {
        let mut failures = self.refund_failures.lock().unwrap();
        let ok = *failures == 0;
        *failures = failures.saturating_sub(1);
        self.refunds.lock().unwrap().push((payment.clone(), ok));
        if ok {
            Ok(())
        } else {
            Err(StoreError::unavailable("gateway timed out on the refund"))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The waiting room's recorder; the publisher's and the seat locks' are in `crate::fakes`.

/// Records `credit_freed_seats`; every other call answers as an empty room.
#[derive(Default)]
struct FakeRoom(Mutex<Vec<(ConcertId, Vec<SeatId>)>>);

impl FakeRoom {
    fn credits(&self) -> Vec<(ConcertId, Vec<SeatId>)> {
        self.0.lock().unwrap().clone()
    }
}

impl WaitingRoom for FakeRoom {
    async fn join(
        &self,
        _concert: ConcertId,
        _user: &UserId,
        _now: DateTime<Utc>,
        _settings: &QueueSettings,
    ) -> Result<JoinOutcome, StoreError> {
        Ok(JoinOutcome::Full)
    }

    async fn standing(
        &self,
        _concert: ConcertId,
        _user: &UserId,
        _now: DateTime<Utc>,
    ) -> Result<Standing, StoreError> {
        Ok(Standing::Absent)
    }

    async fn leave(&self, _concert: ConcertId, _user: &UserId) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn admit(
        &self,
        _concert: ConcertId,
        _now: DateTime<Utc>,
        _request: &AdmitRequest,
    ) -> Result<Admission, StoreError> {
        Ok(Admission::default())
    }

    async fn ranks(
        &self,
        _concert: ConcertId,
        _start: u64,
        _count: u32,
    ) -> Result<Vec<(UserId, u64)>, StoreError> {
        Ok(Vec::new())
    }

    async fn credit_freed_seats(
        &self,
        concert: ConcertId,
        seats: &[SeatId],
    ) -> Result<(), StoreError> {
        self.0.lock().unwrap().push((concert, seats.to_vec()));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The scene: one buyer's reservation of two seats, 12 000 in all, for a show in 30 days.

const PERFORMANCE: PerformanceKey = PerformanceKey {
    concert: ConcertId::from_stored(7),
    option: OptionId::from_stored(70),
};
const SEATS: [(i64, i64); 2] = [(101, 5_000), (102, 7_000)];
const AMOUNT: i64 = 12_000;
const SHOW: i64 = 30 * 86_400;
/// The hold when the buyer started paying.
const HOLD_EXPIRES: i64 = 300;

const SEAT_SETTINGS: SeatSettings = SeatSettings {
    lock_ttl: Duration::from_secs(60),
    flush_window: Duration::from_secs(1),
};
const SETTINGS: PaymentSettings = PaymentSettings {
    refund_cutoff: Duration::from_secs(48 * 3600),
    webhook_tolerance: Duration::from_secs(300),
    payment_window: Duration::from_secs(600),
};

fn buyer() -> UserId {
    UserId::parse("buyer-1").unwrap()
}

fn rid() -> ReservationId {
    ReservationId::parse("id", "0f8fad5b-d9cb-469f-a165-70867728950e").unwrap()
}

fn key(request: &str) -> String {
    format!("{}:{request}", rid())
}

fn pay(id: &str) -> PaymentId {
    PaymentId::parse("paymentId", id).unwrap()
}

fn reservation(status: ReservationStatus) -> Reservation {
    Reservation {
        reservation_id: rid(),
        user: buyer(),
        fingerprint: "70:101,102".into(),
        concert_id: PERFORMANCE.concert,
        option_id: PERFORMANCE.option,
        status,
        hold_expires_at: at(HOLD_EXPIRES),
        starts_at: at(SHOW),
        seats: SEATS
            .iter()
            .map(|&(seat, price)| ReservedSeat {
                seat_id: SeatId::from_stored(seat),
                section: "A".into(),
                row: "1".into(),
                number: seat as i32,
                grade: "R".into(),
                price,
            })
            .collect(),
    }
}

fn seat_ids_of_scene() -> Vec<SeatId> {
    SEATS.iter().map(|&(s, _)| SeatId::from_stored(s)).collect()
}

fn seats_as(status: SeatStatus) -> LedgerRecord {
    (
        PERFORMANCE,
        buyer(),
        seat_ids_of_scene()
            .into_iter()
            .map(|s| (s, status))
            .collect(),
    )
}

fn status_event(status: ReservationStatus) -> PushEvent {
    PushEvent::ReservationStatus {
        user: buyer(),
        update: ReservationUpdate::Changed {
            reservation: rid(),
            status,
        },
    }
}

fn seats_event() -> PushEvent {
    PushEvent::SeatsChanged {
        performance: PERFORMANCE,
    }
}

fn event(id: &str, payment: &str, sequence: i64, approved: bool, signed_at: i64) -> PaymentEvent {
    PaymentEvent {
        event_id: id.into(),
        payment: pay(payment),
        sequence,
        approved,
        signed_at: at(signed_at),
    }
}

fn approved(id: &str) -> Result<ChargeOutcome, StoreError> {
    Ok(ChargeOutcome::Approved(pay(id)))
}

fn denied(id: &str, reason: &str) -> Result<ChargeOutcome, StoreError> {
    Ok(ChargeOutcome::Denied {
        payment: pay(id),
        reason: reason.into(),
    })
}

fn pending(id: &str) -> Result<ChargeOutcome, StoreError> {
    Ok(ChargeOutcome::Pending(pay(id)))
}

fn unreachable_gateway() -> Result<ChargeOutcome, StoreError> {
    Err(StoreError::unavailable("gateway connection reset"))
}

struct World {
    ledger: FakeLedger,
    gateway: FakeGateway,
    locks: FakeLocks,
    room: FakeRoom,
    publisher: FakePublisher,
    buyer: UserId,
}

impl World {
    /// The buyer's reservation is PAYING, its hold until `HOLD_EXPIRES`.
    fn paying(gateway: FakeGateway) -> Self {
        Self::in_status(ReservationStatus::Paying, gateway)
    }

    fn in_status(status: ReservationStatus, gateway: FakeGateway) -> Self {
        Self {
            ledger: FakeLedger::with(reservation(status)),
            gateway,
            locks: FakeLocks::default(),
            room: FakeRoom::default(),
            publisher: FakePublisher::default(),
            buyer: buyer(),
        }
    }

    /// Paid through `confirm_payment` (payment `pay_1` under `req-1`), the recorders emptied.
    async fn confirmed(gateway: FakeGateway) -> Self {
        gateway
            .answers
            .lock()
            .unwrap()
            .push_front(approved("pay_1"));
        let world = Self::paying(gateway);
        let paid = world.confirm("req-1", at(10)).await.unwrap();
        assert!(matches!(paid, Confirmation::Confirmed(_)));
        world.publisher.take();
        world.locks.take();
        world
    }

    fn owner(&self) -> Caller<'_> {
        Caller {
            user: &self.buyer,
            admin: false,
        }
    }

    fn ports(&self) -> PaymentPorts<'_, FakeLedger, FakeGateway, FakeLocks, FakePublisher> {
        PaymentPorts {
            ledger: &self.ledger,
            gateway: &self.gateway,
            locks: &self.locks,
            publisher: &self.publisher,
        }
    }

    async fn confirm(
        &self,
        request: &str,
        now: DateTime<Utc>,
    ) -> Result<Confirmation, PaymentError> {
        confirm_payment(
            self.ports(),
            SEAT_SETTINGS,
            SETTINGS,
            PaymentConfirm {
                caller: self.owner(),
                reservation: &rid(),
                request: &RequestId::parse(request).unwrap(),
                method: &PaymentMethod::parse("tok_visa.4242").unwrap(),
                now,
            },
        )
        .await
    }

    async fn refund(
        &self,
        caller: Caller<'_>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RefundMade, RefundError> {
        refund_reservation(
            self.ports(),
            &self.room,
            SEAT_SETTINGS,
            SETTINGS,
            RefundAsk {
                caller,
                reservation: &rid(),
                override_reason: reason,
                now,
            },
        )
        .await
    }

    async fn webhook(
        &self,
        event: &PaymentEvent,
        now: DateTime<Utc>,
    ) -> Result<WebhookReceipt, WebhookError> {
        receive_payment_event(self.ports(), SEAT_SETTINGS, SETTINGS, event, now).await
    }

    /// The hold runs out and the expiry tick moves the reservation to EXPIRED.
    async fn expire(&self, now: DateTime<Utc>) {
        let expired = self.ledger.expire_due(now, 100).await.unwrap();
        assert_eq!(expired.len(), 1, "the reservation expires at {now}");
        assert_eq!(self.ledger.status(), ReservationStatus::Expired);
    }
}

// ---------------------------------------------------------------------------------------
// confirm_payment

#[tokio::test]
async fn an_approved_charge_confirms_the_reservation_and_publishes_its_status_and_seats() {
    let world = World::paying(FakeGateway::answering([approved("pay_1")]));

    let confirmed = world.confirm("req-1", at(10)).await.unwrap();

    let Confirmation::Confirmed(after) = confirmed else {
        panic!("expected Confirmed, got {confirmed:?}");
    };
    assert_eq!(after.status, ReservationStatus::Confirmed);
    assert_eq!(world.ledger.status(), ReservationStatus::Confirmed);
    assert_eq!(
        world.gateway.charges(),
        vec![(key("req-1"), AMOUNT)],
        "one charge of the seats' total, under reservation:requestId"
    );
    let payment = world.ledger.payment("req-1").unwrap();
    assert_eq!(payment.status, PaymentStatus::Approved);
    assert_eq!(payment.payment_id, Some(pay("pay_1")));
    assert_eq!(payment.amount, AMOUNT);
    assert_eq!(
        world.ledger.reservation_now().hold_expires_at,
        SETTINGS.hold_until(at(10)),
        "opening the payment kept the seats for the payment window"
    );
    assert_eq!(
        world.publisher.take(),
        vec![status_event(ReservationStatus::Confirmed), seats_event()]
    );
    assert_eq!(world.locks.take(), vec![seats_as(SeatStatus::Confirmed)]);
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_answers_the_first_settlement_and_never_charges_again() {
    let world = World::paying(FakeGateway::answering([
        approved("pay_1"),
        approved("pay_2"),
    ]));
    world.confirm("req-1", at(10)).await.unwrap();
    world.publisher.take();
    world.locks.take();

    let retried = world.confirm("req-1", at(20)).await.unwrap();

    assert!(
        matches!(&retried, Confirmation::Confirmed(r) if r.status == ReservationStatus::Confirmed),
        "{retried:?}"
    );
    assert_eq!(world.gateway.charges_for("req-1"), 1);
    assert_eq!(world.gateway.charges().len(), 1);
    assert_eq!(world.ledger.state().payments.len(), 1);
    assert!(
        world.publisher.take().is_empty(),
        "a replay publishes nothing"
    );
    assert!(world.locks.take().is_empty());
}

#[tokio::test]
async fn a_second_request_id_while_a_payment_is_open_is_refused_in_progress_and_not_charged() {
    let world = World::paying(FakeGateway::answering([
        pending("pay_1"),
        approved("pay_2"),
    ]));
    assert!(matches!(
        world.confirm("req-1", at(10)).await,
        Ok(Confirmation::Pending(_))
    ));

    let second = world.confirm("req-2", at(20)).await;

    assert!(
        matches!(second, Err(PaymentError::InProgress)),
        "{second:?}"
    );
    assert_eq!(world.gateway.charges_for("req-2"), 0);
    assert_eq!(world.gateway.charges().len(), 1);
    assert_eq!(world.ledger.payment("req-2"), None, "nothing was written");
    assert_eq!(world.ledger.status(), ReservationStatus::Paying);
}

#[tokio::test]
async fn a_second_request_id_after_an_unanswered_charge_is_refused_in_progress_too() {
    let world = World::paying(FakeGateway::answering([unreachable_gateway()]));
    assert!(world.confirm("req-1", at(10)).await.is_err());

    let second = world.confirm("req-2", at(20)).await;

    assert!(
        matches!(second, Err(PaymentError::InProgress)),
        "{second:?}"
    );
    assert_eq!(world.gateway.charges().len(), 1);
}

#[tokio::test]
async fn a_declined_charge_goes_back_to_hold_and_the_same_request_id_answers_declined_before() {
    let world = World::paying(FakeGateway::answering([
        denied("pay_1", "insufficient funds"),
        approved("pay_2"),
    ]));

    let declined = world.confirm("req-1", at(10)).await;

    assert!(
        matches!(&declined, Err(PaymentError::Declined(reason)) if reason == "insufficient funds"),
        "{declined:?}"
    );
    assert_eq!(world.ledger.status(), ReservationStatus::Hold);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Denied)
    );
    assert_eq!(
        world.publisher.take(),
        vec![status_event(ReservationStatus::Hold)],
        "the status is published, no seat changes"
    );
    assert!(world.locks.take().is_empty());

    let again = world.confirm("req-1", at(20)).await;

    assert!(
        matches!(again, Err(PaymentError::DeclinedBefore)),
        "{again:?}"
    );
    assert_eq!(world.gateway.charges_for("req-1"), 1, "never charged again");
    assert_eq!(world.ledger.status(), ReservationStatus::Hold);
}

#[tokio::test]
async fn after_a_decline_the_buyer_pays_again_with_a_new_request_id() {
    let world = World::paying(FakeGateway::answering([
        denied("pay_1", "card expired"),
        approved("pay_2"),
    ]));
    assert!(world.confirm("req-1", at(10)).await.is_err());
    crate::reservations::pay_reservation(
        &world.ledger,
        &world.publisher,
        world.owner(),
        &rid(),
        at(20),
        SETTINGS.hold_until(at(20)),
    )
    .await
    .unwrap();

    let paid = world.confirm("req-2", at(30)).await.unwrap();

    assert!(matches!(paid, Confirmation::Confirmed(_)), "{paid:?}");
    assert_eq!(world.ledger.status(), ReservationStatus::Confirmed);
    assert_eq!(
        world.gateway.charges(),
        vec![(key("req-1"), AMOUNT), (key("req-2"), AMOUNT)],
        "a denied payment is not open: the new key is charged once"
    );
}

#[tokio::test]
async fn a_pending_charge_answers_pending_and_leaves_the_reservation_paying() {
    let world = World::paying(FakeGateway::answering([pending("pay_1")]));

    let answer = world.confirm("req-1", at(10)).await.unwrap();

    assert!(
        matches!(&answer, Confirmation::Pending(r) if r.status == ReservationStatus::Paying),
        "{answer:?}"
    );
    assert_eq!(world.ledger.status(), ReservationStatus::Paying);
    let payment = world.ledger.payment("req-1").unwrap();
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert_eq!(
        payment.payment_id,
        Some(pay("pay_1")),
        "the gateway's id is kept for its webhook"
    );
    assert!(
        world.publisher.take().is_empty(),
        "nothing changed to publish"
    );
    assert!(world.locks.take().is_empty());

    let retried = world.confirm("req-1", at(20)).await.unwrap();
    assert!(matches!(retried, Confirmation::Pending(_)), "{retried:?}");
    assert_eq!(world.gateway.charges_for("req-1"), 1);
}

#[tokio::test]
async fn a_gateway_failure_leaves_the_payment_open_and_the_same_request_id_charges_again_under_the_same_key()
 {
    let world = World::paying(FakeGateway::answering([
        unreachable_gateway(),
        approved("pay_1"),
    ]));

    let failed = world.confirm("req-1", at(10)).await;

    assert!(
        matches!(
            failed,
            Err(PaymentError::Lifecycle(LifecycleError::Store(
                StoreError::Unavailable(_)
            )))
        ),
        "{failed:?}"
    );
    let open = world.ledger.payment("req-1").unwrap();
    assert_eq!(open.status, PaymentStatus::Pending);
    assert_eq!(
        open.payment_id, None,
        "the gateway's answer was never recorded"
    );
    assert_eq!(world.ledger.status(), ReservationStatus::Paying);

    let confirmed = world.confirm("req-1", at(20)).await.unwrap();

    assert!(
        matches!(confirmed, Confirmation::Confirmed(_)),
        "{confirmed:?}"
    );
    assert_eq!(
        world.gateway.charges(),
        vec![(key("req-1"), AMOUNT), (key("req-1"), AMOUNT)],
        "asked again under the same idempotency key"
    );
    assert_eq!(world.ledger.state().payments.len(), 1);
    assert_eq!(world.ledger.status(), ReservationStatus::Confirmed);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Approved)
    );
}

#[tokio::test]
async fn an_approval_after_the_reservation_expired_is_refunded() {
    let world = World::paying(FakeGateway::answering([
        unreachable_gateway(),
        approved("pay_1"),
    ]));
    assert!(world.confirm("req-1", at(10)).await.is_err());
    // The charge went through at the gateway, but its answer was lost; the hold runs out.
    world.expire(SETTINGS.hold_until(at(10))).await;

    let answer = world.confirm("req-1", at(700)).await;

    assert!(
        matches!(
            answer,
            Err(PaymentError::ChargeRefunded(ReservationStatus::Expired))
        ),
        "{answer:?}"
    );
    assert_eq!(world.gateway.charges_for("req-1"), 2);
    assert_eq!(world.gateway.refunded(), vec![pay("pay_1")]);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Refunded)
    );
    assert_eq!(world.ledger.status(), ReservationStatus::Expired);
    assert!(world.locks.take().is_empty(), "the seats are not confirmed");
    assert!(world.publisher.take().is_empty());
}

#[tokio::test]
async fn an_approval_whose_refund_fails_is_left_refunding_for_the_retry() {
    let world = World::paying(
        FakeGateway::answering([unreachable_gateway(), approved("pay_1")]).failing_refunds(1),
    );
    assert!(world.confirm("req-1", at(10)).await.is_err());
    world.expire(at(700)).await;

    let answer = world.confirm("req-1", at(701)).await;

    assert!(
        matches!(answer, Err(PaymentError::ChargeRefunded(_))),
        "{answer:?}"
    );
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Refunding)
    );
    let report = retry_refunds(&world.ledger, &world.gateway).await.unwrap();
    assert_eq!(report.returned, 1);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Refunded)
    );
}

/// The first call answered ChargeRefunded; a retry with the same requestId finds the
/// refunded payment and answers the same, not Confirmed.
#[tokio::test]
async fn a_retry_after_a_refunded_late_approval_answers_charge_refunded_again() {
    let world = World::paying(FakeGateway::answering([
        unreachable_gateway(),
        approved("pay_1"),
    ]));
    assert!(world.confirm("req-1", at(10)).await.is_err());
    world.expire(at(700)).await;
    assert!(world.confirm("req-1", at(701)).await.is_err());

    let retried = world.confirm("req-1", at(702)).await;

    assert_eq!(world.gateway.charges_for("req-1"), 2, "not charged again");
    assert!(
        matches!(
            retried,
            Err(PaymentError::ChargeRefunded(ReservationStatus::Expired))
        ),
        "the retry must answer what the first call answered, got {retried:?}"
    );
}

#[tokio::test]
async fn confirming_a_reservation_not_paying_or_past_its_hold_is_refused_without_a_charge() {
    let world = World::in_status(ReservationStatus::Hold, FakeGateway::answering([]));
    let refused = world.confirm("req-1", at(10)).await;
    assert!(
        matches!(
            refused,
            Err(PaymentError::Lifecycle(LifecycleError::IllegalTransition {
                from: ReservationStatus::Hold,
                ..
            }))
        ),
        "{refused:?}"
    );

    let world = World::paying(FakeGateway::answering([approved("pay_1")]));
    let late = world.confirm("req-1", at(HOLD_EXPIRES)).await;
    assert!(
        matches!(
            late,
            Err(PaymentError::Lifecycle(LifecycleError::HoldExpired))
        ),
        "{late:?}"
    );
    assert!(world.gateway.charges().is_empty());
    assert_eq!(world.ledger.payment("req-1"), None);

    let stranger = UserId::parse("someone-else").unwrap();
    let not_theirs = confirm_payment(
        world.ports(),
        SEAT_SETTINGS,
        SETTINGS,
        PaymentConfirm {
            caller: Caller {
                user: &stranger,
                admin: true,
            },
            reservation: &rid(),
            request: &RequestId::parse("req-9").unwrap(),
            method: &PaymentMethod::parse("tok").unwrap(),
            now: at(10),
        },
    )
    .await;
    assert!(
        matches!(
            not_theirs,
            Err(PaymentError::Lifecycle(LifecycleError::NotFound(_)))
        ),
        "only the owner pays, even an admin is refused: {not_theirs:?}"
    );
    assert!(world.gateway.charges().is_empty());
}

// ---------------------------------------------------------------------------------------
// refund_reservation and retry_refunds

#[tokio::test]
async fn a_refund_before_the_cutoff_frees_the_seats_and_returns_the_money() {
    let world = World::confirmed(FakeGateway::default()).await;

    let made = world.refund(world.owner(), None, at(1_000)).await.unwrap();

    assert_eq!(made.reservation.status, ReservationStatus::Refunded);
    assert!(made.gateway_follow_up.is_none());
    assert_eq!(world.ledger.status(), ReservationStatus::Refunded);
    assert_eq!(world.gateway.refunded(), vec![pay("pay_1")]);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Refunded)
    );
    assert_eq!(world.locks.take(), vec![seats_as(SeatStatus::Available)]);
    assert_eq!(
        world.room.credits(),
        vec![(PERFORMANCE.concert, seat_ids_of_scene())]
    );
    assert_eq!(
        world.publisher.take(),
        vec![seats_event(), status_event(ReservationStatus::Refunded)]
    );
    assert!(world.ledger.overrides().is_empty());

    let twice = world.refund(world.owner(), None, at(1_001)).await;
    assert!(
        matches!(
            twice,
            Err(RefundError::Lifecycle(LifecycleError::IllegalTransition {
                from: ReservationStatus::Refunded,
                ..
            }))
        ),
        "{twice:?}"
    );
    assert_eq!(world.gateway.refund_attempts(), 1);
}

#[tokio::test]
async fn after_the_cutoff_only_an_admin_override_refunds_and_it_is_audited() {
    let world = World::confirmed(FakeGateway::default()).await;
    let cutoff = at(SHOW) - chrono::Duration::hours(48);
    let late = at(SHOW - 3_600);

    let closed = world.refund(world.owner(), None, late).await;
    assert!(
        matches!(closed, Err(RefundError::WindowClosed { cutoff: c, hours: 48 }) if c == cutoff),
        "{closed:?}"
    );

    let not_admin = world
        .refund(world.owner(), Some("please, I am ill"), late)
        .await;
    assert!(
        matches!(not_admin, Err(RefundError::OverrideNotAllowed)),
        "{not_admin:?}"
    );
    assert_eq!(world.ledger.status(), ReservationStatus::Confirmed);
    assert_eq!(world.gateway.refund_attempts(), 0);
    assert!(world.locks.take().is_empty());
    assert!(world.publisher.take().is_empty());

    let admin = UserId::parse("admin-1").unwrap();
    let made = world
        .refund(
            Caller {
                user: &admin,
                admin: true,
            },
            Some("the show was moved"),
            late,
        )
        .await
        .unwrap();

    assert_eq!(made.reservation.status, ReservationStatus::Refunded);
    assert_eq!(world.gateway.refunded(), vec![pay("pay_1")]);
    assert_eq!(
        world.ledger.overrides(),
        vec![(
            rid(),
            RefundOverride {
                admin: admin.clone(),
                reason: "the show was moved".into(),
                cutoff,
            }
        )]
    );
    assert_eq!(world.locks.take(), vec![seats_as(SeatStatus::Available)]);
    assert_eq!(world.room.credits().len(), 1);
}

#[tokio::test]
async fn refunding_a_cancelled_paid_reservation_leaves_the_seats_alone() {
    let world = World::confirmed(FakeGateway::default()).await;
    world
        .ledger
        .transition(
            &rid(),
            ReservationStatus::Confirmed,
            ReservationStatus::Cancelled,
        )
        .await
        .unwrap()
        .unwrap();

    let made = world.refund(world.owner(), None, at(1_000)).await.unwrap();

    assert_eq!(made.reservation.status, ReservationStatus::Refunded);
    assert_eq!(world.gateway.refunded(), vec![pay("pay_1")]);
    assert!(world.locks.take().is_empty(), "freed when it was cancelled");
    assert!(world.room.credits().is_empty());
    assert_eq!(
        world.publisher.take(),
        vec![status_event(ReservationStatus::Refunded)]
    );
}

#[tokio::test]
async fn a_reservation_never_paid_is_not_refunded() {
    let world = World::in_status(ReservationStatus::Confirmed, FakeGateway::default());

    let refused = world.refund(world.owner(), None, at(1_000)).await;

    assert!(
        matches!(refused, Err(RefundError::NotPaid(_))),
        "{refused:?}"
    );
    assert_eq!(world.ledger.status(), ReservationStatus::Confirmed);
    assert_eq!(world.gateway.refund_attempts(), 0);
}

#[tokio::test]
async fn a_refund_whose_gateway_call_fails_is_returned_by_a_later_retry() {
    let world = World::confirmed(FakeGateway::default().failing_refunds(2)).await;

    let made = world.refund(world.owner(), None, at(1_000)).await.unwrap();

    assert!(
        matches!(made.gateway_follow_up, Some(StoreError::Unavailable(_))),
        "{:?}",
        made.gateway_follow_up
    );
    assert_eq!(made.reservation.status, ReservationStatus::Refunded);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Refunding)
    );
    assert_eq!(
        world.locks.take(),
        vec![seats_as(SeatStatus::Available)],
        "the ledger moved first: the seats are freed all the same"
    );

    let failed = retry_refunds(&world.ledger, &world.gateway).await.unwrap();
    assert_eq!((failed.returned, failed.failed), (0, 1));
    assert!(
        failed
            .last_failure
            .as_deref()
            .is_some_and(|f| f.starts_with("pay_1: ")),
        "{failed:?}"
    );

    let report = retry_refunds(&world.ledger, &world.gateway).await.unwrap();
    assert_eq!(
        report,
        RefundRetryReport {
            returned: 1,
            failed: 0,
            last_failure: None,
        }
    );
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Refunded)
    );
    assert_eq!(world.gateway.refunded(), vec![pay("pay_1")]);

    let idle = retry_refunds(&world.ledger, &world.gateway).await.unwrap();
    assert_eq!(idle, RefundRetryReport::default());
    assert_eq!(world.gateway.refund_attempts(), 3);
}

// ---------------------------------------------------------------------------------------
// receive_payment_event

/// A PAYING reservation whose charge `pay_1` (under `req-1`) is pending at the gateway.
async fn pending_world(gateway: FakeGateway) -> World {
    gateway.answers.lock().unwrap().push_front(pending("pay_1"));
    let world = World::paying(gateway);
    assert!(matches!(
        world.confirm("req-1", at(10)).await,
        Ok(Confirmation::Pending(_))
    ));
    world
}

#[tokio::test]
async fn a_stale_webhook_is_refused_before_it_is_recorded() {
    let world = pending_world(FakeGateway::default()).await;
    let now = at(1_000);

    for signed_at in [1_000 - 301, 1_000 + 301] {
        let stale = world
            .webhook(&event("evt-1", "pay_1", 1, true, signed_at), now)
            .await;
        assert!(
            matches!(stale, Err(WebhookError::Stale { signed_at: s }) if s == at(signed_at)),
            "{stale:?}"
        );
    }
    assert_eq!(world.ledger.status(), ReservationStatus::Paying);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Pending)
    );

    // Redelivered with a fresh signature, the same event applies.
    let fresh = world
        .webhook(&event("evt-1", "pay_1", 1, true, 1_000 - 300), now)
        .await;
    assert!(matches!(fresh, Ok(WebhookReceipt::Applied(_))), "{fresh:?}");
}

#[tokio::test]
async fn a_webhook_approval_confirms_a_paying_reservation_and_repeats_change_nothing() {
    let world = pending_world(FakeGateway::default()).await;

    let applied = world
        .webhook(&event("evt-2", "pay_1", 2, true, 100), at(101))
        .await
        .unwrap();

    assert!(
        matches!(&applied, WebhookReceipt::Applied(r) if r.status == ReservationStatus::Confirmed),
        "{applied:?}"
    );
    assert_eq!(world.ledger.status(), ReservationStatus::Confirmed);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Approved)
    );
    assert_eq!(
        world.publisher.take(),
        vec![status_event(ReservationStatus::Confirmed), seats_event()]
    );
    assert_eq!(world.locks.take(), vec![seats_as(SeatStatus::Confirmed)]);

    let duplicate = world
        .webhook(&event("evt-2", "pay_1", 2, true, 100), at(102))
        .await
        .unwrap();
    assert_eq!(duplicate, WebhookReceipt::Duplicate);

    let older = world
        .webhook(&event("evt-1", "pay_1", 1, false, 90), at(103))
        .await
        .unwrap();
    assert_eq!(older, WebhookReceipt::OutOfOrder);
    let older_again = world
        .webhook(&event("evt-1", "pay_1", 1, false, 90), at(104))
        .await
        .unwrap();
    assert_eq!(
        older_again,
        WebhookReceipt::Duplicate,
        "an out-of-order event is recorded all the same"
    );

    assert_eq!(world.ledger.status(), ReservationStatus::Confirmed);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Approved)
    );
    assert!(world.publisher.take().is_empty());
    assert!(world.locks.take().is_empty());

    let retried = world.confirm("req-1", at(105)).await.unwrap();
    assert!(
        matches!(retried, Confirmation::Confirmed(_)),
        "the webhook's answer is the retry's: {retried:?}"
    );
    assert_eq!(world.gateway.charges().len(), 1);
}

#[tokio::test]
async fn a_webhook_denial_puts_the_reservation_back_on_hold() {
    let world = pending_world(FakeGateway::default()).await;

    let applied = world
        .webhook(&event("evt-1", "pay_1", 1, false, 100), at(101))
        .await
        .unwrap();

    assert!(
        matches!(&applied, WebhookReceipt::Applied(r) if r.status == ReservationStatus::Hold),
        "{applied:?}"
    );
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Denied)
    );
    assert_eq!(
        world.publisher.take(),
        vec![status_event(ReservationStatus::Hold)]
    );
    assert!(world.locks.take().is_empty());
    assert!(matches!(
        world.confirm("req-1", at(102)).await,
        Err(PaymentError::DeclinedBefore)
    ));
}

#[tokio::test]
async fn a_webhook_for_an_unknown_payment_is_refused() {
    let world = pending_world(FakeGateway::default()).await;

    let unknown = world
        .webhook(&event("evt-1", "pay_nope", 1, true, 100), at(101))
        .await;

    assert!(
        matches!(&unknown, Err(WebhookError::UnknownPayment(p)) if *p == pay("pay_nope")),
        "{unknown:?}"
    );
    assert_eq!(world.ledger.status(), ReservationStatus::Paying);
    assert!(world.publisher.take().is_empty());
}

#[tokio::test]
async fn a_webhook_approval_after_the_reservation_expired_is_refunded_and_retried_if_it_fails() {
    let world = pending_world(FakeGateway::default().failing_refunds(1)).await;
    world.expire(at(700)).await;

    let receipt = world
        .webhook(&event("evt-1", "pay_1", 1, true, 700), at(701))
        .await
        .unwrap();

    assert!(
        matches!(
            &receipt,
            WebhookReceipt::Refunded {
                status: ReservationStatus::Expired,
                failure: Some(_),
            }
        ),
        "{receipt:?}"
    );
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Refunding)
    );
    assert!(world.locks.take().is_empty());
    assert!(world.publisher.take().is_empty());

    let report = retry_refunds(&world.ledger, &world.gateway).await.unwrap();
    assert_eq!(report.returned, 1);
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Refunded)
    );
    assert_eq!(world.gateway.refunded(), vec![pay("pay_1")]);
}

#[tokio::test]
async fn a_webhook_denial_after_the_reservation_expired_only_records_the_payment() {
    let world = pending_world(FakeGateway::default()).await;
    world.expire(at(700)).await;

    let receipt = world
        .webhook(&event("evt-1", "pay_1", 1, false, 700), at(701))
        .await
        .unwrap();

    assert_eq!(
        receipt,
        WebhookReceipt::ReservationMovedOn(ReservationStatus::Expired)
    );
    assert_eq!(
        world.ledger.payment_status("req-1"),
        Some(PaymentStatus::Denied)
    );
    assert_eq!(world.gateway.refund_attempts(), 0);
}
