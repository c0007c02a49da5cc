//! The HTTP API, as API Gateway would present it: route, authorize, build the v2 event,
//! call the function, relay its response.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::{Body as AxumBody, to_bytes},
    extract::{ConnectInfo, Request as AxumRequest, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response as AxumResponse},
    routing::get,
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::Utc;
use lambda_http::Body;
use serde_json::{Value, json};
use ticketrush_adapters::{aws, postgres, redis::RedisStore};
use ticketrush_lambda::{
    Problem,
    routes::{Auth, HttpRoute, find_route, path_exists},
};

use crate::{functions::Functions, health, jwt::JwtSettings, scheduler, settings::LocalSettings};

/// API Gateway's own limit is 10 MB; no ticketrush request comes near 64 KB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct AppState {
    pub functions: Arc<Functions>,
    pub jwt: JwtSettings,
    pub health: health::Dependencies,
}

pub async fn serve(settings: LocalSettings) -> Result<(), Box<dyn std::error::Error>> {
    let pool = postgres::connect_lazy(&settings.postgres)?;
    let redis = RedisStore::connect(&settings.redis).await?;
    let sdk = aws::sdk_config().await;
    let functions = Arc::new(Functions::new(&settings, pool.clone(), redis.clone()));
    let queue_tick = settings.queue.tick;
    scheduler::start(functions.clone(), move |_| queue_tick);
    let state = Arc::new(AppState {
        functions,
        jwt: settings.jwt.clone(),
        health: health::Dependencies {
            pool,
            redis,
            dynamo: aws_sdk_dynamodb::Client::new(&sdk),
        },
    });
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .fallback(dispatch)
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(settings.bind).await?;
    let url = format!("http://{}", listener.local_addr()?);
    tracing::info!(%url, "ticketrush-local listening");
    println!("ticketrush-local is up at {url}");
    println!("  try: curl '{url}/api/concerts/search?size=5&sort=saleOpensAt'");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

fn problem(p: Problem) -> AxumResponse {
    to_axum(p.into_response())
}

async fn dispatch(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: AxumRequest,
) -> AxumResponse {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let Some((route, params)) = find_route(method.as_str(), &path) else {
        return if path_exists(&path) {
            problem(Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("{method} is not supported on {path}"),
            ))
        } else {
            problem(Problem::not_found(format!("no route for {method} {path}")))
        };
    };

    let claims = match authorize(&state.jwt, route, req.headers()) {
        Ok(claims) => claims,
        Err(p) => return problem(p),
    };

    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return problem(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
            ));
        }
    };
    let event = api_gateway_v2_event(
        route,
        &params,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        peer,
        claims,
    );
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => return problem(Problem::internal(&e)),
    };
    to_axum(state.functions.invoke_http(route.function, request).await)
}

/// The JWT authorizer's decision: claims for a valid token, 401 for a bad one, and for a
/// missing one where the route needs it.
fn authorize(
    jwt: &JwtSettings,
    route: &HttpRoute,
    headers: &HeaderMap,
) -> Result<Option<BTreeMap<String, String>>, Problem> {
    let unauthorized =
        |detail: String| Problem::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", detail);
    let Some(header) = headers.get("authorization") else {
        return match route.auth {
            Auth::Optional => Ok(None),
            Auth::Required => Err(unauthorized(
                "this endpoint needs an Authorization: Bearer token".into(),
            )),
        };
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'".into()))?;
    let claims = jwt
        .verify(token)
        .map_err(|reason| unauthorized(format!("the bearer token was refused: {reason}")))?;
    Ok(Some(claims.into_iter().collect()))
}

#[allow(clippy::too_many_arguments)]
fn api_gateway_v2_event(
    route: &HttpRoute,
    params: &[(&str, &str)],
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    peer: SocketAddr,
    claims: Option<BTreeMap<String, String>>,
) -> Value {
    let mut header_map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        header_map
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = uri.query().unwrap_or("");
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()).into_owned() {
        query
            .entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let path_params: BTreeMap<&str, &str> = params.iter().copied().collect();
    let now = Utc::now();
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(BASE64.encode(body)), true),
    };
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": "127.0.0.1",
        "domainPrefix": "local",
        "http": {
            "method": method.as_str(),
            "path": uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": peer.ip().to_string(),
            "userAgent": header_map.get("user-agent").cloned().unwrap_or_default(),
        },
        "requestId": uuid::Uuid::new_v4().to_string(),
        "routeKey": route.route_key(),
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    json!({
        "version": "2.0",
        "routeKey": route.route_key(),
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": header_map,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
        "pathParameters": if path_params.is_empty() { Value::Null } else { json!(path_params) },
        "requestContext": context,
        "body": if body.as_str() == Some("") { Value::Null } else { body },
        "isBase64Encoded": base64,
    })
}

/// A function's response, relayed as API Gateway relays it.
pub fn to_axum(resp: lambda_http::Response<Body>) -> AxumResponse {
    let (parts, body) = resp.into_parts();
    let body = match body {
        Body::Empty => AxumBody::empty(),
        Body::Text(t) => AxumBody::from(t),
        Body::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    let mut out = AxumResponse::from_parts(parts, body);
    out.headers_mut().insert(
        "apigw-requestid",
        uuid::Uuid::new_v4()
            .to_string()
            .parse()
            .expect("uuid is a header value"),
    );
    out.into_response()
}
