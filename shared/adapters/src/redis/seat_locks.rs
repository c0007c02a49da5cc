//! Seat soft locks in Redis. Every key of a performance carries the `{optionId}` hash tag,
//! so each script stays in one cluster slot and a click is one round trip: the lock
//! (`seat:{option}:{seat}`, value `expiresAtMs|requestId|user`, with a TTL; the user goes
//! last because it may itself contain `|`), the buyer's held
//! seats, the lock expiries, the ledger mirror, the change log (a stream) and the flush marker.

use std::{sync::LazyLock, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use redis::{Script, Value};
use ticketrush_core::{
    OptionId, SeatId, StoreError, UserId,
    catalog::SeatStatus,
    seats::{ChangeBatch, LockTerms, ReleaseOutcome, RequestId, SeatLocks, SelectOutcome},
};

use super::{RedisStore, store_error};

/// Most entries a performance's change log keeps (approximately); viewers read far fewer.
const LOG_MAX_LEN: u32 = 10_000;

static SELECT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local lock, held, locks, taken, log, flush = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local seat, user, request = ARGV[1], ARGV[2], ARGV[3]
local now, ttl, max, window, maxlen = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]
if redis.call('SISMEMBER', taken, seat) == 1 then return {'UNAVAILABLE'} end
local current = redis.call('GET', lock)
if current then
  local expires, _, owner = string.match(current, '^(%d+)|([^|]*)|(.*)$')
  if owner == user then return {'SELECTED', expires, 0} end
  return {'TAKEN'}
end
redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
if redis.call('ZCARD', held) >= max then return {'LIMIT'} end
local expires = now + ttl
redis.call('SET', lock, expires .. '|' .. request .. '|' .. user, 'PX', ttl)
redis.call('ZADD', held, expires, seat)
redis.call('PEXPIRE', held, ttl)
redis.call('ZADD', locks, expires, seat)
redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'seat', seat, 'status', 'SELECTING')
local first = redis.call('SET', flush, '1', 'NX', 'PX', window)
return {'SELECTED', tostring(expires), first and 1 or 0}
"#,
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local lock, held, locks, log, flush = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local seat, user, window, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current = redis.call('GET', lock)
if not current then return {'NOT_HELD'} end
local owner = string.match(current, '^%d+|[^|]*|(.*)$')
if owner ~= user then return {'NOT_OWNER'} end
redis.call('DEL', lock)
redis.call('ZREM', held, seat)
redis.call('ZREM', locks, seat)
redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'seat', seat, 'status', 'AVAILABLE')
local first = redis.call('SET', flush, '1', 'NX', 'PX', window)
return {'RELEASED', first and 1 or 0}
"#,
    )
});

static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local lock, held, locks = KEYS[1], KEYS[2], KEYS[3]
local seat, user, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local current = redis.call('GET', lock)
if not current then return 0 end
local request, owner = string.match(current, '^%d+|([^|]*)|(.*)$')
if owner ~= user then return 0 end
local expires = now + ttl
redis.call('SET', lock, expires .. '|' .. request .. '|' .. owner, 'PX', ttl)
redis.call('ZADD', held, expires, seat)
redis.call('PEXPIRE', held, ttl)
redis.call('ZADD', locks, expires, seat)
return 1
"#,
    )
});

/// Drops a seat's soft lock, its place in the holder's count and its expiry entry; true if
/// there was one. Shared by the scripts that apply the ledger to Redis.
const CLEAR_LOCK_LUA: &str = r#"
local function clear_lock(lock_prefix, locks, seat)
  local current = redis.call('GET', lock_prefix .. seat)
  redis.call('ZREM', locks, seat)
  if not current then return false end
  local owner = string.match(current, '^%d+|[^|]*|(.*)$')
  redis.call('ZREM', lock_prefix .. 'held:' .. owner, seat)
  redis.call('DEL', lock_prefix .. seat)
  return true
end
"#;

fn with_clear_lock(body: &str) -> Script {
    Script::new(&format!("{CLEAR_LOCK_LUA}{body}"))
}

