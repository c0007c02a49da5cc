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
            ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
            ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
        },
        query_map::QueryMap,
    },
    request::LambdaRequest,
};
use serde_json::Value;
use ticketrush_adapters::{aws, postgres, wiring::Clients};
use ticketrush_lambda::{
    Problem,
    identity::bearer_token,
    routes::{Auth, HTTP_AUTHORIZER, HttpRoute, IdentityValue, find_route, path_exists},
};
use tracing::Instrument;

use crate::{
    concurrency::{self, Concurrency},
    connections_api,
    functions::Functions,
    health,
    jwt::JwtSettings,
    operator, scheduler,
    settings::LocalSettings,
    sqs_source, web, websocket,
};

/// API Gateway's own limit is 10 MB; no ticketrush request comes near 64 KB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct AppState {
    pub functions: Arc<Functions>,
    pub jwt: JwtSettings,
    pub health: health::Dependencies,
    pub sockets: Arc<websocket::Sockets>,
    pub ws_ping_interval: std::time::Duration,
    pub ws_write_timeout: std::time::Duration,
}

pub async fn serve(settings: LocalSettings) -> Result<(), Box<dyn std::error::Error>> {
    // Before any function runs, so the operator page sees every metric line.
    operator::install();
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
    // Served to other machines, @connections listens on loopback only, apart from the API.
    let internal = if settings.public {
        Some(tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?)
    } else {
        None
    };
    let connections_url = match &internal {
        Some(listener) => format!("http://{}", listener.local_addr()?),
        None => url.clone(),
    };
    // push-dispatch and ws-message reach @connections here, through the real SDK client,
    // unless told otherwise.
    let env = settings.function_env(&connections_url);
    let concurrency = Concurrency::new(&settings.concurrency, settings.throttle_wait);
    let functions = Arc::new(Functions::new(&env, &clients, concurrency).await?);
    let redis = clients.redis(&env).await?;
    scheduler::start(functions.clone());
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
        ws_write_timeout: settings.ws_write_timeout,
    });
    let connections = || {
        post(connections_api::post)
            .get(connections_api::get)
            .delete(connections_api::delete)
    };
    let connections_api = Router::new()
        .route("/@connections/{id}", connections())
        .route("/{stage}/@connections/{id}", connections());
    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/openapi.json", get(openapi))
        .route("/ws", get(websocket::connect))
        .merge(operator::router())
        .merge(web::client(&settings.web));
    match internal {
        Some(listener) => {
            let internal_app = connections_api.with_state(state.clone());
            tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, internal_app).await {
                    tracing::error!(error = %err, "@connections listener failed");
                }
            });
        }
        None => app = app.merge(connections_api).merge(web::dev_login()),
    }
    let app = app.fallback(dispatch).with_state(state);
    tracing::info!(%url, "ticketrush-local listening");
    println!("ticketrush-local is up at {url}");
    println!("  open {url}/ in a browser for the web client");
    println!("  operator page: {url}/local/operator");
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

/// The HTTP API's description, as `ticketrush-local openapi` prints it.
async fn openapi() -> AxumResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        ticketrush_lambda::openapi::document_json(),
    )
        .into_response()
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

    let (parts, body) = req.into_parts();
    let authorizer = match authorize(&state, route, &params, &parts, peer).await {
        Ok(authorizer) => authorizer,
        Err(Refusal::Problem(p)) => return problem(p),
        Err(Refusal::Throttled) => return to_axum(concurrency::http_api_throttled()),
    };

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
    let request = api_gateway_v2_request(route, &params, &parts, &body, peer, authorizer);
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

/// Why API Gateway answers instead of the route's function.
enum Refusal {
    Problem(Problem),
    /// The Lambda authorizer's invocation was throttled.
    Throttled,
}

