//! End to end: admitted buyers click seats through ticketrush-local; the seat map shows it.

use std::time::Duration as StdDuration;

use reqwest::{Client, Method};
use serde_json::{Value, json};
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create, first_option},
    http::{Caller, send},
    runtime::LocalRuntime,
};

struct Buyer {
    bearer: String,
    queue_token: Option<String>,
}

async fn call(
    client: &Client,
    method: Method,
    url: String,
    buyer: &Buyer,
    body: Option<Value>,
) -> (u16, Value) {
    let caller = Caller {
        bearer: Some(&buyer.bearer),
        queue_token: buyer.queue_token.as_deref(),
    };
    let answer = send(client, method, &url, caller, body.as_ref()).await;
    (answer.status, answer.body)
}

/// Joins the waiting room and waits for the admission tick to hand out a token.
async fn admitted(client: &Client, rt: &LocalRuntime, concert: i64, user: &str) -> Buyer {
    let mut buyer = Buyer {
        bearer: rt.token(user, "BASIC", false),
        queue_token: None,
    };
    let (status, _) = call(
        client,
        Method::POST,
        rt.url(&format!("/api/queue/{concert}/join")),
        &buyer,
        None,
    )
    .await;
    assert_eq!(status, 200);
    for _ in 0..100 {
        let (_, view) = call(
            client,
            Method::GET,
            rt.url(&format!("/api/queue/{concert}/status")),
            &buyer,
            None,
        )
        .await;
        if view["status"] == "ACTIVE" {
            buyer.queue_token = Some(view["activeToken"].as_str().unwrap().to_owned());
            return buyer;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("{user} was never admitted");
}

fn seat_status(map: &Value, seat: i64) -> String {
    map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["seatId"] == seat)
        .unwrap()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn admitted_buyers_click_seats_and_everyone_sees_it() {
    let db = TestDb::new().await;
    let concert = create(&db.pool, &ConcertSpec::default()).await;
    let option = first_option(&db.pool, concert).await;
    let rt = LocalRuntime::start(&db.url, &[("QUEUE_TICK_MILLIS", "100")]).await;
    let client = Client::new();
    let alice = admitted(&client, &rt, concert.get(), "alice").await;
    let bob = admitted(&client, &rt, concert.get(), "bob").await;
    let seat_url = |seat: i64| rt.url(&format!("/api/options/{option}/seats/{seat}/select"));
    let map_url = rt.url(&format!("/api/options/{option}/seats"));
    let seat: i64 = sqlx::query_scalar("SELECT min(id) FROM seats WHERE performance_id = $1")
        .bind(option.get())
        .fetch_one(&db.pool)
        .await
        .unwrap();

    let (status, selected) = call(
        &client,
        Method::POST,
        seat_url(seat),
        &alice,
        Some(json!({"requestId": "a-1"})),
    )
    .await;
    assert_eq!(status, 200, "{selected}");
    assert_eq!(selected["status"], "SELECTING");
    let (status, refused) = call(
        &client,
        Method::POST,
        seat_url(seat),
        &bob,
        Some(json!({"requestId": "b-1"})),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("SEAT_ALREADY_SELECTED"))
    );
    let map: Value = client
        .get(&map_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seat_status(&map, seat), "SELECTING");

    let (status, refused) = call(&client, Method::DELETE, seat_url(seat), &bob, None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("NOT_SEAT_OWNER"))
    );
    let (status, _) = call(&client, Method::DELETE, seat_url(seat), &alice, None).await;
    assert_eq!(status, 200);
    let map: Value = client
        .get(&map_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seat_status(&map, seat), "AVAILABLE");
    let (status, _) = call(
        &client,
        Method::POST,
        seat_url(seat),
        &bob,
        Some(json!({"requestId": "b-2"})),
    )
    .await;
    assert_eq!(status, 200, "free again after the release");

    let carol = Buyer {
        bearer: rt.token("carol", "BASIC", false),
        queue_token: None,
    };
    let (status, refused) = call(
        &client,
        Method::POST,
        seat_url(seat + 1),
        &carol,
        Some(json!({"requestId": "c-1"})),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("QUEUE_TOKEN_REQUIRED"))
    );
    let (status, refused) = call(&client, Method::POST, seat_url(seat + 1), &alice, None).await;
    assert_eq!((status, refused["field"].as_str()), (400, Some("body")));
    rt.stop().await;
}

