//! The schedules, as EventBridge Scheduler runs them: each rate schedule invokes its
//! function once per period, the first time as soon as it exists, with the payload the
//! Scheduler sends and the deadline Lambda gives. The ticks within a period are the
//! function's own loop, the same code as in AWS.

use std::sync::Arc;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, SubsecRound, Utc};
use ticketrush_lambda::{
    routes::{SCHEDULES, Schedule},
    ticks,
};
use tracing::Instrument;

use crate::functions::Functions;

/// The stack, account and region the local schedules pretend to live in.
const STACK: &str = "ticketrush";
const ACCOUNT: &str = "000000000000";
const REGION: &str = "us-east-1";

/// Starts every schedule.
pub fn start(functions: Arc<Functions>) {
    for schedule in SCHEDULES {
        let functions = functions.clone();
        tokio::spawn(async move {
            let origin = (tokio::time::Instant::now(), Utc::now());
            let mut rate = tokio::time::interval(schedule.period);
            rate.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                let fired = rate.tick().await;
                let Ok(since) = chrono::Duration::from_std(fired - origin.0) else {
                    continue;
                };
                let scheduled_at = (origin.1 + since).trunc_subsecs(0);
                // Each invocation on its own, as Lambda runs them: a slow one never holds
                // back the next.
                tokio::spawn(invoke(functions.clone(), schedule, scheduled_at));
            }
        });
    }
}

async fn invoke(functions: Arc<Functions>, schedule: &'static Schedule, at: DateTime<Utc>) {
    let payload = ticks::scheduler_payload(
        schedule,
        STACK,
        ACCOUNT,
        REGION,
        &uuid::Uuid::new_v4().to_string(),
        at,
    );
    let payload: CloudWatchEvent = match serde_json::from_value(payload) {
        Ok(p) => p,
        Err(error) => {
            tracing::error!(function = schedule.function, %error, "unreadable scheduled event");
            return;
        }
    };
    let event = ticks::invocation(
        payload,
        uuid::Uuid::new_v4().to_string(),
        schedule.timeout(),
    );
    let span = tracing::error_span!("function", name = schedule.function);
    // Lambda ends an invocation at its timeout.
    let run = functions.invoke_scheduled(schedule.function, event);
    if tokio::time::timeout(schedule.timeout(), run.instrument(span))
        .await
        .is_err()
    {
        tracing::error!(
            function = schedule.function,
            "scheduled invocation timed out"
        );
    }
}