impl From<Problem> for Refusal {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

/// The route's authorizer, as the template declares it: the JWT authorizer where a token is
/// required, the Lambda authorizer where it is optional, none for signed requests. `Ok` is
/// what API Gateway puts in the request context.
async fn authorize(
    state: &AppState,
    route: &HttpRoute,
    params: &[(&str, &str)],
    parts: &axum::http::request::Parts,
    peer: SocketAddr,
) -> Result<Option<ApiGatewayRequestAuthorizer>, Refusal> {
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    match route.auth {
        Auth::Signed => return Ok(None),
        Auth::Required => {
            let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
            jwt.claims = jwt_authorizer(&state.jwt, &parts.headers)?;
            authorizer.jwt = Some(jwt);
        }
        Auth::Optional => {
            authorizer.fields = lambda_authorizer(state, route, params, parts, peer).await?;
        }
    }
    Ok(Some(authorizer))
}

/// The JWT authorizer's decision: the claims of a valid bearer token, else 401.
fn jwt_authorizer(
    jwt: &JwtSettings,
    headers: &HeaderMap,
) -> Result<HashMap<String, String>, Problem> {
    let unauthorized =
        |detail: String| Problem::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", detail);
    let Some(header) = headers.get("authorization") else {
        return Err(unauthorized(
            "this endpoint needs an Authorization: Bearer token".into(),
        ));
    };
    let token =
        header.to_str().ok().and_then(bearer_token).ok_or_else(|| {
            unauthorized("the Authorization header must be 'Bearer <token>'".into())
        })?;
    jwt.verify(token)
        .map_err(|reason| unauthorized(format!("the bearer token was refused: {reason}")))
}

/// The Lambda authorizer, as API Gateway runs one with simple responses: 401 without calling
/// it when an identity source is missing, else its context, or 403 when it refuses.
async fn lambda_authorizer(
    state: &AppState,
    route: &HttpRoute,
    params: &[(&str, &str)],
    parts: &axum::http::request::Parts,
    peer: SocketAddr,
) -> Result<HashMap<String, Value>, Refusal> {
    let query = query_parameters(parts.uri.query().unwrap_or(""));
    let present = HTTP_AUTHORIZER.identity_present(|value| match value {
        IdentityValue::Header(name) => parts.headers.get(name).and_then(|v| v.to_str().ok()),
        IdentityValue::QueryString(name) => {
            query.get(name).and_then(|v| v.first()).map(String::as_str)
        }
    });
    if !present {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the request lacks the authorizer's identity source",
        )
        .into());
    }
    let mut event = ApiGatewayV2CustomAuthorizerV2Request::default();
    event.version = Some("2.0".into());
    event.type_ = Some("REQUEST".into());
    event.route_arn = Some(format!(
        "arn:aws:execute-api:us-east-1:000000000000:local/$default/{}{}",
        parts.method,
        parts.uri.path()
    ));
    event.route_key = Some(route.route_key());
    event.raw_path = Some(parts.uri.path().to_owned());
    event.raw_query_string = Some(parts.uri.query().unwrap_or("").to_owned());
    let (headers, cookies) = split_cookies(&parts.headers);
    event.cookies = cookies;
    event.headers = headers;
    // Payload format 2.0 joins repeated parameters with commas.
    event.query_string_parameters = query
        .iter()
        .map(|(k, v)| (k.clone(), v.join(",")))
        .collect();
    event.path_parameters = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    event.request_context = request_context(route, parts, peer);
    let answer = state
        .functions
        .authorize_http(&event)
        .instrument(tracing::error_span!(
            "function",
            name = HTTP_AUTHORIZER.function
        ))
        .await
        .map_err(|_| Refusal::Throttled)?;
    if !answer.is_authorized {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the authorizer refused the request's Authorization header",
        )
        .into());
    }
    Ok(answer.context)
}

/// The query string as name -> values.
fn query_parameters(raw: &str) -> HashMap<String, Vec<String>> {
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()).into_owned() {
        query.entry(k).or_default().push(v);
    }
    query
}

/// The headers without `cookie`, and the cookies: API Gateway passes them apart.
fn split_cookies(headers: &HeaderMap) -> (HeaderMap, Vec<String>) {
    let mut headers = headers.clone();
    let cookies = match headers.entry("cookie") {
        axum::http::header::Entry::Occupied(e) => e
            .remove_entry_mult()
            .1
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .flat_map(|c| c.split("; ").map(str::to_owned).collect::<Vec<_>>())
            .collect(),
        axum::http::header::Entry::Vacant(_) => Vec::new(),
    };
    (headers, cookies)
}

/// The request context API Gateway builds for a request, before any authorizer.
fn request_context(
    route: &HttpRoute,
    parts: &axum::http::request::Parts,
    peer: SocketAddr,
) -> ApiGatewayV2httpRequestContext {
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
    context
}

/// The request an HttpApi hands a function: the v2 event, converted by lambda_http's own
/// conversion, exactly as on Lambda, without a JSON round trip.
fn api_gateway_v2_request(
    route: &HttpRoute,
    params: &[(&str, &str)],
    parts: &axum::http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    authorizer: Option<ApiGatewayRequestAuthorizer>,
) -> lambda_http::Request {
    let uri = &parts.uri;
    let mut context = request_context(route, parts, peer);
    context.authorizer = authorizer;
    let raw_query = uri.query().unwrap_or("");
    let (event_headers, cookies) = split_cookies(&parts.headers);

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(route.route_key());
    event.raw_path = Some(uri.path().to_owned());
    event.raw_query_string = Some(raw_query.to_owned());
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = event_headers;
    event.query_string_parameters = QueryMap::from(query_parameters(raw_query));
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
