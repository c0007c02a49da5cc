//! API Gateway's `@connections` management API over this runtime's real sockets:
//! `POST` posts a frame, `GET` describes the connection, `DELETE` closes it. An id that is
//! unknown or already closed answers 410 GoneException, as API Gateway does.

use std::sync::{Arc, atomic::Ordering};

use crate::{
    http::AppState,
    websocket::{MAX_MESSAGE_BYTES, Outgoing, Refused, Socket},
};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SecondsFormat, Utc};

/// The error shape of API Gateway's REST-JSON protocol, which the SDK reads its code from.
fn error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    let mut response = (
        status,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response();
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    response
}

fn gone(id: &str) -> Response {
    error(
        StatusCode::GONE,
        "GoneException",
        &format!("connection {id} is gone"),
    )
}

fn socket(state: &AppState, id: &str) -> Option<Arc<Socket>> {
    state.sockets.get(id).filter(|s| !s.tx.is_closed())
}

pub async fn post(
    State(state): State<Arc<AppState>>,
    Path(params): Path<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let id = connection_param(&params);
    let Some(socket) = socket(&state, id) else {
        return gone(id);
    };
    if body.len() > MAX_MESSAGE_BYTES {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "messages are limited to 128 KB",
        );
    }
    // A client that does not read fills its bounded buffer: posts are throttled until it
    // reads, or until its stalled write times out and it is gone.
    match socket.offer(body) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(Refused::Full) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            "the client's buffer is full",
        ),
        Err(Refused::Closed) => {
            state.sockets.remove(id);
            gone(id)
        }
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(params): Path<Vec<(String, String)>>,
) -> Response {
    let id = connection_param(&params);
    let Some(socket) = socket(&state, id) else {
        return gone(id);
    };
    let last = DateTime::from_timestamp_millis(socket.last_active_ms.load(Ordering::Relaxed))
        .unwrap_or(socket.connected_at);
    axum::Json(serde_json::json!({
        "connectedAt": iso(socket.connected_at),
        "lastActiveAt": iso(last),
        "identity": {
            "sourceIp": socket.source_ip,
            "userAgent": socket.user_agent,
        },
    }))
    .into_response()
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(params): Path<Vec<(String, String)>>,
) -> Response {
    let id = connection_param(&params);
    let Some(socket) = socket(&state, id) else {
        return gone(id);
    };
    let _ = socket.tx.try_send(Outgoing::Close);
    state.sockets.remove(id);
    StatusCode::NO_CONTENT.into_response()
}

/// The `{id}` of `/@connections/{id}` or `/{stage}/@connections/{id}`.
fn connection_param(params: &[(String, String)]) -> &str {
    params
        .iter()
        .find(|(k, _)| k == "id")
        .map_or("", |(_, v)| v.as_str())
}
