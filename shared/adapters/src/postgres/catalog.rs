use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row, postgres::PgRow};
use ticketrush_core::{
    ConcertId, OptionId, SeatId, StoreError,
    catalog::{
        CatalogFilter, CatalogRepository, ConcertListing, ConcertRecord, OptionRecord, Performance,
        Seat, SeatMap, SeatPage, SeatStatus,
    },
    sale::{Presale, SalesPolicy, SeatCounts},
};

use super::store_error;

/// The catalog in PostgreSQL. Seat counts come from the same query as the concerts, read
/// from the counts the seat triggers keep (`total_seats`, `seat_availability`).
#[derive(Clone)]
pub struct PostgresCatalog {
    pool: PgPool,
}

impl PostgresCatalog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

const LISTINGS_SQL: &str = r#"
SELECT c.id, c.title, c.artist, c.venue, c.promoter,
       sp.presale_starts_at, sp.presale_min_tier, sp.general_sale_starts_at, sp.sale_ends_at,
       sp.max_seats_per_user, sp.queue_gated,
       agg.first_starts_at, agg.last_starts_at, agg.total, agg.available
FROM concerts c
LEFT JOIN sales_policies sp ON sp.concert_id = c.id
CROSS JOIN LATERAL (
    SELECT min(p.starts_at) AS first_starts_at,
           max(p.starts_at) AS last_starts_at,
           coalesce(sum(p.total_seats), 0)::bigint AS total,
           coalesce(sum((SELECT sum(a.available) FROM seat_availability a
                         WHERE a.performance_id = p.id)), 0)::bigint AS available
    FROM performances p
    WHERE p.concert_id = c.id
) agg
WHERE ($1::bigint IS NULL OR c.id = $1)
  AND ($2::text IS NULL OR c.title ILIKE $2 OR c.artist ILIKE $2)
  AND ($3::text IS NULL OR c.venue ILIKE $3)
  AND (($4::timestamptz IS NULL AND $5::timestamptz IS NULL) OR EXISTS (
        SELECT 1 FROM performances p
        WHERE p.concert_id = c.id
          AND ($4::timestamptz IS NULL OR p.starts_at >= $4)
          AND ($5::timestamptz IS NULL OR p.starts_at < $5)))
"#;

/// `%text%` for ILIKE, with the user's own wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

fn listing_from_row(row: &PgRow) -> Result<ConcertListing, StoreError> {
    let general: Option<DateTime<Utc>> =
        row.try_get("general_sale_starts_at").map_err(store_error)?;
    let policy = match general {
        None => None,
        Some(general) => {
            let presale_starts: Option<DateTime<Utc>> =
                row.try_get("presale_starts_at").map_err(store_error)?;
            let presale_tier: Option<String> =
                row.try_get("presale_min_tier").map_err(store_error)?;
            let presale = match (presale_starts, presale_tier) {
                (Some(starts_at), Some(tier)) => Some(Presale {
                    starts_at,
                    min_tier: tier
                        .parse()
                        .map_err(|e| StoreError::internal(format!("stored tier: {e}")))?,
                }),
                _ => None,
            };
            let max: i32 = row.try_get("max_seats_per_user").map_err(store_error)?;
            Some(
                SalesPolicy::new(
                    presale,
                    general,
                    row.try_get("sale_ends_at").map_err(store_error)?,
                    u16::try_from(max).unwrap_or(0),
                    row.try_get("queue_gated").map_err(store_error)?,
                )
                .map_err(|e| StoreError::internal(format!("stored sales policy: {e}")))?,
            )
        }
    };
    let total: i64 = row.try_get("total").map_err(store_error)?;
    let available: i64 = row.try_get("available").map_err(store_error)?;
    Ok(ConcertListing {
        id: ConcertId::from_stored(row.try_get("id").map_err(store_error)?),
        title: row.try_get("title").map_err(store_error)?,
        artist: row.try_get("artist").map_err(store_error)?,
        venue: row.try_get("venue").map_err(store_error)?,
        policy,
        first_starts_at: row.try_get("first_starts_at").map_err(store_error)?,
        last_starts_at: row.try_get("last_starts_at").map_err(store_error)?,
        counts: SeatCounts {
            available: u32::try_from(available).unwrap_or(u32::MAX),
            total: u32::try_from(total).unwrap_or(u32::MAX),
        },
    })
}

