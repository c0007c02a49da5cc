//! The paid part of the lifecycle through the local runtime: pay, confirm through the payment
//! sandbox, the signed webhook, cancel and refund, with real PostgreSQL and Redis.

use chrono::{Duration, Utc};
use reqwest::{Client, Method};
use serde_json::{Value, json};
use ticketrush_adapters::{
    config::Secret,
    payment_webhook::{HmacWebhookSignatures, SIGNATURE_HEADER},
};
use ticketrush_core::OptionId;
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create, first_option},
    runtime::{LocalRuntime, TEST_PAYMENT_WEBHOOK_SECRET},
};

struct Api {
    client: Client,
    rt: LocalRuntime,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.rt.url(path))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, bearer: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, bearer, Some(body)).await
    }

    /// Selects `n` seats and holds them; returns the reservation id.
    async fn hold(&self, option: OptionId, seats: &[i64], bearer: &str, tag: &str) -> String {
        for seat in seats {
            let (status, body) = self
                .post(
                    &format!("/api/options/{option}/seats/{seat}/select"),
                    bearer,
                    json!({"requestId": format!("{tag}-select-{seat}")}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, held) = self
            .post(
                "/api/holds",
                bearer,
                json!({"optionId": option.get(), "seatIds": seats, "requestId": format!("{tag}-hold")}),
            )
            .await;
        assert_eq!(status, 201, "{held}");
        held["reservationId"].as_str().unwrap().to_owned()
    }

    /// Posts a webhook signed `age` ago with `secret`.
    async fn webhook(&self, body: &Value, secret: &str, age: Duration) -> (u16, Value) {
        let raw = serde_json::to_vec(body).unwrap();
        let signature =
            HmacWebhookSignatures::new(Secret::new(secret.into())).sign(Utc::now() - age, &raw);
        let resp = self
            .client
            .post(self.rt.url("/api/payments/webhook"))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(raw)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }
}

async fn seats_of(db: &TestDb, option: OptionId, n: i64) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM seats WHERE performance_id = $1 ORDER BY id LIMIT $2")
        .bind(option.get())
        .bind(n)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

async fn seat_statuses(db: &TestDb, seats: &[i64]) -> Vec<String> {
    sqlx::query_scalar("SELECT status FROM seats WHERE id = ANY($1) ORDER BY id")
        .bind(seats)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

async fn start(db: &TestDb, slug: &str) -> (Api, OptionId) {
    let concert = create(
        &db.pool,
        &ConcertSpec {
            slug,
            queue_gated: false,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, concert).await;
    let rt = LocalRuntime::start(&db.url, &[]).await;
    (
        Api {
            client: Client::new(),
            rt,
        },
        option,
    )
}

#[tokio::test]
async fn hold_pay_confirm_cancel_refund_walk() {
    let db = TestDb::new().await;
    let (api, option) = start(&db, "walk").await;
    let buyer = api.rt.token("walker", "BASIC", false);
    let seats = seats_of(&db, option, 2).await;
    let id = api.hold(option, &seats, &buyer, "walk").await;
    let path = |action: &str| format!("/api/reservations/{id}/{action}");

    let (status, body) = api
        .post(
            &path("confirm"),
            &buyer,
            json!({"requestId": "c0", "paymentMethod": "sandbox-approve"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("ILLEGAL_TRANSITION")),
        "confirm before pay"
    );

    let (status, body) = api.post(&path("pay"), &buyer, json!({})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("PAYING")),
        "{body}"
    );

    // A declined card puts the reservation back on HOLD; the seats stay held.
    let (status, body) = api
        .post(
            &path("confirm"),
            &buyer,
            json!({"requestId": "c1", "paymentMethod": "sandbox-deny"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("PAYMENT_DECLINED")),
        "{body}"
    );
    let (_, current) = api
        .call(
            Method::GET,
            &format!("/api/reservations/{id}"),
            &buyer,
            None,
        )
        .await;
    assert_eq!(current["status"], "HOLD");
    assert_eq!(seat_statuses(&db, &seats).await, vec!["HOLD", "HOLD"]);

    let (status, _) = api.post(&path("pay"), &buyer, json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post(
            &path("confirm"),
            &buyer,
            json!({"requestId": "c2", "paymentMethod": "sandbox-approve"}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("CONFIRMED")),
        "{body}"
    );
    assert_eq!(
        seat_statuses(&db, &seats).await,
        vec!["CONFIRMED", "CONFIRMED"]
    );

    // A retried confirm answers the same and never charges twice.
    let (status, body) = api
        .post(
            &path("confirm"),
            &buyer,
            json!({"requestId": "c2", "paymentMethod": "sandbox-approve"}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("CONFIRMED")),
        "{body}"
    );
    let charges: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, amount FROM payments WHERE reservation_id = $1::uuid ORDER BY created_at",
    )
    .bind(&id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let price: i64 = sqlx::query_scalar("SELECT sum(price)::bigint FROM seats WHERE id = ANY($1)")
        .bind(&seats)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        charges,
        vec![("DENIED".to_owned(), price), ("APPROVED".to_owned(), price)]
    );

    let (status, body) = api.post(&path("cancel"), &buyer, json!({})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("CANCELLED")),
        "{body}"
    );
    assert_eq!(
        seat_statuses(&db, &seats).await,
        vec!["AVAILABLE", "AVAILABLE"]
    );

    let (status, body) = api.call(Method::POST, &path("refund"), &buyer, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("REFUNDED")),
        "{body}"
    );
    let paid: String = sqlx::query_scalar(
        "SELECT status FROM payments WHERE reservation_id = $1::uuid AND status <> 'DENIED'",
    )
    .bind(&id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(paid, "REFUNDED");
    let (status, body) = api.call(Method::POST, &path("refund"), &buyer, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("ILLEGAL_TRANSITION"))
    );

    // Someone else cannot touch it, and does not learn it exists.
    let stranger = api.rt.token("stranger", "BASIC", false);
    let (status, _) = api
        .call(Method::POST, &path("refund"), &stranger, None)
        .await;
    assert_eq!(status, 404);
    api.rt.stop().await;
}

#[tokio::test]
async fn refunds_close_before_the_show_except_by_an_audited_admin_override() {
    let db = TestDb::new().await;
    let (api, option) = start(&db, "cutoff").await;
    let buyer = api.rt.token("late-buyer", "BASIC", false);
    let seats = seats_of(&db, option, 1).await;
    let id = api.hold(option, &seats, &buyer, "late").await;
    let path = |action: &str| format!("/api/reservations/{id}/{action}");
    assert_eq!(api.post(&path("pay"), &buyer, json!({})).await.0, 200);
    let (status, body) = api
        .post(
            &path("confirm"),
            &buyer,
            json!({"requestId": "c", "paymentMethod": "sandbox-approve"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A refund of an unpaid reservation has nothing to return.
    let other_seat = seats_of(&db, option, 2).await[1];
    let unpaid = api.hold(option, &[other_seat], &buyer, "unpaid").await;
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/reservations/{unpaid}/refund"),
            &buyer,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("ILLEGAL_TRANSITION")),
        "{body}"
    );

    // The show is now two hours away: inside the default 24 h cutoff.
    sqlx::query("UPDATE performances SET starts_at = now() + interval '2 hours' WHERE id = $1")
        .bind(option.get())
        .execute(&db.pool)
        .await
        .unwrap();
    let (status, body) = api.call(Method::POST, &path("refund"), &buyer, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("REFUND_WINDOW_CLOSED")),
        "{body}"
    );
    let (status, body) = api
        .post(&path("refund"), &buyer, json!({"overrideReason": "please"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "{body}"
    );
    let admin = api.rt.token("ops-admin", "BASIC", true);
    let (status, body) = api
        .post(&path("refund"), &admin, json!({"overrideReason": ""}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION_FAILED")),
        "{body}"
    );
    let (status, body) = api.call(Method::POST, &path("refund"), &admin, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("REFUND_WINDOW_CLOSED")),
        "{body}"
    );
    assert_eq!(
        seat_statuses(&db, &seats).await,
        vec!["CONFIRMED"],
        "nothing changed"
    );

    let (status, body) = api
        .post(
            &path("refund"),
            &admin,
            json!({"overrideReason": "show moved; promoter approved"}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("REFUNDED")),
        "{body}"
    );
    assert_eq!(
        seat_statuses(&db, &seats).await,
        vec!["AVAILABLE"],
        "a refunded seat is back on sale"
    );
    let audit: Vec<(String, String)> = sqlx::query_as(
        "SELECT admin_user_id, reason FROM refund_overrides WHERE reservation_id = $1::uuid",
    )
    .bind(&id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        audit,
        vec![(
            "ops-admin".to_owned(),
            "show moved; promoter approved".to_owned()
        )]
    );
    api.rt.stop().await;
}

#[tokio::test]
async fn a_gateway_timeout_is_settled_by_one_signed_in_order_webhook() {
    let db = TestDb::new().await;
    let (api, option) = start(&db, "webhook").await;
    let buyer = api.rt.token("patient", "BASIC", false);
    let seats = seats_of(&db, option, 2).await;
    let id = api.hold(option, &seats, &buyer, "wh").await;
    let path = |action: &str| format!("/api/reservations/{id}/{action}");
    assert_eq!(api.post(&path("pay"), &buyer, json!({})).await.0, 200);
    let (status, body) = api
        .post(
            &path("confirm"),
            &buyer,
            json!({"requestId": "t1", "paymentMethod": "sandbox-timeout"}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("PAYING")),
        "{body}"
    );
    let payment: String = sqlx::query_scalar(
        "SELECT payment_id FROM payments WHERE reservation_id = $1::uuid AND status = 'PENDING'",
    )
    .bind(&id)
    .fetch_one(&db.pool)
    .await
    .unwrap();

    let approved =
        json!({"eventId": "evt-2", "paymentId": payment, "sequence": 2, "outcome": "APPROVED"});
    let fresh = Duration::zero();
    // Refused outright: a wrong key, a tampered body, a stale signature, no signature.
    let (status, body) = api
        .webhook(&approved, "not-the-gateway-secret-0123456789abcdef", fresh)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("WEBHOOK_SIGNATURE_INVALID"))
    );
    let (status, body) = api
        .webhook(
            &approved,
            TEST_PAYMENT_WEBHOOK_SECRET,
            Duration::minutes(10),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("WEBHOOK_STALE")),
        "{body}"
    );
    let unsigned = api
        .client
        .post(api.rt.url("/api/payments/webhook"))
        .json(&approved)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    let current: String = sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(current, "PAYING", "nothing refused was applied");

    let (status, body) = api
        .webhook(&approved, TEST_PAYMENT_WEBHOOK_SECRET, fresh)
        .await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("APPLIED")),
        "{body}"
    );
    assert_eq!(body["reservation"]["status"], "CONFIRMED");
    assert_eq!(
        seat_statuses(&db, &seats).await,
        vec!["CONFIRMED", "CONFIRMED"]
    );

    // The same delivery again, and an older event arriving late, change nothing.
    let (status, body) = api
        .webhook(&approved, TEST_PAYMENT_WEBHOOK_SECRET, fresh)
        .await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("DUPLICATE")),
        "{body}"
    );
    let older =
        json!({"eventId": "evt-1", "paymentId": payment, "sequence": 1, "outcome": "DENIED"});
    let (status, body) = api
        .webhook(&older, TEST_PAYMENT_WEBHOOK_SECRET, fresh)
        .await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("OUT_OF_ORDER")),
        "{body}"
    );
    let (_, now) = api
        .call(
            Method::GET,
            &format!("/api/reservations/{id}"),
            &buyer,
            None,
        )
        .await;
    assert_eq!(now["status"], "CONFIRMED");

    let unknown = json!({"eventId": "evt-9", "paymentId": "pay_nobody", "sequence": 1, "outcome": "APPROVED"});
    let (status, body) = api
        .webhook(&unknown, TEST_PAYMENT_WEBHOOK_SECRET, fresh)
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    let bad = json!({"eventId": "evt-3", "paymentId": payment, "sequence": 3, "outcome": "MAYBE"});
    let (status, body) = api.webhook(&bad, TEST_PAYMENT_WEBHOOK_SECRET, fresh).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION_FAILED"))
    );
    api.rt.stop().await;
}
