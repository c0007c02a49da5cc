//! The `DatabaseMigrations` custom resource: on Create and Update it applies the sqlx
//! migrations compiled into this binary, on Delete it leaves the data alone, and it always
//! reports back to CloudFormation so a failed migration fails (and rolls back) the deploy
//! instead of leaving the stack waiting.

use std::collections::HashMap;

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus,
};
use sqlx::PgPool;
use thiserror::Error;
use ticketrush_adapters::{
    config::Env,
    postgres::MIGRATOR,
    wiring::{Clients, StartupError},
};

/// The physical id a Create names. Update and Delete answer with the id they are given, so
/// an Update never looks like a replacement and every response names the same resource.
pub const PHYSICAL_ID: &str = "ticketrush-database-migrations";

pub struct MigrateFunction {
    pub pool: PgPool,
    pub http: reqwest::Client,
}

impl MigrateFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            pool: clients.postgres(env)?,
            http: reqwest::Client::builder()
                .build()
                .map_err(|e| StartupError::Client {
                    what: "HTTP client",
                    source: Box::new(e),
                })?,
        })
    }
}

#[derive(Debug, Error)]
pub enum MigrateError {
    #[error("CloudFormation could not be told the outcome: {0}")]
    Report(String),
}

/// What was done, as reported to CloudFormation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub success: bool,
    pub reason: Option<String>,
}

pub async fn handle(
    f: &MigrateFunction,
    event: CloudFormationCustomResourceRequest,
) -> Result<Outcome, MigrateError> {
    let (kind, url, stack, request, logical, physical) = match &event {
        CloudFormationCustomResourceRequest::Create(r) => (
            "Create",
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            PHYSICAL_ID,
        ),
        CloudFormationCustomResourceRequest::Update(r) => (
            "Update",
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            r.physical_resource_id.as_str(),
        ),
        CloudFormationCustomResourceRequest::Delete(r) => (
            "Delete",
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            r.physical_resource_id.as_str(),
        ),
        _ => (
            "Unknown",
            &String::new(),
            &String::new(),
            &String::new(),
            &String::new(),
            "",
        ),
    };
    let outcome = match kind {
        "Create" | "Update" => match MIGRATOR.run(&f.pool).await {
            Ok(()) => {
                tracing::info!(migrations = MIGRATOR.iter().count(), "migrations applied");
                Outcome {
                    success: true,
                    reason: None,
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "migrations failed");
                Outcome {
                    success: false,
                    reason: Some(format!("migrations failed: {err}")),
                }
            }
        },
        "Delete" => Outcome {
            success: true,
            reason: None,
        },
        _ => {
            tracing::error!("unknown custom resource request type");
            return Err(MigrateError::Report("unknown request type".into()));
        }
    };

    let mut response = CloudFormationCustomResourceResponse::default();
    response.status = if outcome.success {
        CloudFormationCustomResourceResponseStatus::Success
    } else {
        CloudFormationCustomResourceResponseStatus::Failed
    };
    response.reason = outcome.reason.clone();
    response.physical_resource_id = physical.to_owned();
    response.stack_id = stack.clone();
    response.request_id = request.clone();
    response.logical_resource_id = logical.clone();
    response.data = HashMap::from([("Migrations".to_owned(), MIGRATOR.iter().count().to_string())]);
    let body = serde_json::to_vec(&response).map_err(|e| MigrateError::Report(e.to_string()))?;
    // A presigned S3 PUT: no content type, or the signature does not match.
    let sent = f
        .http
        .put(url.as_str())
        .header("content-type", "")
        .body(body)
        .send()
        .await
        .map_err(|e| MigrateError::Report(e.to_string()))?;
    if !sent.status().is_success() {
        return Err(MigrateError::Report(format!(
            "the response URL answered {}",
            sent.status()
        )));
    }
    Ok(outcome)
}