impl PostgresCatalog {
    async fn fetch_listings(
        &self,
        id: Option<ConcertId>,
        filter: &CatalogFilter,
    ) -> Result<Vec<PgRow>, StoreError> {
        sqlx::query(LISTINGS_SQL)
            .bind(id.map(ConcertId::get))
            .bind(filter.text.as_deref().map(contains_pattern))
            .bind(filter.venue.as_deref().map(contains_pattern))
            .bind(filter.performs_from)
            .bind(filter.performs_to)
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)
    }
}

impl CatalogRepository for PostgresCatalog {
    async fn listings(&self, filter: &CatalogFilter) -> Result<Vec<ConcertListing>, StoreError> {
        self.fetch_listings(None, filter)
            .await?
            .iter()
            .map(listing_from_row)
            .collect()
    }

    async fn concert(&self, id: ConcertId) -> Result<Option<ConcertRecord>, StoreError> {
        let rows = self
            .fetch_listings(Some(id), &CatalogFilter::default())
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let listing = listing_from_row(row)?;
        let promoter: String = row.try_get("promoter").map_err(store_error)?;
        let performances = sqlx::query(
            r#"SELECT p.id, p.starts_at, p.hall, p.total_seats,
                      (SELECT coalesce(sum(a.available), 0)::bigint FROM seat_availability a
                       WHERE a.performance_id = p.id) AS available
               FROM performances p WHERE p.concert_id = $1 ORDER BY p.starts_at, p.id"#,
        )
        .bind(id.get())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(|r| {
            let total: i32 = r.try_get("total_seats")?;
            let available: i64 = r.try_get("available")?;
            Ok(Performance {
                option_id: OptionId::from_stored(r.try_get("id")?),
                starts_at: r.try_get("starts_at")?,
                hall: r.try_get("hall")?,
                available_seat_count: u32::try_from(available).unwrap_or(0),
                total_seat_count: u32::try_from(total).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(store_error)?;
        Ok(Some(ConcertRecord {
            listing,
            promoter,
            performances,
        }))
    }

    async fn option(&self, id: OptionId) -> Result<Option<OptionRecord>, StoreError> {
        let Some(concert_id) =
            sqlx::query_scalar::<_, i64>("SELECT concert_id FROM performances WHERE id = $1")
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?
        else {
            return Ok(None);
        };
        let rows = self
            .fetch_listings(
                Some(ConcertId::from_stored(concert_id)),
                &CatalogFilter::default(),
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let seat_ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM seats WHERE performance_id = $1 ORDER BY id")
                .bind(id.get())
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(Some(OptionRecord {
            option: id,
            concert: listing_from_row(row)?,
            seat_ids: seat_ids.into_iter().map(SeatId::from_stored).collect(),
        }))
    }

    async fn seat_map(&self, id: OptionId, page: SeatPage) -> Result<Option<SeatMap>, StoreError> {
        let Some(perf) = sqlx::query(
            "SELECT concert_id, starts_at, total_seats FROM performances WHERE id = $1",
        )
        .bind(id.get())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        else {
            return Ok(None);
        };
        let total: i32 = perf.try_get("total_seats").map_err(store_error)?;
        let seats = sqlx::query(
            r#"SELECT id, section, row_label, seat_number, grade, price, status
               FROM seats WHERE performance_id = $1 ORDER BY id LIMIT $2 OFFSET $3"#,
        )
        .bind(id.get())
        .bind(i64::from(page.size))
        .bind(page.offset() as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(|r| {
            let status: String = r.try_get("status").map_err(store_error)?;
            Ok(Seat {
                seat_id: SeatId::from_stored(r.try_get("id").map_err(store_error)?),
                section: r.try_get("section").map_err(store_error)?,
                row: r.try_get("row_label").map_err(store_error)?,
                number: r.try_get("seat_number").map_err(store_error)?,
                grade: r.try_get("grade").map_err(store_error)?,
                price: r.try_get("price").map_err(store_error)?,
                status: SeatStatus::from_ledger(&status).ok_or_else(|| {
                    StoreError::internal(format!("stored seat status {status:?}"))
                })?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let total_elements = u64::try_from(total).unwrap_or(0);
        Ok(Some(SeatMap {
            option_id: id,
            concert_id: ConcertId::from_stored(perf.try_get("concert_id").map_err(store_error)?),
            starts_at: perf.try_get("starts_at").map_err(store_error)?,
            seats,
            page: page.page,
            size: page.size,
            total_elements,
            has_next: page.offset() + u64::from(page.size) < total_elements,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn wildcards_in_search_text_are_literal() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
