//! The sales-policy handler driven by its events/ sample against real PostgreSQL.

use admin_sales_policy::{SalesPolicyFunction, handle};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create},
    wiring::Wiring,
};

#[tokio::test]
async fn an_admin_sets_a_policy_and_others_may_not() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            opens_in: None,
            ..Default::default()
        },
    )
    .await;
    let wiring = Wiring::new(&db.url, &[]).await;
    let f = SalesPolicyFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("admin-sales-policy starts");
    let resp = handle(&f, events::http_request("admin-sales-policy.json")).await;
    assert_eq!(resp.status(), 200, "{:?}", body(&resp));
    let json = body(&resp);
    assert_eq!(json["presaleMinTier"], "GOLD");
    assert_eq!(json["generalSaleStartsAt"], "2026-12-02T11:00:00.000Z");
    let stored: i32 =
        sqlx::query_scalar("SELECT max_seats_per_user FROM sales_policies WHERE concert_id = 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(stored, 4);

    let not_admin = events::text("admin-sales-policy.json")
        .replace("\"admin\": \"true\"", "\"admin\": \"false\"");
    let resp = handle(&f, lambda_http::request::from_str(&not_admin).unwrap()).await;
    assert_eq!(
        (resp.status().as_u16(), body(&resp)["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );

    let gap = events::text("admin-sales-policy.json").replace(
        "\\\"presaleMinTier\\\"",
        "\\\"presaleEndsAt\\\": \\\"2026-12-01T12:00:00Z\\\", \\\"presaleMinTier\\\"",
    );
    let resp = handle(&f, lambda_http::request::from_str(&gap).unwrap()).await;
    assert_eq!(
        (resp.status().as_u16(), body(&resp)["field"].as_str()),
        (400, Some("presaleEndsAt"))
    );

    let missing = events::text("admin-sales-policy.json")
        .replace("/api/concerts/1/", "/api/concerts/77/")
        .replace("\"id\": \"1\"", "\"id\": \"77\"");
    assert_eq!(
        handle(&f, lambda_http::request::from_str(&missing).unwrap())
            .await
            .status(),
        404
    );
}

/// The sample event turned into `method` with `body` (none for a read).
fn policy_request(method: &str, body: Option<&serde_json::Value>) -> lambda_http::Request {
    let mut event: serde_json::Value =
        serde_json::from_str(&events::text("admin-sales-policy.json")).unwrap();
    let route = format!("{method} /api/concerts/{{id}}/sales-policy");
    event["routeKey"] = route.clone().into();
    event["requestContext"]["routeKey"] = route.into();
    event["requestContext"]["http"]["method"] = method.into();
    match body {
        Some(b) => {
            event["body"] = b.to_string().into();
            event["headers"]["content-length"] = b.to_string().len().to_string().into();
        }
        None => {
            event.as_object_mut().unwrap().remove("body");
            event["headers"]
                .as_object_mut()
                .unwrap()
                .remove("content-length");
        }
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn what_a_read_answers_a_write_accepts_back() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            opens_in: None,
            ..Default::default()
        },
    )
    .await;
    let wiring = Wiring::new(&db.url, &[]).await;
    let f = SalesPolicyFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("admin-sales-policy starts");
    // With and without a presale: both shapes must come back as they went in.
    for written in [
        None,
        Some(serde_json::json!({
            "generalSaleStartsAt": "2026-12-02T11:00:00Z",
            "maxSeatsPerUser": 2,
            "queueGated": false,
        })),
    ] {
        if let Some(policy) = &written {
            let resp = handle(&f, policy_request("PUT", Some(policy))).await;
            assert_eq!(resp.status(), 200, "{:?}", body(&resp));
        } else {
            let resp = handle(&f, events::http_request("admin-sales-policy.json")).await;
            assert_eq!(resp.status(), 200, "{:?}", body(&resp));
        }
        let read = handle(&f, policy_request("GET", None)).await;
        assert_eq!(read.status(), 200);
        let document = body(&read);
        let put = handle(&f, policy_request("PUT", Some(&document))).await;
        assert_eq!(put.status(), 200, "PUT of the GET: {:?}", body(&put));
        assert_eq!(body(&put), document);
        let again = handle(&f, policy_request("GET", None)).await;
        assert_eq!(body(&again), document);
    }
}
