//! The concert-detail handler driven by AWS's example HTTP API event with a Lambda
//! authorizer (the public route's `http-authorize`), patched only where it must be ours.

use chrono::Duration;
use concert_detail::{ConcertDetailFunction, handle};
use ticketrush_core::Tier;
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create, first_option, take_seats},
    wiring::Wiring,
};

const LAMBDA_EVENT: &str = "example-apigw-v2-request-lambda-authorizer.json";

#[tokio::test]
async fn aws_event_returns_the_concert_as_its_caller_sees_it() {
    let db = TestDb::new().await;
    let id = create(
        &db.pool,
        &ConcertSpec {
            slug: "detail",
            title: "Detail Concert",
            opens_in: Some(Duration::days(2)),
            presale: Some((Duration::minutes(-5), Tier::Gold)),
            performances_in_days: &[7, 8],
            ..Default::default()
        },
    )
    .await;
    take_seats(&db.pool, first_option(&db.pool, id).await, 5, "HOLD").await;
    let wiring = Wiring::new(&db.url, &[]).await;
    let f = ConcertDetailFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("concert-detail starts");
    let route = |e: events::AwsEvent| e.route("GET /api/concerts/{id}", &[("id", "1")]);

    // AWS's own context names no user: an anonymous viewer, before the general sale.
    let resp = handle(&f, events::aws_http(LAMBDA_EVENT, route)).await;
    assert_eq!(resp.status(), 200);
    let json = body(&resp);
    assert_eq!(json["title"], "Detail Concert");
    assert_ne!(json["saleStatus"], "OPEN", "{json}");
    let perfs = json["performances"].as_array().unwrap();
    assert_eq!(perfs.len(), 2);
    assert_eq!(perfs[0]["availableSeatCount"], 15);
    assert_eq!(json["availableSeatCount"], 35);
    assert_eq!(json["totalSeatCount"], 40);

    // The authorizer's GOLD caller is in their presale.
    let gold = events::aws_http(LAMBDA_EVENT, |e| {
        route(e).context(&[
            ("userId", "buyer-gold"),
            ("tier", "GOLD"),
            ("admin", "false"),
        ])
    });
    let resp = handle(&f, gold).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body(&resp)["saleStatus"], "OPEN");
}
