//! What a function is built from: its settings (`Env`) and the clients a process shares.
//! Every function crate has one `from_env(&Env, &Clients)`, called by its Lambda `main` and by
//! the local runtime alike, so a function is wired the same way wherever it runs.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;
use thiserror::Error;
use ticketrush_core::StoreError;
use tokio::sync::OnceCell;

use crate::{
    config::{ConfigError, Env, PostgresConfig, RedisConfig},
    postgres,
    redis::RedisStore,
};

/// Why a function could not start. It stops before taking traffic.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("DATABASE_URL is not a PostgreSQL URL")]
    DatabaseUrl(#[source] sqlx::Error),
    #[error("REDIS_URL is not usable")]
    RedisUrl(#[source] StoreError),
    #[error("{what} could not be built")]
    Client {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The clients one process shares between the functions it hosts: the AWS SDK settings and
/// one multiplexed Redis connection. A Lambda hosts one function; the local runtime hosts all.
/// PostgreSQL pools are not shared: each function gets its own, as each Lambda does.
#[derive(Clone)]
pub struct Clients {
    sdk: aws_config::SdkConfig,
    redis: Arc<OnceCell<RedisStore>>,
}

impl Clients {
    pub fn new(sdk: aws_config::SdkConfig) -> Self {
        Self {
            sdk,
            redis: Arc::new(OnceCell::new()),
        }
    }

    /// The SDK settings from the environment (credentials, region, `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        Self::new(crate::aws::sdk_config().await)
    }

    pub fn sdk(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    /// The process's Redis connection, made on first use from `env`.
    pub async fn redis(&self, env: &Env) -> Result<RedisStore, StartupError> {
        self.redis
            .get_or_try_init(|| async {
                RedisStore::connect(&RedisConfig::from_env(env)?)
                    .await
                    .map_err(StartupError::RedisUrl)
            })
            .await
            .cloned()
    }

    /// A PostgreSQL pool of the function's own, for requests: it waits
    /// `DATABASE_ACQUIRE_TIMEOUT_MS` for a connection, then the request answers 503.
    pub fn postgres(&self, env: &Env) -> Result<PgPool, StartupError> {
        postgres::connect_lazy(&PostgresConfig::from_env(env)?).map_err(StartupError::DatabaseUrl)
    }

    /// A pool for a scheduled tick: it waits for a connection for up to the tick's period.
    pub fn postgres_for_tick(&self, env: &Env, period: Duration) -> Result<PgPool, StartupError> {
        postgres::connect_lazy(&PostgresConfig::from_env(env)?.for_tick(period))
            .map_err(StartupError::DatabaseUrl)
    }
}
