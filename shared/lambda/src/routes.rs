//! The HTTP API's routes: the one table that the local runtime serves and the AWS
//! template must match.

use std::time::Duration;

/// What a route asks of the caller's token, and so which authorizer API Gateway runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous callers are welcome; a token, if sent, must be valid and shapes the view.
    /// [`HTTP_AUTHORIZER`] decides (a Lambda authorizer: the JWT authorizer refuses anonymous
    /// callers, and no authorizer would pass no identity).
    Optional,
    /// A valid token is needed: the HttpApi's JWT authorizer.
    Required,
    /// No token and no authorizer: the caller proves itself by signing the body (the payment
    /// gateway's webhook).
    Signed,
}

/// A Lambda REQUEST authorizer as the template declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LambdaAuthorizer {
    /// The function crate that decides.
    pub function: &'static str,
    /// API Gateway calls the function only when every one of these is present and non-empty;
    /// otherwise it answers 401 without calling it.
    pub identity_source: &'static [&'static str],
}

/// A request value an identity source names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityValue<'a> {
    Header(&'a str),
    QueryString(&'a str),
}

impl IdentityValue<'static> {
    /// `route.request.header.Host` (WebSocket APIs) or `$request.header.Host` (HTTP APIs);
    /// `None` for the stage-variable and context sources, which nothing here declares.
    pub fn parse(expression: &'static str) -> Option<Self> {
        let rest = expression
            .strip_prefix("route.request.")
            .or_else(|| expression.strip_prefix("$request."))?;
        if let Some(name) = rest.strip_prefix("header.") {
            Some(Self::Header(name))
        } else {
            rest.strip_prefix("querystring.").map(Self::QueryString)
        }
    }
}

impl LambdaAuthorizer {
    /// Whether a request carries every identity source, as API Gateway checks before calling
    /// the function. `value` looks a header or query parameter up in the request.
    pub fn identity_present<'r>(
        &self,
        value: impl Fn(IdentityValue<'static>) -> Option<&'r str>,
    ) -> bool {
        self.identity_source.iter().all(|expression| {
            IdentityValue::parse(expression)
                .and_then(&value)
                .is_some_and(|v| !v.is_empty())
        })
    }
}

/// The `$connect` authorizer. Its identity source is one every handshake carries (HTTP/1.1
/// requires `Host`), so API Gateway always calls it and anonymous viewers connect; the
/// function itself reads the optional `?token=`.
pub const WS_CONNECT_AUTHORIZER: LambdaAuthorizer = LambdaAuthorizer {
    function: WS_AUTHORIZER,
    identity_source: &["route.request.header.Host"],
};