#[tokio::test]
async fn postgres_stopped_during_confirm_leaves_nothing_and_the_retry_succeeds() {
    use ticketrush_adapters::{
        config::{RedisConfig, Secret},
        redis::{RedisSeatLocks, RedisStore},
    };
    use ticketrush_core::{PerformanceKey, SeatId, seats::SeatLocks};
    use ticketrush_testkit::{proxy::FaultProxy, setting};

    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let proxy = FaultProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let rt = LocalRuntime::start(&db.url_via(proxy.addr), &[]).await;
    let client = Client::new();
    let buyer = Buyer {
        bearer: rt.token("dana", "BASIC", false),
        queue_token: None,
    };
    let seat: i64 = sqlx::query_scalar("SELECT min(id) FROM seats WHERE performance_id = $1")
        .bind(option.get())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let select_url = rt.url(&format!("/api/options/{option}/seats/{seat}/select"));
    let hold = json!({"optionId": option.get(), "seatIds": [seat], "requestId": "dana-hold-1"});
    let (status, _) = call(
        &client,
        Method::POST,
        select_url.clone(),
        &buyer,
        Some(json!({"requestId": "s1"})),
    )
    .await;
    assert_eq!(status, 200);

    proxy.cut();
    let (status, problem) = call(
        &client,
        Method::POST,
        rt.url("/api/holds"),
        &buyer,
        Some(hold.clone()),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("UNAVAILABLE"))
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "no reservation row");
    let status: String = sqlx::query_scalar("SELECT status FROM seats WHERE id = $1")
        .bind(seat)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(status, "AVAILABLE");
    let locks = RedisSeatLocks::new(
        RedisStore::connect(&RedisConfig {
            url: Secret::from(setting("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")),
            key_prefix: rt.redis_prefix.clone(),
            timeout: StdDuration::from_secs(2),
        })
        .await
        .unwrap(),
    );
    assert_eq!(
        locks
            .holders(
                PerformanceKey { concert, option },
                &[SeatId::from_stored(seat)]
            )
            .await
            .unwrap(),
        vec![None],
        "soft lock released"
    );

    proxy.restore().await;
    let mut selected = false;
    for _ in 0..50 {
        if call(
            &client,
            Method::POST,
            select_url.clone(),
            &buyer,
            Some(json!({"requestId": "s2"})),
        )
        .await
        .0 == 200
        {
            selected = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(
        selected,
        "the seat can be selected again once PostgreSQL is back"
    );
    let (status, reservation) = call(
        &client,
        Method::POST,
        rt.url("/api/holds"),
        &buyer,
        Some(hold),
    )
    .await;
    assert_eq!(status, 201, "{reservation}");
    assert_eq!(reservation["status"], "HOLD");
    let map: Value = client
        .get(rt.url(&format!("/api/options/{option}/seats")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seat_status(&map, seat), "HOLD");
    rt.stop().await;
}

#[tokio::test]
async fn the_reservation_lifecycle_through_the_runtime() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let client = Client::new();
    let erin = Buyer {
        bearer: rt.token("erin", "BASIC", false),
        queue_token: None,
    };
    let frank = Buyer {
        bearer: rt.token("frank", "BASIC", false),
        queue_token: None,
    };
    let admin = Buyer {
        bearer: rt.token("ops", "VIP", true),
        queue_token: None,
    };
    let seats: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM seats WHERE performance_id = $1 ORDER BY id LIMIT 3")
            .bind(option.get())
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let hold = |seat: i64, request: &'static str| {
        let (client, erin_bearer) = (client.clone(), erin.bearer.clone());
        let select_url = rt.url(&format!("/api/options/{option}/seats/{seat}/select"));
        let holds_url = rt.url("/api/holds");
        async move {
            let buyer = Buyer {
                bearer: erin_bearer,
                queue_token: None,
            };
            assert_eq!(
                call(
                    &client,
                    Method::POST,
                    select_url,
                    &buyer,
                    Some(json!({"requestId": request}))
                )
                .await
                .0,
                200
            );
            let body = json!({"optionId": option.get(), "seatIds": [seat], "requestId": request});
            let (status, reservation) =
                call(&client, Method::POST, holds_url, &buyer, Some(body)).await;
            assert_eq!(status, 201, "{reservation}");
            reservation["reservationId"].as_str().unwrap().to_owned()
        }
    };
    let first = hold(seats[0], "h1").await;
    let url = |id: &str, action: &str| rt.url(&format!("/api/reservations/{id}{action}"));

    assert_eq!(
        call(&client, Method::GET, url(&first, ""), &erin, None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&client, Method::GET, url(&first, ""), &frank, None)
            .await
            .0,
        404,
        "not frank's"
    );
    assert_eq!(
        call(&client, Method::GET, url(&first, ""), &admin, None)
            .await
            .0,
        200,
        "admins may look"
    );
    assert_eq!(
        call(&client, Method::POST, url(&first, "/pay"), &frank, None)
            .await
            .0,
        404
    );

    let (status, paying) = call(&client, Method::POST, url(&first, "/pay"), &erin, None).await;
    assert_eq!((status, paying["status"].as_str()), (200, Some("PAYING")));
    let (status, problem) = call(&client, Method::POST, url(&first, "/pay"), &erin, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("ILLEGAL_TRANSITION"))
    );
    let (status, problem) = call(&client, Method::POST, url(&first, "/cancel"), &erin, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("ILLEGAL_TRANSITION")),
        "PAYING cannot be cancelled"
    );

    let second = hold(seats[1], "h2").await;
    let (status, cancelled) =
        call(&client, Method::POST, url(&second, "/cancel"), &erin, None).await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("CANCELLED"))
    );
    let map: Value = client
        .get(rt.url(&format!("/api/options/{option}/seats")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seat_status(&map, seats[1]),
        "AVAILABLE",
        "a cancelled hold gives its seat back"
    );
    assert_eq!(
        seat_status(&map, seats[0]),
        "HOLD",
        "a paying reservation keeps its seat"
    );

    let (status, mine) = call(
        &client,
        Method::GET,
        rt.url("/api/me/reservations?status=CANCELLED"),
        &erin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["reservationId"], second.as_str());
    let (status, problem) = call(
        &client,
        Method::GET,
        rt.url("/api/me/reservations?status=SOLD"),
        &erin,
        None,
    )
    .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("status")));
    let (status, problem) = call(&client, Method::GET, url("not-a-uuid", ""), &erin, None).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("id")));
    rt.stop().await;
}

