//! Payments in PostgreSQL, written in the same transactions as the reservations they move.

use sqlx::Row;
use ticketrush_core::{
    StoreError,
    payments::{
        EventOutcome, Payment, PaymentEvent, PaymentId, PaymentLedger, PaymentStatus,
        RefundOverride,
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
        payment_id: PaymentId::from_stored(row.try_get("payment_id").map_err(store_error)?),
        reservation_id: ReservationId::from_stored(
            row.try_get("reservation_id").map_err(store_error)?,
        ),
        idempotency_key: row.try_get("idempotency_key").map_err(store_error)?,
        amount: row.try_get("amount").map_err(store_error)?,
        status: PaymentStatus::from_stored(&status)
            .ok_or_else(|| StoreError::Internal(format!("stored payment status {status:?}")))?,
    })
}

const PAYMENT_COLUMNS: &str =
    "payment_id, reservation_id::text AS reservation_id, idempotency_key, amount, status";

impl PostgresReservations {
    async fn reload(&self, id: &ReservationId) -> Result<Reservation, StoreError> {
        self.load(&self.pool, id.as_str())
            .await?
            .ok_or_else(|| StoreError::Internal(format!("reservation {id} vanished")))
    }
}

impl PaymentLedger for PostgresReservations {
    async fn payment_by_key(&self, idempotency_key: &str) -> Result<Option<Payment>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE idempotency_key = $1"
        ))
        .bind(idempotency_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(payment_from)
        .transpose()
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

    async fn settle(
        &self,
        payment: &Payment,
        to: Option<ReservationStatus>,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        if let Some(to) = to
            && !move_reservation(
                &mut tx,
                &payment.reservation_id,
                ReservationStatus::Paying,
                to,
            )
            .await
            .map_err(store_error)?
        {
            tx.rollback().await.map_err(store_error)?;
            return Ok(None);
        }
        sqlx::query(
            r#"INSERT INTO payments (payment_id, reservation_id, idempotency_key, amount, status)
               VALUES ($1, $2::uuid, $3, $4, $5)"#,
        )
        .bind(payment.payment_id.as_str())
        .bind(payment.reservation_id.as_str())
        .bind(&payment.idempotency_key)
        .bind(payment.amount)
        .bind(payment.status.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        self.reload(&payment.reservation_id).await.map(Some)
    }

    async fn apply_event(&self, event: &PaymentEvent) -> Result<EventOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let Some(row) = sqlx::query(
            "SELECT reservation_id::text AS reservation_id, status, last_sequence FROM payments WHERE payment_id = $1 FOR UPDATE",
        )
        .bind(event.payment.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        else {
            return Ok(EventOutcome::UnknownPayment);
        };
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
        let (payment_status, to) = if event.approved {
            (PaymentStatus::Approved, ReservationStatus::Confirmed)
        } else {
            (PaymentStatus::Denied, ReservationStatus::Hold)
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
        let reservation =
            ReservationId::from_stored(row.try_get("reservation_id").map_err(store_error)?);
        let moved = move_reservation(&mut tx, &reservation, ReservationStatus::Paying, to)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        let current = self.reload(&reservation).await?;
        Ok(if moved {
            EventOutcome::Applied(current)
        } else {
            EventOutcome::ReservationMovedOn(current.status)
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
        let refunded = sqlx::query(
            "UPDATE payments SET status = 'REFUNDED', updated_at = now() WHERE payment_id = $1 AND status = 'APPROVED'",
        )
        .bind(payment.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if refunded == 0
            || !move_reservation(&mut tx, reservation, from, ReservationStatus::Refunded)
                .await
                .map_err(store_error)?
        {
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
}
