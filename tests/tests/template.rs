//! The AWS template declares exactly the routes and triggers that ticketrush-local serves
//! (shared/lambda/src/routes.rs), in both directions, and every function crate is deployed.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use serde_yaml::Value;
use ticketrush_adapters::config::{self, Env};
use ticketrush_core::schedule::DEADLINE_MARGIN;
use ticketrush_lambda::routes::{
    Auth, HTTP_AUTHORIZER, HTTP_ROUTES, IdentityValue, PUSH_QUEUE_CONSUMER, SCHEDULES,
    WS_AUTHORIZER, WS_CONNECT_AUTHORIZER, WS_ROUTES, rate_period,
};
use ticketrush_lambda::ticks;
use ticketrush_testkit::events;

/// Deployed but not routed or scheduled: the custom resource runs it on deploy.
const DEPLOY_ONLY: &[&str] = &["migrate"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Template {
    resources: serde_yaml::Mapping,
}

/// The value under a CloudFormation short-form tag (`!Ref X` gives `X`), or the value.
fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn tag_of(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => Some(t.tag.to_string().trim_start_matches('!').to_owned()),
        _ => None,
    }
}

fn text(v: &Value) -> &str {
    untag(v)
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

impl Template {
    fn load() -> Self {
        let raw = std::fs::read_to_string(root().join("infra/aws/template.yaml"))
            .expect("infra/aws/template.yaml");
        let doc: Value = serde_yaml::from_str(&raw).expect("template parses as YAML");
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .expect("Resources")
            .clone();
        Self { resources }
    }

    fn resource(&self, id: &str) -> &Value {
        self.resources
            .get(id)
            .unwrap_or_else(|| panic!("resource {id} is referenced but not declared"))
    }

    fn of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources
            .iter()
            .filter(move |(_, v)| v.get("Type").and_then(Value::as_str) == Some(ty))
            .map(|(k, v)| (k.as_str().expect("resource id"), v))
    }

    /// Logical id -> function crate name, checked against CodeUri and the build binary.
    fn functions(&self) -> BTreeMap<String, String> {
        self.of_type("AWS::Serverless::Function")
            .map(|(id, f)| {
                assert_eq!(
                    f["Metadata"]["BuildMethod"].as_str(),
                    Some("rust-cargolambda"),
                    "{id}: BuildMethod"
                );
                let binary = f["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{id}: BuildProperties.Binary"));
                assert_eq!(
                    f["Properties"]["CodeUri"].as_str(),
                    Some(format!("../../functions/{binary}").as_str()),
                    "{id}: CodeUri points at its crate"
                );
                (id.to_owned(), binary.to_owned())
            })
            .collect()
    }

    /// (function, event) for every event of the given SAM type.
    fn events<'a>(&'a self, kind: &'a str) -> Vec<(String, &'a Value)> {
        let names = self.functions();
        let mut out = Vec::new();
        for (id, f) in self.of_type("AWS::Serverless::Function") {
            let Some(events) = f["Properties"].get("Events").and_then(Value::as_mapping) else {
                continue;
            };
            for event in events.values() {
                if event["Type"].as_str() == Some(kind) {
                    out.push((names[id].clone(), &event["Properties"]));
                }
            }
        }
        out
    }

    /// The function crate whose ARN an integration or authorizer URI invokes.
    fn invoked_function(&self, uri: &Value) -> String {
        assert_eq!(
            tag_of(uri).as_deref(),
            Some("Sub"),
            "URI is a !Sub: {uri:?}"
        );
        let uri = text(uri);
        let id = uri
            .split("/functions/${")
            .nth(1)
            .and_then(|rest| rest.split(".Arn}").next())
            .unwrap_or_else(|| panic!("no function ARN in {uri}"));
        self.functions()
            .get(id)
            .unwrap_or_else(|| panic!("{id} is not a function"))
            .clone()
    }
}

#[test]
fn every_function_crate_is_deployed_and_every_deployed_function_has_a_crate() {
    let template = Template::load();
    let deployed: BTreeSet<String> = template.functions().into_values().collect();
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let missing: Vec<_> = crates.difference(&deployed).collect();
    assert!(
        missing.is_empty(),
        "crates not in the template: {missing:?}"
    );
    let orphans: Vec<_> = deployed.difference(&crates).collect();
    assert!(
        orphans.is_empty(),
        "template functions without a crate: {orphans:?}"
    );
}

