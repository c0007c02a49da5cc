use sqlx::{PgPool, Postgres, Row, Transaction};
use ticketrush_core::{
    ConcertId, OptionId, SeatId, StoreError, UserId,
    abuse::{AbuseLedger, DeviceFingerprint, Rule},
    catalog::SeatStatus,
    reservations::{
        ExpiredHold, HoldOutcome, NewHold, Page, Reservation, ReservationId, ReservationLedger,
        ReservationStatus, ReservedSeat,
    },
    seats::{RequestId, TakenSeat},
};

use super::store_error;

/// Reservations in PostgreSQL, the ledger of record.
#[derive(Clone)]
pub struct PostgresReservations {
    pub(super) pool: PgPool,
}

impl PostgresReservations {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub(super) async fn load<'e, E>(
        &self,
        executor: E,
        id: &str,
    ) -> Result<Option<Reservation>, StoreError>
    where
        E: sqlx::Executor<'e, Database = Postgres> + Copy,
    {
        let Some(row) = sqlx::query(
            r#"SELECT r.id::text AS id, r.user_id, r.fingerprint, r.concert_id, r.performance_id, r.status,
                      r.hold_expires_at, p.starts_at
               FROM reservations r JOIN performances p ON p.id = r.performance_id
               WHERE r.id = $1::uuid"#,
        )
        .bind(id)
        .fetch_optional(executor)
        .await
        .map_err(store_error)?
        else {
            return Ok(None);
        };
        let seats = sqlx::query(
            r#"SELECT s.id, s.section, s.row_label, s.seat_number, s.grade, s.price
               FROM reservation_seats rs JOIN seats s ON s.id = rs.seat_id
               WHERE rs.reservation_id = $1::uuid ORDER BY s.id"#,
        )
        .bind(id)
        .fetch_all(executor)
        .await
        .map_err(store_error)?
        .iter()
        .map(|r| {
            Ok(ReservedSeat {
                seat_id: SeatId::from_stored(r.try_get("id")?),
                section: r.try_get("section")?,
                row: r.try_get("row_label")?,
                number: r.try_get("seat_number")?,
                grade: r.try_get("grade")?,
                price: r.try_get("price")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(store_error)?;
        let status: String = row.try_get("status").map_err(store_error)?;
        let user: String = row.try_get("user_id").map_err(store_error)?;
        Ok(Some(Reservation {
            reservation_id: ReservationId::from_stored(row.try_get("id").map_err(store_error)?),
            user: UserId::parse(&user).map_err(StoreError::internal)?,
            fingerprint: row.try_get("fingerprint").map_err(store_error)?,
            concert_id: ConcertId::from_stored(row.try_get("concert_id").map_err(store_error)?),
            option_id: OptionId::from_stored(row.try_get("performance_id").map_err(store_error)?),
            status: ReservationStatus::from_stored(&status).ok_or_else(|| {
                StoreError::internal(format!("stored reservation status {status:?}"))
            })?,
            hold_expires_at: row.try_get("hold_expires_at").map_err(store_error)?,
            starts_at: row.try_get("starts_at").map_err(store_error)?,
            seats,
        }))
    }

    /// The reservation row, then the seats, inside the caller's transaction.
    async fn try_hold(
        tx: &mut Transaction<'_, Postgres>,
        hold: &NewHold<'_>,
    ) -> Result<Attempt, sqlx::Error> {
        // Concurrent holds of one buyer for one concert (in any of its performances) queue
        // here, so each counts the others' seats.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '|' || $2::text, 0))")
            .bind(hold.user.as_str())
            .bind(hold.concert.get())
            .execute(&mut **tx)
            .await?;
        let already: i64 = sqlx::query_scalar(
            r#"SELECT count(*) FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id
               WHERE r.user_id = $1 AND r.concert_id = $2 AND r.status IN ('HOLD', 'PAYING', 'CONFIRMED')"#,
        )
        .bind(hold.user.as_str())
        .bind(hold.concert.get())
        .fetch_one(&mut **tx)
        .await?;
        let wanted = u32::try_from(already)
            .unwrap_or(u32::MAX)
            .saturating_add(hold.request.seats.len() as u32);
        if wanted > u32::from(hold.max_seats_per_user) {
            return Ok(Attempt::LimitExceeded(wanted));
        }
        let Some(id) = sqlx::query_scalar::<_, String>(
            r#"INSERT INTO reservations (user_id, request_id, fingerprint, concert_id, performance_id, status, hold_expires_at)
               VALUES ($1, $2, $3, $4, $5, 'HOLD', $6)
               ON CONFLICT (user_id, request_id) DO NOTHING
               RETURNING id::text"#,
        )
        .bind(hold.user.as_str())
        .bind(hold.request.request.as_str())
        .bind(hold.request.fingerprint())
        .bind(hold.concert.get())
        .bind(hold.request.option.get())
        .bind(hold.expires_at)
        .fetch_optional(&mut **tx)
        .await?
        else {
            return Ok(Attempt::RequestUsed);
        };
        let seats: Vec<i64> = hold.request.seats.iter().map(|s| s.get()).collect();
        // Rows are locked in id order, so overlapping holds queue instead of deadlocking;
        // only seats still AVAILABLE change, and all of them must.
        let updated = sqlx::query(
            r#"UPDATE seats SET status = 'HOLD', reservation_id = $1::uuid, updated_at = now()
               WHERE id IN (SELECT id FROM seats WHERE performance_id = $2 AND id = ANY($3) ORDER BY id FOR UPDATE)
                 AND status = 'AVAILABLE'"#,
        )
        .bind(&id)
        .bind(hold.request.option.get())
        .bind(&seats)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if updated != seats.len() as u64 {
            return Ok(Attempt::SeatsTaken);
        }
        sqlx::query("INSERT INTO reservation_seats (reservation_id, seat_id) SELECT $1::uuid, unnest($2::bigint[])")
            .bind(&id)
            .bind(&seats)
            .execute(&mut **tx)
            .await?;
        Ok(Attempt::Held(id))
    }
}

enum Attempt {
    /// The request id was already used (by a committed transaction, possibly a concurrent one).
    RequestUsed,
    SeatsTaken,
    LimitExceeded(u32),
    Held(String),
}

impl ReservationLedger for PostgresReservations {
    async fn taken_seats(&self, option: OptionId) -> Result<Vec<TakenSeat>, StoreError> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT s.id, s.status, r.user_id FROM seats s JOIN reservations r ON r.id = s.reservation_id \
             WHERE s.performance_id = $1 AND s.status <> 'AVAILABLE' ORDER BY s.id",
        )
        .bind(option.get())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.into_iter()
            .map(|(id, status, user)| {
                let status = SeatStatus::from_ledger(&status).ok_or_else(|| {
                    StoreError::internal(format!("stored seat status {status:?}"))
                })?;
                let holder = UserId::parse(&user)
                    .map_err(|e| StoreError::internal(format!("stored holder: {e}")))?;
                Ok(TakenSeat {
                    seat: SeatId::from_stored(id),
                    status,
                    holder,
                })
            })
            .collect()
    }

    async fn reservation(&self, id: &ReservationId) -> Result<Option<Reservation>, StoreError> {
        self.load(&self.pool, id.as_str()).await
    }

    async fn for_user(
        &self,
        user: &UserId,
        status: Option<ReservationStatus>,
        page: Page,
    ) -> Result<Vec<Reservation>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            r#"SELECT id::text FROM reservations
               WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)
               ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"#,
        )
        .bind(user.as_str())
        .bind(status.map(ReservationStatus::as_str))
        .bind(i64::from(page.size))
        .bind(i64::from(page.page) * i64::from(page.size))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.load(&self.pool, &id).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn transition(
        &self,
        id: &ReservationId,
        from: ReservationStatus,
        to: ReservationStatus,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        if !move_reservation(&mut conn, id, from, to)
            .await
            .map_err(store_error)?
        {
            return Ok(None);
        }
        self.load(&self.pool, id.as_str()).await
    }

    async fn expire_due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<ExpiredHold>, StoreError> {
        // One statement, one transaction: due reservations (skipping any a concurrent
        // transaction is changing) become EXPIRED and exactly their HOLD seats become AVAILABLE.
        let rows = sqlx::query(
            r#"WITH due AS (
                   SELECT id FROM reservations
                   WHERE status IN ('HOLD', 'PAYING') AND hold_expires_at <= $1
                   ORDER BY hold_expires_at LIMIT $2
                   FOR UPDATE SKIP LOCKED
               ), expired AS (
                   UPDATE reservations r SET status = 'EXPIRED', updated_at = now()
                   FROM due WHERE r.id = due.id
                   RETURNING r.id, r.user_id, r.concert_id, r.performance_id
               ), freed AS (
                   UPDATE seats s SET status = 'AVAILABLE', reservation_id = NULL, updated_at = now()
                   FROM expired WHERE s.reservation_id = expired.id AND s.status = 'HOLD'
                   RETURNING s.id, expired.id AS was
               )
               SELECT e.id::text AS id, e.user_id, e.concert_id, e.performance_id,
                      coalesce(array_agg(f.id ORDER BY f.id) FILTER (WHERE f.id IS NOT NULL), '{}') AS seats
               FROM expired e LEFT JOIN freed f ON f.was = e.id
               GROUP BY e.id, e.user_id, e.concert_id, e.performance_id"#,
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|r| {
                let user: String = r.try_get("user_id").map_err(store_error)?;
                let seats: Vec<i64> = r.try_get("seats").map_err(store_error)?;
                Ok(ExpiredHold {
                    reservation: ReservationId::from_stored(r.try_get("id").map_err(store_error)?),
                    user: UserId::parse(&user).map_err(StoreError::internal)?,
                    concert: ConcertId::from_stored(r.try_get("concert_id").map_err(store_error)?),
                    option: OptionId::from_stored(
                        r.try_get("performance_id").map_err(store_error)?,
                    ),
                    seats: seats.into_iter().map(SeatId::from_stored).collect(),
                })
            })
            .collect()
    }

    async fn by_request(
        &self,
        user: &UserId,
        request: &RequestId,
    ) -> Result<Option<Reservation>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id::text FROM reservations WHERE user_id = $1 AND request_id = $2",
        )
        .bind(user.as_str())
        .bind(request.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        match id {
            Some(id) => self.load(&self.pool, &id).await,
            None => Ok(None),
        }
    }

    async fn start_paying(
        &self,
        id: &ReservationId,
        now: chrono::DateTime<chrono::Utc>,
        hold_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Reservation>, StoreError> {
        // Seats stay HOLD while paying, so only the reservation row changes.
        let moved = sqlx::query(
            r#"UPDATE reservations
               SET status = 'PAYING', hold_expires_at = greatest(hold_expires_at, $3), updated_at = now()
               WHERE id = $1::uuid AND status = 'HOLD' AND hold_expires_at > $2"#,
        )
        .bind(id.as_str())
        .bind(now)
        .bind(hold_until)
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected();
        if moved == 0 {
            return Ok(None);
        }
        self.load(&self.pool, id.as_str()).await
    }

    async fn hold(&self, hold: NewHold<'_>) -> Result<HoldOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        match Self::try_hold(&mut tx, &hold).await.map_err(store_error)? {
            Attempt::RequestUsed => {
                tx.rollback().await.map_err(store_error)?;
                let existing = self
                    .by_request(hold.user, &hold.request.request)
                    .await?
                    .ok_or_else(|| {
                        StoreError::internal("request id in use but no reservation found")
                    })?;
                Ok(HoldOutcome::Existing(existing))
            }
            Attempt::SeatsTaken => {
                tx.rollback().await.map_err(store_error)?;
                Ok(HoldOutcome::SeatsTaken)
            }
            Attempt::LimitExceeded(wanted) => {
                tx.rollback().await.map_err(store_error)?;
                // A concurrent copy of this very request may be what filled the limit.
                Ok(
                    match self.by_request(hold.user, &hold.request.request).await? {
                        Some(existing) => HoldOutcome::Existing(existing),
                        None => HoldOutcome::LimitExceeded { wanted },
                    },
                )
            }
            Attempt::Held(id) => {
                tx.commit().await.map_err(store_error)?;
                self.load(&self.pool, &id)
                    .await?
                    .map(HoldOutcome::Held)
                    .ok_or_else(|| StoreError::internal("committed reservation not found"))
            }
        }
    }
}

