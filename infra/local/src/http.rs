//! The HTTP API, as API Gateway would present it: route, authorize, build the v2 event,
//! call the function, relay its response.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::{Body as AxumBody, to_bytes},
    extract::{ConnectInfo, Request as AxumRequest, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response as AxumResponse},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::Utc;
use lambda_http::{
    Body,
    aws_lambda_events::{
        apigw::{
            ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
            ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
            ApiGatewayV2httpRequestContextHttpDescription,
        },
        query_map::QueryMap,
    },
    request::LambdaRequest,
};
use ticketrush_adapters::{aws, postgres, wiring::Clients};
use ticketrush_lambda::{
    Problem,
    routes::{Auth, HttpRoute, find_route, path_exists},
};
use tracing::Instrument;

use crate::{
    connections_api, functions::Functions, health, jwt::JwtSettings, scheduler,
    settings::LocalSettings, sqs_source, web, websocket,
};

/// API Gateway's own limit is 10 MB; no ticketrush request comes near 64 KB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct AppState {
    pub functions: Arc<Functions>,
    pub jwt: JwtSettings,
    pub health: health::Dependencies,
    pub sockets: Arc<websocket::Sockets>,
    pub ws_ping_interval: std::time::Duration,
}

pub async fn serve(settings: LocalSettings) -> Result<(), Box<dyn std::error::Error>> {
    let pool = postgres::connect_lazy(&settings.postgres)?;
    let clients = Clients::from_env().await;
    let sdk = clients.sdk().clone();
    let listener = tokio::net::TcpListener::bind(settings.bind).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // Idempotent: a runtime started with its own table and queue names has them at once.
    if let Err(err) = aws::provision(&dynamo, &sqs, &settings.push).await {
        tracing::warn!(error = %err, "push tables and queues not provisioned");
    }
    // push-dispatch and ws-message reach @connections here, through the real SDK client,
    // unless told otherwise.
    let env = settings.function_env(&url);
    let functions = Arc::new(Functions::new(&env, &clients).await?);
    let redis = clients.redis(&env).await?;
    let (queue_tick, expire_tick, status_tick) = (
        settings.queue_tick,
        settings.hold_expire_tick,
        settings.sale_status_tick,
    );
    scheduler::start(functions.clone(), move |function| match function {
        "hold-expire" => expire_tick,
        "sale-status-tick" => status_tick,
        _ => queue_tick,
    });
    sqs_source::start(
        functions.clone(),
        sqs,
        settings.push.push_queue.clone(),
        settings.push_pollers,
    );
    let state = Arc::new(AppState {
        functions,
        jwt: settings.jwt.clone(),
        health: health::Dependencies {
            pool,
            redis,
            dynamo,
        },
        sockets: Arc::new(websocket::Sockets::default()),
        ws_ping_interval: settings.ws_ping_interval,
    });
    let connections = || {
        post(connections_api::post)
            .get(connections_api::get)
            .delete(connections_api::delete)
    };
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/ws", get(websocket::connect))
        .route("/@connections/{id}", connections())
        .route("/{stage}/@connections/{id}", connections())
        .merge(web::routes(&settings.web))
        .fallback(dispatch)
        .with_state(state);
    tracing::info!(%url, "ticketrush-local listening");
    println!("ticketrush-local is up at {url}");
    println!("  open {url}/ in a browser for the web client");
    println!("  try: curl '{url}/api/concerts/search?size=5&sort=saleOpensAt'");
    println!("  live: websocat '{}/ws'", url.replacen("http", "ws", 1));
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
    let request = api_gateway_v2_request(route, &params, &parts, &body, peer, claims);
    // Each function has its own pool here, as on Lambda: the span names it in any log line.
    let span = tracing::error_span!("function", name = route.function);
    to_axum(
        state
            .functions
            .invoke_http(route.function, request)
            .instrument(span)
            .await,
    )
}

/// The JWT authorizer's decision: claims for a valid token, 401 for a bad one, and for a
/// missing one where the route needs it.
fn authorize(
    jwt: &JwtSettings,
    route: &HttpRoute,
    headers: &HeaderMap,
) -> Result<Option<HashMap<String, String>>, Problem> {
    let unauthorized =
        |detail: String| Problem::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", detail);
    if route.auth == Auth::Signed {
        return Ok(None);
    }
    let Some(header) = headers.get("authorization") else {
        return match route.auth {
            Auth::Optional | Auth::Signed => Ok(None),
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
    Ok(Some(claims))
}

/// The request an HttpApi hands a function: the v2 event, converted by lambda_http's own
/// conversion, exactly as on Lambda, without a JSON round trip.
fn api_gateway_v2_request(
    route: &HttpRoute,
    params: &[(&str, &str)],
    parts: &axum::http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    claims: Option<HashMap<String, String>>,
) -> lambda_http::Request {
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let now = Utc::now();
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = method.clone();
    http.path = Some(uri.path().to_owned());
    http.protocol = Some("HTTP/1.1".into());
    http.source_ip = Some(peer.ip().to_string());
    http.user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.account_id = Some("000000000000".into());
    context.apiid = Some("local".into());
    context.domain_name = Some("127.0.0.1".into());
    context.domain_prefix = Some("local".into());
    context.http = http;
    context.request_id = Some(uuid::Uuid::new_v4().to_string());
    context.route_key = Some(route.route_key());
    context.stage = Some("$default".into());
    context.time = Some(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
    context.time_epoch = now.timestamp_millis();
    if let Some(claims) = claims {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = claims;
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        context.authorizer = Some(authorizer);
    }

    let raw_query = uri.query().unwrap_or("");
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()).into_owned() {
        query.entry(k).or_default().push(v);
    }
    // API Gateway passes cookies apart from the other headers.
    let mut event_headers = headers.clone();
    let cookies: Vec<String> = match event_headers.entry("cookie") {
        axum::http::header::Entry::Occupied(e) => e
            .remove_entry_mult()
            .1
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .flat_map(|c| c.split("; ").map(str::to_owned).collect::<Vec<_>>())
            .collect(),
        axum::http::header::Entry::Vacant(_) => Vec::new(),
    };

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(route.route_key());
    event.raw_path = Some(uri.path().to_owned());
    event.raw_query_string = Some(raw_query.to_owned());
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = event_headers;
    event.query_string_parameters = QueryMap::from(query);
    event.path_parameters = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    event.request_context = context;
    match std::str::from_utf8(body) {
        Ok("") => {}
        Ok(text) => event.body = Some(text.to_owned()),
        Err(_) => {
            event.body = Some(BASE64.encode(body));
            event.is_base64_encoded = true;
        }
    }
    LambdaRequest::ApiGatewayV2(event).into()
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
