//! The real-shaped sample events in `events/`, as Lambda would deliver them.

use std::path::PathBuf;

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name)
}

pub fn text(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// An API Gateway HTTP API (v2) event as the request a function receives.
pub fn http_request(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&text(name))
        .unwrap_or_else(|e| panic!("events/{name} is not an HTTP API event: {e}"))
}

/// A scheduled event (EventBridge Scheduler) as a function receives it.
pub fn scheduled(name: &str) -> aws_lambda_events::event::cloudwatch_events::CloudWatchEvent {
    serde_json::from_str(&text(name))
        .unwrap_or_else(|e| panic!("events/{name} is not a scheduled event: {e}"))
}

/// A function response's JSON body.
pub fn body(resp: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).expect("a JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    }
}

/// Any event a function takes, read as its aws_lambda_events type.
pub fn typed<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&text(name))
        .unwrap_or_else(|e| panic!("events/{name} does not have the function's event shape: {e}"))
}

/// One of AWS's own example events in `events/aws/` (copied unchanged from the
/// `aws_lambda_events` crate's fixtures), with only what must be ours changed: ids, routes
/// and path parameters, query strings, the headers our functions read, bodies, and the
/// values of the authorizer's claims or context. Every other field stays as AWS wrote it,
/// and a change to a place AWS's event does not have panics, so no test invents a shape.
#[derive(Clone, Debug)]
pub struct AwsEvent {
    name: String,
    json: serde_json::Value,
}

/// `events/aws/<name>`, to be patched.
pub fn aws(name: &str) -> AwsEvent {
    let text = text(&format!("aws/{name}"));
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("events/aws/{name} is not JSON: {e}"));
    AwsEvent {
        name: name.to_owned(),
        json,
    }
}

/// An AWS example HTTP API (v2) event, patched, as the request a function receives.
pub fn aws_http(name: &str, patch: impl FnOnce(AwsEvent) -> AwsEvent) -> lambda_http::Request {
    patch(aws(name)).http()
}

/// Any AWS example event, patched, as the function's event type.
pub fn aws_typed<T: serde::de::DeserializeOwned>(
    name: &str,
    patch: impl FnOnce(AwsEvent) -> AwsEvent,
) -> T {
    patch(aws(name)).typed()
}

