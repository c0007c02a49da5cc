//! The real-shaped sample events in `events/`, as Lambda would deliver them.

use std::path::PathBuf;

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name)
}

pub fn text(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// An API Gateway HTTP API (v2) event as the request a function receives.
pub fn http_request(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&text(name))
        .unwrap_or_else(|e| panic!("events/{name} is not an HTTP API event: {e}"))
}

/// A scheduled event (EventBridge Scheduler) as a function receives it.
pub fn scheduled(name: &str) -> aws_lambda_events::event::cloudwatch_events::CloudWatchEvent {
    serde_json::from_str(&text(name))
        .unwrap_or_else(|e| panic!("events/{name} is not a scheduled event: {e}"))
}

/// A function response's JSON body.
pub fn body(resp: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).expect("a JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    }
}

/// Any event a function takes, read as its aws_lambda_events type.
pub fn typed<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&text(name))
        .unwrap_or_else(|e| panic!("events/{name} does not have the function's event shape: {e}"))
}
