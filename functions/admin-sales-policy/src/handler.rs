//! `GET` and `PUT /api/concerts/{id}/sales-policy`: an operator reads or sets a sale's policy.

use lambda_http::{Body, Request, Response, http::StatusCode};
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    postgres::{PostgresCatalog, PostgresCatalogAdmin},
    push::SqsPushPublisher,
    redis::RedisSearchCache,
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    ConcertId,
    catalog::{get_sales_policy, put_sales_policy},
    sale::PolicyRequest,
};
use ticketrush_lambda::{
    Problem,
    identity::require_identity,
    json,
    request::serve,
    request::{json_body, path, route_key},
};

pub struct SalesPolicyFunction {
    pub catalog: PostgresCatalog,
    pub admin: PostgresCatalogAdmin,
    pub cache: RedisSearchCache,
    pub publisher: SqsPushPublisher,
    pub clock: SystemClock,
}

impl SalesPolicyFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let publisher = SqsPushPublisher::from_env(clients.sdk(), env)?;
        let pool = clients.postgres(env)?;
        Ok(Self {
            catalog: PostgresCatalog::new(pool.clone()),
            admin: PostgresCatalogAdmin::new(pool),
            cache: RedisSearchCache::new(
                clients.redis(env).await?,
                config::search_cache_from_env(env)?,
            ),
            publisher,
            clock: SystemClock,
        })
    }
}

pub async fn handle(f: &SalesPolicyFunction, req: Request) -> Response<Body> {
    serve("admin-sales-policy", &req, policy(f, &req)).await
}

async fn policy(f: &SalesPolicyFunction, req: &Request) -> Result<Response<Body>, Problem> {
    let caller = require_identity(req)?;
    let concert = ConcertId::parse("id", path(req, "id")?)?;
    if route_key(req) == Some("PUT /api/concerts/{id}/sales-policy") {
        let body: PolicyRequest = json_body(req)?;
        let policy = body.into_policy()?;
        let saved = put_sales_policy(
            &f.admin,
            &f.cache,
            &f.publisher,
            caller.admin,
            concert,
            policy,
            f.clock.now(),
        )
        .await?;
        return Ok(json(StatusCode::OK, &saved));
    }
    match get_sales_policy(&f.catalog, caller.admin, concert).await? {
        Some(policy) => Ok(json(StatusCode::OK, &policy)),
        None => Err(Problem::not_found(format!(
            "concert {concert} has no sales policy yet"
        ))),
    }
}