/// The abuse trail lives beside the reservations it watches.
impl AbuseLedger for PostgresReservations {
    async fn holds_since(
        &self,
        user: &UserId,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM reservations WHERE user_id = $1 AND created_at >= $2",
        )
        .bind(user.as_str())
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn repeated_since(
        &self,
        user: &UserId,
        fingerprint: &str,
        request_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            r#"SELECT EXISTS (SELECT 1 FROM reservations
               WHERE user_id = $1 AND fingerprint = $2 AND request_id <> $3 AND created_at >= $4)"#,
        )
        .bind(user.as_str())
        .bind(fingerprint)
        .bind(request_id)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)
    }

    async fn claim_device(
        &self,
        device: &DeviceFingerprint,
        user: &UserId,
        now: chrono::DateTime<chrono::Utc>,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        // Take the device if it is free, already ours, or its last buyer's window has passed.
        let claimed: Option<String> = sqlx::query_scalar(
            r#"INSERT INTO device_claims (device, user_id, claimed_at) VALUES ($1, $2, $3)
               ON CONFLICT (device) DO UPDATE SET user_id = EXCLUDED.user_id, claimed_at = EXCLUDED.claimed_at
               WHERE device_claims.user_id = EXCLUDED.user_id OR device_claims.claimed_at < $4
               RETURNING user_id"#,
        )
        .bind(device.as_str())
        .bind(user.as_str())
        .bind(now)
        .bind(since)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(claimed.is_some())
    }

    async fn record_block(
        &self,
        user: &UserId,
        rule: Rule,
        detail: &str,
    ) -> Result<(), StoreError> {
        // Straight on the pool: its own transaction, committed whatever happens to the hold.
        sqlx::query("INSERT INTO abuse_audit (user_id, rule, detail) VALUES ($1, $2, $3)")
            .bind(user.as_str())
            .bind(rule.as_str())
            .bind(detail)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

/// Moves the reservation from `from` to `to` if it is still `from`, its seats with it (seats
/// given back lose their reservation), in one statement. False if it was not `from`.
pub(super) async fn move_reservation(
    conn: &mut sqlx::PgConnection,
    id: &ReservationId,
    from: ReservationStatus,
    to: ReservationStatus,
) -> Result<bool, sqlx::Error> {
    let seat_status = match to {
        ReservationStatus::Hold | ReservationStatus::Paying => "HOLD",
        ReservationStatus::Confirmed => "CONFIRMED",
        _ => "AVAILABLE",
    };
    let changed: i64 = sqlx::query_scalar(
        r#"WITH changed AS (
               UPDATE reservations SET status = $3, updated_at = now()
               WHERE id = $1::uuid AND status = $2
               RETURNING id
           ), seats_moved AS (
               UPDATE seats SET status = $4, updated_at = now(),
                   reservation_id = CASE WHEN $4 = 'AVAILABLE' THEN NULL ELSE reservation_id END
               WHERE reservation_id IN (SELECT id FROM changed)
               RETURNING id
           )
           SELECT count(*) FROM changed"#,
    )
    .bind(id.as_str())
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(seat_status)
    .fetch_one(conn)
    .await?;
    Ok(changed > 0)
}
