use sqlx::{PgPool, Row};
use ticketrush_core::{
    ConcertId, StoreError,
    catalog::{CatalogAdmin, ConcertDraft},
    sale::SalesPolicy,
};

use super::store_error;

/// Catalog writes in PostgreSQL: one transaction per concert.
#[derive(Clone)]
pub struct PostgresCatalogAdmin {
    pool: PgPool,
}

impl PostgresCatalogAdmin {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// The one statement that writes a concert's policy.
async fn write_policy(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    concert_id: i64,
    policy: &SalesPolicy,
) -> Result<(), StoreError> {
    sqlx::query(
        r#"INSERT INTO sales_policies (concert_id, presale_starts_at, presale_min_tier,
               general_sale_starts_at, sale_ends_at, max_seats_per_user, queue_gated)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (concert_id) DO UPDATE SET presale_starts_at = EXCLUDED.presale_starts_at,
               presale_min_tier = EXCLUDED.presale_min_tier,
               general_sale_starts_at = EXCLUDED.general_sale_starts_at,
               sale_ends_at = EXCLUDED.sale_ends_at,
               max_seats_per_user = EXCLUDED.max_seats_per_user,
               queue_gated = EXCLUDED.queue_gated, updated_at = now()"#,
    )
    .bind(concert_id)
    .bind(policy.presale().map(|p| p.starts_at))
    .bind(policy.presale().map(|p| p.min_tier.as_str()))
    .bind(policy.general_sale_starts_at())
    .bind(policy.sale_ends_at())
    .bind(i32::from(policy.max_seats_per_user()))
    .bind(policy.queue_gated())
    .execute(&mut **tx)
    .await
    .map(|_| ())
    .map_err(store_error)
}

impl CatalogAdmin for PostgresCatalogAdmin {
    async fn put_policy(
        &self,
        concert: ConcertId,
        policy: &SalesPolicy,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM concerts WHERE id = $1)")
                .bind(concert.get())
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        if !exists {
            return Ok(false);
        }
        write_policy(&mut tx, concert.get(), policy).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn upsert_concert(&self, draft: &ConcertDraft) -> Result<ConcertId, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let concert_id: i64 = sqlx::query(
            r#"INSERT INTO concerts (slug, title, artist, venue, promoter) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (slug) DO UPDATE SET title = EXCLUDED.title, artist = EXCLUDED.artist,
                   venue = EXCLUDED.venue, promoter = EXCLUDED.promoter, updated_at = now()
               RETURNING id"#,
        )
        .bind(&draft.slug)
        .bind(&draft.title)
        .bind(&draft.artist)
        .bind(&draft.venue)
        .bind(&draft.promoter)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?
        .try_get("id")
        .map_err(store_error)?;

        match &draft.policy {
            None => {
                sqlx::query("DELETE FROM sales_policies WHERE concert_id = $1")
                    .bind(concert_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
            }
            Some(policy) => write_policy(&mut tx, concert_id, policy).await?,
        }

        for perf in &draft.performances {
            let performance_id: i64 = sqlx::query(
                r#"INSERT INTO performances (concert_id, code, starts_at, hall) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (concert_id, code) DO UPDATE SET starts_at = EXCLUDED.starts_at, hall = EXCLUDED.hall
                   RETURNING id"#,
            )
            .bind(concert_id)
            .bind(&perf.code)
            .bind(perf.starts_at)
            .bind(&perf.hall)
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?
            .try_get("id")
            .map_err(store_error)?;
            for section in &perf.sections {
                sqlx::query(
                    r#"INSERT INTO seats (performance_id, section, row_label, seat_number, grade, price)
                       SELECT $1, $2, r::text, n, $3, $4
                       FROM generate_series(1, $5::int) AS r, generate_series(1, $6::int) AS n
                       ORDER BY r, n
                       ON CONFLICT (performance_id, section, row_label, seat_number) DO NOTHING"#,
                )
                .bind(performance_id)
                .bind(&section.name)
                .bind(&section.grade)
                .bind(section.price)
                .bind(i32::from(section.rows))
                .bind(i32::from(section.seats_per_row))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            }
        }
        tx.commit().await.map_err(store_error)?;
        Ok(ConcertId::from_stored(concert_id))
    }
}
