//! API Gateway's `@connections` management API over this runtime's real sockets:
//! `POST` posts a frame, `GET` describes the connection, `DELETE` closes it. An id that is
//! unknown or already closed answers 410 GoneException, as API Gateway does.

use std::sync::{Arc, atomic::Ordering};

use axum::extract::ws::Message;
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::mpsc::error::TrySendError;

use crate::{
    http::AppState,
    websocket::{Outgoing, Socket},
};

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
    if body.len() > 128 * 1024 {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "messages are limited to 128 KB",
        );
    }
    let frame = match String::from_utf8(body.to_vec()) {
        Ok(text) => Message::Text(text.into()),
        Err(e) => Message::Binary(e.into_bytes().into()),
    };
    match socket.tx.try_send(Outgoing::Frame(frame)) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(TrySendError::Full(_)) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            "the client's buffer is full",
        ),
        Err(TrySendError::Closed(_)) => {
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
