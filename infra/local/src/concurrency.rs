//! Lambda's concurrency, emulated: each function runs at most its reserved concurrency
//! (`shared/lambda/src/limits.rs`, what the template gives Lambda) of invocations at once.
//! Past it, a synchronous caller (API Gateway) is throttled, as Lambda throttles it; the
//! scheduler and the SQS event source wait for an instance, as Lambda's async queue and event
//! source mappings do.
//!
//! Lambda throttles a synchronous invocation at once. Here it first waits up to
//! `LOCAL_THROTTLE_WAIT_MILLIS` (10 s) for an instance: one process on a few cores hosts every
//! instance, so under a burst an invocation lasts several times longer here than on Lambda,
//! where each instance has a CPU of its own, and more of them overlap. Zero is Lambda's
//! behaviour, and shows what a burst would meet in AWS.

use std::{collections::HashMap, sync::Arc, time::Duration};

use ticketrush_lambda::limits::FUNCTION_LIMITS;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One running instance of a function, held for the length of an invocation.
#[must_use = "the instance is free again once this is dropped"]
pub struct Instance {
    _permit: Option<OwnedSemaphorePermit>,
}

/// Every instance of the function was busy: Lambda refused the invocation
/// (`TooManyRequestsException`, `ReservedFunctionConcurrentInvocationLimitExceeded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub function: &'static str,
    pub concurrency: u32,
}

/// API Gateway's answer to a request whose Lambda invocation was refused: "If the Lambda API
/// rejects the invocation request, API Gateway returns a 500 error code" with this body
/// (AWS Lambda Developer Guide, "Handling Lambda errors with an API Gateway API"; the HTTP
/// API writes `Internal Server Error`). API Gateway does not retry.
pub fn http_api_throttled() -> lambda_http::Response<lambda_http::Body> {
    lambda_http::Response::builder()
        .status(500)
        .header("content-type", "application/json")
        .body(r#"{"message":"Internal Server Error"}"#.into())
        .unwrap_or_default()
}

/// What the WebSocket API sends a client whose message's invocation failed; the connection
/// stays open.
pub fn websocket_throttled_frame(connection_id: &str, request_id: &str) -> String {
    serde_json::json!({
        "message": "Internal server error",
        "connectionId": connection_id,
        "requestId": request_id,
    })
    .to_string()
}

/// The instances each function may run.
pub struct Concurrency {
    functions: HashMap<&'static str, (u32, Arc<Semaphore>)>,
    /// How long a synchronous invocation waits for an instance before it is throttled.
    throttle_wait: Duration,
}

impl Concurrency {
    /// The table's bounds, with `overrides` (function → concurrency) in their place.
    pub fn new(overrides: &HashMap<String, u32>, throttle_wait: Duration) -> Self {
        let functions = FUNCTION_LIMITS
            .iter()
            .map(|l| {
                let bound = overrides.get(l.function).copied().unwrap_or(l.concurrency);
                (
                    l.function,
                    (bound, Arc::new(Semaphore::new(bound as usize))),
                )
            })
            .collect();
        Self {
            functions,
            throttle_wait,
        }
    }

    /// The function's bound here.
    pub fn bound(&self, function: &str) -> u32 {
        self.functions.get(function).map_or(0, |(bound, _)| *bound)
    }

    fn slot(&self, function: &str) -> (&'static str, u32, Arc<Semaphore>) {
        match self.functions.get_key_value(function) {
            Some((name, (bound, semaphore))) => (name, *bound, semaphore.clone()),
            // Not deployed, so not invocable: as Lambda answers for a function it lacks.
            None => ("unknown", 0, Arc::new(Semaphore::new(0))),
        }
    }

    /// A synchronous invocation: an instance, or throttled.
    pub async fn start_or_throttle(&self, function: &str) -> Result<Instance, Throttled> {
        let (name, concurrency, semaphore) = self.slot(function);
        let permit = match semaphore.clone().try_acquire_owned() {
            Ok(permit) => Ok(permit),
            Err(_) if !self.throttle_wait.is_zero() => {
                match tokio::time::timeout(self.throttle_wait, semaphore.acquire_owned()).await {
                    Ok(Ok(permit)) => Ok(permit),
                    _ => Err(()),
                }
            }
            Err(_) => Err(()),
        };
        permit
            .map(|permit| Instance {
                _permit: Some(permit),
            })
            .map_err(|()| {
                tracing::warn!(
                    function = name,
                    concurrency,
                    "throttled: every instance of the function is busy"
                );
                Throttled {
                    function: name,
                    concurrency,
                }
            })
    }

    /// An asynchronous or polled invocation: waits until an instance is free.
    pub async fn start(&self, function: &str) -> Instance {
        let (_, _, semaphore) = self.slot(function);
        // The semaphores are never closed, so this waits for a permit; a closed one (which
        // cannot happen) would run the invocation unbounded rather than lose it.
        Instance {
            _permit: semaphore.acquire_owned().await.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_function_runs_at_most_its_bound_and_frees_an_instance_when_one_ends() {
        let c = Concurrency::new(&HashMap::from([("search".to_owned(), 2)]), Duration::ZERO);
        assert_eq!(c.bound("search"), 2);
        assert_eq!(c.bound("seat-map"), 4, "the table's, where not overridden");
        let first = c.start_or_throttle("search").await.unwrap();
        let _second = c.start_or_throttle("search").await.unwrap();
        assert_eq!(
            c.start_or_throttle("search").await.err(),
            Some(Throttled {
                function: "search",
                concurrency: 2
            })
        );
        // Another function's instances are its own.
        let _detail = c.start_or_throttle("concert-detail").await.unwrap();
        drop(first);
        let _third = c.start_or_throttle("search").await.unwrap();
    }

    #[tokio::test]
    async fn a_bound_of_zero_throttles_every_call_and_an_unknown_function_is_not_invoked() {
        let c = Concurrency::new(&HashMap::from([("search".to_owned(), 0)]), Duration::ZERO);
        assert!(c.start_or_throttle("search").await.is_err());
        assert!(c.start_or_throttle("no-such-function").await.is_err());
    }

    #[tokio::test]
    async fn a_synchronous_invocation_waits_its_while_then_is_throttled() {
        let c = Arc::new(Concurrency::new(
            &HashMap::from([("search".to_owned(), 1)]),
            Duration::from_millis(20),
        ));
        let running = c.start_or_throttle("search").await.unwrap();
        assert!(c.start_or_throttle("search").await.is_err(), "still busy");
        let waiting = tokio::spawn({
            let c = c.clone();
            async move { c.start_or_throttle("search").await.map(drop) }
        });
        drop(running);
        assert_eq!(
            waiting.await.unwrap(),
            Ok(()),
            "the freed instance is taken"
        );
    }

    #[tokio::test]
    async fn a_queued_invocation_waits_for_the_running_one() {
        let c = Arc::new(Concurrency::new(
            &HashMap::from([("hold-expire".to_owned(), 1)]),
            Duration::ZERO,
        ));
        let running = c.start("hold-expire").await;
        let waiting = tokio::spawn({
            let c = c.clone();
            async move {
                let _instance = c.start("hold-expire").await;
            }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(running);
        waiting.await.unwrap();
    }
}