#[test]
fn http_routes_match_the_route_table_both_ways() {
    let template = Template::load();
    let declared: BTreeSet<(String, String, String, &str)> = template
        .events("HttpApi")
        .into_iter()
        .map(|(function, p)| {
            assert_eq!(text(&p["ApiId"]), "HttpApi", "{function}: ApiId");
            assert_eq!(tag_of(&p["ApiId"]).as_deref(), Some("Ref"));
            let auth = match p["Auth"]["Authorizer"].as_str() {
                Some("NONE") => "none",
                Some("JwtAuthorizer") => "jwt",
                Some("LambdaAuthorizer") => "lambda",
                other => panic!("{function}: unexpected authorizer {other:?}"),
            };
            (
                text(&p["Method"]).to_owned(),
                text(&p["Path"]).to_owned(),
                function,
                auth,
            )
        })
        .collect();
    let served: BTreeSet<(String, String, String, &str)> = HTTP_ROUTES
        .iter()
        .map(|r| {
            let auth = match r.auth {
                // Anonymous or a valid token: http-authorize decides.
                Auth::Optional => "lambda",
                // The function checks the body's signature itself.
                Auth::Signed => "none",
                Auth::Required => "jwt",
            };
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
                auth,
            )
        })
        .collect();
    assert_eq!(
        declared.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String, String, &str)>::new(),
        "in the template but not served locally"
    );
    assert_eq!(
        served.difference(&declared).collect::<Vec<_>>(),
        Vec::<&(String, String, String, &str)>::new(),
        "served locally but not in the template"
    );
}

/// The identity sources SAM makes of a Lambda authorizer's `Identity` (as its translator does).
fn sam_identity_sources(identity: &Value) -> Vec<String> {
    [
        ("Headers", "$request.header."),
        ("QueryStrings", "$request.querystring."),
        ("StageVariables", "$stageVariables."),
        ("Context", "$context."),
    ]
    .iter()
    .flat_map(|(key, prefix)| {
        identity[*key]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(move |v| format!("{prefix}{}", text(v)))
    })
    .collect()
}

#[test]
fn authorizers_match_the_route_table_with_their_identity_sources() {
    let template = Template::load();
    let functions = template.functions();
    // Each route's authorizer, by what the route asks of the caller's token.
    for (function, p) in template.events("HttpApi") {
        let route = HTTP_ROUTES
            .iter()
            .find(|r| r.method == text(&p["Method"]) && r.path == text(&p["Path"]))
            .unwrap_or_else(|| panic!("{function}: route not in the table"));
        let expected = match route.auth {
            Auth::Required => "JwtAuthorizer",
            Auth::Optional => "LambdaAuthorizer",
            Auth::Signed => "NONE",
        };
        assert_eq!(
            p["Auth"]["Authorizer"].as_str(),
            Some(expected),
            "{}",
            route.route_key()
        );
    }

    let auth = &template.resource("HttpApi")["Properties"]["Auth"];
    assert_eq!(auth["DefaultAuthorizer"].as_str(), Some("JwtAuthorizer"));
    let jwt = &auth["Authorizers"]["JwtAuthorizer"];
    assert_eq!(
        jwt["IdentitySource"].as_str(),
        Some("$request.header.Authorization")
    );

    // The public routes' authorizer: http-authorize, payload 2.0 with simple responses, no
    // caching, and the identity sources the local runtime applies (none: anonymous passes).
    let lambda = &auth["Authorizers"]["LambdaAuthorizer"];
    assert_eq!(tag_of(&lambda["FunctionArn"]).as_deref(), Some("GetAtt"));
    let id = text(&lambda["FunctionArn"])
        .strip_suffix(".Arn")
        .expect("FunctionArn: !GetAtt <function>.Arn");
    assert_eq!(functions[id], HTTP_AUTHORIZER.function);
    assert_eq!(
        lambda["AuthorizerPayloadFormatVersion"].as_str(),
        Some("2.0")
    );
    assert_eq!(lambda["EnableSimpleResponses"].as_bool(), Some(true));
    assert_eq!(
        lambda["EnableFunctionDefaultPermissions"].as_bool(),
        Some(true)
    );
    assert_eq!(
        lambda["Identity"]["ReauthorizeEvery"].as_u64(),
        Some(0),
        "no caching: a cached answer would serve one caller's identity to another"
    );
    assert_eq!(
        sam_identity_sources(&lambda["Identity"]),
        HTTP_AUTHORIZER.identity_source
    );

    // The $connect authorizer: ws-authorize, with the identity sources the local runtime
    // applies, each one it can read.
    let connect = template
        .of_type("AWS::ApiGatewayV2::Route")
        .find(|(_, r)| r["Properties"]["RouteKey"].as_str() == Some("$connect"))
        .map(|(_, r)| &r["Properties"])
        .expect("a $connect route");
    let ws = &template.resource(text(&connect["AuthorizerId"]))["Properties"];
    assert_eq!(
        template.invoked_function(&ws["AuthorizerUri"]),
        WS_CONNECT_AUTHORIZER.function
    );
    let sources: Vec<&str> = ws["IdentitySource"]
        .as_sequence()
        .expect("IdentitySource")
        .iter()
        .map(text)
        .collect();
    assert_eq!(sources, WS_CONNECT_AUTHORIZER.identity_source);
    for source in WS_CONNECT_AUTHORIZER
        .identity_source
        .iter()
        .chain(HTTP_AUTHORIZER.identity_source)
    {
        assert!(
            IdentityValue::parse(source).is_some(),
            "{source}: the local runtime cannot apply it"
        );
    }
    // Not the optional ?token=: without it API Gateway would answer 401 to every anonymous
    // viewer without calling the authorizer.
    assert!(
        !sources.iter().any(|s| s.contains("querystring.token")),
        "{sources:?}"
    );
}

