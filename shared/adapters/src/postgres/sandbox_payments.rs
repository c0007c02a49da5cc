//! The payment sandbox: a stand-in provider for local runs and tests, with the outcomes a
//! real one has. The method token picks the outcome: `sandbox-approve`, `sandbox-deny`,
//! `sandbox-timeout` (no answer in time; settle it with a signed webhook); anything else
//! is declined. Like a real provider it remembers each idempotency key's answer.

use sqlx::PgPool;
use ticketrush_core::{
    StoreError,
    payments::{Charge, ChargeOutcome, PaymentGateway, PaymentId},
};

use super::store_error;

#[derive(Clone)]
pub struct SandboxPayments {
    pool: PgPool,
}

impl SandboxPayments {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

const APPROVED: &str = "APPROVED";
const DENIED: &str = "DENIED";
const PENDING: &str = "PENDING";

fn outcome_of(method: &str) -> &'static str {
    match method {
        "sandbox-approve" => APPROVED,
        "sandbox-timeout" => PENDING,
        _ => DENIED,
    }
}

impl PaymentGateway for SandboxPayments {
    async fn charge(&self, charge: Charge<'_>) -> Result<ChargeOutcome, StoreError> {
        let fresh_id = format!("pay_{}", uuid::Uuid::new_v4().simple());
        // The first call under a key decides; every retry reads that answer back.
        let first: Option<(String, String)> = sqlx::query_as(
            r#"WITH new AS (
                   INSERT INTO sandbox_charges (idempotency_key, payment_id, outcome, amount)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (idempotency_key) DO NOTHING
                   RETURNING payment_id, outcome
               )
               SELECT payment_id, outcome FROM new
               UNION ALL
               SELECT payment_id, outcome FROM sandbox_charges WHERE idempotency_key = $1
               LIMIT 1"#,
        )
        .bind(charge.idempotency_key)
        .bind(&fresh_id)
        .bind(outcome_of(charge.method.as_str()))
        .bind(charge.amount)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        // A concurrent call under the same key that committed while this statement waited on
        // the conflict is invisible to the statement's snapshot; a new statement sees it.
        let (payment_id, outcome) = match first {
            Some(answer) => answer,
            None => sqlx::query_as(
                "SELECT payment_id, outcome FROM sandbox_charges WHERE idempotency_key = $1",
            )
            .bind(charge.idempotency_key)
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?,
        };
        let payment = PaymentId::from_stored(payment_id);
        Ok(match outcome.as_str() {
            APPROVED => ChargeOutcome::Approved(payment),
            PENDING => ChargeOutcome::Pending(payment),
            _ => ChargeOutcome::Denied {
                payment,
                reason: format!("the sandbox declines {:?}", charge.method.as_str()),
            },
        })
    }

    async fn refund(&self, payment: &PaymentId) -> Result<(), StoreError> {
        sqlx::query("UPDATE sandbox_charges SET refunded = true WHERE payment_id = $1")
            .bind(payment.as_str())
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

/// The gateway the configuration names.
pub fn payment_gateway(
    choice: crate::config::PaymentGatewayChoice,
    pool: PgPool,
) -> SandboxPayments {
    match choice {
        crate::config::PaymentGatewayChoice::Sandbox => SandboxPayments::new(pool),
    }
}
