//! The HTTP API's written contract: `infra/openapi.json` is what `ticketrush-local openapi`
//! prints and what the runtime serves at `/openapi.json`, and it describes every route of the
//! route table and of the AWS template.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;
use ticketrush_lambda::routes::HTTP_ROUTES;
use ticketrush_testkit::{
    db::TestDb,
    runtime::{LocalRuntime, local_binary},
};

const REGENERATE: &str =
    "run `cargo run -q -p ticketrush-local -- openapi > infra/openapi.json` and commit the result";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn committed() -> String {
    std::fs::read_to_string(root().join("infra/openapi.json"))
        .unwrap_or_else(|e| panic!("infra/openapi.json: {e}; {REGENERATE}"))
}

/// (METHOD, path) of every operation in a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("the document has paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .filter(|m| ["get", "put", "post", "delete", "patch"].contains(&m.as_str()))
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let out = Command::new(local_binary())
        .arg("openapi")
        .output()
        .expect("ticketrush-local runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        generated == committed(),
        "infra/openapi.json differs from what `ticketrush-local openapi` prints: {REGENERATE}"
    );
    let doc: Value = serde_json::from_str(&generated).expect("the document is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn every_route_of_the_table_and_the_template_is_in_the_document() {
    let doc: Value = serde_json::from_str(&committed()).expect("infra/openapi.json is JSON");
    let described = operations(&doc);

    let table: BTreeSet<(String, String)> = HTTP_ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let missing: Vec<_> = table.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "routes.rs routes missing from infra/openapi.json: {missing:?}; {REGENERATE}"
    );

    let raw = std::fs::read_to_string(root().join("infra/aws/template.yaml")).unwrap();
    let template: serde_yaml::Value = serde_yaml::from_str(&raw).expect("template parses");
    let mut deployed = BTreeSet::new();
    for resource in template["Resources"].as_mapping().unwrap().values() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"].as_str() == Some("HttpApi") {
                let p = &event["Properties"];
                deployed.insert((
                    p["Method"].as_str().unwrap().to_ascii_uppercase(),
                    p["Path"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    assert!(!deployed.is_empty(), "the template declares HttpApi events");
    let missing: Vec<_> = deployed.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "template HttpApi routes missing from infra/openapi.json: {missing:?}"
    );
    // And nothing is described that is served nowhere.
    let extra: Vec<_> = described.difference(&table).collect();
    assert!(extra.is_empty(), "described but not routed: {extra:?}");
}

#[tokio::test]
async fn the_runtime_serves_the_document() {
    let db = TestDb::new().await;
    let runtime = LocalRuntime::start(&db.url, &[]).await;
    let resp = reqwest::get(runtime.url("/openapi.json")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), committed(), "{REGENERATE}");
    runtime.stop().await;
}

#[test]
fn the_readme_api_table_lists_exactly_the_documented_routes() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n## API\n")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("README has an API section");
    assert!(
        section.contains("infra/openapi.json"),
        "the API section points at the document"
    );
    let mut listed = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap();
        let Some(path) = cell.split(['`', ' ']).find(|w| w.starts_with("/api/")) else {
            continue;
        };
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if cell.split(['`', ' ', ',']).any(|w| w == method) {
                listed.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    assert_eq!(
        listed,
        operations(&doc),
        "README's API table against infra/openapi.json"
    );
}
