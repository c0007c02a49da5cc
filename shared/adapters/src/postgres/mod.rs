//! PostgreSQL: the ledger and the truth.

mod catalog;
mod catalog_admin;
mod payments;
mod reservations;
mod sandbox_payments;
mod topics;

use secrecy::ExposeSecret;
use std::str::FromStr;

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use ticketrush_core::StoreError;

pub use catalog::PostgresCatalog;
pub use catalog_admin::PostgresCatalogAdmin;
pub use reservations::PostgresReservations;
pub use sandbox_payments::{SandboxPayments, payment_gateway};
pub use topics::PostgresTopicDirectory;

use crate::config::PostgresConfig;

/// The schema migrations, embedded in every binary that applies them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A pool that connects on first use, so a function starts even while the database is down
/// and answers 503 until it returns.
pub fn connect_lazy(cfg: &PostgresConfig) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(cfg.url.expose_secret())?;
    Ok(PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(cfg.acquire_timeout)
        .connect_lazy_with(options))
}

/// Translates a driver error: anything that says "cannot reach the database now" is
/// `Unavailable`, the rest is `Internal`.
pub fn store_error(err: sqlx::Error) -> StoreError {
    let unavailable = match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 53: insufficient resources; 57P0x: shutting down.
            code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
        }),
        _ => false,
    };
    if unavailable {
        StoreError::unavailable(err)
    } else {
        StoreError::internal(err)
    }
}

/// Whether the database answers now.
pub async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(store_error)
}

/// Creates the configured database if it does not exist, through the server's
/// `postgres` database. For local set-up; in AWS the database is provisioned.
pub async fn ensure_database(cfg: &PostgresConfig) -> Result<(), sqlx::Error> {
    let target = PgConnectOptions::from_str(cfg.url.expose_secret())?;
    let Some(name) = target.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let admin = target.database("postgres");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin)
        .await?;
    let exists = |pool: PgPool| {
        let name = name.clone();
        async move {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
            )
            .bind(name)
            .fetch_one(&pool)
            .await
        }
    };
    // Concurrent creators race: one wins, the others fail and then find the database there.
    for attempt in 0..10 {
        if exists(pool.clone()).await? {
            break;
        }
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&pool)
            .await
        {
            Ok(_) => break,
            Err(err) if attempt < 9 => {
                tracing::debug!(error = %err, "CREATE DATABASE raced; checking again");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(err) => return Err(err),
        }
    }
    pool.close().await;
    Ok(())
}