/// The HttpApi's authorizer for [`Auth::Optional`] routes: no identity source, so it is
/// called for every request, token or not (and nothing is cached).
pub const HTTP_AUTHORIZER: LambdaAuthorizer = LambdaAuthorizer {
    function: "http-authorize",
    identity_source: &[],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRoute {
    pub method: &'static str,
    /// API Gateway route syntax: `/api/concerts/{id}`.
    pub path: &'static str,
    /// The function crate (and binary) that handles it.
    pub function: &'static str,
    pub auth: Auth,
}

impl HttpRoute {
    /// `GET /api/concerts/{id}`, as API Gateway writes a route key.
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters if `path` matches this route's pattern.
    pub fn match_path<'p>(&self, path: &'p str) -> Option<Vec<(&'static str, &'p str)>> {
        let mut params = Vec::new();
        let mut pattern = self.path.split('/');
        let mut actual = path.split('/');
        loop {
            match (pattern.next(), actual.next()) {
                (None, None) => return Some(params),
                (Some(p), Some(a)) => {
                    if let Some(name) = p.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                        if a.is_empty() {
                            return None;
                        }
                        params.push((name, a));
                    } else if p != a {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }
}

pub const HTTP_ROUTES: &[HttpRoute] = &[
    HttpRoute {
        method: "GET",
        path: "/api/concerts/search",
        function: "search",
        auth: Auth::Optional,
    },
    HttpRoute {
        method: "GET",
        path: "/api/concerts/{id}",
        function: "concert-detail",
        auth: Auth::Optional,
    },
    HttpRoute {
        method: "GET",
        path: "/api/options/{id}/seats",
        function: "seat-map",
        auth: Auth::Optional,
    },
    HttpRoute {
        method: "POST",
        path: "/api/options/{optionId}/seats/{seatId}/select",
        function: "seat-select",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "DELETE",
        path: "/api/options/{optionId}/seats/{seatId}/select",
        function: "seat-release",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "POST",
        path: "/api/holds",
        function: "hold-confirm",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "GET",
        path: "/api/reservations/{id}",
        function: "reservations",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "GET",
        path: "/api/me/reservations",
        function: "reservations",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "POST",
        path: "/api/reservations/{id}/pay",
        function: "reservations",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "POST",
        path: "/api/reservations/{id}/confirm",
        function: "reservations",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "POST",
        path: "/api/reservations/{id}/cancel",
        function: "reservations",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "POST",
        path: "/api/reservations/{id}/refund",
        function: "reservations",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "POST",
        path: "/api/payments/webhook",
        function: "payment-webhook",
        auth: Auth::Signed,
    },
    HttpRoute {
        method: "GET",
        path: "/api/concerts/{id}/sales-policy",
        function: "admin-sales-policy",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "PUT",
        path: "/api/concerts/{id}/sales-policy",
        function: "admin-sales-policy",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "POST",
        path: "/api/queue/{concertId}/join",
        function: "queue-join",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "GET",
        path: "/api/queue/{concertId}/status",
        function: "queue-status",
        auth: Auth::Required,
    },
    HttpRoute {
        method: "DELETE",
        path: "/api/queue/{concertId}",
        function: "queue-leave",
        auth: Auth::Required,
    },
];

/// The admission tick's schedule.
pub const QUEUE_ACTIVATE_SCHEDULE: Schedule = Schedule {
    function: "queue-activate",
    aws_expression: "rate(1 minute)",
    period: Duration::from_secs(60),
};

/// The hold-expiry tick's schedule.
pub const HOLD_EXPIRE_SCHEDULE: Schedule = Schedule {
    function: "hold-expire",
    aws_expression: "rate(1 minute)",
    period: Duration::from_secs(60),
};

/// The sale-status tick's schedule.
pub const SALE_STATUS_TICK_SCHEDULE: Schedule = Schedule {
    function: "sale-status-tick",
    aws_expression: "rate(1 minute)",
    period: Duration::from_secs(60),
};

/// The scheduled functions and how often each is invoked, in AWS and locally alike. Each
/// invocation runs its period's ticks itself (`ticketrush_lambda::ticks`), so the tick
/// period can be shorter than anything EventBridge Scheduler offers.
pub const SCHEDULES: &[Schedule] = &[
    QUEUE_ACTIVATE_SCHEDULE,
    HOLD_EXPIRE_SCHEDULE,
    SALE_STATUS_TICK_SCHEDULE,
];

/// A scheduled function's timeout is its schedule's period plus this: room for a late start
/// and the last tick.
pub const SCHEDULED_TIMEOUT_MARGIN: Duration = Duration::from_secs(15);

/// A WebSocket API route: the route key (`$request.body.action`) and its function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsRoute {
    pub route_key: &'static str,
    pub function: &'static str,
}

/// The `$connect` authorizer's function (a REQUEST authorizer reading `?token=`).
pub const WS_AUTHORIZER: &str = "ws-authorize";

/// The WebSocket API's routes: the one table the local runtime serves and the AWS template
/// must match.
pub const WS_ROUTES: &[WsRoute] = &[
    WsRoute {
        route_key: "$connect",
        function: "ws-connect",
    },
    WsRoute {
        route_key: "$disconnect",
        function: "ws-disconnect",
    },
    WsRoute {
        route_key: "subscribe",
        function: "ws-message",
    },
    WsRoute {
        route_key: "unsubscribe",
        function: "ws-message",
    },
    WsRoute {
        route_key: "ping",
        function: "ws-message",
    },
    WsRoute {
        route_key: "$default",
        function: "ws-message",
    },
];

/// The route API Gateway picks for a client message: its `action`, if a route has that key,
/// else `$default`.
pub fn ws_route_key(body: &str) -> &'static str {
    let action = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_owned));
    WS_ROUTES
        .iter()
        .filter(|r| !r.route_key.starts_with('$'))
        .find(|r| action.as_deref() == Some(r.route_key))
        .map_or("$default", |r| r.route_key)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub function: &'static str,
    /// The EventBridge Scheduler expression (`ScheduleExpression` in the template).
    pub aws_expression: &'static str,
    /// How often the expression fires: what one invocation covers.
    pub period: Duration,
}

impl Schedule {
    /// The function's timeout (`Timeout` in the template), and the deadline the local runtime
    /// gives each invocation.
    pub fn timeout(&self) -> Duration {
        self.period + SCHEDULED_TIMEOUT_MARGIN
    }