/// ARGV: window, maxlen, then seat/status pairs. A seat leaving AVAILABLE loses its soft lock
/// (and its place in the holder's count) and joins the ledger mirror; one coming back leaves
/// it. The lock and held-set keys are built from the `{optionId}`-tagged prefix, so they stay
/// in the script's slot.
static RECORD_LEDGER: LazyLock<Script> = LazyLock::new(|| {
    with_clear_lock(
        r#"
local taken, locks, log, flush, lock_prefix = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local window, maxlen = ARGV[1], ARGV[2]
for i = 3, #ARGV, 2 do
  local seat, status = ARGV[i], ARGV[i + 1]
  if status == 'AVAILABLE' then
    redis.call('SREM', taken, seat)
  else
    redis.call('SADD', taken, seat)
    clear_lock(lock_prefix, locks, seat)
  end
  redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'seat', seat, 'status', status)
end
local first = redis.call('SET', flush, '1', 'NX', 'PX', window)
return first and 1 or 0
"#,
    )
});

/// ARGV: window, maxlen, then the ledger's taken seat/status pairs. Seats the mirror had but
/// the ledger no longer holds come back AVAILABLE; seats the ledger holds lose any soft lock
/// and join the mirror. Each difference is logged.
static RESYNC: LazyLock<Script> = LazyLock::new(|| {
    with_clear_lock(
        r#"
local taken, locks, log, flush, lock_prefix = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local window, maxlen = ARGV[1], ARGV[2]
local ledger = {}
for i = 3, #ARGV, 2 do ledger[ARGV[i]] = ARGV[i + 1] end
local changed = 0
for _, seat in ipairs(redis.call('SMEMBERS', taken)) do
  if not ledger[seat] then
    redis.call('SREM', taken, seat)
    redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'seat', seat, 'status', 'AVAILABLE')
    changed = changed + 1
  end
end
for seat, status in pairs(ledger) do
  local locked = clear_lock(lock_prefix, locks, seat)
  if redis.call('SADD', taken, seat) == 1 or locked then
    redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'seat', seat, 'status', status)
    changed = changed + 1
  end
end
local first = 0
if changed > 0 and redis.call('SET', flush, '1', 'NX', 'PX', window) then first = 1 end
return {changed, first}
"#,
    )
});

/// Locks whose expiry passed without a release come back as AVAILABLE in the log.
static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local locks, log, flush, lock_prefix = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, window, maxlen = ARGV[1], ARGV[2], ARGV[3]
local lapsed = redis.call('ZRANGEBYSCORE', locks, '-inf', now, 'LIMIT', 0, 1000)
local n = 0
for _, seat in ipairs(lapsed) do
  redis.call('ZREM', locks, seat)
  if redis.call('EXISTS', lock_prefix .. seat) == 0 then
    redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'seat', seat, 'status', 'AVAILABLE')
    n = n + 1
  end
end
local first = 0
if n > 0 and redis.call('SET', flush, '1', 'NX', 'PX', window) then first = 1 end
return {n, first}
"#,
    )
});

/// Moves the viewers' read cursor only from where the caller found it. ARGV: from ("" for
/// none), to, ttl ms (the cursor outlives the log's idle life, then starts over).
static ADVANCE_CURSOR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"#,
    )
});

/// ARGV: read_to, maxlen, then seat/status pairs. Each seat with no log entry after
/// `read_to` is logged again with its status (atomically, so no newer change slips between).
static RELOG: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local log = KEYS[1]
local read_to, maxlen = ARGV[1], ARGV[2]
local newer = {}
for _, entry in ipairs(redis.call('XRANGE', log, '(' .. read_to, '+')) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'seat' then newer[fields[i + 1]] = true end
  end
end
local n = 0
for i = 3, #ARGV, 2 do
  if not newer[ARGV[i]] then
    redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'seat', ARGV[i], 'status', ARGV[i + 1])
    n = n + 1
  end
end
return n
"#,
    )
});

/// How long a flush cursor lives without a flush.
const CURSOR_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone)]
pub struct RedisSeatLocks {
    store: RedisStore,
}

struct OptionKeys {
    base: String,
    locks: String,
    taken: String,
    log: String,
    flush: String,
    flushed: String,
}

