//! Small catalogs for tests, written through the real catalog adapter.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use ticketrush_adapters::postgres::PostgresCatalogAdmin;
use ticketrush_core::{
    ConcertId, OptionId, Tier,
    catalog::{CatalogAdmin, ConcertDraft, PerformanceDraft, SectionLayout},
    sale::{Presale, SalesPolicy},
};

pub struct ConcertSpec<'a> {
    pub slug: &'a str,
    pub title: &'a str,
    pub artist: &'a str,
    pub venue: &'a str,
    /// General sale opens this long after now; None for no policy.
    pub opens_in: Option<Duration>,
    pub presale: Option<(Duration, Tier)>,
    pub performances_in_days: &'a [i64],
    pub rows: u16,
    pub seats_per_row: u16,
    pub queue_gated: bool,
}

impl Default for ConcertSpec<'_> {
    fn default() -> Self {
        Self {
            slug: "spec",
            title: "Spec Concert",
            artist: "Spec Artist",
            venue: "Spec Hall",
            opens_in: Some(Duration::hours(-1)),
            presale: None,
            performances_in_days: &[10],
            rows: 4,
            seats_per_row: 5,
            queue_gated: true,
        }
    }
}

pub fn draft(spec: &ConcertSpec<'_>, now: DateTime<Utc>) -> ConcertDraft {
    ConcertDraft {
        slug: spec.slug.into(),
        title: spec.title.into(),
        artist: spec.artist.into(),
        venue: spec.venue.into(),
        promoter: "Test Promoter".into(),
        policy: spec.opens_in.map(|o| {
            SalesPolicy::new(
                spec.presale.map(|(p, tier)| Presale {
                    starts_at: now + p,
                    min_tier: tier,
                }),
                now + o,
                None,
                4,
                spec.queue_gated,
            )
            .expect("valid test policy")
        }),
        performances: spec
            .performances_in_days
            .iter()
            .enumerate()
            .map(|(i, d)| PerformanceDraft {
                code: format!("D{}", i + 1),
                starts_at: now + Duration::days(*d),
                hall: "Main".into(),
                sections: vec![SectionLayout {
                    name: "A".into(),
                    rows: spec.rows,
                    seats_per_row: spec.seats_per_row,
                    grade: "R".into(),
                    price: 100_000,
                }],
            })
            .collect(),
    }
}

pub async fn create(pool: &PgPool, spec: &ConcertSpec<'_>) -> ConcertId {
    PostgresCatalogAdmin::new(pool.clone())
        .upsert_concert(&draft(spec, Utc::now()))
        .await
        .expect("create test concert")
}

pub async fn first_option(pool: &PgPool, concert: ConcertId) -> OptionId {
    let id: i64 = sqlx::query_scalar(
        "SELECT id FROM performances WHERE concert_id = $1 ORDER BY starts_at LIMIT 1",
    )
    .bind(concert.get())
    .fetch_one(pool)
    .await
    .expect("performance");
    OptionId::from_stored(id)
}

/// Marks `n` seats of a performance as taken in the ledger.
pub async fn take_seats(pool: &PgPool, option: OptionId, n: i64, status: &str) {
    sqlx::query(
        "UPDATE seats SET status = $3 WHERE id IN (SELECT id FROM seats WHERE performance_id = $1 ORDER BY id LIMIT $2)",
    )
    .bind(option.get())
    .bind(n)
    .bind(status)
    .execute(pool)
    .await
    .expect("take seats");
}

/// A hold of seat 1 of the concert's first performance for `user`, written by the ledger.
pub async fn hold_first_seat(
    pool: &PgPool,
    concert: ConcertId,
    user: &str,
) -> ticketrush_core::reservations::Reservation {
    use ticketrush_adapters::postgres::PostgresReservations;
    use ticketrush_core::{
        SeatId, UserId,
        reservations::{HoldOutcome, HoldRequest, NewHold, ReservationLedger},
        seats::RequestId,
    };
    let request = HoldRequest::new(
        first_option(pool, concert).await,
        vec![SeatId::from_stored(1)],
        RequestId::parse("r").expect("request id"),
    )
    .expect("hold request");
    let outcome = PostgresReservations::new(pool.clone())
        .hold(NewHold {
            user: &UserId::parse(user).expect("user id"),
            concert,
            request: &request,
            expires_at: Utc::now() + Duration::minutes(5),
            max_seats_per_user: 20,
        })
        .await
        .expect("hold");
    match outcome {
        HoldOutcome::Held(held) => held,
        other => panic!("the seat is not held: {other:?}"),
    }
}

/// The reservation moved to PAYING with a charge the gateway left PENDING as `payment`,
/// under the idempotency key `k`.
pub async fn pending_payment(
    pool: &PgPool,
    reservation: &ticketrush_core::reservations::ReservationId,
    payment: &str,
) {
    use ticketrush_adapters::postgres::PostgresReservations;
    use ticketrush_core::{
        payments::{OpenPayment, Opened, PaymentId, PaymentLedger, PaymentStatus},
        reservations::{ReservationLedger, ReservationStatus},
    };
    let ledger = PostgresReservations::new(pool.clone());
    ledger
        .transition(
            reservation,
            ReservationStatus::Hold,
            ReservationStatus::Paying,
        )
        .await
        .expect("transition")
        .expect("the hold starts paying");
    let now = Utc::now();
    let opened = ledger
        .open_payment(OpenPayment {
            reservation,
            idempotency_key: "k",
            amount: 100,
            now,
            hold_until: now,
        })
        .await
        .expect("open payment");
    assert_eq!(opened, Opened::New);
    ledger
        .settle(
            "k",
            &PaymentId::from_stored(payment.to_owned()),
            PaymentStatus::Pending,
        )
        .await
        .expect("settle pending");
}