impl AwsEvent {
    /// The place at `pointer`, which AWS's event must have.
    fn at(&mut self, pointer: &str) -> &mut serde_json::Value {
        let name = &self.name;
        self.json
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("events/aws/{name} has no {pointer}: AWS does not send it"))
    }

    /// Sets `pointer` only where AWS's event has it.
    fn set_if_present(&mut self, pointer: &str, value: serde_json::Value) {
        if let Some(place) = self.json.pointer_mut(pointer) {
            *place = value;
        }
    }

    /// An HTTP API route: `"POST /api/options/{optionId}/seats/{seatId}/select"` and its
    /// path parameters. Sets the route key, the method, the path and `pathParameters` (left
    /// out without parameters, as API Gateway does).
    pub fn route(mut self, route_key: &str, params: &[(&str, &str)]) -> Self {
        let (method, pattern) = route_key
            .split_once(' ')
            .unwrap_or_else(|| panic!("{route_key:?} is not 'METHOD /path'"));
        let mut path = pattern.to_owned();
        for (name, value) in params {
            let slot = format!("{{{name}}}");
            assert!(path.contains(&slot), "{route_key} has no {slot}");
            path = path.replace(&slot, value);
        }
        assert!(
            !path.contains('{'),
            "{route_key}: a path parameter is missing"
        );
        *self.at("/routeKey") = route_key.into();
        *self.at("/requestContext/routeKey") = route_key.into();
        *self.at("/rawPath") = path.clone().into();
        *self.at("/requestContext/http/path") = path.into();
        *self.at("/requestContext/http/method") = method.into();
        let object = self.json.as_object_mut().expect("an event is an object");
        if params.is_empty() {
            object.remove("pathParameters");
        } else {
            object.insert("pathParameters".into(), string_map(params));
        }
        self
    }

    /// A WebSocket API route key (`subscribe`), with the event type API Gateway gives it.
    pub fn ws_route(mut self, route_key: &str) -> Self {
        let event_type = match route_key {
            "$connect" => "CONNECT",
            "$disconnect" => "DISCONNECT",
            _ => "MESSAGE",
        };
        *self.at("/requestContext/routeKey") = route_key.into();
        *self.at("/requestContext/eventType") = event_type.into();
        self
    }

    /// The query string, replacing AWS's: `queryStringParameters`, and `rawQueryString` and
    /// `multiValueQueryStringParameters` where the event has them.
    pub fn query(mut self, params: &[(&str, &str)]) -> Self {
        let raw = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.set_if_present("/rawQueryString", raw.into());
        self.set_if_present(
            "/multiValueQueryStringParameters",
            params
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::json!([v])))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        );
        let object = self.json.as_object_mut().expect("an event is an object");
        object.insert("queryStringParameters".into(), string_map(params));
        self
    }

    /// A header one of our functions reads, added to AWS's (and to `multiValueHeaders`
    /// where the event has them).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.at("/headers")
            .as_object_mut()
            .expect("headers")
            .insert(name.into(), value.into());
        if let Some(multi) = self.json.pointer_mut("/multiValueHeaders") {
            multi
                .as_object_mut()
                .expect("multiValueHeaders")
                .insert(name.into(), serde_json::json!([value]));
        }
        self
    }

    /// Our values in the JWT authorizer's claims (`requestContext.authorizer.jwt.claims`),
    /// next to AWS's.
    pub fn claims(mut self, claims: &[(&str, &str)]) -> Self {
        insert(self.at("/requestContext/authorizer/jwt/claims"), claims);
        self
    }

    /// Our values in a Lambda authorizer's context, next to AWS's: under
    /// `requestContext.authorizer.lambda` in an HTTP API event, in `requestContext.authorizer`
    /// itself in a WebSocket event.
    pub fn context(mut self, context: &[(&str, &str)]) -> Self {
        let pointer = if self
            .json
            .pointer("/requestContext/authorizer/lambda")
            .is_some()
        {
            "/requestContext/authorizer/lambda"
        } else {
            "/requestContext/authorizer"
        };
        insert(self.at(pointer), context);
        self
    }

    /// The body: this JSON's text (`serde_json`'s, so a signer can reproduce the bytes).
    pub fn body(mut self, body: &serde_json::Value) -> Self {
        assert_ne!(
            self.json.get("isBase64Encoded"),
            Some(&true.into()),
            "events/aws/{}: a text body",
            self.name
        );
        let text = body.to_string();
        // API Gateway's content-length is the body's.
        self.set_if_present("/headers/content-length", text.len().to_string().into());
        let object = self.json.as_object_mut().expect("an event is an object");
        object.insert("body".into(), text.into());
        self
    }

    /// The WebSocket connection id (`requestContext.connectionId`).
    pub fn connection(mut self, id: &str) -> Self {
        *self.at("/requestContext/connectionId") = id.into();
        self
    }

    /// An SQS batch of `(messageId, body)`: each record is AWS's first with those two ours.
    pub fn messages(mut self, messages: &[(&str, &str)]) -> Self {
        let template = self.at("/Records/0").clone();
        let records = messages
            .iter()
            .map(|(id, body)| {
                let mut record = template.clone();
                record["messageId"] = (*id).into();
                record["body"] = (*body).into();
                record
            })
            .collect::<Vec<_>>();
        *self.at("/Records") = records.into();
        self
    }

    /// A CloudFormation custom resource request's presigned `ResponseURL`.
    pub fn response_url(mut self, url: &str) -> Self {
        *self.at("/ResponseURL") = url.into();
        self
    }

    /// The event as JSON.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }

    /// The event as the request an HTTP API function receives.
    pub fn http(self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.json.to_string())
            .unwrap_or_else(|e| panic!("events/aws/{} is not an HTTP API event: {e}", self.name))
    }

    /// The event as the function's event type.
    pub fn typed<T: serde::de::DeserializeOwned>(self) -> T {
        serde_json::from_value(self.json).unwrap_or_else(|e| {
            panic!(
                "events/aws/{} does not have the function's event shape: {e}",
                self.name
            )
        })
    }
}

fn string_map(pairs: &[(&str, &str)]) -> serde_json::Value {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn insert(place: &mut serde_json::Value, pairs: &[(&str, &str)]) {
    let map = place
        .as_object_mut()
        .expect("claims and contexts are objects");
    for (k, v) in pairs {
        map.insert(k.to_string(), (*v).into());
    }
}

/// Percent-encoding for a query string (unreserved characters and `,` stay as they are).
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