#[tokio::test]
async fn stopped_redis_gets_a_clear_503_on_select_and_recovers() {
    let db = TestDb::new().await;
    let concert = create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let (proxy, proxied) = ticketrush_testkit::proxy::test_redis_behind_proxy().await;
    let rt = LocalRuntime::start(
        &db.url,
        &[("REDIS_URL", &proxied), ("REDIS_TIMEOUT_MS", "300")],
    )
    .await;
    let client = Client::new();
    let buyer = Buyer {
        bearer: rt.token("gus", "BASIC", false),
        queue_token: None,
    };
    let seat: i64 = sqlx::query_scalar("SELECT min(id) FROM seats WHERE performance_id = $1")
        .bind(option.get())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let url = rt.url(&format!("/api/options/{option}/seats/{seat}/select"));

    proxy.cut();
    let (status, problem) = call(
        &client,
        Method::POST,
        url.clone(),
        &buyer,
        Some(json!({"requestId": "g1"})),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("UNAVAILABLE"))
    );
    let map = client
        .get(rt.url(&format!("/api/options/{option}/seats")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        map.status(),
        503,
        "no seat map that could show a taken seat as free"
    );

    proxy.restore().await;
    let mut back = false;
    for _ in 0..50 {
        if call(
            &client,
            Method::POST,
            url.clone(),
            &buyer,
            Some(json!({"requestId": "g2"})),
        )
        .await
        .0 == 200
        {
            back = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(back, "clicks work again once Redis is back");
    rt.stop().await;
}

#[tokio::test]
async fn the_seat_limit_is_enforced_at_the_click_across_performances() {
    let db = TestDb::new().await;
    // Two performances; the policy allows 4 seats per buyer for the concert.
    let concert = create(
        &db.pool,
        &ConcertSpec {
            queue_gated: false,
            performances_in_days: &[10, 11],
            ..Default::default()
        },
    )
    .await;
    let options: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM performances WHERE concert_id = $1 ORDER BY starts_at")
            .bind(concert.get())
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let seats = |option: i64| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT id FROM seats WHERE performance_id = $1 ORDER BY id LIMIT 4",
            )
            .bind(option)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let (first, second) = (seats(options[0]).await, seats(options[1]).await);
    let rt = LocalRuntime::start(&db.url, &[]).await;
    let client = Client::new();
    let erin = Buyer {
        bearer: rt.token("erin", "BASIC", false),
        queue_token: None,
    };
    let click = |option: i64, seat: i64, n: u32| {
        call(
            &client,
            Method::POST,
            rt.url(&format!("/api/options/{option}/seats/{seat}/select")),
            &erin,
            Some(json!({"requestId": format!("e-{n}")})),
        )
    };

    // Two seats of the first performance, held in the ledger.
    for (n, seat) in first[..2].iter().enumerate() {
        assert_eq!(click(options[0], *seat, n as u32).await.0, 200);
    }
    let (status, hold) = call(
        &client,
        Method::POST,
        rt.url("/api/holds"),
        &erin,
        Some(json!({"optionId": options[0], "seatIds": &first[..2], "requestId": "e-hold"})),
    )
    .await;
    assert_eq!(status, 201, "{hold}");
    // Two soft locks in the second performance reach the limit of 4.
    assert_eq!(click(options[1], second[0], 10).await.0, 200);
    assert_eq!(click(options[1], second[1], 11).await.0, 200);
    let (status, refused) = click(options[1], second[2], 12).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("LIMIT_EXCEEDED")),
        "{refused}"
    );
    let (status, refused) = click(options[0], first[2], 13).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("LIMIT_EXCEEDED"))
    );
    let holder: Option<String> =
        sqlx::query_scalar("SELECT reservation_id::text FROM seats WHERE id = $1")
            .bind(second[2])
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(holder, None, "the refused seat stays free");

    // Letting one go makes room for exactly one more.
    let (status, _) = call(
        &client,
        Method::DELETE,
        rt.url(&format!(
            "/api/options/{}/seats/{}/select",
            options[1], second[1]
        )),
        &erin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(click(options[1], second[2], 14).await.0, 200);
    assert_eq!(click(options[1], second[3], 15).await.0, 409);

    // Cancelling the hold frees its two seats from the count.
    let id = hold["reservationId"].as_str().unwrap();
    let (status, _) = call(
        &client,
        Method::POST,
        rt.url(&format!("/api/reservations/{id}/cancel")),
        &erin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(click(options[1], second[3], 16).await.0, 200);
    assert_eq!(click(options[0], first[2], 17).await.0, 200);
    assert_eq!(click(options[0], first[3], 18).await.0, 409);
}
