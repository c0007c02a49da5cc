//! The migration custom resource against a fresh schema, reporting to a local stand-in for
//! CloudFormation's presigned response URL.

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use axum::{Router, body::Bytes, http::HeaderMap, routing::put};
use migrate::{MigrateFunction, PHYSICAL_ID, handle};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use ticketrush_adapters::postgres::MIGRATOR;
use ticketrush_testkit::{events, setting, unique, wiring::Wiring};

type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A response URL on loopback that records what CloudFormation would receive.
async fn response_url() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/response",
        put(move |headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                let content_type = headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap_or_default().to_owned());
                let json = serde_json::from_slice(&body).expect("JSON response body");
                record.lock().unwrap().push((content_type, json));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/response"), seen)
}

fn event(kind: &str, url: &str) -> CloudFormationCustomResourceRequest {
    let mut raw: Value = serde_json::from_str(&events::text("migrate.json")).unwrap();
    raw["RequestType"] = kind.into();
    raw["ResponseURL"] = url.into();
    if kind != "Create" {
        raw["PhysicalResourceId"] = PHYSICAL_ID.into();
        raw["OldResourceProperties"] = raw["ResourceProperties"].clone();
    }
    serde_json::from_value(raw).expect("a custom resource request")
}

async fn empty_schema_url() -> String {
    let base = setting(
        "TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/ticketrush_test",
    );
    let schema = unique("m_");
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

#[tokio::test]
async fn create_and_update_apply_the_migrations_and_report_success() {
    let (url, seen) = response_url().await;
    let db = empty_schema_url().await;
    let wiring = Wiring::new(&db, &[("DATABASE_MAX_CONNECTIONS", "2")]).await;
    let f = MigrateFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("migrate starts");

    for kind in ["Create", "Update", "Delete"] {
        let outcome = handle(&f, event(kind, &url)).await.expect("reported");
        assert!(outcome.success, "{kind}: {outcome:?}");
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, MIGRATOR.iter().count());

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    for (content_type, body) in seen.iter() {
        assert_eq!(
            content_type.as_deref(),
            Some(""),
            "presigned PUT has no type"
        );
        assert_eq!(body["Status"], "SUCCESS");
        assert_eq!(body["PhysicalResourceId"], PHYSICAL_ID);
        assert_eq!(body["LogicalResourceId"], "DatabaseMigrations");
        assert_eq!(body["RequestId"], "7f3c2a10-0b1c-4d2e-8f3a-1b2c3d4e5f60");
    }
}

#[tokio::test]
async fn an_unreachable_database_fails_the_deploy_with_a_reason() {
    let (url, seen) = response_url().await;
    let wiring = Wiring::new(
        "postgres://postgres@127.0.0.1:1/nowhere",
        &[("DATABASE_ACQUIRE_TIMEOUT_MS", "500")],
    )
    .await;
    let f = MigrateFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("migrate starts");
    let outcome = handle(&f, event("Create", &url)).await.expect("reported");
    assert!(!outcome.success);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].1["Status"], "FAILED");
    assert!(
        seen[0].1["Reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("migrations failed")),
        "{:?}",
        seen[0].1
    );
}
