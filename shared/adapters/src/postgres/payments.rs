//! Payments in PostgreSQL, written in the same transactions as the reservations they move.
//! Every transaction that touches both locks the reservation first, then the payment.

use sqlx::{Postgres, Row, Transaction};
use ticketrush_core::{
    StoreError,
    payments::{
        EventOutcome, OpenPayment, Opened, Payment, PaymentEvent, PaymentId, PaymentLedger,
        PaymentStatus, RefundOverride, Settled,
    },
    reservations::{Reservation, ReservationId, ReservationStatus},
};

use super::{
    reservations::{PostgresReservations, move_reservation},
    store_error,
};

fn payment_from(row: &sqlx::postgres::PgRow) -> Result<Payment, StoreError> {
    let status: String = row.try_get("status").map_err(store_error)?;
    Ok(Payment {
        payment_id: row
            .try_get::<Option<String>, _>("payment_id")
            .map_err(store_error)?
            .map(PaymentId::from_stored),
        reservation_id: ReservationId::from_stored(
            row.try_get("reservation_id").map_err(store_error)?,
        ),
        idempotency_key: row.try_get("idempotency_key").map_err(store_error)?,
        amount: row.try_get("amount").map_err(store_error)?,
        status: PaymentStatus::from_stored(&status)
            .ok_or_else(|| StoreError::internal(format!("stored payment status {status:?}")))?,
    })
}

const PAYMENT_COLUMNS: &str =
    "payment_id, reservation_id::text AS reservation_id, idempotency_key, amount, status";

impl PostgresReservations {
    async fn reload(&self, id: &ReservationId) -> Result<Reservation, StoreError> {
        self.load(&self.pool, id.as_str())
            .await?
            .ok_or_else(|| StoreError::internal(format!("reservation {id} vanished")))
    }
}

/// Locks the reservation row; its status, or None if there is no such reservation.
async fn lock_reservation(
    tx: &mut Transaction<'_, Postgres>,
    id: &str,
) -> Result<Option<(ReservationStatus, chrono::DateTime<chrono::Utc>)>, StoreError> {
    let Some((status, expires)): Option<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT status, hold_expires_at FROM reservations WHERE id = $1::uuid FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(store_error)?
    else {
        return Ok(None);
    };
    let status = ReservationStatus::from_stored(&status)
        .ok_or_else(|| StoreError::internal(format!("stored reservation status {status:?}")))?;
    Ok(Some((status, expires)))
}

async fn payment_by_key(
    tx: &mut Transaction<'_, Postgres>,
    key: &str,
) -> Result<Option<Payment>, StoreError> {
    sqlx::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE idempotency_key = $1"
    ))
    .bind(key)
    .fetch_optional(&mut **tx)
    .await
    .map_err(store_error)?
    .as_ref()
    .map(payment_from)
    .transpose()
}

async fn set_payment_status(
    tx: &mut Transaction<'_, Postgres>,
    payment: &PaymentId,
    status: PaymentStatus,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET status = $2, updated_at = now() WHERE payment_id = $1")
        .bind(payment.as_str())
        .bind(status.as_str())
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(store_error)
}

