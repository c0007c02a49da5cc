//! The one tick loop every scheduled function runs, and the invocation EventBridge Scheduler
//! makes of it: one per schedule period, each running that period's ticks
//! (`ticketrush_core::schedule::TickLoop`), so the tick period is the same in AWS and
//! locally, whatever the schedule.

use std::{fmt::Display, future::Future, ops::AddAssign, time::Duration};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, SecondsFormat, Utc};
use lambda_http::{Context, LambdaEvent};
use serde::Serialize;
use ticketrush_core::schedule::{TickLoop, TickRun, TickStep};

use crate::{
    metrics::{self, Metric},
    routes::Schedule,
};

/// What one invocation's ticks did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TickLoopSummary<T> {
    /// Ticks this invocation ran.
    pub ran: u32,
    /// Ticks another invocation had claimed (a duplicate or overlapping delivery).
    pub taken: u32,
    /// Ticks that failed; each is logged, and the next tick's claim retries its work.
    pub failed: u32,
    /// Tick instants that went by unrun: the invocation started late, or a tick overran.
    pub passed: u32,
    /// Tick instants left unrun because the deadline came first.
    pub cut_short: u32,
    /// What the ticks that ran did, added up.
    #[serde(flatten)]
    pub totals: T,
}

/// Runs the ticks `event` covers under `schedule`, one `run_tick` each, sleeping between
/// them, and stops before the invocation's deadline. `run_tick` answers `None` when another
/// invocation had claimed the tick. A failing tick is logged and the loop goes on.
pub async fn run<T, E, F, Fut>(
    schedule: &Schedule,
    event: &LambdaEvent<CloudWatchEvent>,
    tick: Duration,
    run_tick: F,
) -> TickLoopSummary<T>
where
    T: Default + AddAssign + Send,
    E: Display + Send,
    F: FnMut(TickRun) -> Fut + Send,
    Fut: Future<Output = Result<Option<T>, E>> + Send,
{
    crate::telemetry::in_invocation(
        schedule.function,
        Some(&event.context.request_id),
        None,
        run_ticks(schedule, event, tick, run_tick),
    )
    .await
}

async fn run_ticks<T, E, F, Fut>(
    schedule: &Schedule,
    event: &LambdaEvent<CloudWatchEvent>,
    tick: Duration,
    mut run_tick: F,
) -> TickLoopSummary<T>
where
    T: Default + AddAssign,
    E: Display,
    F: FnMut(TickRun) -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let deadline = i64::try_from(event.context.deadline)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(DateTime::UNIX_EPOCH);
    let mut ticks = TickLoop::new(
        event.payload.time,
        schedule.period,
        tick,
        deadline,
        event.context.request_id.clone(),
    );
    let mut summary = TickLoopSummary::<T>::default();
    loop {
        match ticks.step(Utc::now()) {
            TickStep::Run(run) => {
                let sequence = run.sequence;
                let started = std::time::Instant::now();
                let outcome = run_tick(run).await;
                // Per tick, not per invocation: an invocation spans a whole schedule period.
                let function = schedule.function;
                match &outcome {
                    Ok(None) => {}
                    Ok(Some(_)) => metrics::count(function, Metric::TicksRun, 1),
                    Err(_) => metrics::count(function, Metric::TicksFailed, 1),
                }
                if !matches!(outcome, Ok(None)) {
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    metrics::distribution(function, Metric::TickDuration, &[ms]);
                }
                match outcome {
                    Ok(Some(report)) => {
                        summary.ran += 1;
                        summary.totals += report;
                    }
                    Ok(None) => summary.taken += 1,
                    Err(error) => {
                        summary.failed += 1;
                        tracing::error!(
                            function = schedule.function,
                            tick = sequence,
                            %error,
                            "tick failed; the next tick retries its work"
                        );
                    }
                }
            }
            TickStep::Wait(pause) => tokio::time::sleep(pause).await,
            TickStep::Done => break,
        }
    }
    summary.passed = ticks.passed();
    summary.cut_short = ticks.cut_short();
    metrics::count(
        schedule.function,
        Metric::TicksSkipped,
        (summary.passed + summary.cut_short).into(),
    );
    if summary.cut_short > 0 {
        tracing::warn!(
            function = schedule.function,
            cut_short = summary.cut_short,
            deadline = %deadline,
            "the deadline came before the period's last tick: is the timeout the schedule's?"
        );
    }
    tracing::info!(
        function = schedule.function,
        ran = summary.ran,
        taken = summary.taken,
        failed = summary.failed,
        passed = summary.passed,
        "tick loop over"
    );
    summary
}

/// The event EventBridge Scheduler delivers to a Lambda target of a schedule without an
/// `Input`: `detail` is the string `"{}"`, `time` the scheduled time (whole seconds) and
/// `resources` the schedule's ARN (in the default group, named as the template names it).
pub fn scheduler_payload(
    schedule: &Schedule,
    stack: &str,
    account: &str,
    region: &str,
    id: &str,
    time: DateTime<Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": account,
        "time": time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": [format!(
            "arn:aws:scheduler:{region}:{account}:schedule/default/{}",
            schedule.name(stack)
        )],
        "detail": "{}",
    })
}

/// What Lambda hands the handler for `payload`: a request id and a deadline of `timeout`
/// from now.
pub fn invocation(
    payload: CloudWatchEvent,
    request_id: impl Into<String>,
    timeout: Duration,
) -> LambdaEvent<CloudWatchEvent> {
    let mut context = Context::default();
    context.request_id = request_id.into();
    context.deadline = u64::try_from((Utc::now() + timeout).timestamp_millis()).unwrap_or(0);
    LambdaEvent::new(payload, context)
}
