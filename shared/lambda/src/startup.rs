use std::fmt::Display;

/// Stops start-up with a readable message: a function with bad configuration must not
/// take traffic.
pub fn or_exit<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|err| {
        tracing::error!(error = %err, "{what}");
        std::process::exit(2)
    })
}
