use std::collections::HashMap;

use ticketrush_core::{ConcertId, StoreError, sale::SaleStatus, status_tick::PublishedStatuses};

use super::{RedisStore, store_error};

/// One hash, concert id to the sale status screens were last told.
#[derive(Clone)]
pub struct RedisPublishedStatuses {
    store: RedisStore,
}

impl RedisPublishedStatuses {
    pub fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn key(&self) -> String {
        self.store.key("live:status")
    }
}

impl PublishedStatuses for RedisPublishedStatuses {
    async fn load(&self) -> Result<HashMap<ConcertId, SaleStatus>, StoreError> {
        let mut conn = self.store.conn.clone();
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.key())
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        // An unreadable entry counts as never published: the next tick publishes it again.
        Ok(raw
            .into_iter()
            .filter_map(|(id, status)| {
                Some((
                    ConcertId::parse("concertId", &id).ok()?,
                    status.parse().ok()?,
                ))
            })
            .collect())
    }

    async fn store(&self, changes: &[(ConcertId, SaleStatus)]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut conn = self.store.conn.clone();
        let mut cmd = redis::cmd("HSET");
        cmd.arg(self.key());
        for (id, status) in changes {
            cmd.arg(id.get()).arg(status.as_str());
        }
        cmd.query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}
