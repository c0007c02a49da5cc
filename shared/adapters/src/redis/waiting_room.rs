//! The waiting room in Redis. A concert's keys share the `{concertId}` hash tag, so each
//! script touches one Redis Cluster slot; arrival order is a per-concert INCR sequence.
//! An admitted buyer's expiry is kept here; their token is signed (see `queue_tokens`).

use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use redis::Script;
use ticketrush_core::{
    ConcertId, SeatId, StoreError, UserId,
    queue::{Admission, AdmitRequest, Admitted, JoinOutcome, QueueSettings, Standing, WaitingRoom},
};

use super::{RedisStore, store_error};

/// Join: throttle, then the same token if admitted (even after leaving: the slot is still
/// counted), the same rank if waiting, refuse at capacity, else enqueue at the next sequence
/// number.
static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local wait, seen, tokens, seq, throttle = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local user, now = ARGV[1], tonumber(ARGV[2])
local capacity, limit, window = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local attempts = redis.call('INCR', throttle)
if attempts == 1 then redis.call('PEXPIRE', throttle, window) end
if attempts > limit then return {'THROTTLED', redis.call('PTTL', throttle)} end
local active = KEYS[6]
local expires = tonumber(redis.call('ZSCORE', active, user) or '0')
if expires > now then
  redis.call('HSET', tokens, user, expires)
  return {'ACTIVE', tostring(expires)}
end
local rank = redis.call('ZRANK', wait, user)
if rank then
  redis.call('ZADD', seen, now, user)
  return {'WAITING', rank + 1}
end
if redis.call('ZCARD', wait) >= capacity then return {'FULL'} end
redis.call('ZADD', wait, redis.call('INCR', seq), user)
redis.call('ZADD', seen, now, user)
return {'WAITING', redis.call('ZCARD', wait)}
"#,
    )
});

/// Standing: active token, or rank (and mark the buyer as still here), or absent.
static STANDING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local wait, seen, tokens = KEYS[1], KEYS[2], KEYS[3]
local user, now = ARGV[1], tonumber(ARGV[2])
local expires = tonumber(redis.call('HGET', tokens, user) or '0')
if expires > now then return {'ACTIVE', tostring(expires)} end
local rank = redis.call('ZRANK', wait, user)
if rank then
  redis.call('ZADD', seen, 'XX', now, user)
  return {'WAITING', rank + 1}
end
return {'ABSENT'}
"#,
    )
});

/// Leave: give up the place in line. An admitted buyer's token is signed and checked without
/// a store, so their slot in `active` stays counted until it expires; only the standing goes.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local wait, seen, tokens = KEYS[1], KEYS[2], KEYS[3]
local user = ARGV[1]
local was_waiting = redis.call('ZREM', wait, user)
redis.call('ZREM', seen, user)
redis.call('HDEL', tokens, user)
return was_waiting
"#,
    )
});

/// Credit: each freed seat joins the credit set, unless it already earned a credit that was
/// spent within the last token lifetime (`credited`, seat -> until, in ms).
static CREDIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local credits, credited = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = 0
for i = 1, #ARGV do
  local until_ms = tonumber(redis.call('ZSCORE', credited, ARGV[i]) or '0')
  if until_ms <= now then added = added + redis.call('SADD', credits, ARGV[i]) end
end
return added
"#,
    )
});

/// Admit: forget expired tokens, then pop the head until the batch is full, dropping
/// entries not seen recently. The batch is the room left under the active cap, plus
/// freed-seat credits; a spent credit's seat is remembered for a token lifetime.
static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local wait, seen, tokens, active, credits, credited = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, batch, max_active = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, seen_since, max_drop = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local expired = redis.call('ZRANGEBYSCORE', active, '-inf', now)
for _, user in ipairs(expired) do redis.call('HDEL', tokens, user) end
redis.call('ZREMRANGEBYSCORE', active, '-inf', now)
local room = math.min(batch, math.max(0, max_active - redis.call('ZCARD', active)))
redis.call('ZREMRANGEBYSCORE', credited, '-inf', now)
local credit = math.min(batch, redis.call('SCARD', credits))
local slots = room + credit
local admitted, used, dropped = {}, 0, 0
while used < slots and dropped < max_drop do
  local head = redis.call('ZPOPMIN', wait)
  if #head == 0 then break end
  local user = head[1]
  local last_seen = tonumber(redis.call('ZSCORE', seen, user) or '0')
  redis.call('ZREM', seen, user)
  if last_seen < seen_since then
    dropped = dropped + 1
  else
    used = used + 1
    local expires = now + ttl
    redis.call('HSET', tokens, user, expires)
    redis.call('ZADD', active, expires, user)
    admitted[#admitted + 1] = user
    admitted[#admitted + 1] = tostring(expires)
  end
end
local credits_used = math.max(0, used - room)
if credits_used > 0 then
  for _, seat in ipairs(redis.call('SPOP', credits, credits_used)) do
    redis.call('ZADD', credited, now + ttl, seat)
  end
end
return {admitted, dropped, credits_used, redis.call('ZCARD', wait), redis.call('ZCARD', active)}
"#,
    )
});

/// The waiting room in Redis.
#[derive(Clone)]
pub struct RedisWaitingRoom {
    store: RedisStore,
}

