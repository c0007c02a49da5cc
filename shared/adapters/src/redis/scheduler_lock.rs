use std::{sync::LazyLock, time::Duration};

use redis::Script;
use ticketrush_core::{StoreError, schedule::SchedulerLock};

use super::{RedisStore, store_error};

/// Deletes the lock only if this owner still holds it.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#,
    )
});

/// `SET NX PX` with the owner as value; released by compare-and-delete.
#[derive(Clone)]
pub struct RedisSchedulerLock {
    store: RedisStore,
}

impl RedisSchedulerLock {
    pub fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn key(&self, name: &str) -> String {
        self.store.key(&format!("lock:{name}"))
    }
}

impl SchedulerLock for RedisSchedulerLock {
    async fn try_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.store.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(name))
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(set.is_some())
    }

    async fn release(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        let mut conn = self.store.conn.clone();
        let deleted: i64 = RELEASE
            .key(self.key(name))
            .arg(owner)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(deleted == 1)
    }
}
