//! The sample catalog: sale times are offsets from the moment of loading, so every fresh
//! load shows every sale status, including one that opens a few minutes later.

use std::{collections::HashMap, path::Path};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use sqlx::PgPool;
use ticketrush_adapters::postgres::PostgresCatalogAdmin;
use ticketrush_core::{
    Tier,
    catalog::{CatalogAdmin, ConcertDraft, PerformanceDraft, SectionLayout},
    sale::{Presale, SalesPolicy},
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SampleCatalog {
    layouts: HashMap<String, Vec<SampleSection>>,
    users: Vec<SampleUser>,
    concerts: Vec<SampleConcert>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SampleSection {
    name: String,
    rows: u16,
    seats_per_row: u16,
    grade: String,
    price: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SampleUser {
    id: String,
    display_name: String,
    tier: Tier,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SampleConcert {
    slug: String,
    title: String,
    artist: String,
    venue: String,
    promoter: String,
    layout: String,
    performances: Vec<SamplePerformance>,
    policy: Option<SamplePolicy>,
    #[serde(default)]
    sold_out: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SamplePerformance {
    code: String,
    starts_in_hours: i64,
    hall: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SamplePolicy {
    general_opens_in_seconds: i64,
    presale: Option<SamplePresale>,
    ends_in_seconds: Option<i64>,
    max_seats_per_user: u16,
    queue_gated: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SamplePresale {
    opens_in_seconds: i64,
    min_tier: Tier,
}

pub struct LoadReport {
    pub concerts: usize,
    pub seats: i64,
}

pub fn read(path: &Path) -> Result<SampleCatalog, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl SampleCatalog {
    /// The catalog as drafts, with offsets resolved against `now`.
    fn drafts(&self, now: DateTime<Utc>) -> Result<Vec<(ConcertDraft, bool)>, String> {
        self.concerts
            .iter()
            .map(|c| {
                let layout = self
                    .layouts
                    .get(&c.layout)
                    .ok_or_else(|| format!("{}: unknown layout {:?}", c.slug, c.layout))?;
                let policy = c
                    .policy
                    .as_ref()
                    .map(|p| {
                        SalesPolicy::new(
                            p.presale.as_ref().map(|ps| Presale {
                                starts_at: now + Duration::seconds(ps.opens_in_seconds),
                                min_tier: ps.min_tier,
                            }),
                            now + Duration::seconds(p.general_opens_in_seconds),
                            p.ends_in_seconds.map(|s| now + Duration::seconds(s)),
                            p.max_seats_per_user,
                            p.queue_gated,
                        )
                        .map_err(|e| format!("{}: {e}", c.slug))
                    })
                    .transpose()?;
                let draft = ConcertDraft {
                    slug: c.slug.clone(),
                    title: c.title.clone(),
                    artist: c.artist.clone(),
                    venue: c.venue.clone(),
                    promoter: c.promoter.clone(),
                    policy,
                    performances: c
                        .performances
                        .iter()
                        .map(|p| PerformanceDraft {
                            code: p.code.clone(),
                            starts_at: now + Duration::hours(p.starts_in_hours),
                            hall: p.hall.clone(),
                            sections: layout
                                .iter()
                                .map(|s| SectionLayout {
                                    name: s.name.clone(),
                                    rows: s.rows,
                                    seats_per_row: s.seats_per_row,
                                    grade: s.grade.clone(),
                                    price: s.price,
                                })
                                .collect(),
                        })
                        .collect(),
                };
                Ok((draft, c.sold_out))
            })
            .collect()
    }

    /// Writes the catalog. Loading again resets the sale times to be relative to now and
    /// creates nothing twice.
    pub async fn load(
        &self,
        pool: &PgPool,
        now: DateTime<Utc>,
    ) -> Result<LoadReport, Box<dyn std::error::Error>> {
        for u in &self.users {
            sqlx::query(
                "INSERT INTO users (id, display_name, tier) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, tier = EXCLUDED.tier",
            )
            .bind(&u.id)
            .bind(&u.display_name)
            .bind(u.tier.as_str())
            .execute(pool)
            .await?;
        }
        let admin = PostgresCatalogAdmin::new(pool.clone());
        for (draft, sold_out) in self.drafts(now)? {
            let id = admin.upsert_concert(&draft).await?;
            // A sold-out sample has every seat taken; until reservations exist the ledger
            // is marked directly.
            let status = if sold_out { "CONFIRMED" } else { "AVAILABLE" };
            if sold_out {
                sqlx::query(
                    "UPDATE seats SET status = $2, updated_at = now()
                     WHERE performance_id IN (SELECT id FROM performances WHERE concert_id = $1) AND status <> $2",
                )
                .bind(id.get())
                .bind(status)
                .execute(pool)
                .await?;
            }
        }
        // Fresh planner statistics after a bulk load.
        sqlx::query("VACUUM (ANALYZE) seats").execute(pool).await?;
        let seats: i64 = sqlx::query_scalar("SELECT count(*) FROM seats")
            .fetch_one(pool)
            .await?;
        Ok(LoadReport {
            concerts: self.concerts.len(),
            seats,
        })
    }
}