impl OptionKeys {
    fn lock(&self, seat: SeatId) -> String {
        format!("{}:{seat}", self.base)
    }
    fn held(&self, user: &UserId) -> String {
        format!("{}:held:{user}", self.base)
    }
    /// The prefix the scripts append a seat id to.
    fn lock_prefix(&self) -> String {
        format!("{}:", self.base)
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn unexpected(what: &str, reply: &impl std::fmt::Debug) -> StoreError {
    StoreError::Internal(format!("unexpected {what} reply {reply:?}"))
}

fn status_name(s: SeatStatus) -> &'static str {
    s.as_str()
}

impl RedisSeatLocks {
    pub fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn keys(&self, option: OptionId) -> OptionKeys {
        let base = self.store.key(&format!("seat:{{{option}}}"));
        OptionKeys {
            locks: format!("{base}:locks"),
            taken: format!("{base}:taken"),
            log: format!("{base}:log"),
            flush: format!("{base}:flush"),
            flushed: format!("{base}:flushed"),
            base,
        }
    }
}

impl SeatLocks for RedisSeatLocks {
    async fn select(
        &self,
        option: OptionId,
        seat: SeatId,
        user: &UserId,
        request: &RequestId,
        now: DateTime<Utc>,
        terms: LockTerms,
    ) -> Result<SelectOutcome, StoreError> {
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let reply: Vec<String> = SELECT
            .key(k.lock(seat))
            .key(k.held(user))
            .key(&k.locks)
            .key(&k.taken)
            .key(&k.log)
            .key(&k.flush)
            .arg(seat.get())
            .arg(user.as_str())
            .arg(request.as_str())
            .arg(millis(now))
            .arg(terms.ttl.as_millis() as u64)
            .arg(terms.max_per_user)
            .arg(terms.flush_window.as_millis() as u64)
            .arg(LOG_MAX_LEN)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        match reply.first().map(String::as_str) {
            Some("SELECTED") if reply.len() == 3 => {
                let ms: i64 = reply[1].parse().map_err(|_| unexpected("select", &reply))?;
                Ok(SelectOutcome::Selected {
                    expires_at: Utc.timestamp_millis_opt(ms).single().unwrap_or(now),
                    flush: reply[2] == "1",
                })
            }
            Some("TAKEN") => Ok(SelectOutcome::HeldByOther),
            Some("UNAVAILABLE") => Ok(SelectOutcome::Unavailable),
            Some("LIMIT") => Ok(SelectOutcome::UserLimit),
            _ => Err(unexpected("select", &reply)),
        }
    }

    async fn release(
        &self,
        option: OptionId,
        seat: SeatId,
        user: &UserId,
        flush_window: Duration,
    ) -> Result<ReleaseOutcome, StoreError> {
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let reply: Vec<String> = RELEASE
            .key(k.lock(seat))
            .key(k.held(user))
            .key(&k.locks)
            .key(&k.log)
            .key(&k.flush)
            .arg(seat.get())
            .arg(user.as_str())
            .arg(flush_window.as_millis() as u64)
            .arg(LOG_MAX_LEN)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        match reply.first().map(String::as_str) {
            Some("RELEASED") => Ok(ReleaseOutcome::Released {
                flush: reply.get(1).is_some_and(|f| f == "1"),
            }),
            Some("NOT_OWNER") => Ok(ReleaseOutcome::NotOwner),
            Some("NOT_HELD") => Ok(ReleaseOutcome::NotHeld),
            _ => Err(unexpected("release", &reply)),
        }
    }

    async fn extend(
        &self,
        option: OptionId,
        seat: SeatId,
        user: &UserId,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let extended: i64 = EXTEND
            .key(k.lock(seat))
            .key(k.held(user))
            .key(&k.locks)
            .arg(seat.get())
            .arg(user.as_str())
            .arg(millis(now))
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(extended == 1)
    }

    async fn holders(
        &self,
        option: OptionId,
        seats: &[SeatId],
    ) -> Result<Vec<Option<UserId>>, StoreError> {
        if seats.is_empty() {
            return Ok(Vec::new());
        }
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let mut mget = redis::cmd("MGET");
        for seat in seats {
            mget.arg(k.lock(*seat));
        }
        let values: Vec<Option<String>> = mget.query_async(&mut conn).await.map_err(store_error)?;
        Ok(values
            .into_iter()
            .map(|v| {
                v.and_then(|v| v.splitn(3, '|').nth(2).map(str::to_owned))
                    .and_then(|u| UserId::parse(&u).ok())
            })
            .collect())
    }

