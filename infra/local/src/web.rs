//! The demo web client (samples/web) at `/`, and the dev login it uses. Both exist only in
//! the local runtime: in AWS the page is static hosting and tokens come from a real issuer.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    Json, Router,
    extract::{State, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ticketrush_adapters::config::{ConfigError, Env};
use ticketrush_core::{Tier, UserId, ValidationError};
use ticketrush_lambda::Problem;
use tower_http::services::ServeFile;

use crate::http::{AppState, to_axum};

/// Dev tokens last an hour, like `ticketrush-local token`'s default.
const DEV_TOKEN_TTL_SECS: u64 = 3600;

#[derive(Debug, Clone)]
pub struct WebSettings {
    pub dir: PathBuf,
}

#[derive(serde::Deserialize)]
struct WebVars {
    ticketrush_web_dir: Option<PathBuf>,
}

impl WebSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/web");
        let vars: WebVars = env.read()?;
        Ok(Self {
            dir: vars.ticketrush_web_dir.unwrap_or(default),
        })
    }
}

/// `POST /local/dev-token`: a token for anyone who asks, so never served to other machines.
pub fn dev_login() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/local/dev-token",
            post(dev_token).fallback(dev_token_method_not_allowed),
        )
        .layer(axum::middleware::map_response(no_cache))
}

/// `/` and one route per file of the web client. Files are read on each request, so edits
/// show on reload; files added later need a restart.
pub fn client(settings: &WebSettings) -> Router<Arc<AppState>> {
    let mut router = Router::new();
    let index = settings.dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(dir = %settings.dir.display(), "no web client to serve (index.html missing)");
        return router;
    }
    router = router.route_service("/", ServeFile::new(index));
    for (url, file) in files(&settings.dir, &settings.dir) {
        router = router.route_service(&url, ServeFile::new(file));
    }
    router.layer(axum::middleware::map_response(no_cache))
}

/// Every file under `dir`, as (`/relative/url`, path).
fn files(root: &Path, dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(root, &path));
        } else if let Ok(rel) = path.strip_prefix(root) {
            let url: Vec<_> = rel.iter().map(|p| p.to_string_lossy()).collect();
            out.push((format!("/{}", url.join("/")), path));
        }
    }
    out
}

/// The page is a dev tool: always revalidate, so an edit shows on the next reload.
async fn no_cache(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DevTokenRequest {
    user: String,
    tier: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DevToken {
    token: String,
    user: String,
    tier: Tier,
    #[serde(with = "ticketrush_core::time")]
    expires_at: DateTime<Utc>,
}

async fn dev_token_method_not_allowed() -> Response {
    to_axum(
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "POST /local/dev-token with {user, tier}",
        )
        .into_response(),
    )
}

/// A token for any sample user and tier, signed with the local JWT secret (never admin).
async fn dev_token(
    State(state): State<Arc<AppState>>,
    body: Result<Json<DevTokenRequest>, JsonRejection>,
) -> Response {
    match issue(&state, body) {
        Ok(token) => (StatusCode::OK, Json(token)).into_response(),
        Err(p) => to_axum(p.into_response()),
    }
}

fn issue(
    state: &AppState,
    body: Result<Json<DevTokenRequest>, JsonRejection>,
) -> Result<DevToken, Problem> {
    let Json(body) = body.map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            format!("expected a JSON body {{user, tier}}: {}", e.body_text()),
        )
    })?;
    let user = UserId::parse(&body.user).map_err(|e| ValidationError::new("user", e.message))?;
    let tier: Tier = body.tier.parse()?;
    let token = state
        .jwt
        .issue(&user, tier, false, DEV_TOKEN_TTL_SECS)
        .map_err(|e| Problem::internal(&e))?;
    let expires_at = Utc::now() + Duration::seconds(DEV_TOKEN_TTL_SECS as i64);
    Ok(DevToken {
        token,
        user: user.as_str().to_owned(),
        tier,
        expires_at,
    })
}
