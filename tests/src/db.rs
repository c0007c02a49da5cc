use std::str::FromStr;

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use ticketrush_adapters::{
    config::{PostgresConfig, Secret},
    postgres::{MIGRATOR, ensure_database},
};

use crate::{setting, unique};

/// A fresh, migrated schema in the test database.
pub struct TestDb {
    pub pool: PgPool,
    /// A connection URL whose search_path is this schema.
    pub url: String,
    pub schema: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let base = setting(
            "TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/ticketrush_test",
        );
        ensure_database(&PostgresConfig {
            url: Secret::from(base.clone()),
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(5),
        })
        .await
        .expect("test database can be created; is PostgreSQL running (make services)?");
        let schema = unique("t_");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&base)
            .await
            .expect("connect");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        let pool = Self::connect(&url).await;
        MIGRATOR.run(&pool).await.expect("migrations apply");
        Self { pool, url, schema }
    }

    pub async fn connect(url: &str) -> PgPool {
        PgPoolOptions::new()
            .max_connections(8)
            .connect_with(PgConnectOptions::from_str(url).expect("url"))
            .await
            .expect("connect to the test schema")
    }

    /// The same schema reached through another host:port, e.g. a fault proxy.
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        let rest = self
            .url
            .split_once('@')
            .map(|(_, r)| r)
            .expect("url has a host");
        let path = rest
            .split_once('/')
            .map(|(_, p)| p)
            .expect("url has a database");
        let user = self
            .url
            .split_once("://")
            .and_then(|(_, r)| r.split_once('@'))
            .map(|(u, _)| u)
            .unwrap();
        format!("postgres://{user}@{addr}/{path}")
    }
}
