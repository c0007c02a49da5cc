use std::{sync::Arc, time::Duration};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;
use ticketrush_adapters::{aws, postgres, redis::RedisStore};
use ticketrush_core::StoreError;

use crate::http::AppState;

pub struct Dependencies {
    pub pool: sqlx::PgPool,
    pub redis: RedisStore,
    pub dynamo: aws_sdk_dynamodb::Client,
}

/// Each dependency's reachability; 200 when all answer, 503 otherwise.
pub async fn healthz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let deps = &state.health;
    let (pg, redis, aws) = tokio::join!(
        check(postgres::ping(&deps.pool)),
        check(deps.redis.ping()),
        check(aws::ping(&deps.dynamo)),
    );
    let ok = pg.0 && redis.0 && aws.0;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ok { "ok" } else { "degraded" },
        "dependencies": { "postgres": pg.1, "redis": redis.1, "aws": aws.1 },
    });
    (status, Json(body))
}

async fn check(probe: impl Future<Output = Result<(), StoreError>>) -> (bool, serde_json::Value) {
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(())) => (true, json!({ "reachable": true })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health probe failed");
            (false, json!({ "reachable": false }))
        }
        Err(_) => (false, json!({ "reachable": false, "reason": "timed out" })),
    }
}
