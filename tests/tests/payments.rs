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
    http::{Caller, send},
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
        let url = self.rt.url(path);
        let answer = send(
            &self.client,
            method,
            &url,
            Caller::bearer(bearer),
            body.as_ref(),
        )
        .await;
        (answer.status, answer.body)
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
            HmacWebhookSignatures::new(Secret::from(secret)).sign(Utc::now() - age, &raw);
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
    start_with(db, slug, &[]).await
}

async fn start_with(db: &TestDb, slug: &str, extra: &[(&str, &str)]) -> (Api, OptionId) {
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
    let rt = LocalRuntime::start(&db.url, extra).await;
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
    let payment = pending_payment(&db, &id).await;

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

/// What the gateway was asked to charge for a reservation: (charges, charges refunded).
async fn gateway_charges(db: &TestDb, reservation: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE refunded) FROM sandbox_charges WHERE idempotency_key LIKE $1 || ':%'",
    )
    .bind(reservation)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// Our payment rows for a reservation, as their statuses.
async fn payment_statuses(db: &TestDb, reservation: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT status FROM payments WHERE reservation_id = $1::uuid ORDER BY id")
        .bind(reservation)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

async fn reservation_status(db: &TestDb, reservation: &str) -> String {
    sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1::uuid")
        .bind(reservation)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn pending_payment(db: &TestDb, reservation: &str) -> String {
    sqlx::query_scalar(
        "SELECT payment_id FROM payments WHERE reservation_id = $1::uuid AND status = 'PENDING'",
    )
    .bind(reservation)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_second_confirm_while_a_charge_is_pending_never_charges_again() {
    let db = TestDb::new().await;
    let (api, option) = start(&db, "twice").await;
    let buyer = api.rt.token("twice", "BASIC", false);
    let seats = seats_of(&db, option, 2).await;
    let id = api.hold(option, &seats, &buyer, "tw").await;
    let path = |action: &str| format!("/api/reservations/{id}/{action}");
    assert_eq!(api.post(&path("pay"), &buyer, json!({})).await.0, 200);
    let timeout = json!({"requestId": "c1", "paymentMethod": "sandbox-timeout"});
    let (status, body) = api.post(&path("confirm"), &buyer, timeout.clone()).await;
    assert_eq!(status, 202, "{body}");

    let (status, body) = api
        .post(
            &path("confirm"),
            &buyer,
            json!({"requestId": "c2", "paymentMethod": "sandbox-approve"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("PAYMENT_IN_PROGRESS")),
        "{body}"
    );
    // The first request id, retried, gets its own answer again.
    let (status, body) = api.post(&path("confirm"), &buyer, timeout).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("PAYING")));
    assert_eq!(gateway_charges(&db, &id).await, (1, 0));
    assert_eq!(payment_statuses(&db, &id).await, vec!["PENDING"]);

    // The gateway's late approval of the one charge confirms it; nothing is left to refund.
    let payment = pending_payment(&db, &id).await;
    let approved =
        json!({"eventId": "tw-1", "paymentId": payment, "sequence": 1, "outcome": "APPROVED"});
    let (status, body) = api
        .webhook(&approved, TEST_PAYMENT_WEBHOOK_SECRET, Duration::zero())
        .await;
    assert_eq!((status, body["result"].as_str()), (200, Some("APPLIED")));
    assert_eq!(reservation_status(&db, &id).await, "CONFIRMED");
    assert_eq!(payment_statuses(&db, &id).await, vec!["APPROVED"]);
    assert_eq!(gateway_charges(&db, &id).await, (1, 0));
    api.rt.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_confirms_charge_the_buyer_exactly_once() {
    let db = TestDb::new().await;
    let (api, option) = start(&db, "stampede").await;
    let buyer = api.rt.token("stampede", "BASIC", false);
    let seats = seats_of(&db, option, 2).await;
    let id = api.hold(option, &seats, &buyer, "st").await;
    let path = format!("/api/reservations/{id}/confirm");
    assert_eq!(
        api.post(&format!("/api/reservations/{id}/pay"), &buyer, json!({}))
            .await
            .0,
        200
    );
    let answers = futures_util::future::join_all((0..20).map(|i| {
        api.post(
            &path,
            &buyer,
            json!({"requestId": format!("st-{i}"), "paymentMethod": "sandbox-approve"}),
        )
    }))
    .await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((ok, refused), (1, 19), "{answers:?}");
    assert_eq!(gateway_charges(&db, &id).await, (1, 0));
    assert_eq!(payment_statuses(&db, &id).await, vec!["APPROVED"]);

    // The same request id sent ten times at once while the gateway leaves it pending: one
    // charge, and no answer is a 5xx.
    let seats = seats_of(&db, option, 4).await;
    let other = api.hold(option, &seats[2..], &buyer, "st2").await;
    assert_eq!(
        api.post(&format!("/api/reservations/{other}/pay"), &buyer, json!({}))
            .await
            .0,
        200
    );
    let path = format!("/api/reservations/{other}/confirm");
    let answers = futures_util::future::join_all((0..10).map(|_| {
        api.post(
            &path,
            &buyer,
            json!({"requestId": "same", "paymentMethod": "sandbox-timeout"}),
        )
    }))
    .await;
    assert!(
        answers.iter().all(|(s, _)| *s == 202 || *s == 409),
        "{answers:?}"
    );
    assert_eq!(gateway_charges(&db, &other).await, (1, 0));
    assert_eq!(payment_statuses(&db, &other).await, vec!["PENDING"]);
    api.rt.stop().await;
}

/// Hold, pay and a confirm the gateway leaves pending; the reservation id.
async fn pending_confirm(api: &Api, option: OptionId, seats: &[i64], buyer: &str) -> String {
    let id = api.hold(option, seats, buyer, "late").await;
    let path = |action: &str| format!("/api/reservations/{id}/{action}");
    assert_eq!(api.post(&path("pay"), buyer, json!({})).await.0, 200);
    let (status, body) = api
        .post(
            &path("confirm"),
            buyer,
            json!({"requestId": "late-1", "paymentMethod": "sandbox-timeout"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    id
}

#[tokio::test]
async fn an_approval_after_the_original_hold_expiry_confirms_or_is_refunded_never_kept() {
    // A 10 s hold. One runtime gives a payment 30 s to settle, the other 1 s.
    let db = TestDb::new().await;
    let (patient, option) = start_with(
        &db,
        "late-ok",
        &[("HOLD_TTL_SECS", "10"), ("PAYMENT_WINDOW_SECS", "30")],
    )
    .await;
    let hasty_db = TestDb::new().await;
    let (hasty, hasty_option) = start_with(
        &hasty_db,
        "late-refund",
        &[("HOLD_TTL_SECS", "10"), ("PAYMENT_WINDOW_SECS", "1")],
    )
    .await;
    let buyer = patient.rt.token("late", "BASIC", false);
    let kept = pending_confirm(&patient, option, &seats_of(&db, option, 2).await, &buyer).await;
    let hasty_seats = seats_of(&hasty_db, hasty_option, 2).await;
    let lapsed = pending_confirm(&hasty, hasty_option, &hasty_seats, &buyer).await;

    // Past the original hold expiry, with the expiry tick running every second.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    assert_eq!(reservation_status(&db, &kept).await, "PAYING");
    assert_eq!(reservation_status(&hasty_db, &lapsed).await, "EXPIRED");
    assert_eq!(
        seat_statuses(&hasty_db, &hasty_seats).await,
        vec!["AVAILABLE", "AVAILABLE"]
    );

    let approve = |payment: String| json!({"eventId": format!("ok-{payment}"), "paymentId": payment, "sequence": 1, "outcome": "APPROVED"});
    let fresh = Duration::zero();
    let (status, body) = patient
        .webhook(
            &approve(pending_payment(&db, &kept).await),
            TEST_PAYMENT_WEBHOOK_SECRET,
            fresh,
        )
        .await;
    assert_eq!((status, body["result"].as_str()), (200, Some("APPLIED")));
    assert_eq!(reservation_status(&db, &kept).await, "CONFIRMED");
    assert_eq!(gateway_charges(&db, &kept).await, (1, 0));

    // Too late for the seats: the money goes straight back, and the ledger says so.
    let (status, body) = hasty
        .webhook(
            &approve(pending_payment(&hasty_db, &lapsed).await),
            TEST_PAYMENT_WEBHOOK_SECRET,
            fresh,
        )
        .await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("REFUNDED")),
        "{body}"
    );
    assert_eq!(gateway_charges(&hasty_db, &lapsed).await, (1, 1));
    assert_eq!(payment_statuses(&hasty_db, &lapsed).await, vec!["REFUNDED"]);
    assert_eq!(reservation_status(&hasty_db, &lapsed).await, "EXPIRED");
    patient.rt.stop().await;
    hasty.rt.stop().await;
}

#[tokio::test]
async fn refund_raced_against_cancel_returns_money_exactly_when_the_ledger_says_refunded() {
    let db = TestDb::new().await;
    let (api, option) = start(&db, "race").await;
    let seats = seats_of(&db, option, 50).await;
    let mut refunded = 0;
    for (i, seat) in seats.iter().enumerate() {
        let buyer = api.rt.token(&format!("racer-{i}"), "BASIC", false);
        let id = api
            .hold(option, &[*seat], &buyer, &format!("race-{i}"))
            .await;
        let path = |action: &str| format!("/api/reservations/{id}/{action}");
        assert_eq!(api.post(&path("pay"), &buyer, json!({})).await.0, 200);
        let (status, body) = api
            .post(
                &path("confirm"),
                &buyer,
                json!({"requestId": "pay", "paymentMethod": "sandbox-approve"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (refund_path, cancel_path) = (path("refund"), path("cancel"));
        let (refund, cancel) = tokio::join!(
            api.post(&refund_path, &buyer, json!({})),
            api.post(&cancel_path, &buyer, json!({}))
        );
        assert!(refund.0 < 500 && cancel.0 < 500, "{refund:?} {cancel:?}");
        let status = reservation_status(&db, &id).await;
        let (charges, returned) = gateway_charges(&db, &id).await;
        assert_eq!(charges, 1);
        match status.as_str() {
            "REFUNDED" => {
                refunded += 1;
                assert_eq!(returned, 1, "refunded in the ledger, so returned");
                assert_eq!(payment_statuses(&db, &id).await, vec!["REFUNDED"]);
            }
            "CANCELLED" => {
                assert_eq!(returned, 0, "cancelled but still paid: no money went back");
                assert_eq!(payment_statuses(&db, &id).await, vec!["APPROVED"]);
            }
            other => panic!("{other} after refund {refund:?} and cancel {cancel:?}"),
        }
    }
    assert!(refunded > 0, "the refund won at least once");
    api.rt.stop().await;
}
