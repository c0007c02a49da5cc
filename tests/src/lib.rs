//! Test support shared by the adapter, function and end-to-end tests. Every test gets its
//! own PostgreSQL schema and Redis key prefix, so tests run in parallel and never touch
//! dev data.

pub mod aws_backend;
pub mod db;
pub mod events;
pub mod fixtures;
pub mod http;
pub mod lambda_api;
pub mod proxy;
pub mod runtime;
pub mod wiring;
pub mod ws;

/// Reads a test setting, with the default that `make test` also uses.
pub fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A short unique suffix for schema names, key prefixes and user ids.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A Redis store on the test database with a key prefix of its own.
pub async fn redis_store() -> ticketrush_adapters::redis::RedisStore {
    ticketrush_adapters::redis::RedisStore::connect(&ticketrush_adapters::config::RedisConfig {
        url: ticketrush_adapters::config::Secret::from(setting(
            "TEST_REDIS_URL",
            "redis://127.0.0.1:6379/15",
        )),
        key_prefix: unique("test"),
        timeout: std::time::Duration::from_secs(2),
    })
    .await
    .expect("redis store")
}

/// Queue settings for tests: small, explicit numbers.
pub fn queue_settings() -> ticketrush_core::queue::QueueSettings {
    ticketrush_core::queue::QueueSettings {
        capacity: 100_000,
        admit_per_tick: 10,
        max_active: 1_000,
        active_ttl: std::time::Duration::from_secs(60),
        abandon_after: std::time::Duration::from_secs(60),
        tick: std::time::Duration::from_secs(1),
        join_limit: 10,
        join_window: std::time::Duration::from_secs(10),
        rank_push_per_tick: 100,
    }
}

/// AWS SDK settings for the selected backend (`aws_backend`), with the defaults `make test`
/// uses.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(aws_backend::endpoint().await)
        .region(aws_config::Region::new(setting("AWS_REGION", "us-east-1")))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            setting("AWS_ACCESS_KEY_ID", "local"),
            setting("AWS_SECRET_ACCESS_KEY", "local"),
            None,
            None,
            "ticketrush-tests",
        ))
        .load()
        .await
}

/// The admission-token signer the test runtime uses.
pub fn queue_tokens() -> ticketrush_adapters::queue_tokens::HmacQueueTokens {
    ticketrush_adapters::queue_tokens::HmacQueueTokens::new(
        ticketrush_adapters::config::Secret::from(runtime::TEST_QUEUE_TOKEN_SECRET),
    )
}
