//! The one HTTP helper the end-to-end tests call the runtime through: a request with the
//! caller's credentials, and the answer as the tests read it.

use reqwest::{Client, Method};
use serde_json::Value;

/// Who is calling: a bearer token and, on a queue-gated sale, the admission token.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    pub bearer: Option<&'a str>,
    pub queue_token: Option<&'a str>,
}

impl<'a> Caller<'a> {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn bearer(token: &'a str) -> Self {
        Self {
            bearer: Some(token),
            queue_token: None,
        }
    }
}

/// An answer: the status, the JSON body (Null when there is none), and the headers the
/// tests check.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
}

pub async fn send(
    client: &Client,
    method: Method,
    url: &str,
    caller: Caller<'_>,
    body: Option<&Value>,
) -> Answer {
    let mut req = client.request(method, url);
    if let Some(token) = caller.bearer {
        req = req.bearer_auth(token);
    }
    if let Some(token) = caller.queue_token {
        req = req.header("x-queue-token", token);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req.send().await.expect("the runtime answers");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, retry_after) = (header("content-type"), header("retry-after"));
    Answer {
        status: resp.status().as_u16(),
        content_type,
        retry_after,
        body: resp.json().await.unwrap_or(Value::Null),
    }
}
