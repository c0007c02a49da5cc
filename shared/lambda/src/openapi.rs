//! The HTTP API's OpenAPI 3.1 description, assembled from the route table ([`HTTP_ROUTES`]:
//! paths, methods, who may call) and the types the handlers read and answer (their
//! `ToSchema` derives). `ticketrush-local openapi` prints it; `infra/openapi.json` is that
//! output, and a test keeps the two equal.

use utoipa::{
    ToSchema,
    openapi::{
        Components, ComponentsBuilder, Content, ContentBuilder, HttpMethod, InfoBuilder, OpenApi,
        OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr, Required, ResponseBuilder,
        ResponsesBuilder, Schema,
        header::HeaderBuilder,
        path::{OperationBuilder, Parameter, ParameterBuilder, ParameterIn},
        request_body::RequestBodyBuilder,
        schema::{AllOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

use ticketrush_core::{
    catalog::{ConcertDetail, SearchQuery, SeatMap, SeatPage},
    queue::QueueView,
    reservations::{Page, Reservation},
    sale::{PolicyRequest, SaleStatus},
    seats::{ReleasedSeat, SelectedSeat},
};

use crate::{
    problem::Problem,
    request::MAX_JSON_BODY_BYTES,
    routes::{Auth, HTTP_ROUTES, HttpRoute},
    wire::{
        ConfirmBody, HoldBody, RefundBody, ReservationList, SearchResponse, SelectBody, WebhookAck,
        WebhookBody,
    },
};

/// The bearer JWT security scheme's name.
pub const BEARER: &str = "bearerJwt";
/// The content type of every error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One route's operation: what the handler reads and what it can answer.
struct Operation {
    route_key: &'static str,
    id: &'static str,
    summary: &'static str,
    parameters: Vec<Parameter>,
    body: Option<Body>,
    /// Success statuses with their description and body schema.
    ok: Vec<(u16, &'static str, RefOr<Schema>)>,
    /// Error statuses this route's own rules answer, with their codes. The ones every route
    /// of its kind can answer (validation, authentication, size, unavailability) are added.
    errors: &'static [(u16, &'static [&'static str])],
}

struct Body {
    schema: RefOr<Schema>,
    required: bool,
}

/// The schemas the document names, collected as operations use them.
#[derive(Default)]
struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    /// A reference to `T`'s schema, which (with every schema it refers to) joins the components.
    fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().into_owned();
        if !self.0.iter().any(|(n, _)| *n == name) {
            self.0.push((name.clone(), T::schema()));
            T::schemas(&mut self.0);
        }
        Ref::from_schema_name(name).into()
    }
}

fn integer(min: i64, max: Option<i64>, default: Option<i64>) -> Schema {
    let mut b = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min));
    if let Some(max) = max {
        b = b.maximum(Some(max));
    }
    if let Some(default) = default {
        b = b.default(Some(default.into()));
    }
    b.into()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn param(name: &str, at: ParameterIn, required: bool, schema: Schema, doc: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(at)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(doc))
        .schema(Some(schema))
        .build()
}

/// A positive integer id in the path (`ConcertId::parse` and its kin).
fn id_path(name: &str, doc: &str) -> Parameter {
    let schema = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .into();
    param(name, ParameterIn::Path, true, schema, doc)
}

fn reservation_path() -> Parameter {
    let schema = string()
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .pattern(Some(
            "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
        ))
        .into();
    param(
        "id",
        ParameterIn::Path,
        true,
        schema,
        "the reservation id (a UUID)",
    )
}

/// `page` and `size`, as `bounded_integer` checks them.
fn paging(max_page: u32, default_size: u32, max_size: u32) -> [Parameter; 2] {
    [
        param(
            "page",
            ParameterIn::Query,
            false,
            integer(0, Some(max_page.into()), Some(0)),
            "page number, from 0",
        ),
        param(
            "size",
            ParameterIn::Query,
            false,
            integer(1, Some(max_size.into()), Some(default_size.into())),
            "items per page",
        ),
    ]
}

fn search_parameters() -> Vec<Parameter> {
    let text = || string().max_length(Some(SearchQuery::MAX_TEXT)).into();
    let instant = || {
        string()
            .description(Some("RFC 3339 instant or YYYY-MM-DD (midnight UTC)"))
            .into()
    };
    let sorts: Vec<String> = ["saleOpensAt", "startsAt", "title"]
        .iter()
        .flat_map(|k| [k.to_string(), format!("{k},asc"), format!("{k},desc")])
        .collect();
    let statuses: Vec<&str> = SaleStatus::ALL.iter().map(|s| s.as_str()).collect();
    let mut params = vec![
        param(
            "q",
            ParameterIn::Query,
            false,
            text(),
            "a substring of the title or the artist",
        ),
        param(
            "venue",
            ParameterIn::Query,
            false,
            text(),
            "a substring of the venue",
        ),
        param(
            "status",
            ParameterIn::Query,
            false,
            string().enum_values(Some(statuses)).into(),
            "the sale status as this caller sees it",
        ),
        param(
            "from",
            ParameterIn::Query,
            false,
            instant(),
            "some performance starts at or after",
        ),
        param(
            "to",
            ParameterIn::Query,
            false,
            instant(),
            "some performance starts before (not before from)",
        ),
        param(
            "sort",
            ParameterIn::Query,
            false,
            string()
                .enum_values(Some(sorts))
                .default(Some("saleOpensAt,asc".into()))
                .into(),
            "order",
        ),
    ];
    params.extend(paging(
        SearchQuery::MAX_PAGE,
        SearchQuery::DEFAULT_SIZE,
        SearchQuery::MAX_SIZE,
    ));
    params
}

const NOT_FOUND: (u16, &[&str]) = (404, &["NOT_FOUND"]);
const LIFECYCLE_CONFLICT: &[&str] = &["ILLEGAL_TRANSITION", "HOLD_EXPIRED"];

fn operations(s: &mut Schemas) -> Vec<Operation> {
    let concert_id = || id_path("id", "the concert id");
    let queue_concert = || id_path("concertId", "the concert id");
    let seat_params = || {
        vec![
            id_path("optionId", "the performance id"),
            id_path("seatId", "the seat id"),
        ]
    };
    let reservation = s.of::<Reservation>();
    let queue_view = s.of::<QueueView>();
    let policy = s.of::<PolicyRequest>();
    vec![
        Operation {
            route_key: "GET /api/concerts/search",
            id: "searchConcerts",
            summary: "Search concerts: a page of live cards",
            parameters: search_parameters(),
            body: None,
            ok: vec![(200, "a page of cards", s.of::<SearchResponse>())],
            errors: &[],
        },
        Operation {
            route_key: "GET /api/concerts/{id}",
            id: "getConcert",
            summary: "A concert's card, sales policy and performances",
            parameters: vec![concert_id()],
            body: None,
            ok: vec![(200, "the concert", s.of::<ConcertDetail>())],
            errors: &[NOT_FOUND],
        },
        Operation {
            route_key: "GET /api/options/{id}/seats",
            id: "getSeatMap",
            summary: "A page of a performance's seats, live soft locks shown as SELECTING",
            parameters: {
                let mut p = vec![id_path("id", "the performance id")];
                p.extend(paging(
                    SeatPage::MAX_PAGE,
                    SeatPage::DEFAULT_SIZE,
                    SeatPage::MAX_SIZE,
                ));
                p
            },
            body: None,
            ok: vec![(200, "a page of seats", s.of::<SeatMap>())],
            errors: &[NOT_FOUND],
        },
        Operation {
            route_key: "POST /api/options/{optionId}/seats/{seatId}/select",
            id: "selectSeat",
            summary: "Select a seat: a soft lock for the caller",
            parameters: {
                let mut p = seat_params();
                p.push(param(
                    "X-Queue-Token",
                    ParameterIn::Header,
                    false,
                    string().pattern(Some("^[A-Za-z0-9._-]{1,64}$")).into(),
                    "the waiting room's admission token; required on a queue-gated sale",
                ));
                p
            },
            body: Some(Body {
                schema: s.of::<SelectBody>(),
                required: true,
            }),
            ok: vec![(
                200,
                "the seat is the caller's for a while",
                s.of::<SelectedSeat>(),
            )],
            errors: &[
                (403, &["QUEUE_TOKEN_REQUIRED"]),
                NOT_FOUND,
                (
                    409,
                    &[
                        "SALE_NOT_OPEN",
                        "SEAT_ALREADY_SELECTED",
                        "SEAT_UNAVAILABLE",
                        "LIMIT_EXCEEDED",
                    ],
                ),
            ],
        },
        Operation {
            route_key: "DELETE /api/options/{optionId}/seats/{seatId}/select",
            id: "releaseSeat",
            summary: "Release the caller's selection of a seat",
            parameters: seat_params(),
            body: None,
            ok: vec![(200, "released", s.of::<ReleasedSeat>())],
            errors: &[(403, &["NOT_SEAT_OWNER"])],
        },
        Operation {
            route_key: "POST /api/holds",
            id: "holdSeats",
            summary: "Hold the caller's selected seats: a reservation",
            parameters: vec![param(
                "X-Device-Fingerprint",
                ParameterIn::Header,
                false,
                string()
                    .min_length(Some(1))
                    .max_length(Some(128))
                    .pattern(Some("^[!-~]+$"))
                    .into(),
                "the client device; one buyer's at a time",
            )],
            body: Some(Body {
                schema: s.of::<HoldBody>(),
                required: true,
            }),
            ok: vec![
                (201, "held", reservation.clone()),
                (
                    200,
                    "the same request again: its reservation",
                    reservation.clone(),
                ),
            ],
            errors: &[
                (403, &["DEVICE_SHARED"]),
                NOT_FOUND,
                (
                    409,
                    &[
                        "SEAT_NOT_SELECTED",
                        "LIMIT_EXCEEDED",
                        "SEAT_UNAVAILABLE",
                        "SALE_NOT_OPEN",
                        "DUPLICATE_REQUEST",
                    ],
                ),
                (422, &["IDEMPOTENCY_KEY_REUSED"]),
                (429, &["RATE_LIMITED"]),
            ],
        },
        Operation {
            route_key: "GET /api/reservations/{id}",
            id: "getReservation",
            summary: "A reservation: the owner's, or any for an admin",
            parameters: vec![reservation_path()],
            body: None,
            ok: vec![(200, "the reservation", reservation.clone())],
            errors: &[NOT_FOUND],
        },
        Operation {
            route_key: "GET /api/me/reservations",
            id: "listMyReservations",
            summary: "The caller's reservations, newest first",
            parameters: {
                let statuses = [
                    "HOLD",
                    "PAYING",
                    "CONFIRMED",
                    "CANCELLED",
                    "REFUNDED",
                    "EXPIRED",
                ];
                let mut p = vec![param(
                    "status",
                    ParameterIn::Query,
                    false,
                    string().enum_values(Some(statuses)).into(),
                    "only reservations in this status",
                )];
                p.extend(paging(Page::MAX_PAGE, Page::DEFAULT_SIZE, Page::MAX_SIZE));
                p
            },
            body: None,
            ok: vec![(200, "a page of reservations", s.of::<ReservationList>())],
            errors: &[],
        },
        Operation {
            route_key: "POST /api/reservations/{id}/pay",
            id: "payReservation",
            summary: "Start paying: HOLD to PAYING",
            parameters: vec![reservation_path()],
            body: None,
            ok: vec![(200, "paying", reservation.clone())],
            errors: &[NOT_FOUND, (409, LIFECYCLE_CONFLICT)],
        },
        Operation {
            route_key: "POST /api/reservations/{id}/confirm",
            id: "confirmReservation",
            summary: "Charge through the payment gateway: PAYING to CONFIRMED",
            parameters: vec![reservation_path()],
            body: Some(Body {
                schema: s.of::<ConfirmBody>(),
                required: true,
            }),
            ok: vec![
                (200, "confirmed", reservation.clone()),
                (
                    202,
                    "the gateway has not answered: still PAYING, settled by webhook",
                    reservation.clone(),
                ),
            ],
            errors: &[
                (402, &["PAYMENT_DECLINED"]),
                NOT_FOUND,
                (
                    409,
                    &[
                        "ILLEGAL_TRANSITION",
                        "HOLD_EXPIRED",
                        "PAYMENT_IN_PROGRESS",
                        "PAYMENT_REFUNDED",
                    ],
                ),
            ],
        },
        Operation {
            route_key: "POST /api/reservations/{id}/cancel",
            id: "cancelReservation",
            summary: "Cancel: HOLD or CONFIRMED to CANCELLED, the seats back on sale",
            parameters: vec![reservation_path()],
            body: None,
            ok: vec![(200, "cancelled", reservation.clone())],
            errors: &[NOT_FOUND, (409, LIFECYCLE_CONFLICT)],
        },
        Operation {
            route_key: "POST /api/reservations/{id}/refund",
            id: "refundReservation",
            summary: "Refund a paid reservation before the cutoff (admins: past it, with a reason)",
            parameters: vec![reservation_path()],
            body: Some(Body {
                schema: s.of::<RefundBody>(),
                required: false,
            }),
            ok: vec![(200, "refunded", reservation.clone())],
            errors: &[
                (403, &["FORBIDDEN"]),
                NOT_FOUND,
                (
                    409,
                    &[
                        "ILLEGAL_TRANSITION",
                        "HOLD_EXPIRED",
                        "NOT_PAID",
                        "REFUND_WINDOW_CLOSED",
                    ],
                ),
            ],
        },
        Operation {
            route_key: "POST /api/payments/webhook",
            id: "paymentWebhook",
            summary: "The payment gateway's signed notice of a payment's outcome",
            parameters: vec![param(
                "Ticketrush-Signature",
                ParameterIn::Header,
                true,
                string()
                    .pattern(Some("^t=[0-9]+,v1=[A-Za-z0-9_-]+$"))
                    .into(),
                "t={unix seconds},v1={base64url HMAC-SHA256 of \"{t}.{body}\"}",
            )],
            body: Some(Body {
                schema: s.of::<WebhookBody>(),
                required: true,
            }),
            ok: vec![(200, "acknowledged", s.of::<WebhookAck>())],
            errors: &[
                (400, &["WEBHOOK_STALE"]),
                (401, &["WEBHOOK_SIGNATURE_INVALID"]),
                NOT_FOUND,
            ],
        },
        Operation {
            route_key: "GET /api/concerts/{id}/sales-policy",
            id: "getSalesPolicy",
            summary: "A concert's sales policy (admins)",
            parameters: vec![concert_id()],
            body: None,
            ok: vec![(200, "the policy, as PUT accepts it back", policy.clone())],
            errors: &[(403, &["FORBIDDEN"]), NOT_FOUND],
        },
        Operation {
            route_key: "PUT /api/concerts/{id}/sales-policy",
            id: "putSalesPolicy",
            summary: "Set a concert's sales policy (admins); every screen hears of it",
            parameters: vec![concert_id()],
            body: Some(Body {
                schema: policy.clone(),
                required: true,
            }),
            ok: vec![(200, "the policy as saved", policy)],
            errors: &[(403, &["FORBIDDEN"]), NOT_FOUND],
        },
        Operation {
            route_key: "POST /api/queue/{concertId}/join",
            id: "joinQueue",
            summary: "Enter the waiting room (idempotent)",
            parameters: vec![queue_concert()],
            body: None,
            ok: vec![(200, "the caller's place", queue_view.clone())],
            errors: &[
                NOT_FOUND,
                (409, &["SALE_NOT_OPEN", "SALE_CLOSED"]),
                (429, &["QUEUE_FULL", "RATE_LIMITED"]),
            ],
        },
        Operation {
            route_key: "GET /api/queue/{concertId}/status",
            id: "queueStatus",
            summary: "The caller's place in the waiting room (NOT_IN_QUEUE if absent)",
            parameters: vec![queue_concert()],
            body: None,
            ok: vec![(200, "the caller's place", queue_view.clone())],
            errors: &[],
        },
        Operation {
            route_key: "DELETE /api/queue/{concertId}",
            id: "leaveQueue",
            summary: "Give up the place in the waiting room",
            parameters: vec![queue_concert()],
            body: None,
            ok: vec![(200, "gone from the line", queue_view)],
            errors: &[],
        },
    ]
}

/// The error statuses a route answers: its own, and those of every route of its kind.
fn error_codes(route: &HttpRoute, op: &Operation) -> Vec<(u16, Vec<&'static str>)> {
    let mut all: Vec<(u16, Vec<&'static str>)> = Vec::new();
    let mut add =
        |status: u16, codes: &[&'static str]| match all.iter_mut().find(|(s, _)| *s == status) {
            Some((_, existing)) => {
                for c in codes {
                    if !existing.contains(c) {
                        existing.push(c);
                    }
                }
            }
            None => all.push((status, codes.to_vec())),
        };
    add(400, &["VALIDATION_FAILED"]);
    match route.auth {
        // The JWT authorizer refuses a missing or bad token.
        Auth::Required => add(401, &["UNAUTHORIZED"]),
        // The Lambda authorizer refuses a bad token; none is welcome.
        Auth::Optional => add(403, &["FORBIDDEN"]),
        Auth::Signed => {}
    }
    if op.body.is_some() {
        add(413, &["PAYLOAD_TOO_LARGE"]);
    }
    for (status, codes) in op.errors {
        add(*status, codes);
    }
    add(503, &["UNAVAILABLE"]);
    all.sort_by_key(|(s, _)| *s);
    all
}

fn problem_content(codes: &[&'static str]) -> Content {
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name(Problem::name()))
        .item(
            ObjectBuilder::new()
                .property("code", string().enum_values(Some(codes.to_vec())))
                .required("code"),
        );
    ContentBuilder::new().schema(Some(schema)).build()
}

fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(integer(1, None, None))
        .description(Some("seconds to wait before trying again"))
        .build()
}

fn operation(route: &HttpRoute, op: Operation) -> utoipa::openapi::path::Operation {
    let mut responses = ResponsesBuilder::new();
    for (status, description, schema) in &op.ok {
        responses = responses.response(
            status.to_string(),
            ResponseBuilder::new().description(*description).content(
                "application/json",
                ContentBuilder::new().schema(Some(schema.clone())).build(),
            ),
        );
    }
    for (status, codes) in error_codes(route, &op) {
        let mut response = ResponseBuilder::new()
            .description(format!("problem: {}", codes.join(", ")))
            .content(PROBLEM_JSON, problem_content(&codes));
        if status == 429 || status == 503 {
            response = response.header("Retry-After", retry_after());
        }
        responses = responses.response(status.to_string(), response);
    }
    let security = match route.auth {
        Auth::Required => vec![SecurityRequirement::new(BEARER, Vec::<String>::new())],
        Auth::Optional => vec![
            SecurityRequirement::default(),
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
        ],
        Auth::Signed => Vec::new(),
    };
    let mut b = OperationBuilder::new()
        .operation_id(Some(op.id))
        .summary(Some(op.summary))
        .description(Some(format!(
            "Served by the `{}` function. {}",
            route.function,
            match route.auth {
                Auth::Required => "A bearer token is required.",
                Auth::Optional =>
                    "A bearer token is optional; sent, it must be valid and shapes the view.",
                Auth::Signed => "No token: the body is signed.",
            }
        )))
        .tag(route.function)
        .parameters(Some(op.parameters))
        .securities(Some(security))
        .responses(responses.build());
    if let Some(body) = op.body {
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .description(Some(format!("JSON, at most {MAX_JSON_BODY_BYTES} bytes")))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(body.schema)).build(),
                )
                .required(Some(if body.required {
                    Required::True
                } else {
                    Required::False
                }))
                .build(),
        ));
    }
    b.build()
}

