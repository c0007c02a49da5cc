//! The performances `seat-select-spread` clicks in: one bench concert with many small
//! performances, on sale and not queue-gated, created in the bench database on first use.

use chrono::Utc;
use sqlx::PgPool;
use ticketrush_adapters::postgres::PostgresCatalogAdmin;
use ticketrush_core::{
    ConcertId, OptionId,
    catalog::{CatalogAdmin, ConcertDraft, PerformanceDraft, SectionLayout},
    sale::SalesPolicy,
};

const SLUG: &str = "bench-seat-spread";
pub const PERFORMANCES: usize = 64;

async fn stored(pool: &PgPool) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, p.id FROM performances p JOIN concerts c ON c.id = p.concert_id \
         WHERE c.slug = $1 ORDER BY p.id",
    )
    .bind(SLUG)
    .fetch_all(pool)
    .await
}

/// The bench concert and its performances (64 of 200 seats).
pub async fn bench_options(
    pool: &PgPool,
) -> Result<(ConcertId, Vec<OptionId>), Box<dyn std::error::Error>> {
    let mut rows = stored(pool).await?;
    if rows.len() != PERFORMANCES {
        create(pool).await?;
        rows = stored(pool).await?;
    }
    let concert = rows
        .first()
        .ok_or("the spread bench concert was not created")?
        .0;
    Ok((
        ConcertId::from_stored(concert),
        rows.iter().map(|r| OptionId::from_stored(r.1)).collect(),
    ))
}

async fn create(pool: &PgPool) -> Result<(), Box<dyn std::error::Error>> {
    let now = Utc::now();
    let performances = (0..PERFORMANCES)
        .map(|i| PerformanceDraft {
            code: format!("S{i}"),
            starts_at: now + chrono::Duration::days(30 + i as i64),
            hall: "Main".into(),
            sections: vec![SectionLayout {
                name: "S".into(),
                rows: 10,
                seats_per_row: 20,
                grade: "R".into(),
                price: 100_000,
            }],
        })
        .collect();
    create_bench_concert(pool, SLUG, "Bench: seats spread", performances).await
}

/// A bench concert in the bench database: on sale since an hour ago, not queue-gated.
pub async fn create_bench_concert(
    pool: &PgPool,
    slug: &str,
    title: &str,
    performances: Vec<PerformanceDraft>,
) -> Result<(), Box<dyn std::error::Error>> {
    PostgresCatalogAdmin::new(pool.clone())
        .upsert_concert(&ConcertDraft {
            slug: slug.into(),
            title: title.into(),
            artist: "ticketrush bench".into(),
            venue: "Bench Hall".into(),
            promoter: "ticketrush".into(),
            policy: Some(SalesPolicy::new(
                None,
                Utc::now() - chrono::Duration::hours(1),
                None,
                4,
                false,
            )?),
            performances,
        })
        .await?;
    Ok(())
}
