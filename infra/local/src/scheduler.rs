//! The schedules, as EventBridge would run them: a scheduled event per tick.

use std::{sync::Arc, time::Duration};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, TimeZone, Utc};
use ticketrush_lambda::routes::SCHEDULES;
use tracing::Instrument;

use crate::functions::Functions;

/// Starts one ticking task per schedule.
pub fn start(functions: Arc<Functions>, period_for: impl Fn(&str) -> Duration) {
    for schedule in SCHEDULES {
        let period = period_for(schedule.function);
        let functions = functions.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticker.tick().await;
                let event = scheduled_event(schedule.function, truncate(Utc::now(), period));
                let invocation_id = uuid::Uuid::new_v4().to_string();
                functions
                    .invoke_scheduled(schedule.function, event, &invocation_id)
                    .instrument(tracing::error_span!("function", name = schedule.function))
                    .await;
            }
        });
    }
}

fn truncate(t: DateTime<Utc>, period: Duration) -> DateTime<Utc> {
    let p = (period.as_millis() as i64).max(1);
    Utc.timestamp_millis_opt(t.timestamp_millis() / p * p)
        .single()
        .unwrap_or(t)
}

/// The event EventBridge Scheduler delivers for a recurring schedule.
fn scheduled_event(function: &str, time: DateTime<Utc>) -> CloudWatchEvent {
    let json = serde_json::json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "000000000000",
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "us-east-1",
        "resources": [format!("arn:aws:scheduler:us-east-1:000000000000:schedule/default/ticketrush-{function}")],
        "detail": {},
    });
    serde_json::from_value(json).expect("a scheduled event is a CloudWatchEvent")
}
