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

/// A public read's `Cache-Control`: an anonymous success may be kept by a shared cache
/// (the CDN) for a second, which collapses a surge into one origin call per second; a
/// tokened answer is the caller's own (presale status, button) and is never stored.
pub fn public_read(req: &lambda_http::Request, mut resp: Response<Body>) -> Response<Body> {
    let tokened = req
        .headers()
        .contains_key(lambda_http::http::header::AUTHORIZATION)
        || !matches!(crate::identity::identity(req), Ok(None));
    if resp.status() == StatusCode::OK {
        let value = if tokened {
            "private, no-store"
        } else {
            "public, max-age=1"
        };
        resp.headers_mut().insert(
            lambda_http::http::header::CACHE_CONTROL,
            lambda_http::http::HeaderValue::from_static(value),
        );
    }
    resp
}