    /// The schedule's name in EventBridge Scheduler (the template's `Name`).
    pub fn name(&self, stack: &str) -> String {
        format!("{stack}-{}", self.function)
    }
}

/// The period of a `rate(N unit)` expression; None for anything else.
pub fn rate_period(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.split_once(' ')?;
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let unit_secs = match unit {
        "minute" if n == 1 => 60,
        "minutes" if n > 1 => 60,
        "hour" if n == 1 => 3_600,
        "hours" if n > 1 => 3_600,
        "day" if n == 1 => 86_400,
        "days" if n > 1 => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n * unit_secs))
}

/// The function the push queue triggers (an SQS event source with partial batch failures).
pub const PUSH_QUEUE_CONSUMER: &str = "push-dispatch";

/// The route for a request, and its path parameters. Literal segments win over
/// parameters, so `/api/concerts/search` never reaches `/api/concerts/{id}`.
pub fn find_route<'p>(
    method: &str,
    path: &'p str,
) -> Option<(&'static HttpRoute, Vec<(&'static str, &'p str)>)> {
    let mut best: Option<(&'static HttpRoute, Vec<(&'static str, &'p str)>)> = None;
    for route in HTTP_ROUTES.iter().filter(|r| r.method == method) {
        if let Some(params) = route.match_path(path)
            && best.as_ref().is_none_or(|(_, p)| params.len() < p.len())
        {
            best = Some((route, params));
        }
    }
    best
}

/// Whether any route serves this path with another method (for 405 rather than 404).
pub fn path_exists(path: &str) -> bool {
    HTTP_ROUTES.iter().any(|r| r.match_path(path).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_schedule_period_is_its_expression_and_its_timeout_leaves_a_margin() {
        assert_eq!(rate_period("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(
            rate_period("rate(5 minutes)"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            rate_period("rate(1 minutes)"),
            None,
            "EventBridge wants the singular"
        );
        assert_eq!(rate_period("cron(* * * * ? *)"), None);
        for s in SCHEDULES {
            assert_eq!(
                rate_period(s.aws_expression),
                Some(s.period),
                "{}",
                s.function
            );
            assert!(s.timeout() > s.period, "{}", s.function);
        }
        assert_eq!(
            QUEUE_ACTIVATE_SCHEDULE.name("ticketrush"),
            "ticketrush-queue-activate"
        );
    }

    #[test]
    fn literal_segments_win() {
        let (route, params) = find_route("GET", "/api/concerts/search").unwrap();
        assert_eq!(route.function, "search");
        assert!(params.is_empty());
        let (route, params) = find_route("GET", "/api/concerts/42").unwrap();
        assert_eq!(route.function, "concert-detail");
        assert_eq!(params, vec![("id", "42")]);
        assert!(find_route("GET", "/api/concerts/").is_none());
        assert!(find_route("POST", "/api/concerts/search").is_none());
        assert!(path_exists("/api/concerts/search"));
    }

    #[test]
    fn identity_sources_are_checked_as_api_gateway_checks_them() {
        assert_eq!(
            IdentityValue::parse("route.request.querystring.token"),
            Some(IdentityValue::QueryString("token"))
        );
        assert_eq!(
            IdentityValue::parse("$request.header.Authorization"),
            Some(IdentityValue::Header("Authorization"))
        );
        assert_eq!(IdentityValue::parse("stageVariables.x"), None);
        let host = |present: Option<&'static str>| {
            move |v: IdentityValue<'static>| match v {
                IdentityValue::Header("Host") => present,
                _ => None,
            }
        };
        assert!(WS_CONNECT_AUTHORIZER.identity_present(host(Some("h"))));
        assert!(!WS_CONNECT_AUTHORIZER.identity_present(host(Some(""))));
        assert!(!WS_CONNECT_AUTHORIZER.identity_present(host(None)));
        // None declared: every request reaches the function.
        assert!(HTTP_AUTHORIZER.identity_present(host(None)));
        let unreadable = LambdaAuthorizer {
            function: "x",
            identity_source: &["context.requestId"],
        };
        assert!(!unreadable.identity_present(host(Some("h"))));
    }

    #[test]
    fn ws_messages_route_by_action() {
        assert_eq!(ws_route_key(r#"{"action":"ping"}"#), "ping");
        assert_eq!(
            ws_route_key(r#"{"action":"subscribe","topic":"x"}"#),
            "subscribe"
        );
        assert_eq!(ws_route_key(r#"{"action":"$connect"}"#), "$default");
        assert_eq!(ws_route_key("garbage"), "$default");
    }
}
