//! Raw parameters out of an API Gateway request.

use lambda_http::{Request, RequestExt};
use ticketrush_core::ValidationError;

/// The first value of a query-string parameter.
pub fn query<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
}

/// A path parameter, which the route guarantees is present.
pub fn path<'a>(req: &'a Request, name: &'static str) -> Result<&'a str, ValidationError> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .ok_or_else(|| ValidationError::new(name, "is missing from the path"))
}

/// The request id API Gateway assigned, for logs.
pub fn request_id(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
}

/// A header's value, if present and text.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Request bodies are small JSON objects; anything bigger is refused before parsing.
pub const MAX_JSON_BODY_BYTES: usize = 16 * 1024;

/// The JSON body as `T`, or a problem that says what is wrong with it.
pub fn json_body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, crate::Problem> {
    parse_json(body_bytes(req)?)
}

/// The JSON body as `T`, or None when there is no body (for optional bodies).
pub fn optional_json_body<T: serde::de::DeserializeOwned>(
    req: &Request,
) -> Result<Option<T>, crate::Problem> {
    let bytes = body_bytes(req)?;
    if bytes.is_empty() {
        Ok(None)
    } else {
        parse_json(bytes).map(Some)
    }
}

/// The raw body, exactly as sent (signatures cover these bytes), within the size limit.
pub fn body_bytes(req: &Request) -> Result<&[u8], crate::Problem> {
    use lambda_http::{Body, http::StatusCode};
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    if bytes.len() > MAX_JSON_BODY_BYTES {
        return Err(crate::Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the body is limited to {MAX_JSON_BODY_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, crate::Problem> {
    if bytes.is_empty() {
        return Err(ValidationError::new("body", "a JSON body is required").into());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ValidationError::new("body", format!("is not valid JSON for this request: {e}")).into()
    })
}

/// The API Gateway route key (`GET /api/reservations/{id}`), for functions serving several routes.
pub fn route_key(req: &Request) -> Option<&str> {
    match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.as_deref(),
        _ => None,
    }
}

/// Serves one request of `function`: every log line of `work` carries the API Gateway
/// request id, and a problem is answered as problem+json and logged with its code.
pub async fn serve(
    function: &'static str,
    req: &Request,
    work: impl std::future::Future<
        Output = Result<lambda_http::Response<lambda_http::Body>, crate::Problem>,
    > + Send,
) -> lambda_http::Response<lambda_http::Body> {
    let id = request_id(req);
    crate::telemetry::in_invocation(function, id.as_deref(), None, async {
        crate::problem::respond(work.await)
    })
    .await
}
