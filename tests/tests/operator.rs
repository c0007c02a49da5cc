//! End to end: a small sale through ticketrush-local, and the operator page's numbers (fed
//! from the functions' metric lines) matching what happened.

use std::time::Duration;

use reqwest::{Client, Method};
use serde_json::{Value, json};
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create, first_option},
    http::{Caller, send},
    runtime::LocalRuntime,
};

const PATIENCE: Duration = Duration::from_secs(30);

async fn seats_of(db: &TestDb, option: i64, n: i64) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM seats WHERE performance_id = $1 ORDER BY id LIMIT $2")
        .bind(option)
        .bind(n)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

async fn board(client: &Client, rt: &LocalRuntime) -> Value {
    let resp = client
        .get(rt.url("/local/operator/metrics.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Polls the board until `done` holds of it, and answers the board; fails with the last
/// one it saw if it never does.
async fn board_when(client: &Client, rt: &LocalRuntime, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let reached = tokio::time::timeout(PATIENCE, async {
        loop {
            last = board(client, rt).await;
            if done(&last) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "the board never got there: {last:#}");
    last
}

#[tokio::test]
async fn the_operator_page_counts_a_small_sale_exactly() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            slug: "operated",
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let seats = seats_of(&db, option.get(), 2).await;
    let rt = LocalRuntime::start(
        &db.url,
        &[("QUEUE_TICK_MILLIS", "200"), ("QUEUE_ADMIT_PER_TICK", "1")],
    )
    .await;
    let client = Client::new();

    let page = client.get(rt.url("/local/operator")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("metrics.json"));

    // Three buyers join; the tick admits one at a time.
    let buyers: Vec<String> = (0..3)
        .map(|i| rt.token(&format!("op-{i}"), "BASIC", false))
        .collect();
    for b in &buyers {
        let url = rt.url(&format!("/api/queue/{concert}/join"));
        let answer = send(&client, Method::POST, &url, Caller::bearer(b), None).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let mut active: Vec<Option<String>> = vec![None; 3];
    tokio::time::timeout(PATIENCE, async {
        while active.iter().any(Option::is_none) {
            for (i, b) in buyers.iter().enumerate() {
                let url = rt.url(&format!("/api/queue/{concert}/status"));
                let answer = send(&client, Method::GET, &url, Caller::bearer(b), None).await;
                if answer.body["status"] == "ACTIVE" {
                    active[i] = answer.body["activeToken"].as_str().map(str::to_owned);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every buyer is admitted");
    let caller = |i: usize| Caller {
        bearer: Some(&buyers[i]),
        queue_token: active[i].as_deref(),
    };
    let post = |i: usize, path: String, body: Value| {
        let (client, url) = (&client, rt.url(&path));
        async move { send(client, Method::POST, &url, caller(i), Some(&body)).await }
    };

    // Two clicks take a seat each; a third loses to a soft lock.
    let select = |seat: i64| format!("/api/options/{option}/seats/{seat}/select");
    assert_eq!(
        post(0, select(seats[0]), json!({"requestId": "s0"}))
            .await
            .status,
        200
    );
    assert_eq!(
        post(1, select(seats[0]), json!({"requestId": "s1"}))
            .await
            .status,
        409
    );
    assert_eq!(
        post(1, select(seats[1]), json!({"requestId": "s2"}))
            .await
            .status,
        200
    );

    // Both hold; one pays and is confirmed, the other's card is declined.
    let mut reservations = Vec::new();
    for (i, seat) in [(0, seats[0]), (1, seats[1])] {
        let body =
            json!({"optionId": option.get(), "seatIds": [seat], "requestId": format!("h{i}")});
        let held = post(i, "/api/holds".into(), body).await;
        assert_eq!(held.status, 201, "{}", held.body);
        reservations.push(held.body["reservationId"].as_str().unwrap().to_owned());
    }
    for (i, method) in [(0, "sandbox-approve"), (1, "sandbox-deny")] {
        let id = &reservations[i];
        let paying = post(i, format!("/api/reservations/{id}/pay"), json!({})).await;
        assert_eq!(paying.status, 200, "{}", paying.body);
        let body = json!({"requestId": format!("c{i}"), "paymentMethod": method});
        let confirmed = post(i, format!("/api/reservations/{id}/confirm"), body).await;
        assert_eq!(confirmed.status, [200, 402][i], "{}", confirmed.body);
    }

    let expected = json!({
        "QueueJoins": 3,
        "SeatSelects": 2,
        "SoftLockConflicts": 1,
        "HoldsMade": 2,
        "HoldsConfirmed": 1,
        "HoldsExpired": 0,
        "PaymentsApproved": 1,
        "PaymentsDenied": 1,
        "PaymentsPending": 0,
    });
    let matches = |b: &Value| {
        expected
            .as_object()
            .unwrap()
            .iter()
            .all(|(name, want)| b["totals"][name].as_f64() == want.as_f64())
    };
    let key = concert.to_string();
    let b = board_when(&client, &rt, |b| {
        matches(b) && b["concerts"][&key]["admits"].as_f64() == Some(3.0)
    })
    .await;
    let line = &b["concerts"][&key];
    assert_eq!(line["waitingRoomDepth"], 0.0, "{b:#}");
    assert_eq!(line["activeBuyers"], 3.0, "{b:#}");
    assert_eq!(line["lastInLineWaitSeconds"], 0.0, "{b:#}");
    assert_eq!(b["storeErrors"], json!({}), "{b:#}");
    // The ticks report themselves.
    assert!(b["totals"]["TicksRun"].as_f64().unwrap() > 0.0, "{b:#}");
    assert!(
        b["timings"]["TickDuration"]["queue-activate"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    rt.stop().await;
}
