//! The queue-leave handler driven by AWS's example HTTP API event with a JWT authorizer (the
//! route needs a token), patched only where it must be ours.

use chrono::Utc;
use queue_leave::{QueueLeaveFunction, handle};
use ticketrush_adapters::redis::RedisWaitingRoom;
use ticketrush_core::{
    ConcertId, UserId,
    queue::{Standing, WaitingRoom},
};
use ticketrush_testkit::{
    db::TestDb,
    events::{self, AwsEvent, body},
    queue_settings,
    wiring::Wiring,
};

const JWT_EVENT: &str = "example-apigw-v2-request-jwt-authorizer.json";

#[tokio::test]
async fn aws_event_gives_up_the_callers_place() {
    let db = TestDb::new().await;
    let wiring = Wiring::new(&db.url, &[]).await;
    let room = RedisWaitingRoom::new(wiring.redis().await);
    let concert = ConcertId::from_stored(1);
    let me = UserId::parse("buyer-gold").unwrap();
    let next = UserId::parse("next-in-line").unwrap();
    for user in [&me, &next] {
        room.join(concert, user, Utc::now(), &queue_settings())
            .await
            .unwrap();
    }
    let f = QueueLeaveFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("queue-leave starts");
    let leave = |e: AwsEvent| e.route("DELETE /api/queue/{concertId}", &[("concertId", "1")]);

    // AWS's own claims name no subject: nobody to take out of the queue.
    let resp = handle(&f, events::aws_http(JWT_EVENT, leave)).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(body(&resp)["code"], "UNAUTHORIZED");

    let event = events::aws_http(JWT_EVENT, |e| {
        leave(e).claims(&[("sub", "buyer-gold"), ("tier", "GOLD"), ("admin", "false")])
    });
    let resp = handle(&f, event).await;
    assert_eq!(resp.status(), 200, "{:?}", body(&resp));
    assert_eq!(body(&resp)["status"], "NOT_IN_QUEUE");
    assert_eq!(
        room.standing(concert, &me, Utc::now()).await.unwrap(),
        Standing::Absent
    );
    assert_eq!(
        room.standing(concert, &next, Utc::now()).await.unwrap(),
        Standing::Waiting { rank: 1 }
    );
}
