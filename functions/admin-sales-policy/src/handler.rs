//! `GET` and `PUT /api/concerts/{id}/sales-policy`: an operator reads or sets a sale's policy.

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Deserialize;
use ticketrush_adapters::{
    config::Env,
    postgres::{PostgresCatalog, PostgresCatalogAdmin},
    push::SqsPushPublisher,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    ConcertId, Tier,
    catalog::{get_sales_policy, put_sales_policy},
    sale::PolicyRequest,
};
use ticketrush_lambda::{
    Problem,
    identity::require_identity,
    json,
    problem::respond,
    request::{json_body, path, route_key},
};

pub struct SalesPolicyFunction {
    pub catalog: PostgresCatalog,
    pub admin: PostgresCatalogAdmin,
    pub publisher: SqsPushPublisher,
}

impl SalesPolicyFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let publisher = SqsPushPublisher::from_env(clients.sdk(), env)?;
        let pool = clients.postgres(env)?;
        Ok(Self {
            catalog: PostgresCatalog::new(pool.clone()),
            admin: PostgresCatalogAdmin::new(pool),
            publisher,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyBody {
    presale_starts_at: Option<DateTime<Utc>>,
    presale_ends_at: Option<DateTime<Utc>>,
    presale_min_tier: Option<Tier>,
    general_sale_starts_at: DateTime<Utc>,
    sale_ends_at: Option<DateTime<Utc>>,
    max_seats_per_user: u16,
    #[serde(default = "gated_by_default")]
    queue_gated: bool,
}

fn gated_by_default() -> bool {
    true
}

pub async fn handle(f: &SalesPolicyFunction, req: Request) -> Response<Body> {
    respond(policy(f, &req).await)
}

async fn policy(f: &SalesPolicyFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let concert = ConcertId::parse("id", path(req, "id")?)?;
    if route_key(req) == Some("PUT /api/concerts/{id}/sales-policy") {
        let body: PolicyBody = json_body(req)?;
        let policy = PolicyRequest {
            presale_starts_at: body.presale_starts_at,
            presale_ends_at: body.presale_ends_at,
            presale_min_tier: body.presale_min_tier,
            general_sale_starts_at: body.general_sale_starts_at,
            sale_ends_at: body.sale_ends_at,
            max_seats_per_user: body.max_seats_per_user,
            queue_gated: body.queue_gated,
        }
        .into_policy()?;
        let saved = put_sales_policy(&f.admin, &f.publisher, caller.admin, concert, policy).await?;
        return Ok(json(StatusCode::OK, &saved));
    }
    match get_sales_policy(&f.catalog, caller.admin, concert).await? {
        Some(policy) => Ok(json(StatusCode::OK, &policy)),
        None => Err(Problem::not_found(format!(
            "concert {concert} has no sales policy yet"
        ))),
    }
}