    async fn record_ledger(
        &self,
        option: OptionId,
        changes: &[(SeatId, SeatStatus)],
        flush_window: Duration,
    ) -> Result<bool, StoreError> {
        if changes.is_empty() {
            return Ok(false);
        }
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let mut invocation = RECORD_LEDGER.prepare_invoke();
        invocation
            .key(&k.taken)
            .key(&k.locks)
            .key(&k.log)
            .key(&k.flush)
            .key(k.lock_prefix())
            .arg(flush_window.as_millis() as u64)
            .arg(LOG_MAX_LEN);
        for (seat, status) in changes {
            invocation.arg(seat.get()).arg(status_name(*status));
        }
        let first: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(first == 1)
    }

    async fn resync(
        &self,
        option: OptionId,
        taken: &[(SeatId, SeatStatus)],
        flush_window: Duration,
    ) -> Result<(u32, bool), StoreError> {
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let mut invocation = RESYNC.prepare_invoke();
        invocation
            .key(&k.taken)
            .key(&k.locks)
            .key(&k.log)
            .key(&k.flush)
            .key(k.lock_prefix())
            .arg(flush_window.as_millis() as u64)
            .arg(LOG_MAX_LEN);
        for (seat, status) in taken {
            invocation.arg(seat.get()).arg(status_name(*status));
        }
        let (changed, first): (u32, i64) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok((changed, first == 1))
    }

    async fn sweep_expired(
        &self,
        option: OptionId,
        now: DateTime<Utc>,
        flush_window: Duration,
    ) -> Result<(u32, bool), StoreError> {
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let (n, first): (u32, i64) = SWEEP
            .key(&k.locks)
            .key(&k.log)
            .key(&k.flush)
            .key(k.lock_prefix())
            .arg(millis(now))
            .arg(flush_window.as_millis() as u64)
            .arg(LOG_MAX_LEN)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok((n, first == 1))
    }

    async fn changes_since(
        &self,
        option: OptionId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ChangeBatch, StoreError> {
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        // Exclusive start after the cursor ("(" prefix), or the beginning.
        let start = cursor.map_or_else(|| "-".to_owned(), |c| format!("({c}"));
        let reply: Value = redis::cmd("XRANGE")
            .arg(&k.log)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        let entries: Vec<(String, Vec<(String, String)>)> =
            redis::from_redis_value(reply).map_err(|e| StoreError::Internal(e.to_string()))?;
        let last = entries
            .last()
            .map(|(id, _)| id.clone())
            .or_else(|| cursor.map(str::to_owned));
        let changes = entries
            .into_iter()
            .filter_map(|(_, fields)| {
                let get = |name: &str| {
                    fields
                        .iter()
                        .find(|(f, _)| f == name)
                        .map(|(_, v)| v.as_str())
                };
                let seat = get("seat")?.parse::<i64>().ok().map(SeatId::from_stored)?;
                let status = match get("status")? {
                    "SELECTING" => SeatStatus::Selecting,
                    other => SeatStatus::from_ledger(other)?,
                };
                Some((seat, status))
            })
            .collect();
        Ok(ChangeBatch {
            changes,
            cursor: last,
        })
    }

    async fn flush_window_left(&self, option: OptionId) -> Result<Option<Duration>, StoreError> {
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let ms: i64 = redis::cmd("PTTL")
            .arg(&k.flush)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        // -2: no marker; -1 cannot happen (the marker is always set with PX).
        Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
    }

    async fn flush_cursor(&self, option: OptionId) -> Result<Option<String>, StoreError> {
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        redis::cmd("GET")
            .arg(&k.flushed)
            .query_async(&mut conn)
            .await
            .map_err(store_error)
    }

    async fn advance_flush_cursor(
        &self,
        option: OptionId,
        from: Option<&str>,
        to: &str,
    ) -> Result<bool, StoreError> {
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let moved: i64 = ADVANCE_CURSOR
            .key(&k.flushed)
            .arg(from.unwrap_or(""))
            .arg(to)
            .arg(CURSOR_TTL.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(moved == 1)
    }

    async fn relog_undelivered(
        &self,
        option: OptionId,
        read_to: &str,
        changes: &[(SeatId, SeatStatus)],
    ) -> Result<u32, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let k = self.keys(option);
        let mut conn = self.store.conn.clone();
        let mut invocation = RELOG.prepare_invoke();
        invocation.key(&k.log).arg(read_to).arg(LOG_MAX_LEN);
        for (seat, status) in changes {
            invocation.arg(seat.get()).arg(status_name(*status));
        }
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)
    }
}
