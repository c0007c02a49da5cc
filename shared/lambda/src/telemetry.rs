use tracing_subscriber::{EnvFilter, fmt};

/// JSON logs on Lambda (or with LOG_FORMAT=json), readable lines elsewhere.
/// The level comes from RUST_LOG, default `info`.
pub fn init() {
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let json = match std::env::var("LOG_FORMAT").ok().as_deref() {
        Some("json") => true,
        Some("text") => false,
        _ => on_lambda,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    // A second init (tests, the local runtime hosting many functions) is harmless.
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .without_time()
            .try_init()
    } else {
        builder.compact().try_init()
    };
}

tokio::task_local! {
    /// The function serving the current invocation, for records made deep in a call
    /// (a store error mapped to a problem).
    static FUNCTION: &'static str;
}

/// A boxed invocation: the handlers' futures are deep, and nesting them further without
/// erasing the type overflows the compiler's layout depth.
pub type Invocation<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Runs one invocation of `function` inside a span carrying its ids, so every log line of
/// the invocation names the API Gateway request (and the WebSocket connection).
pub fn in_invocation<'a, F>(
    function: &'static str,
    request_id: Option<&str>,
    connection_id: Option<&str>,
    work: F,
) -> Invocation<'a, F::Output>
where
    F: std::future::Future + Send + 'a,
{
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        "invocation",
        function,
        request_id = request_id.unwrap_or(""),
        connection_id
    );
    Box::pin(FUNCTION.scope(function, work.instrument(span)))
}

/// The function of the invocation this task serves, if inside `in_invocation`.
pub fn current_function() -> Option<&'static str> {
    FUNCTION.try_with(|f| *f).ok()
}

/// `in_invocation` for a WebSocket route: the request id and the connection id.
pub fn in_ws_invocation<'a, F>(
    function: &'static str,
    event: &aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest,
    work: F,
) -> Invocation<'a, F::Output>
where
    F: std::future::Future + Send + 'a,
{
    let context = &event.request_context;
    in_invocation(
        function,
        context.request_id.as_deref(),
        context.connection_id.as_deref(),
        work,
    )
}