fn method(name: &str) -> HttpMethod {
    match name {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        "PATCH" => HttpMethod::Patch,
        other => panic!("no OpenAPI method for {other}"),
    }
}

/// The document. Every operation names a route of [`HTTP_ROUTES`] (a name that is not there
/// panics, so a test catches it); a route without an operation is missing from the document,
/// which the end-to-end test `openapi` catches.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::default();
    let ops = operations(&mut schemas);
    schemas.of::<Problem>();
    let mut paths = PathsBuilder::new();
    for op in ops {
        let route = HTTP_ROUTES
            .iter()
            .find(|r| r.route_key() == op.route_key)
            .unwrap_or_else(|| panic!("{} is not in HTTP_ROUTES", op.route_key));
        let path = route.path;
        paths = paths.path(
            path,
            PathItem::new(method(route.method), operation(route, op)),
        );
    }
    let mut schemas = schemas.0;
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    let components: Components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "claims sub (the buyer), tier (BASIC, SILVER, GOLD, VIP), admin (true for operators)",
                    ))
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("ticketrush HTTP API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "First-come-first-served ticketing. Errors are RFC 9457 problem+json with a stable `code`; times are RFC 3339 UTC.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// The document as committed: pretty JSON with a final newline.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the document serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_a_route_and_every_route_has_an_operation() {
        let doc = serde_json::to_value(document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for route in HTTP_ROUTES {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} is missing", route.route_key());
            assert!(op["responses"]["400"].is_object(), "{}", route.route_key());
        }
        let mut schemas = Schemas::default();
        assert_eq!(operations(&mut schemas).len(), HTTP_ROUTES.len());
    }

    #[test]
    fn every_reference_resolves() {
        let text = document_json();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let prefix = "\"$ref\": \"#/components/schemas/";
        for (i, _) in text.match_indices(prefix) {
            let rest = &text[i + prefix.len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{name} is referred to but not defined"
            );
        }
    }
}