#[test]
fn schedules_match_both_ways() {
    let template = Template::load();
    let declared: BTreeSet<(String, String)> = template
        .events("ScheduleV2")
        .into_iter()
        .map(|(f, p)| (f, text(&p["ScheduleExpression"]).to_owned()))
        .collect();
    let served: BTreeSet<(String, String)> = SCHEDULES
        .iter()
        .map(|s| (s.function.to_owned(), s.aws_expression.to_owned()))
        .collect();
    assert_eq!(declared, served);
    assert!(template.events("Schedule").is_empty(), "use ScheduleV2");
}

/// The function crate's resource properties.
fn function_properties<'t>(template: &'t Template, function: &str) -> &'t Value {
    let (id, _) = template
        .functions()
        .into_iter()
        .find(|(_, crate_name)| crate_name == function)
        .unwrap_or_else(|| panic!("{function} is not deployed"));
    &template.resource(&id)["Properties"]
}

#[test]
fn each_scheduled_invocation_runs_its_period_within_its_timeout_without_retries() {
    let template = Template::load();
    for (function, p) in template.events("ScheduleV2") {
        let schedule = SCHEDULES
            .iter()
            .find(|s| s.function == function)
            .expect("a scheduled function");
        assert_eq!(
            rate_period(text(&p["ScheduleExpression"])),
            Some(schedule.period),
            "{function}: the period the tick loop covers is the expression's"
        );
        // The name the local runtime puts in the event's `resources`.
        assert_eq!(
            tag_of(&p["Name"]).as_deref(),
            Some("Sub"),
            "{function}: Name"
        );
        assert_eq!(text(&p["Name"]), schedule.name("${AWS::StackName}"));
        assert!(
            p.get("Input").is_none(),
            "{function}: no Input, so it gets the Scheduler's own payload (events/{function}.json)"
        );
        if let Some(window) = p.get("FlexibleTimeWindow") {
            assert_eq!(window["Mode"].as_str(), Some("OFF"), "{function}: on time");
        }
        let f = function_properties(&template, &function);
        let timeout = Duration::from_secs(f["Timeout"].as_u64().expect("Timeout"));
        assert_eq!(
            timeout,
            schedule.timeout(),
            "{function}: Timeout is the period plus the margin, the deadline the local runtime gives"
        );
        // Invoked on time, the loop runs the whole period: the last tick's own period and
        // the loop's margin fit, with seconds to spare for a cold start.
        let tick = Duration::from_secs(1);
        assert!(
            timeout >= schedule.period + tick + DEADLINE_MARGIN + Duration::from_secs(5),
            "{function}: Timeout {timeout:?}"
        );
        // A retry, by the Scheduler or by Lambda's asynchronous invocation, would arrive
        // when its period's ticks are gone or running; the next invocation is the retry.
        for (what, policy) in [
            ("RetryPolicy", &p["RetryPolicy"]),
            ("EventInvokeConfig", &f["EventInvokeConfig"]),
        ] {
            assert_eq!(
                policy["MaximumRetryAttempts"].as_u64(),
                Some(0),
                "{function}: {what}.MaximumRetryAttempts"
            );
            let age = policy["MaximumEventAgeInSeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{function}: {what}.MaximumEventAgeInSeconds"));
            assert!(
                (60..=schedule.period.as_secs()).contains(&age),
                "{function}: {what}.MaximumEventAgeInSeconds {age}: at most one period"
            );
        }
    }
}

