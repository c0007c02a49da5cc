//! Redis: the fast gate. Every key starts with the configured prefix.

mod published_statuses;
mod scheduler_lock;
mod search_cache;
mod seat_locks;
mod waiting_room;

pub use published_statuses::RedisPublishedStatuses;
pub use scheduler_lock::RedisSchedulerLock;
pub use search_cache::RedisSearchCache;
pub use seat_locks::RedisSeatLocks;
pub use waiting_room::RedisWaitingRoom;

use redis::{Client, RedisError, aio::ConnectionManager, aio::ConnectionManagerConfig};
use secrecy::ExposeSecret;
use ticketrush_core::StoreError;

use crate::config::RedisConfig;

/// A multiplexed connection that reconnects by itself after the server comes back.
#[derive(Clone)]
pub struct RedisStore {
    pub conn: ConnectionManager,
    pub prefix: String,
}

impl RedisStore {
    /// Connects lazily: the first command connects, and a dead server fails that command
    /// within the configured timeout instead of failing start-up.
    pub async fn connect(cfg: &RedisConfig) -> Result<Self, StoreError> {
        let client = Client::open(cfg.url.expose_secret()).map_err(store_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.timeout))
            .set_response_timeout(Some(cfg.timeout))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(store_error)?;
        Ok(Self {
            conn,
            prefix: cfg.key_prefix.clone(),
        })
    }

    /// `prefix:rest`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

/// Connection-level failures are `Unavailable`; the rest are bugs.
pub fn store_error(err: RedisError) -> StoreError {
    if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
    {
        StoreError::unavailable(err)
    } else {
        StoreError::internal(err)
    }
}
