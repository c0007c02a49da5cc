//! The HTTP API's routes: the one table that the local runtime serves and the AWS
//! template must match.

/// What a route asks of the caller's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous callers are welcome; a token, if sent, must be valid and shapes the view.
    Optional,
    /// A valid token is needed.
    Required,
    /// No token: the caller proves itself by signing the body (the payment gateway's webhook).
    Signed,
}

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

/// The scheduled functions and how often each runs.
/// Locally each runs at its configured tick instead.
pub const SCHEDULES: &[Schedule] = &[
    Schedule {
        function: "queue-activate",
        aws_expression: "rate(1 minute)",
    },
    Schedule {
        function: "hold-expire",
        aws_expression: "rate(1 minute)",
    },
    // Each minute as a safety net; the deployment also schedules a one-time run at each
    // sale-open instant, so a card flips to OPEN on the second.
    Schedule {
        function: "sale-status-tick",
        aws_expression: "rate(1 minute)",
    },
];

/// A WebSocket API route: the route key (`$request.body.action`) and its function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsRoute {
    pub route_key: &'static str,
    pub function: &'static str,
}

/// The `$connect` authorizer (a REQUEST authorizer reading `?token=`).
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
    /// The EventBridge Scheduler expression in AWS.
    pub aws_expression: &'static str,
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
