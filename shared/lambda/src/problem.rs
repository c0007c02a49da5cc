//! Every error a function can answer, mapped to `application/problem+json` here and only here.

use std::fmt::Display;

use lambda_http::{Body, Response, http::StatusCode};
use serde::Serialize;
use ticketrush_core::{
    StoreError, ValidationError,
    abuse::AbuseError,
    catalog::{ConcertDetailError, PolicyAdminError, SearchError},
    payments::{PaymentError, RefundError, WebhookError},
    queue::{JoinError, QueueStatusError, TokenCheckError},
    reservations::{HoldError, LifecycleError},
    seats::{ReleaseError, SeatMapError, SelectError},
};

use crate::identity::IdentityError;

/// Seconds a client should wait before retrying after a 503.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;
/// Seconds a buyer refused at a full waiting room should wait before trying again.
pub const QUEUE_FULL_RETRY_AFTER_SECS: u32 = 30;

/// An RFC 9457 problem with a stable machine `code`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    /// Stable and machine-readable: what went wrong.
    pub code: &'static str,
    pub detail: String,
    /// The offending input, with `VALIDATION_FAILED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", detail)
    }

    /// A failure that is ours: logged in full, answered without the cause.
    pub fn internal(cause: &dyn Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "something went wrong on our side; it has been logged",
        )
    }

    pub fn unavailable(cause: &dyn Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "the service is briefly unavailable; retry shortly",
        )
        .with_retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    pub fn into_response(self) -> Response<Body> {
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", "application/problem+json")
            .header("cache-control", "no-store");
        if let Some(secs) = self.retry_after {
            builder = builder.header("retry-after", secs.to_string());
        }
        let body = serde_json::to_string(&self).unwrap_or_default();
        builder.body(Body::Text(body)).unwrap_or_default()
    }
}

/// How an error becomes a problem.
pub trait IntoProblem {
    fn into_problem(self) -> Problem;
}

/// Lets a handler use `?` on any mapped error.
impl<E: IntoProblem> From<E> for Problem {
    fn from(err: E) -> Self {
        err.into_problem()
    }
}

impl IntoProblem for ValidationError {
    fn into_problem(self) -> Problem {
        let mut p = Problem::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            self.to_string(),
        );
        p.field = Some(self.field);
        p
    }
}

impl IntoProblem for StoreError {
    fn into_problem(self) -> Problem {
        crate::metrics::store_error(
            crate::telemetry::current_function().unwrap_or("unknown"),
            store_of(&self),
        );
        match &self {
            StoreError::Unavailable(_) => Problem::unavailable(&self),
            StoreError::Internal(_) => Problem::internal(&self),
        }
    }
}

/// Which store an error came from, for the `StoreErrors` metric: the vendor error when it
/// is kept as the cause, else the adapter's prefix.
pub fn store_of(err: &StoreError) -> &'static str {
    let (StoreError::Unavailable(cause) | StoreError::Internal(cause)) = err;
    let cause: &(dyn std::error::Error + 'static) = cause.as_ref();
    if cause.downcast_ref::<sqlx::Error>().is_some() {
        return "postgres";
    }
    if cause.downcast_ref::<redis::RedisError>().is_some() {
        return "redis";
    }
    let text = cause.to_string();
    if text.starts_with("DynamoDB") {
        "dynamodb"
    } else if text.contains("SQS") || text.contains("SendMessage") {
        "sqs"
    } else {
        "other"
    }
}

impl IntoProblem for IdentityError {
    fn into_problem(self) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", self.to_string())
    }
}

