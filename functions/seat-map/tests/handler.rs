//! The seat-map handler driven by its events/ sample against real PostgreSQL.

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

#[tokio::test]
async fn sample_event_returns_a_page_of_seats_with_ledger_status() {
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
    assert_eq!(option.get(), 1, "the sample event asks for option 1");
    take_seats(&db.pool, option, 3, "CONFIRMED").await;

    let wiring = Wiring::new(&db.url, &[]).await;
    let f = SeatMapFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("seat-map starts");
    let someone = UserId::parse("someone").unwrap();
    let request = RequestId::parse("r1").unwrap();
    let terms = LockTerms {
        ttl: std::time::Duration::from_secs(30),
        max_per_user: 4,
        flush_window: std::time::Duration::from_millis(200),
    };
    // Seat 4 is clicked (SELECTING); seat 1 is CONFIRMED in the ledger, a stale lock must not show.
    f.locks
        .select(
            PerformanceKey { concert, option },
            SeatId::from_stored(4),
            &someone,
            &request,
            Utc::now(),
            terms,
        )
        .await
        .unwrap();
    let resp = handle(&f, events::http_request("seat-map.json")).await;
    assert_eq!(resp.status(), 200);
    let json = body(&resp);
    let seats = json["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 100, "the event asks for size=100");
    assert_eq!(json["totalElements"], 150);
    assert_eq!(json["hasNext"], true);
    let confirmed = seats.iter().filter(|s| s["status"] == "CONFIRMED").count();
    assert_eq!(confirmed, 3);
    let selecting: Vec<i64> = seats
        .iter()
        .filter(|s| s["status"] == "SELECTING")
        .map(|s| s["seatId"].as_i64().unwrap())
        .collect();
    assert_eq!(selecting, vec![4], "the live soft lock is overlaid");
    assert_eq!(seats[0]["section"], "A");
    assert_eq!(seats[0]["row"], "1");
    assert_eq!(seats[0]["number"], 1);
}
