//! The concert-detail handler driven by its events/ sample against real PostgreSQL.

use chrono::Duration;
use concert_detail::{ConcertDetailFunction, handle};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create, first_option, take_seats},
    wiring::Wiring,
};

async fn function(db: &TestDb) -> ConcertDetailFunction {
    let wiring = Wiring::new(&db.url, &[]).await;
    ConcertDetailFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("concert-detail starts")
}

#[tokio::test]
async fn sample_event_returns_the_concert_with_its_performances() {
    let db = TestDb::new().await;
    let id = create(
        &db.pool,
        &ConcertSpec {
            slug: "detail",
            title: "Detail Concert",
            opens_in: Some(Duration::minutes(3)),
            performances_in_days: &[7, 8],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(id.get(), 1, "the sample event asks for concert 1");
    take_seats(&db.pool, first_option(&db.pool, id).await, 5, "HOLD").await;

    let f = function(&db).await;
    let resp = handle(&f, events::http_request("concert-detail.json")).await;
    assert_eq!(resp.status(), 200);
    let json = body(&resp);
    assert_eq!(json["title"], "Detail Concert");
    assert_eq!(json["saleStatus"], "OPEN_SOON_5M");
    assert_eq!(json["salesPolicy"]["maxSeatsPerUser"], 4);
    let perfs = json["performances"].as_array().unwrap();
    assert_eq!(perfs.len(), 2);
    assert_eq!(perfs[0]["availableSeatCount"], 15);
    assert_eq!(perfs[1]["availableSeatCount"], 20);
    assert_eq!(json["availableSeatCount"], 35);
    assert_eq!(json["totalSeatCount"], 40);
}

#[tokio::test]
async fn unknown_concert_is_a_404_problem() {
    let db = TestDb::new().await;
    let f = function(&db).await;
    let resp = handle(&f, events::http_request("concert-detail.json")).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(body(&resp)["code"], "NOT_FOUND");
}

/// The sample event (anonymous) with `authorization` set.
fn tokened(name: &str) -> lambda_http::Request {
    let mut event: serde_json::Value = serde_json::from_str(&events::text(name)).unwrap();
    event["headers"]["authorization"] = "Bearer a-token".into();
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn anonymous_answers_may_be_shared_for_a_second_and_tokened_ones_never() {
    let db = TestDb::new().await;
    create(&db.pool, &ConcertSpec::default()).await;
    let f = function(&db).await;

    let public = handle(&f, events::http_request("concert-detail.json")).await;
    assert_eq!(public.status(), 200);
    assert_eq!(public.headers()["cache-control"], "public, max-age=1");

    let private = handle(&f, tokened("concert-detail.json")).await;
    assert_eq!(private.status(), 200);
    assert_eq!(private.headers()["cache-control"], "private, no-store");

    // Errors are never shared: a 404 stays no-store.
    let missing = function(&TestDb::new().await).await;
    let resp = handle(&missing, events::http_request("concert-detail.json")).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["cache-control"], "no-store");
}
