//! The migration custom resource driven by AWS's example CloudFormation requests (Create,
//! Update, Delete); only the presigned `ResponseURL` is ours, a loopback stand-in that
//! records what CloudFormation would receive.

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use axum::{Router, body::Bytes, routing::put};
use migrate::{MigrateFunction, PHYSICAL_ID, handle};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use ticketrush_adapters::postgres::MIGRATOR;
use ticketrush_testkit::{events, setting, unique, wiring::Wiring};

#[tokio::test]
async fn aws_requests_apply_the_migrations_and_report_back_what_they_were_asked() {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/response",
        put(move |body: Bytes| {
            let record = record.clone();
            async move {
                record
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).expect("JSON response body"));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/response", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // An empty schema of its own.
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
    let db = format!("{base}{sep}options[search_path]={schema}");
    let wiring = Wiring::new(&db, &[("DATABASE_MAX_CONNECTIONS", "2")]).await;
    let f = MigrateFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("migrate starts");

    let kinds = ["create", "update", "delete"];
    let mut asked = Vec::new();
    for kind in kinds {
        let name = format!("example-cloudformation-custom-resource-{kind}-request.json");
        asked.push(events::aws(&name).json().clone());
        let request: CloudFormationCustomResourceRequest =
            events::aws_typed(&name, |e| e.response_url(&url));
        let outcome = handle(&f, request).await.expect("reported");
        assert!(outcome.success, "{kind}: {outcome:?}");
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, MIGRATOR.iter().count());

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), kinds.len());
    for ((kind, asked), answer) in kinds.iter().zip(&asked).zip(seen.iter()) {
        assert_eq!(answer["Status"], "SUCCESS", "{kind}");
        for field in ["RequestId", "StackId", "LogicalResourceId"] {
            assert_eq!(answer[field], asked[field], "{kind}: {field}");
        }
        // Create names the resource; Update and Delete keep the name they were given.
        let physical = asked
            .get("PhysicalResourceId")
            .cloned()
            .unwrap_or_else(|| PHYSICAL_ID.into());
        assert_eq!(answer["PhysicalResourceId"], physical, "{kind}");
    }
}
