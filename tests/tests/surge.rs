//! The opening minute through ticketrush-local: a thousand distinct buyers arrive at once on
//! one queue-gated sale, wait for the real admission tick, click the same ten seats (the
//! next one on 409) and confirm a hold. Counts are asserted, never times.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::{Client, Method};
use serde_json::{Value, json};
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create, first_option},
    http::{Caller, send},
    runtime::LocalRuntime,
};

const BUYERS: usize = 1_000;

/// Every answer of the run, by step and status.
#[derive(Default)]
struct Answers(Mutex<BTreeMap<(&'static str, u16), u32>>);

impl Answers {
    fn count(&self, step: &'static str, status: u16) {
        *self.0.lock().unwrap().entry((step, status)).or_default() += 1;
    }

    fn server_errors(&self) -> Vec<((&'static str, u16), u32)> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|((_, status), _)| *status >= 500)
            .map(|(k, v)| (*k, *v))
            .collect()
    }
}

struct Buyer {
    client: Client,
    base: String,
    bearer: String,
    answers: Arc<Answers>,
}

impl Buyer {
    async fn call(
        &self,
        step: &'static str,
        method: Method,
        path: &str,
        queue_token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let caller = Caller {
            bearer: Some(&self.bearer),
            queue_token,
        };
        let url = format!("{}{path}", self.base);
        let answer = send(&self.client, method, &url, caller, body.as_ref()).await;
        self.answers.count(step, answer.status);
        (answer.status, answer.body)
    }

    /// Join, wait until admitted, click seats in order until one is ours, hold it. True if held.
    async fn buy(&self, concert: i64, option: i64, seats: &[i64], tag: &str) -> bool {
        let queue = format!("/api/queue/{concert}");
        let (status, mut view) = self
            .call("join", Method::POST, &format!("{queue}/join"), None, None)
            .await;
        if status != 200 {
            return false;
        }
        while view["status"] != "ACTIVE" {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let (status, next) = self
                .call(
                    "status",
                    Method::GET,
                    &format!("{queue}/status"),
                    None,
                    None,
                )
                .await;
            if status != 200 {
                return false;
            }
            view = next;
        }
        let token = view["activeToken"]
            .as_str()
            .expect("an active token")
            .to_owned();
        for seat in seats {
            let (status, _) = self
                .call(
                    "select",
                    Method::POST,
                    &format!("/api/options/{option}/seats/{seat}/select"),
                    Some(&token),
                    Some(json!({"requestId": format!("{tag}-s{seat}")})),
                )
                .await;
            if status == 200 {
                let (status, _) = self
                    .call(
                        "hold",
                        Method::POST,
                        "/api/holds",
                        Some(&token),
                        Some(json!({"optionId": option, "seatIds": [seat], "requestId": format!("{tag}-hold")})),
                    )
                    .await;
                return status == 201;
            }
            if status >= 500 {
                return false;
            }
        }
        false
    }
}

#[tokio::test]
async fn a_thousand_buyers_at_once_hold_exactly_the_ten_seats_with_no_5xx() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            slug: "surge",
            rows: 2,
            seats_per_row: 5,
            ..ConcertSpec::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let seats: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM seats WHERE performance_id = $1 ORDER BY id")
            .bind(option.get())
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(seats.len(), 10);
    // The active cap is above the cohort, so every buyer is admitted by the ticks.
    let rt = LocalRuntime::start(
        &db.url,
        &[
            ("QUEUE_MAX_ACTIVE", "5000"),
            ("QUEUE_ADMIT_PER_TICK", "500"),
            // A short catalog cache, so its entries lapse again and again under the clicks.
            ("CATALOG_CACHE_MILLIS", "20"),
        ],
    )
    .await;
    let answers = Arc::new(Answers::default());
    let buyers: Vec<Buyer> = (0..BUYERS)
        .map(|i| Buyer {
            client: Client::new(),
            base: rt.base_url.clone(),
            bearer: rt.token(&format!("surge-{i}"), "BASIC", false),
            answers: answers.clone(),
        })
        .collect();
    let seats = Arc::new(seats);
    let runs = buyers.into_iter().enumerate().map(|(i, buyer)| {
        let seats = seats.clone();
        tokio::spawn(async move {
            buyer
                .buy(concert.get(), option.get(), &seats, &format!("b{i}"))
                .await
        })
    });
    let held = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();

    assert_eq!(
        answers.server_errors(),
        vec![],
        "no 5xx: {:?}",
        answers.0.lock().unwrap()
    );
    assert_eq!(held, 10, "{:?}", answers.0.lock().unwrap());
    let (holds, doubled): (i64, i64) = sqlx::query_as(
        r#"SELECT (SELECT count(*) FROM reservations WHERE performance_id = $1 AND status = 'HOLD'),
                  (SELECT count(*) FROM (
                      SELECT rs.seat_id FROM reservation_seats rs
                      JOIN reservations r ON r.id = rs.reservation_id
                      WHERE r.status IN ('HOLD', 'PAYING', 'CONFIRMED') AND r.performance_id = $1
                      GROUP BY rs.seat_id HAVING count(*) > 1) twice)"#,
    )
    .bind(option.get())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((holds, doubled), (10, 0));
    rt.stop().await;
}