struct ConcertKeys {
    wait: String,
    seen: String,
    tokens: String,
    active: String,
    seq: String,
    credits: String,
    credited: String,
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn instant(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn unexpected(reply: &[String]) -> StoreError {
    StoreError::internal(format!("unexpected waiting-room reply {reply:?}"))
}

fn parse_standing(reply: &[String]) -> Result<Standing, StoreError> {
    match reply.first().map(String::as_str) {
        Some("ACTIVE") if reply.len() == 2 => Ok(Standing::Active {
            expires_at: instant(reply[1].parse().map_err(|_| unexpected(reply))?),
        }),
        Some("WAITING") if reply.len() == 2 => Ok(Standing::Waiting {
            rank: reply[1].parse().map_err(|_| unexpected(reply))?,
        }),
        Some("ABSENT") => Ok(Standing::Absent),
        _ => Err(unexpected(reply)),
    }
}

impl RedisWaitingRoom {
    pub fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn keys(&self, concert: ConcertId) -> ConcertKeys {
        let base = self.store.key(&format!("q:{{{concert}}}"));
        ConcertKeys {
            wait: format!("{base}:wait"),
            seen: format!("{base}:seen"),
            tokens: format!("{base}:tokens"),
            active: format!("{base}:active"),
            seq: format!("{base}:seq"),
            credits: format!("{base}:credit-seats"),
            credited: format!("{base}:credited"),
        }
    }

    fn throttle_key(&self, concert: ConcertId, user: &UserId) -> String {
        self.store.key(&format!("q:{{{concert}}}:throttle:{user}"))
    }
}

impl WaitingRoom for RedisWaitingRoom {
    async fn join(
        &self,
        concert: ConcertId,
        user: &UserId,
        now: DateTime<Utc>,
        settings: &QueueSettings,
    ) -> Result<JoinOutcome, StoreError> {
        let k = self.keys(concert);
        let mut conn = self.store.conn.clone();
        let reply: Vec<String> = JOIN
            .key(&k.wait)
            .key(&k.seen)
            .key(&k.tokens)
            .key(&k.seq)
            .key(self.throttle_key(concert, user))
            .key(&k.active)
            .arg(user.as_str())
            .arg(millis(now))
            .arg(settings.capacity)
            .arg(settings.join_limit)
            .arg(settings.join_window.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        match reply.first().map(String::as_str) {
            Some("THROTTLED") => {
                let ms: i64 = reply.get(1).and_then(|v| v.parse().ok()).unwrap_or(1000);
                Ok(JoinOutcome::Throttled {
                    retry_after: std::time::Duration::from_millis(ms.max(1) as u64),
                })
            }
            Some("FULL") => Ok(JoinOutcome::Full),
            _ => match parse_standing(&reply)? {
                Standing::Waiting { rank } => Ok(JoinOutcome::Waiting { rank }),
                Standing::Active { expires_at } => Ok(JoinOutcome::Active { expires_at }),
                Standing::Absent => Err(unexpected(&reply)),
            },
        }
    }

    async fn standing(
        &self,
        concert: ConcertId,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Standing, StoreError> {
        let k = self.keys(concert);
        let mut conn = self.store.conn.clone();
        let reply: Vec<String> = STANDING
            .key(&k.wait)
            .key(&k.seen)
            .key(&k.tokens)
            .arg(user.as_str())
            .arg(millis(now))
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        parse_standing(&reply)
    }

    async fn leave(&self, concert: ConcertId, user: &UserId) -> Result<bool, StoreError> {
        let k = self.keys(concert);
        let mut conn = self.store.conn.clone();
        let removed: i64 = LEAVE
            .key(&k.wait)
            .key(&k.seen)
            .key(&k.tokens)
            .arg(user.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(removed > 0)
    }

    async fn admit(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        request: &AdmitRequest,
    ) -> Result<Admission, StoreError> {
        let k = self.keys(concert);
        let mut conn = self.store.conn.clone();
        let mut invocation = ADMIT.prepare_invoke();
        invocation
            .key(&k.wait)
            .key(&k.seen)
            .key(&k.tokens)
            .key(&k.active)
            .key(&k.credits)
            .key(&k.credited)
            .arg(millis(now))
            .arg(request.max_batch)
            .arg(request.max_active)
            .arg(request.active_ttl.as_millis() as u64)
            .arg(millis(request.seen_since))
            .arg(u64::from(request.max_batch) * 10);
        let (flat, dropped, credits_used, still_waiting, active): (
            Vec<String>,
            u32,
            u32,
            u64,
            u64,
        ) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        let admitted = flat
            .chunks(2)
            .map(|c| {
                Ok(Admitted {
                    user: UserId::parse(&c[0]).map_err(StoreError::internal)?,
                    expires_at: instant(c[1].parse().map_err(|_| StoreError::internal("expiry"))?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Admission {
            admitted,
            dropped,
            credits_used,
            still_waiting,
            active,
        })
    }

    async fn ranks(
        &self,
        concert: ConcertId,
        start: u64,
        count: u32,
    ) -> Result<Vec<(UserId, u64)>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let k = self.keys(concert);
        let mut conn = self.store.conn.clone();
        let users: Vec<String> = redis::cmd("ZRANGE")
            .arg(&k.wait)
            .arg(start)
            .arg(start + u64::from(count) - 1)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        users
            .into_iter()
            .enumerate()
            .map(|(i, u)| {
                let user = UserId::parse(&u).map_err(StoreError::internal)?;
                Ok((user, start + i as u64 + 1))
            })
            .collect()
    }

    async fn credit_freed_seats(
        &self,
        concert: ConcertId,
        seats: &[SeatId],
    ) -> Result<(), StoreError> {
        if seats.is_empty() {
            return Ok(());
        }
        let k = self.keys(concert);
        let mut conn = self.store.conn.clone();
        let mut invocation = CREDIT.prepare_invoke();
        invocation.key(&k.credits).key(&k.credited);
        for seat in seats {
            invocation.arg(seat.get());
        }
        invocation
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}
