//! The sales-policy handler driven by AWS's example HTTP API event with a JWT authorizer
//! (the route needs a token), patched only where the event must be ours.

use admin_sales_policy::{SalesPolicyFunction, handle};
use serde_json::json;
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create},
    wiring::Wiring,
};

const JWT_EVENT: &str = "example-apigw-v2-request-jwt-authorizer.json";

#[tokio::test]
async fn aws_event_from_an_admin_sets_the_policy() {
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
    let put = |admin: &'static str| {
        events::aws_http(JWT_EVENT, |e| {
            e.route("PUT /api/concerts/{id}/sales-policy", &[("id", "1")])
                .claims(&[("sub", "ops-admin"), ("tier", "VIP"), ("admin", admin)])
                .body(&json!({
                    "presaleStartsAt": "2026-12-01T10:00:00Z",
                    "presaleMinTier": "GOLD",
                    "generalSaleStartsAt": "2026-12-02T11:00:00Z",
                    "saleEndsAt": "2026-12-20T00:00:00Z",
                    "maxSeatsPerUser": 4,
                    "queueGated": true
                }))
        })
    };

    let resp = handle(&f, put("true")).await;
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

    let resp = handle(&f, put("false")).await;
    assert_eq!(
        (resp.status().as_u16(), body(&resp)["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
}