impl PaymentLedger for PostgresReservations {
    async fn open_payment(&self, open: OpenPayment<'_>) -> Result<Opened, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let Some((status, expires)) = lock_reservation(&mut tx, open.reservation.as_str()).await?
        else {
            return Err(StoreError::internal(format!(
                "reservation {} vanished",
                open.reservation
            )));
        };
        let answer = if let Some(earlier) = payment_by_key(&mut tx, open.idempotency_key).await? {
            if earlier.payment_id.is_none() {
                Opened::Unanswered
            } else {
                Opened::Answered(earlier)
            }
        } else if status != ReservationStatus::Paying {
            Opened::NotPaying(status)
        } else if expires <= open.now {
            Opened::HoldExpired
        } else {
            let busy: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM payments WHERE reservation_id = $1::uuid AND status IN ('PENDING', 'APPROVED'))",
            )
            .bind(open.reservation.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
            if busy {
                Opened::Busy
            } else {
                sqlx::query(
                    r#"INSERT INTO payments (reservation_id, idempotency_key, amount, status)
                       VALUES ($1::uuid, $2, $3, 'PENDING')"#,
                )
                .bind(open.reservation.as_str())
                .bind(open.idempotency_key)
                .bind(open.amount)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
                sqlx::query(
                    "UPDATE reservations SET hold_expires_at = greatest(hold_expires_at, $2), updated_at = now() WHERE id = $1::uuid",
                )
                .bind(open.reservation.as_str())
                .bind(open.hold_until)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
                Opened::New
            }
        };
        tx.commit().await.map_err(store_error)?;
        Ok(answer)
    }

    async fn settle(
        &self,
        idempotency_key: &str,
        payment: &PaymentId,
        status: PaymentStatus,
    ) -> Result<Settled, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let open = payment_by_key(&mut tx, idempotency_key)
            .await?
            .ok_or_else(|| StoreError::internal(format!("no payment {idempotency_key}")))?;
        let reservation = open.reservation_id.clone();
        lock_reservation(&mut tx, reservation.as_str()).await?;
        let recorded = sqlx::query(
            "UPDATE payments SET payment_id = $2, status = $3, updated_at = now() WHERE idempotency_key = $1 AND payment_id IS NULL",
        )
        .bind(idempotency_key)
        .bind(payment.as_str())
        .bind(status.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if recorded == 0 {
            let earlier = payment_by_key(&mut tx, idempotency_key).await?;
            tx.rollback().await.map_err(store_error)?;
            return earlier
                .map(Settled::AlreadyAnswered)
                .ok_or_else(|| StoreError::internal(format!("no payment {idempotency_key}")));
        }
        let to = match status {
            PaymentStatus::Approved => Some(ReservationStatus::Confirmed),
            PaymentStatus::Denied => Some(ReservationStatus::Hold),
            _ => None,
        };
        let mut refund_due = false;
        if let Some(to) = to {
            let moved = move_reservation(&mut tx, &reservation, ReservationStatus::Paying, to)
                .await
                .map_err(store_error)?;
            if !moved && status == PaymentStatus::Approved {
                set_payment_status(&mut tx, payment, PaymentStatus::Refunding).await?;
                refund_due = true;
            }
        }
        tx.commit().await.map_err(store_error)?;
        let current = self.reload(&reservation).await?;
        Ok(if refund_due {
            Settled::RefundDue(current)
        } else {
            Settled::Applied(current)
        })
    }

    async fn paid_for(&self, reservation: &ReservationId) -> Result<Option<Payment>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE reservation_id = $1::uuid AND status = 'APPROVED'"
        ))
        .bind(reservation.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(payment_from)
        .transpose()
    }

    async fn apply_event(&self, event: &PaymentEvent) -> Result<EventOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let Some(reservation) = sqlx::query_scalar::<_, String>(
            "SELECT reservation_id::text FROM payments WHERE payment_id = $1",
        )
        .bind(event.payment.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        else {
            return Ok(EventOutcome::UnknownPayment);
        };
        lock_reservation(&mut tx, &reservation).await?;
        let row = sqlx::query(
            "SELECT status, last_sequence FROM payments WHERE payment_id = $1 FOR UPDATE",
        )
        .bind(event.payment.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        let recorded = sqlx::query(
            r#"INSERT INTO payment_events (event_id, payment_id, sequence, approved)
               VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING"#,
        )
        .bind(&event.event_id)
        .bind(event.payment.as_str())
        .bind(event.sequence)
        .bind(event.approved)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if recorded == 0 {
            return Ok(EventOutcome::Duplicate);
        }
        let last: i64 = row.try_get("last_sequence").map_err(store_error)?;
        let status: String = row.try_get("status").map_err(store_error)?;
        if event.sequence <= last || status != PaymentStatus::Pending.as_str() {
            // The event stays recorded, so a redelivery of it is a duplicate.
            tx.commit().await.map_err(store_error)?;
            return Ok(EventOutcome::OutOfOrder);
        }
        let reservation = ReservationId::from_stored(reservation);
        let to = if event.approved {
            ReservationStatus::Confirmed
        } else {
            ReservationStatus::Hold
        };
        let moved = move_reservation(&mut tx, &reservation, ReservationStatus::Paying, to)
            .await
            .map_err(store_error)?;
        // An approval that comes too late is money to give back, never money kept.
        let payment_status = match (event.approved, moved) {
            (true, true) => PaymentStatus::Approved,
            (true, false) => PaymentStatus::Refunding,
            (false, _) => PaymentStatus::Denied,
        };
        sqlx::query(
            "UPDATE payments SET status = $2, last_sequence = $3, updated_at = now() WHERE payment_id = $1",
        )
        .bind(event.payment.as_str())
        .bind(payment_status.as_str())
        .bind(event.sequence)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        let current = self.reload(&reservation).await?;
        Ok(match (moved, payment_status) {
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        if !move_reservation(&mut tx, reservation, from, ReservationStatus::Refunded)
            .await
            .map_err(store_error)?
        {
            tx.rollback().await.map_err(store_error)?;
            return Ok(None);
        }
        let marked = sqlx::query(
            "UPDATE payments SET status = 'REFUNDING', updated_at = now() WHERE payment_id = $1 AND status = 'APPROVED'",
        )
        .bind(payment.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if marked == 0 {
            tx.rollback().await.map_err(store_error)?;
            return Ok(None);
        }
        if let Some(audit) = audit {
            sqlx::query(
                r#"INSERT INTO refund_overrides (reservation_id, admin_user_id, reason, cutoff)
                   VALUES ($1::uuid, $2, $3, $4)"#,
            )
            .bind(reservation.as_str())
            .bind(audit.admin.as_str())
            .bind(&audit.reason)
            .bind(audit.cutoff)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        self.reload(reservation).await.map(Some)
    }

    async fn refund_done(&self, payment: &PaymentId) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE payments SET status = 'REFUNDED', updated_at = now() WHERE payment_id = $1 AND status = 'REFUNDING'",
        )
        .bind(payment.as_str())
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(store_error)
    }

    async fn refunds_due(&self, limit: u32) -> Result<Vec<PaymentId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT payment_id FROM payments WHERE status = 'REFUNDING' AND payment_id IS NOT NULL ORDER BY updated_at LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(ids.into_iter().map(PaymentId::from_stored).collect())
    }
}
