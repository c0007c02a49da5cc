//! Start-up of a Lambda: settings, clients, the function, or a clear stop.

use std::fmt::Display;

use ticketrush_adapters::{
    config::Env,
    secrets,
    wiring::{Clients, StartupError},
};

/// Stops start-up with a readable message: a function with bad configuration must not
/// take traffic.
pub fn or_exit<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|err| {
        tracing::error!(error = %err, "{what}");
        std::process::exit(2)
    })
}

/// Everything a Lambda's `main` does before it serves: JSON logs, the environment with its
/// secrets resolved, the shared clients, and the function built by its `from_env`. Any
/// failure stops the process with the reason (the error and its sources, never a secret).
pub async fn build<F>(from_env: impl AsyncFnOnce(&Env, &Clients) -> Result<F, StartupError>) -> F {
    crate::telemetry::init();
    let env = or_exit(secrets::process_env().await, "configuration");
    let clients = Clients::from_env().await;
    or_exit(
        from_env(&env, &clients).await.map_err(error_chain),
        "start-up",
    )
}

/// `error: cause: cause`, so the log says why without a debugger.
pub fn error_chain(err: impl std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