#[test]
fn ticks_are_as_long_in_aws_as_locally_and_divide_the_schedule_period() {
    let template = Template::load();
    let local = Env::from_pairs(Vec::<(String, String)>::new());
    let tick_of = |function: &str, env: &Env| match function {
        "queue-activate" | "queue-join" | "queue-status" => {
            Some(config::queue_settings_from_env(env).unwrap().tick)
        }
        "hold-expire" => Some(config::hold_expire_tick_from_env(env).unwrap()),
        "sale-status-tick" => Some(config::sale_status_tick_from_env(env).unwrap()),
        _ => None,
    };
    let mut checked = BTreeSet::new();
    for (_, function) in template.functions() {
        let vars = function_properties(&template, &function)["Environment"]["Variables"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        let mut literal = Vec::new();
        for (name, value) in &vars {
            let name = name.as_str().expect("variable name").to_owned();
            match value.as_str().filter(|_| tag_of(value).is_none()) {
                Some(v) => literal.push((name, v.to_owned())),
                None => assert!(
                    !name.ends_with("_TICK_MILLIS"),
                    "{function}: {name} is a literal, checked here"
                ),
            }
        }
        let Some(tick) = tick_of(&function, &Env::from_pairs(literal)) else {
            continue;
        };
        assert_eq!(
            Some(tick),
            tick_of(&function, &local),
            "{function}: the tick period in AWS is the one make dev runs"
        );
        if let Some(schedule) = SCHEDULES.iter().find(|s| s.function == function) {
            assert_eq!(
                schedule.period.as_millis() % tick.as_millis(),
                0,
                "{function}: whole ticks per period"
            );
        }
        checked.insert(function);
    }
    assert_eq!(checked.len(), 5, "{checked:?}");
}

#[test]
fn the_scheduled_samples_are_the_payload_the_scheduler_sends() {
    for schedule in SCHEDULES {
        let name = format!("{}.json", schedule.function);
        let sample: serde_json::Value = serde_json::from_str(&events::text(&name)).unwrap();
        let field = |key: &str| {
            sample[key]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {key}"))
        };
        let time = chrono::DateTime::parse_from_rfc3339(field("time"))
            .unwrap()
            .to_utc();
        // What the local runtime sends, for the sample's account, region, id and time.
        let sent = ticks::scheduler_payload(
            schedule,
            "ticketrush",
            field("account"),
            field("region"),
            field("id"),
            time,
        );
        assert_eq!(sample, sent, "events/{name}");
        assert_eq!(
            sample["detail"],
            serde_json::json!("{}"),
            "a string, as AWS sends it"
        );
    }
}

#[test]
fn websocket_routes_match_both_ways() {
    let template = Template::load();
    let declared: BTreeSet<(String, String, Option<String>)> = template
        .of_type("AWS::ApiGatewayV2::Route")
        .map(|(id, route)| {
            let p = &route["Properties"];
            assert_eq!(text(&p["ApiId"]), "WebSocketApi", "{id}: ApiId");
            let target = text(&p["Target"]);
            let integration = target
                .strip_prefix("integrations/${")
                .and_then(|t| t.strip_suffix('}'))
                .unwrap_or_else(|| panic!("{id}: target {target}"));
            let function = template
                .invoked_function(&template.resource(integration)["Properties"]["IntegrationUri"]);
            let authorizer = match p["AuthorizationType"].as_str() {
                Some("NONE") => None,
                Some("CUSTOM") => {
                    let auth = template.resource(text(&p["AuthorizerId"]));
                    assert_eq!(
                        auth["Properties"]["AuthorizerType"].as_str(),
                        Some("REQUEST")
                    );
                    // Its identity sources: authorizers_match_the_route_table_with_their_identity_sources.
                    Some(template.invoked_function(&auth["Properties"]["AuthorizerUri"]))
                }
                other => panic!("{id}: AuthorizationType {other:?}"),
            };
            (text(&p["RouteKey"]).to_owned(), function, authorizer)
        })
        .collect();
    let served: BTreeSet<(String, String, Option<String>)> = WS_ROUTES
        .iter()
        .map(|r| {
            (
                r.route_key.to_owned(),
                r.function.to_owned(),
                (r.route_key == "$connect").then(|| WS_AUTHORIZER.to_owned()),
            )
        })
        .collect();
    assert_eq!(declared, served);
    let stage = template
        .of_type("AWS::ApiGatewayV2::Stage")
        .map(|(_, s)| text(&s["Properties"]["ApiId"]).to_owned())
        .collect::<Vec<_>>();
    assert_eq!(
        stage,
        vec!["WebSocketApi".to_owned()],
        "one WebSocket stage"
    );
}

#[test]
fn the_push_queue_triggers_push_dispatch_with_partial_batch_failures() {
    let template = Template::load();
    let sqs = template.events("SQS");
    assert_eq!(sqs.len(), 1, "one SQS trigger");
    let (function, p) = &sqs[0];
    assert_eq!(function, PUSH_QUEUE_CONSUMER);
    assert_eq!(text(&p["Queue"]), "PushQueue.Arn");
    assert_eq!(
        p["FunctionResponseTypes"].as_sequence().map(Vec::as_slice),
        Some(&[Value::from("ReportBatchItemFailures")][..])
    );
    let window = p["MaximumBatchingWindowInSeconds"]
        .as_u64()
        .expect("window");
    assert!(window <= 5, "a short batching window: {window}");
    let queue = &template.resource("PushQueue")["Properties"];
    assert_eq!(
        text(&queue["RedrivePolicy"]["deadLetterTargetArn"]),
        "PushDeadLetterQueue.Arn"
    );
}

/// Key schema, GSIs (name, key schema) and TTL attribute.
type TableShape = (Vec<String>, Vec<(String, Vec<String>)>, String);

#[test]
fn push_tables_have_the_shape_the_adapters_provision() {
    let template = Template::load();
    let keys = |table: &str| -> TableShape {
        let p = &template.resource(table)["Properties"];
        let schema = |s: &Value| {
            s.as_sequence()
                .expect("KeySchema")
                .iter()
                .map(|k| format!("{}:{}", text(&k["AttributeName"]), text(&k["KeyType"])))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            p["BillingMode"].as_str(),
            Some("PAY_PER_REQUEST"),
            "{table}"
        );
        assert_eq!(
            p["TimeToLiveSpecification"]["Enabled"].as_bool(),
            Some(true)
        );
        let gsis = p["GlobalSecondaryIndexes"]
            .as_sequence()
            .expect("GSIs")
            .iter()
            .map(|g| (text(&g["IndexName"]).to_owned(), schema(&g["KeySchema"])))
            .collect();
        (
            schema(&p["KeySchema"]),
            gsis,
            text(&p["TimeToLiveSpecification"]["AttributeName"]).to_owned(),
        )
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        keys("ConnectionsTable"),
        (
            s(&["connectionId:HASH"]),
            vec![("byUser".into(), s(&["userId:HASH"]))],
            "expiresAt".into()
        )
    );
    assert_eq!(
        keys("SubscriptionsTable"),
        (
            s(&["topic:HASH", "connectionId:RANGE"]),
            vec![(
                "byConnection".into(),
                s(&["connectionId:HASH", "topic:RANGE"])
            )],
            "expiresAt".into()
        )
    );
}

#[test]
fn every_function_is_arm64_with_narrow_policies_and_no_plain_secrets() {
    let raw = std::fs::read_to_string(root().join("infra/aws/template.yaml")).unwrap();
    let doc: Value = serde_yaml::from_str(&raw).unwrap();
    let globals = &doc["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(
        globals["Architectures"].as_sequence().map(Vec::as_slice),
        Some(&[Value::from("arm64")][..])
    );
    let template = Template::load();
    for (id, f) in template.of_type("AWS::Serverless::Function") {
        let p = &f["Properties"];
        assert!(
            p.get("Runtime").is_none() && p.get("Architectures").is_none(),
            "{id}"
        );
        if let Some(vars) = p["Environment"]["Variables"].as_mapping() {
            for name in vars.keys().filter_map(Value::as_str) {
                assert!(
                    !matches!(
                        name,
                        "DATABASE_URL" | "REDIS_URL" | "QUEUE_TOKEN_SECRET" | "JWT_SECRET"
                    ),
                    "{id}: {name} must come from Secrets Manager (*_SECRET_ARN)"
                );
            }
        }
        let policies = serde_yaml::to_string(&p["Policies"]).unwrap();
        for action in
            policies.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        {
            assert!(
                !(action == "'*'" || action.ends_with(":*") || action.contains("FullAccess")),
                "{id}: broad permission {action}"
            );
        }
    }
    let deploy_only: BTreeSet<String> = template
        .functions()
        .into_values()
        .filter(|f| DEPLOY_ONLY.contains(&f.as_str()))
        .collect();
    assert_eq!(
        deploy_only.len(),
        DEPLOY_ONLY.len(),
        "the migration function is deployed"
    );
    let migrations = &template.resource("DatabaseMigrations")["Properties"];
    assert_eq!(text(&migrations["ServiceToken"]), "MigrateFunction.Alias");
}

/// The secret a function's `DATABASE_URL_SECRET_ARN` names when the stack creates the
/// database (`!If [CreateDatabase, <this>, <the given one>]`).
fn created_database_secret(var: &Value) -> &str {
    assert_eq!(tag_of(var).as_deref(), Some("If"), "{var:?}");
    let branches = untag(var).as_sequence().expect("!If branches");
    assert_eq!(text(&branches[0]), "CreateDatabase");
    assert_eq!(text(&branches[2]), "ExistingDatabaseUrlSecretArn");
    text(&branches[1])
}

#[test]
fn concurrency_connections_and_the_proxy_are_the_limits_table() {
    use ticketrush_lambda::limits::{
        DATABASE_BUDGET, Database, FUNCTION_LIMITS, PUSH_QUEUE_BATCHING, limits_of,
    };
    let template = Template::load();
    let deployed: BTreeSet<String> = template.functions().into_values().collect();
    let listed: BTreeSet<String> = FUNCTION_LIMITS
        .iter()
        .map(|l| l.function.to_owned())
        .collect();
    assert_eq!(
        deployed, listed,
        "every deployed function has limits, and only those"
    );
    for (id, function) in template.functions() {
        let limits = limits_of(&function).expect("listed");
        let p = &template.resource(&id)["Properties"];
        assert_eq!(
            p["ReservedConcurrentExecutions"].as_u64(),
            Some(limits.concurrency.into()),
            "{id}: ReservedConcurrentExecutions"
        );
        let vars = &p["Environment"]["Variables"];
        let pool = vars["DATABASE_MAX_CONNECTIONS"]
            .as_str()
            .map(|n| n.parse::<u32>().expect("a number"));
        assert_eq!(
            pool,
            limits.connections_per_instance(),
            "{id}: DATABASE_MAX_CONNECTIONS"
        );
        let secret = vars
            .get("DATABASE_URL_SECRET_ARN")
            .map(created_database_secret);
        let expected = match limits.database {
            Database::None => None,
            Database::Proxied(_) => Some("DatabaseUrlSecret"),
            Database::Direct(_) => Some("DatabaseInstanceUrlSecret"),
        };
        assert_eq!(secret, expected, "{id}: which database URL");
        if let Some(secret) = expected {
            let policies = serde_yaml::to_string(&p["Policies"]).unwrap();
            assert!(policies.contains(secret), "{id} may read {secret}");
        }
    }

    // Through the proxy, pooling at most the budget's share of the instance.
    let url =
        |secret: &str| text(&template.resource(secret)["Properties"]["SecretString"]).to_owned();
    assert!(url("DatabaseUrlSecret").contains("@${DatabaseProxy.Endpoint}:5432/"));
    assert!(url("DatabaseInstanceUrlSecret").contains("@${Database.Endpoint.Address}:"));
    let proxy = &template.resource("DatabaseProxy");
    assert_eq!(proxy["Condition"].as_str(), Some("CreateDatabase"));
    assert_eq!(
        proxy["Properties"]["EngineFamily"].as_str(),
        Some("POSTGRESQL")
    );
    assert_eq!(proxy["Properties"]["RequireTLS"].as_bool(), Some(true));
    let auth = &proxy["Properties"]["Auth"][0];
    assert_eq!(text(&auth["SecretArn"]), "DatabaseProxyAuthSecret");
    let role = &template.resource(text(&proxy["Properties"]["RoleArn"]).trim_end_matches(".Arn"));
    assert!(
        serde_yaml::to_string(&role["Properties"]["Policies"])
            .unwrap()
            .contains("DatabaseProxyAuthSecret"),
        "the proxy may read its credentials"
    );
    let target = &template.resource("DatabaseProxyTargetGroup")["Properties"];
    assert_eq!(text(&target["DBProxyName"]), "DatabaseProxy");
    assert_eq!(
        target["DBInstanceIdentifiers"]
            .as_sequence()
            .map(|s| s.iter().map(text).collect::<Vec<_>>()),
        Some(vec!["Database"])
    );
    let pool = &target["ConnectionPoolConfigurationInfo"];
    assert_eq!(
        pool["MaxConnectionsPercent"].as_u64(),
        Some(DATABASE_BUDGET.proxy_max_connections_percent.into())
    );
    // The budget is planned for the default instance class.
    let raw = std::fs::read_to_string(root().join("infra/aws/template.yaml")).unwrap();
    let doc: Value = serde_yaml::from_str(&raw).unwrap();
    assert_eq!(
        doc["Parameters"]["DatabaseInstanceClass"]["Default"].as_str(),
        Some("db.t4g.micro"),
        "DATABASE_BUDGET.planned_max_connections is that class's"
    );
    let proxy_sg = &template.resource("DatabaseProxySecurityGroup")["Properties"];
    assert_eq!(
        text(&proxy_sg["SecurityGroupIngress"][0]["SourceSecurityGroupId"]),
        "FunctionSecurityGroup"
    );
    let ingress = &template.resource("DatabaseFromProxyIngress")["Properties"];
    assert_eq!(text(&ingress["GroupId"]), "DatabaseSecurityGroup");
    assert_eq!(
        text(&ingress["SourceSecurityGroupId"]),
        "DatabaseProxySecurityGroup"
    );

    // The push queue's trigger reads as the local event source does.
    let sqs = template.events("SQS");
    let (function, p) = &sqs[0];
    assert_eq!(
        p["BatchSize"].as_u64(),
        Some(PUSH_QUEUE_BATCHING.batch_size.into())
    );
    assert_eq!(
        p["MaximumBatchingWindowInSeconds"].as_u64(),
        Some(PUSH_QUEUE_BATCHING.maximum_batching_window_secs.into())
    );
    assert_eq!(
        p["ScalingConfig"]["MaximumConcurrency"].as_u64(),
        limits_of(function).map(|l| l.concurrency.into()),
        "no more pollers than instances"
    );
}

/// The anchors GitHub gives the `##` sections of infra/aws/RUNBOOK.md.
fn runbook_anchors() -> BTreeSet<String> {
    let runbook =
        std::fs::read_to_string(root().join("infra/aws/RUNBOOK.md")).expect("infra/aws/RUNBOOK.md");
    runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|heading| {
            heading
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

/// The resources `v` refers to (`!Ref`, `!GetAtt`, `${...}` of `!Sub`), each with the
/// conditions of the `!If` branches it sits in.
fn references(v: &Value, guards: &BTreeSet<String>, out: &mut Vec<(String, BTreeSet<String>)>) {
    match (tag_of(v).as_deref(), untag(v)) {
        (Some("Ref"), Value::String(id)) => out.push((id.clone(), guards.clone())),
        (Some("GetAtt"), Value::String(at)) => out.push((
            at.split('.').next().unwrap_or(at).to_owned(),
            guards.clone(),
        )),
        (Some("Sub"), inner) => {
            let s = match inner {
                Value::Sequence(parts) => text(&parts[0]),
                other => text(other),
            };
            for name in s.split("${").skip(1).filter_map(|r| r.split('}').next()) {
                if !name.starts_with('!') && !name.starts_with("AWS::") {
                    let id = name.split('.').next().unwrap_or(name);
                    out.push((id.to_owned(), guards.clone()));
                }
            }
        }
        (Some("If"), Value::Sequence(branches)) => {
            let mut when = guards.clone();
            when.insert(text(&branches[0]).to_owned());
            references(&branches[1], &when, out);
            references(&branches[2], guards, out);
        }
        (_, Value::Sequence(items)) => items.iter().for_each(|i| references(i, guards, out)),
        (_, Value::Mapping(m)) => m.values().for_each(|i| references(i, guards, out)),
        _ => {}
    }
}

/// A resource that refers to one the stack creates only under a condition carries that
/// condition, or refers to it only inside an `!If` of it.
fn assert_conditions_follow(template: &Template, id: &str) {
    let resource = template.resource(id);
    let own = resource["Condition"].as_str();
    let mut refs = Vec::new();
    references(&resource["Properties"], &BTreeSet::new(), &mut refs);
    for (target, guards) in refs {
        let Some(target_resource) = template.resources.get(target.as_str()) else {
            continue; // a parameter
        };
        if let Some(needed) = target_resource["Condition"].as_str() {
            assert!(
                own == Some(needed) || guards.contains(needed),
                "{id} refers to {target}, which exists only under {needed}"
            );
        }
    }
}

/// A CloudWatch metric of our namespace is one the functions record, with its dimensions.
fn assert_recorded(name: &str, dimensions: BTreeSet<&str>, whose: &str) {
    use ticketrush_lambda::metrics::Metric;
    let metric = Metric::from_name(name)
        .unwrap_or_else(|| panic!("{whose}: {name} is not in shared/lambda/src/metrics.rs"));
    let recorded: BTreeSet<&str> = metric.dimensions().names().iter().copied().collect();
    assert_eq!(dimensions, recorded, "{whose}: {name}'s dimensions");
}

#[test]
fn every_alarm_notifies_the_topic_and_names_a_runbook_section() {
    use ticketrush_lambda::limits::DATABASE_BUDGET;
    use ticketrush_lambda::metrics::NAMESPACE;
    let template = Template::load();
    let anchors = runbook_anchors();
    let alarms: Vec<_> = template.of_type("AWS::CloudWatch::Alarm").collect();
    assert!(alarms.len() >= 10, "{} alarms", alarms.len());
    let mut sections = BTreeSet::new();
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        for key in ["AlarmActions", "OKActions"] {
            let actions = p[key].as_sequence().map(Vec::as_slice).unwrap_or_default();
            assert!(
                actions
                    .iter()
                    .any(|a| tag_of(a).as_deref() == Some("Ref") && text(a) == "AlarmTopic"),
                "{id}: {key} notify AlarmTopic"
            );
        }
        let description = p["AlarmDescription"].as_str().unwrap_or_default();
        assert!(!description.contains('\n'), "{id}: a one-line description");
        let anchor = description
            .split("infra/aws/RUNBOOK.md#")
            .nth(1)
            .unwrap_or_else(|| panic!("{id}: the description names its runbook section"));
        assert!(
            anchors.contains(anchor),
            "{id}: RUNBOOK.md has no section #{anchor} (it has {anchors:?})"
        );
        sections.insert(anchor);
        assert_conditions_follow(&template, id);
        // Alarms on our own metrics watch what the functions record.
        let mut stats: Vec<&Value> = p["Metrics"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("MetricStat").map(|s| &s["Metric"]))
            .collect();
        if p.get("MetricName").is_some() {
            stats.push(p);
        }
        for m in stats {
            if m["Namespace"].as_str() == Some(NAMESPACE) {
                let dimensions = m["Dimensions"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|d| text(&d["Name"]))
                    .collect();
                assert_recorded(text(&m["MetricName"]), dimensions, id);
            }
        }
    }
    assert!(sections.len() >= 6, "alarms point at {sections:?}");

    let subscription = template.resource("AlarmEmailSubscription");
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
    assert_eq!(text(&subscription["Properties"]["TopicArn"]), "AlarmTopic");
    assert_eq!(text(&subscription["Properties"]["Endpoint"]), "AlarmEmail");
    assert_conditions_follow(&template, "DatabaseEventSubscription");

    // Near the budget: past what a busy sale holds (the proxy's whole pool and RDS's own),
    // short of the planned ceiling.
    let threshold = template.resource("DatabaseConnectionsAlarm")["Properties"]["Threshold"]
        .as_u64()
        .expect("Threshold");
    let budget = DATABASE_BUDGET;
    assert_eq!(
        threshold,
        u64::from(budget.planned_max_connections * 9 / 10)
    );
    assert!(threshold > u64::from(budget.proxy_pool() + budget.reserved_for_rds));
}

/// A `DashboardBody` as one string, every `!If` branch that adds widgets included.
fn joined(v: &Value) -> String {
    match (tag_of(v).as_deref(), untag(v)) {
        (Some("Join"), Value::Sequence(args)) => untag(&args[1])
            .as_sequence()
            .expect("!Join list")
            .iter()
            .map(joined)
            .collect::<Vec<_>>()
            .join(text(&args[0])),
        (Some("If"), Value::Sequence(branches)) => joined(&branches[1]),
        (_, Value::String(s)) => s.clone(),
        (tag, other) => panic!("unexpected {tag:?} {other:?} in DashboardBody"),
    }
}

#[test]
fn the_dashboard_is_json_and_shows_every_metric_the_functions_record() {
    use ticketrush_lambda::metrics::{Metric, NAMESPACE};
    let template = Template::load();
    let dashboards: Vec<_> = template.of_type("AWS::CloudWatch::Dashboard").collect();
    assert_eq!(dashboards.len(), 1, "one sale dashboard");
    let (id, dashboard) = dashboards[0];
    assert_conditions_follow(&template, id);
    let body = joined(&dashboard["Properties"]["DashboardBody"]);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("DashboardBody is JSON");
    let mut shown = BTreeSet::new();
    let rows = doc["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .filter_map(|w| w["properties"]["metrics"].as_array())
        .flatten()
        .filter_map(|row| row.as_array());
    for row in rows {
        if let Some(expression) = row[0]["expression"].as_str() {
            // SEARCH('{namespace,dimension,...} MetricName="Name"', ...)
            let Some(rest) = expression.strip_prefix("SEARCH('{") else {
                continue;
            };
            let (schema, rest) = rest.split_once('}').expect("a schema");
            let mut schema = schema.split(',');
            if schema.next() != Some(NAMESPACE) {
                continue;
            }
            let name = rest
                .split("MetricName=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("{expression}: MetricName"));
            assert_recorded(name, schema.collect(), expression);
            shown.insert(name.to_owned());
        } else if row[0].as_str() == Some(NAMESPACE) {
            let name = row[1].as_str().expect("metric name");
            let dimensions = row[2..]
                .iter()
                .filter_map(|d| d.as_str())
                .step_by(2)
                .collect();
            assert_recorded(name, dimensions, name);
            shown.insert(name.to_owned());
        }
    }
    let missing: Vec<_> = Metric::ALL
        .iter()
        .map(|m| m.name())
        .filter(|name| !shown.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "recorded but not on the dashboard: {missing:?}"
    );
}

/// CloudFront's first matching path pattern (`*` matches any run of characters).
fn cdn_pattern_matches(pattern: &str, path: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == path,
        Some((head, tail)) => {
            path.starts_with(head)
                && (tail.is_empty() && path.len() >= head.len()
                    || (head.len()..=path.len()).any(|i| cdn_pattern_matches(tail, &path[i..])))
        }
    }
}

#[test]
fn the_cdn_caches_the_public_reads_of_the_http_api_keyed_on_query_and_authorization() {
    let template = Template::load();
    let distributions: Vec<_> = template.of_type("AWS::CloudFront::Distribution").collect();
    assert_eq!(distributions.len(), 1, "one distribution");
    let config = &distributions[0].1["Properties"]["DistributionConfig"];
    let origins = config["Origins"].as_sequence().expect("Origins");
    assert_eq!(origins.len(), 1);
    assert!(
        text(&origins[0]["DomainName"]).starts_with("${HttpApi}.execute-api."),
        "the origin is the HTTP API: {:?}",
        origins[0]["DomainName"]
    );
    assert_eq!(
        tag_of(&origins[0]["OriginShield"]).as_deref(),
        Some("If"),
        "Origin Shield is a parameter's choice"
    );
    let behaviors = config["CacheBehaviors"]
        .as_sequence()
        .expect("CacheBehaviors");
    // The public reads: the anonymous GET routes the search and concert-detail functions serve.
    let public: Vec<_> = HTTP_ROUTES
        .iter()
        .filter(|r| r.method == "GET" && matches!(r.function, "search" | "concert-detail"))
        .collect();
    assert_eq!(public.len(), 2, "search and a concert's detail");
    for route in public {
        let path = route.path.replace("{id}", "42");
        let behavior = behaviors
            .iter()
            .find(|b| cdn_pattern_matches(text(&b["PathPattern"]), &path))
            .unwrap_or_else(|| panic!("{}: no cache behavior", route.route_key()));
        let methods = behavior["CachedMethods"].as_sequence().unwrap();
        assert!(methods.iter().any(|m| m.as_str() == Some("GET")));
        assert_eq!(tag_of(&behavior["CachePolicyId"]).as_deref(), Some("Ref"));
        let policy =
            &template.resource(text(&behavior["CachePolicyId"]))["Properties"]["CachePolicyConfig"];
        let key = &policy["ParametersInCacheKeyAndForwardedToOrigin"];
        assert_eq!(
            key["QueryStringsConfig"]["QueryStringBehavior"].as_str(),
            Some("all"),
            "{}: every query parameter is part of the key",
            route.route_key()
        );
        let headers = key["HeadersConfig"]["Headers"].as_sequence().unwrap();
        assert!(
            headers.iter().any(|h| h.as_str() == Some("Authorization")),
            "{}: tokened requests never share an entry with anonymous ones",
            route.route_key()
        );
        // The origin's Cache-Control decides; nothing is kept longer than a second.
        assert_eq!(policy["DefaultTTL"].as_u64(), Some(0));
        assert_eq!(policy["MaxTTL"].as_u64(), Some(1));
    }
}
