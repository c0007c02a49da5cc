//! The HTTP API's request bodies and the response envelopes that are not domain types: the
//! handlers read and answer these, and the OpenAPI document (`openapi.rs`) is derived from them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticketrush_core::{
    catalog::CardPage, push::realtime::RealtimeSettings, reservations::Reservation, time,
};
use utoipa::ToSchema;

/// `POST /api/options/{optionId}/seats/{seatId}/select`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectBody {
    /// The client's id for this click; a retry sends the same one.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub request_id: String,
}

/// `POST /api/holds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldBody {
    #[schema(minimum = 1)]
    pub option_id: i64,
    /// The seats the caller has selected, each once.
    #[schema(min_items = 1, inline)]
    pub seat_ids: Vec<i64>,
    /// Unique per buyer: the same request again answers the same reservation.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub request_id: String,
}

/// `POST /api/reservations/{id}/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmBody {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub request_id: String,
    /// The gateway's payment method token; the local sandbox reads `sandbox-approve`,
    /// `sandbox-deny` and `sandbox-timeout`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub payment_method: String,
}

/// `POST /api/reservations/{id}/refund` (the body is optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundBody {
    /// Admins only: refund past the cutoff, with the reason kept in the audit trail.
    #[schema(min_length = 1, max_length = 500)]
    pub override_reason: Option<String>,
}

/// The longest `overrideReason`.
pub const MAX_OVERRIDE_REASON: usize = 500;

/// `POST /api/payments/webhook`, as the gateway signs it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookBody {
    #[schema(min_length = 1, max_length = 128)]
    pub event_id: String,
    pub payment_id: String,
    #[schema(minimum = 1)]
    pub sequence: i64,
    #[schema(pattern = "^(APPROVED|DENIED)$")]
    pub outcome: String,
}

/// What a webhook did; only `APPLIED` changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookResult {
    Applied,
    ReservationMovedOn,
    Refunded,
    Duplicate,
    OutOfOrder,
}

/// The answer to every webhook that checks out: acknowledged, so the gateway stops retrying.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAck {
    pub applied: bool,
    pub result: WebhookResult,
    /// The reservation as it now is, when the event was applied.
    pub reservation: Option<Reservation>,
}

/// `GET /api/concerts/search`: a page of cards and how to keep them live.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResponse {
    #[serde(flatten)]
    pub page: CardPage,
    #[serde(with = "time")]
    pub server_now: DateTime<Utc>,
    #[serde(flatten)]
    pub realtime: RealtimeSettings,
}

/// `GET /api/me/reservations`: newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationList {
    pub items: Vec<Reservation>,
    pub page: u32,
    pub size: u32,
}
