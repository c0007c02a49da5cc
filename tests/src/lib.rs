//! Test support shared by the adapter, function and end-to-end tests. Every test gets its
//! own PostgreSQL schema and Redis key prefix, so tests run in parallel and never touch
//! dev data.

pub mod db;
pub mod events;
pub mod fixtures;
pub mod proxy;
pub mod runtime;

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
