use lambda_http::{Body, Response, http::StatusCode};
use serde::Serialize;

/// A JSON response. Live data is never cached by intermediaries.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("cache-control", "no-store")
            .body(Body::Text(body))
            .unwrap_or_default(),
        Err(err) => crate::problem::Problem::internal(&err).into_response(),
    }
}
