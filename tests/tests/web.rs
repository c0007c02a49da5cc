//! End to end: the web client is served at `/`, and the local-only dev login signs tokens
//! the local authorizer accepts.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use ticketrush_testkit::{db::TestDb, runtime::LocalRuntime};

#[tokio::test]
async fn the_web_client_is_served_at_the_root() {
    let db = TestDb::new().await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let client = Client::new();

    let index = client.get(rt.url("/")).send().await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert!(
        index.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let html = index.text().await.unwrap();
    assert!(
        html.contains(r#"<script type="module" src="app.js">"#),
        "{html}"
    );

    let script = client.get(rt.url("/realtime.js")).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains("export class Realtime")
    );

    // The API is still the API, and unknown paths are still problems.
    let missing = client.get(rt.url("/nothing-here.js")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.json::<Value>().await.unwrap()["code"], "NOT_FOUND");
    rt.stop().await;
}

#[tokio::test]
async fn dev_login_signs_a_token_the_authorizer_accepts_and_refuses_bad_input() {
    let db = TestDb::new().await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let client = Client::new();

    let resp = client
        .post(rt.url("/local/dev-token"))
        .json(&json!({"user": "buyer-gold", "tier": "gold"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"], "buyer-gold");
    assert_eq!(body["tier"], "GOLD");
    assert!(body["expiresAt"].as_str().unwrap().ends_with('Z'));
    let token = body["token"].as_str().unwrap();

    let mine = client
        .get(rt.url("/api/me/reservations"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        mine.status(),
        StatusCode::OK,
        "the authorizer takes the token"
    );

    for (bad, field) in [
        (json!({"user": "", "tier": "GOLD"}), Some("user")),
        (json!({"user": "buyer-x", "tier": "PLATINUM"}), Some("tier")),
        (
            json!({"user": "buyer-x", "tier": "GOLD", "admin": true}),
            None,
        ),
        (json!({"user": "buyer-x"}), None),
    ] {
        let resp = client
            .post(rt.url("/local/dev-token"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{bad}"
        );
        let problem: Value = resp.json().await.unwrap();
        assert_eq!(problem["code"], "VALIDATION_FAILED", "{bad}");
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{bad}");
        }
    }
    let get = client.get(rt.url("/local/dev-token")).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        get.json::<Value>().await.unwrap()["code"],
        "METHOD_NOT_ALLOWED"
    );
    rt.stop().await;
}
