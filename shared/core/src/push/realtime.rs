use std::{fmt, str::FromStr};

use serde::Serialize;

use crate::error::ValidationError;

/// How clients keep their screens live. The backend decides; clients follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RealtimeMode {
    /// One HTTP snapshot, then push only.
    Websocket,
    /// Push plus a slow corrective poll.
    Hybrid,
    /// Emergency fallback: no WebSocket, poll at the interval.
    Polling,
}

impl FromStr for RealtimeMode {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "websocket" => Ok(Self::Websocket),
            "hybrid" => Ok(Self::Hybrid),
            "polling" => Ok(Self::Polling),
            _ => Err(ValidationError::new(
                "REALTIME_MODE",
                format!("must be websocket, hybrid or polling, got {s:?}"),
            )),
        }
    }
}

impl fmt::Display for RealtimeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Websocket => "websocket",
            Self::Hybrid => "hybrid",
            Self::Polling => "polling",
        })
    }
}

/// The realtime fields every card snapshot and refresh carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeSettings {
    pub realtime_mode: RealtimeMode,
    pub hybrid_poll_interval_millis: u64,
}
