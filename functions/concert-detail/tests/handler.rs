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
