//! The AWS template declares exactly the routes and triggers that ticketrush-local serves
//! (shared/lambda/src/routes.rs), in both directions, and every function crate is deployed.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use serde_yaml::Value;
use ticketrush_lambda::routes::{
    Auth, HTTP_ROUTES, PUSH_QUEUE_CONSUMER, SCHEDULES, WS_AUTHORIZER, WS_ROUTES,
};

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
                // Public in AWS too; see infra/aws/README.md.
                Auth::Optional => "none",
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
                    let sources = auth["Properties"]["IdentitySource"]
                        .as_sequence()
                        .expect("IdentitySource");
                    assert_eq!(
                        sources,
                        &vec![Value::from("route.request.querystring.token")],
                        "the authorizer reads ?token="
                    );
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
    assert!(
        (1..=5).contains(&window),
        "a short batching window: {window}"
    );
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