impl IntoProblem for SearchError {
    fn into_problem(self) -> Problem {
        match self {
            SearchError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for ConcertDetailError {
    fn into_problem(self) -> Problem {
        match self {
            ConcertDetailError::NotFound(_) => Problem::not_found(self.to_string()),
            ConcertDetailError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for SeatMapError {
    fn into_problem(self) -> Problem {
        match self {
            SeatMapError::NotFound(_) => Problem::not_found(self.to_string()),
            SeatMapError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for JoinError {
    fn into_problem(self) -> Problem {
        match self {
            JoinError::NotFound(_) => Problem::not_found(self.to_string()),
            JoinError::SaleNotOpen { .. } => {
                Problem::new(StatusCode::CONFLICT, "SALE_NOT_OPEN", self.to_string())
            }
            JoinError::SaleClosed(_) => {
                Problem::new(StatusCode::CONFLICT, "SALE_CLOSED", self.to_string())
            }
            JoinError::Full(_) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "QUEUE_FULL",
                self.to_string(),
            )
            .with_retry_after(QUEUE_FULL_RETRY_AFTER_SECS),
            JoinError::Throttled { retry_after } => {
                let secs = retry_after.as_secs_f64().ceil().max(1.0) as u32;
                Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    self.to_string(),
                )
                .with_retry_after(secs)
            }
            JoinError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for QueueStatusError {
    fn into_problem(self) -> Problem {
        match self {
            QueueStatusError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for TokenCheckError {
    fn into_problem(self) -> Problem {
        match self {
            TokenCheckError::Required => Problem::new(
                StatusCode::FORBIDDEN,
                "QUEUE_TOKEN_REQUIRED",
                self.to_string(),
            ),
        }
    }
}

impl IntoProblem for SelectError {
    fn into_problem(self) -> Problem {
        let conflict = |code, detail: String| Problem::new(StatusCode::CONFLICT, code, detail);
        match self {
            SelectError::OptionNotFound(_) | SelectError::SeatNotFound { .. } => {
                Problem::not_found(self.to_string())
            }
            SelectError::SaleNotOpen(_) => conflict("SALE_NOT_OPEN", self.to_string()),
            SelectError::QueueToken(e) => e.into_problem(),
            SelectError::AlreadySelected => conflict("SEAT_ALREADY_SELECTED", self.to_string()),
            SelectError::Unavailable => conflict("SEAT_UNAVAILABLE", self.to_string()),
            SelectError::LimitExceeded(_) => conflict("LIMIT_EXCEEDED", self.to_string()),
            SelectError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for ReleaseError {
    fn into_problem(self) -> Problem {
        match self {
            ReleaseError::NotOwner => {
                Problem::new(StatusCode::FORBIDDEN, "NOT_SEAT_OWNER", self.to_string())
            }
            ReleaseError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for HoldError {
    fn into_problem(self) -> Problem {
        let conflict = |code, detail: String| Problem::new(StatusCode::CONFLICT, code, detail);
        match self {
            HoldError::OptionNotFound(_) | HoldError::SeatNotFound(_) => {
                Problem::not_found(self.to_string())
            }
            HoldError::NotSelected(_) => conflict("SEAT_NOT_SELECTED", self.to_string()),
            HoldError::IdempotencyKeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                self.to_string(),
            ),
            HoldError::LimitExceeded { .. } => conflict("LIMIT_EXCEEDED", self.to_string()),
            HoldError::SeatsTaken => conflict("SEAT_UNAVAILABLE", self.to_string()),
            HoldError::NoPolicy => conflict("SALE_NOT_OPEN", self.to_string()),
            HoldError::Abuse(AbuseError::HoldRate { retry_after }) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                AbuseError::HoldRate { retry_after }.to_string(),
            )
            .with_retry_after(retry_after.as_secs().max(1) as u32),
            HoldError::Abuse(e @ AbuseError::RepeatedRequest) => {
                conflict("DUPLICATE_REQUEST", e.to_string())
            }
            HoldError::Abuse(e @ AbuseError::DeviceShared) => {
                Problem::new(StatusCode::FORBIDDEN, "DEVICE_SHARED", e.to_string())
            }
            HoldError::Abuse(AbuseError::Store(e)) => e.into_problem(),
            HoldError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for LifecycleError {
    fn into_problem(self) -> Problem {
        match self {
            LifecycleError::NotFound(_) => Problem::not_found(self.to_string()),
            LifecycleError::IllegalTransition { .. } => {
                Problem::new(StatusCode::CONFLICT, "ILLEGAL_TRANSITION", self.to_string())
            }
            LifecycleError::HoldExpired => {
                Problem::new(StatusCode::CONFLICT, "HOLD_EXPIRED", self.to_string())
            }
            LifecycleError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for PaymentError {
    fn into_problem(self) -> Problem {
        match self {
            PaymentError::Lifecycle(e) => e.into_problem(),
            PaymentError::Declined(_) | PaymentError::DeclinedBefore => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "PAYMENT_DECLINED",
                self.to_string(),
            ),
            PaymentError::InProgress => Problem::new(
                StatusCode::CONFLICT,
                "PAYMENT_IN_PROGRESS",
                self.to_string(),
            ),
            PaymentError::ChargeRefunded(_) => {
                tracing::warn!(error = %self, "a charge approved after its reservation moved on is refunded");
                Problem::new(StatusCode::CONFLICT, "PAYMENT_REFUNDED", self.to_string())
            }
        }
    }
}

impl IntoProblem for RefundError {
    fn into_problem(self) -> Problem {
        match self {
            RefundError::Lifecycle(e) => e.into_problem(),
            RefundError::NotPaid(_) => {
                Problem::new(StatusCode::CONFLICT, "NOT_PAID", self.to_string())
            }
            RefundError::WindowClosed { .. } => Problem::new(
                StatusCode::CONFLICT,
                "REFUND_WINDOW_CLOSED",
                self.to_string(),
            ),
            RefundError::OverrideNotAllowed => {
                Problem::new(StatusCode::FORBIDDEN, "FORBIDDEN", self.to_string())
            }
        }
    }
}

impl IntoProblem for WebhookError {
    fn into_problem(self) -> Problem {
        match self {
            WebhookError::BadSignature => Problem::new(
                StatusCode::UNAUTHORIZED,
                "WEBHOOK_SIGNATURE_INVALID",
                self.to_string(),
            ),
            WebhookError::Stale { .. } => {
                Problem::new(StatusCode::BAD_REQUEST, "WEBHOOK_STALE", self.to_string())
            }
            WebhookError::UnknownPayment(_) => Problem::not_found(self.to_string()),
            WebhookError::Store(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for PolicyAdminError {
    fn into_problem(self) -> Problem {
        match self {
            PolicyAdminError::Forbidden => {
                Problem::new(StatusCode::FORBIDDEN, "FORBIDDEN", self.to_string())
            }
            PolicyAdminError::NotFound(_) => Problem::not_found(self.to_string()),
            PolicyAdminError::Store(e) => e.into_problem(),
        }
    }
}

/// Turns a handler's outcome into the response, whatever went wrong.
pub fn respond(outcome: Result<Response<Body>, Problem>) -> Response<Body> {
    outcome.unwrap_or_else(|problem| {
        // The code the client got, beside the request id of the invocation's span.
        tracing::info!(
            status = problem.status,
            code = problem.code,
            "answered with a problem"
        );
        problem.into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let p = ValidationError::new("size", "must be an integer from 1 to 100").into_problem();
        assert_eq!(p.status, 400);
        assert_eq!(p.code, "VALIDATION_FAILED");
        assert_eq!(p.field, Some("size"));
        let resp = p.into_response();
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }

    #[test]
    fn unavailable_is_503_with_retry_after_and_no_cause() {
        let resp = StoreError::unavailable("connection refused to 10.0.0.7")
            .into_problem()
            .into_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "2");
        let Body::Text(body) = resp.body() else {
            panic!("text body")
        };
        assert!(!body.contains("10.0.0.7"));
        assert!(body.contains("\"code\":\"UNAVAILABLE\""));
    }
}
