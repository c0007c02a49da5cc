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
    assert_eq!(json["presale"]["minTier"], "GOLD");
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
