//! Which concerts and performances exist, for WebSocket subscribes: one primary-key probe
//! per id, remembered in-process for the catalog cache's TTL (absence too), so a crowd
//! subscribing to the same hot performance costs one query per instance per TTL, and a
//! client repeating an unknown id costs no more. Each key is loaded once however many
//! subscribes miss it at the same moment.

use std::time::Duration;

use moka::future::Cache;
use sqlx::PgPool;
use ticketrush_core::{ConcertId, OptionId, StoreError, push::TopicDirectory};

use super::store_error;

/// Ids remembered of each kind.
const MAX_ENTRIES: u64 = 10_000;

fn cache<K>(ttl: Duration) -> Cache<K, bool>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(MAX_ENTRIES)
        .time_to_live(ttl)
        .build()
}

#[derive(Clone)]
pub struct PostgresTopicDirectory {
    pool: PgPool,
    concerts: Cache<ConcertId, bool>,
    performances: Cache<OptionId, bool>,
}

impl PostgresTopicDirectory {
    pub fn new(pool: PgPool, ttl: Duration) -> Self {
        Self {
            pool,
            concerts: cache(ttl),
            performances: cache(ttl),
        }
    }

    async fn exists(&self, sql: &'static str, id: i64) -> Result<bool, StoreError> {
        sqlx::query_scalar::<_, bool>(sql)
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)
    }
}

impl TopicDirectory for PostgresTopicDirectory {
    async fn concert_exists(&self, id: ConcertId) -> Result<bool, StoreError> {
        // A failed load is not remembered: every waiter gets the error, the next one retries.
        self.concerts
            .try_get_with(
                id,
                self.exists(
                    "SELECT EXISTS (SELECT 1 FROM concerts WHERE id = $1)",
                    id.get(),
                ),
            )
            .await
            .map_err(|err| (*err).clone())
    }

    async fn performance_exists(&self, id: OptionId) -> Result<bool, StoreError> {
        self.performances
            .try_get_with(
                id,
                self.exists(
                    "SELECT EXISTS (SELECT 1 FROM performances WHERE id = $1)",
                    id.get(),
                ),
            )
            .await
            .map_err(|err| (*err).clone())
    }
}
