//! The seat-map handler driven by AWS's example HTTP API event with a Lambda authorizer (the
//! public route's `http-authorize`), patched only where it must be ours.

use chrono::Utc;
use seat_map::{SeatMapFunction, handle};
use ticketrush_core::{
    PerformanceKey, SeatId, UserId,
    seats::{LockTerms, RequestId, SeatLocks},
};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, body},
    fixtures::{ConcertSpec, create, first_option, take_seats},
    wiring::Wiring,
};

const LAMBDA_EVENT: &str = "example-apigw-v2-request-lambda-authorizer.json";

#[tokio::test]
async fn aws_event_returns_a_page_of_seats_with_live_locks() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            slug: "seats",
            rows: 15,
            seats_per_row: 10,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    take_seats(&db.pool, option, 3, "CONFIRMED").await;
    let wiring = Wiring::new(&db.url, &[]).await;
    let f = SeatMapFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("seat-map starts");
    f.locks
        .select(
            PerformanceKey { concert, option },
            SeatId::from_stored(4),
            &UserId::parse("someone").unwrap(),
            &RequestId::parse("r1").unwrap(),
            Utc::now(),
            LockTerms {
                ttl: std::time::Duration::from_secs(30),
                max_per_user: 4,
                flush_window: std::time::Duration::from_millis(200),
            },
        )
        .await
        .unwrap();

    let option_id = option.to_string();
    let event = events::aws_http(LAMBDA_EVENT, |e| {
        e.route("GET /api/options/{id}/seats", &[("id", &option_id)])
            .query(&[("page", "0"), ("size", "100")])
    });
    let resp = handle(&f, event).await;
    assert_eq!(resp.status(), 200);
    let json = body(&resp);
    let seats = json["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 100);
    assert_eq!(json["totalElements"], 150);
    assert_eq!(json["hasNext"], true);
    assert_eq!(
        seats.iter().filter(|s| s["status"] == "CONFIRMED").count(),
        3
    );
    let selecting: Vec<i64> = seats
        .iter()
        .filter(|s| s["status"] == "SELECTING")
        .map(|s| s["seatId"].as_i64().unwrap())
        .collect();
    assert_eq!(selecting, vec![4]);
}
