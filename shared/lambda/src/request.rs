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
