//! Seat soft locks in Redis. Every key of a concert carries the `{concertId}` hash tag, so
//! each script stays in one cluster slot and a click is one round trip. Per performance:
//! the lock (`seat:{concert}:{option}:{seat}`, value `expiresAtMs|requestId|user`, with a
//! TTL; the user goes last because it may itself contain `|`), the lock expiries, the ledger
//! mirror (a hash of seat to holder), the change log (a stream) and the flush marker. Per
//! buyer and concert, as `option:seat` members: the soft-locked seats (scored by expiry)
//! and the seats the ledger holds or sold, which the click's seat limit counts together.
//! Beside them, each clicked performance points to its concert (`seat-concert:{option}`).

use std::{sync::LazyLock, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use redis::{ErrorKind, Script, ServerErrorKind, Value};
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, SeatId, StoreError, UserId,
    catalog::SeatStatus,
    seats::{
        ChangeBatch, LockTerms, ReleaseOutcome, RequestId, SeatLocks, SelectOutcome, TakenSeat,
    },
};

use super::{RedisStore, store_error};

/// Most entries a performance's change log keeps (approximately); viewers read far fewer.
const LOG_MAX_LEN: u32 = 10_000;

/// Shared by every script that changes a seat: the change log viewers read, and the flush
/// marker that opens a coalescing window (1 if this call opened it).
const CHANGE_LOG_LUA: &str = r#"
local function log_change(log, maxlen, seat, status)
  redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'seat', seat, 'status', status)
end
local function mark_flush(flush, window)
  if redis.call('SET', flush, '1', 'NX', 'PX', window) then return 1 end
  return 0
end
"#;

fn change_log_script(body: &str) -> Script {
    Script::new(&format!("{CHANGE_LOG_LUA}{body}"))
}

static SELECT: LazyLock<Script> = LazyLock::new(|| {
    change_log_script(
        r#"
local lock, held, owned, locks, taken, log, flush = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local seat, user, request = ARGV[1], ARGV[2], ARGV[3]
local now, ttl, max, window, maxlen = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]
local member = ARGV[9] .. ':' .. seat
if redis.call('HEXISTS', taken, seat) == 1 then return {'UNAVAILABLE'} end
local current = redis.call('GET', lock)
if current then
  local expires, _, owner = string.match(current, '^(%d+)|([^|]*)|(.*)$')
  if owner == user then return {'SELECTED', expires, 0} end
  return {'TAKEN'}
end
redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
if redis.call('ZCARD', held) + redis.call('SCARD', owned) >= max then return {'LIMIT'} end
local expires = now + ttl
redis.call('SET', lock, expires .. '|' .. request .. '|' .. user, 'PX', ttl)
redis.call('ZADD', held, expires, member)
redis.call('PEXPIRE', held, ttl)
redis.call('ZADD', locks, expires, seat)
log_change(log, maxlen, seat, 'SELECTING')
return {'SELECTED', tostring(expires), mark_flush(flush, window)}
"#,
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    change_log_script(
        r#"
local lock, held, locks, log, flush = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local seat, user, window, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current = redis.call('GET', lock)
if not current then return {'NOT_HELD'} end
local owner = string.match(current, '^%d+|[^|]*|(.*)$')
if owner ~= user then return {'NOT_OWNER'} end
redis.call('DEL', lock)
redis.call('ZREM', held, ARGV[5] .. ':' .. seat)
redis.call('ZREM', locks, seat)
log_change(log, maxlen, seat, 'AVAILABLE')
return {'RELEASED', mark_flush(flush, window)}
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
redis.call('ZADD', held, expires, ARGV[5] .. ':' .. seat)
redis.call('PEXPIRE', held, ttl)
redis.call('ZADD', locks, expires, seat)
return 1
"#,
    )
});

/// Shared by the scripts that apply the ledger to Redis. KEYS[5] is the performance's key
/// prefix (a lock is it plus the seat id), KEYS[6] the concert's (a buyer's sets are it plus
/// `held:` or `owned:` and the user); both carry the concert's tag, so what is built from
/// them stays in the script's slot. ARGV[3] is the option id.
const LEDGER_LUA: &str = r#"
local option_prefix, concert_prefix, option = KEYS[5], KEYS[6], ARGV[3]
local function member(seat) return option .. ':' .. seat end
local function owned(user) return concert_prefix .. 'owned:' .. user end
-- Drops a seat's soft lock, its place in the holder's count and its expiry entry; true if
-- there was one.
local function clear_lock(locks, seat)
  local current = redis.call('GET', option_prefix .. seat)
  redis.call('ZREM', locks, seat)
  if not current then return false end
  local owner = string.match(current, '^%d+|[^|]*|(.*)$')
  redis.call('ZREM', concert_prefix .. 'held:' .. owner, member(seat))
  redis.call('DEL', option_prefix .. seat)
  return true
end
"#;

/// A ledger script's call with the keys and leading arguments `LEDGER_LUA` expects.
fn ledger_invocation<'a>(
    script: &'a Script,
    k: &SeatKeys,
    flush_window: Duration,
) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.prepare_invoke();
    invocation
        .key(&k.taken)
        .key(&k.locks)
        .key(&k.log)
        .key(&k.flush)
        .key(k.option_prefix())
        .key(k.concert_prefix())
        .arg(flush_window.as_millis() as u64)
        .arg(LOG_MAX_LEN)
        .arg(k.option_id);
    invocation
}

fn ledger_script(body: &str) -> Script {
    Script::new(&format!("{CHANGE_LOG_LUA}{LEDGER_LUA}{body}"))
}

/// ARGV: window, maxlen, option, holder, then seat/status pairs. A seat leaving AVAILABLE
/// loses its soft lock (and its place in the locker's count), joins the ledger mirror and
/// counts for its holder; one coming back leaves both.
static RECORD_LEDGER: LazyLock<Script> = LazyLock::new(|| {
    ledger_script(
        r#"
local taken, locks, log, flush = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local window, maxlen, holder = ARGV[1], ARGV[2], ARGV[4]
for i = 5, #ARGV, 2 do
  local seat, status = ARGV[i], ARGV[i + 1]
  local previous = redis.call('HGET', taken, seat)
  if previous and previous ~= holder then redis.call('SREM', owned(previous), member(seat)) end
  if status == 'AVAILABLE' then
    redis.call('HDEL', taken, seat)
    redis.call('SREM', owned(holder), member(seat))
  else
    redis.call('HSET', taken, seat, holder)
    redis.call('SADD', owned(holder), member(seat))
    clear_lock(locks, seat)
  end
  log_change(log, maxlen, seat, status)
end
return mark_flush(flush, window)
"#,
    )
});

/// ARGV: window, maxlen, option, then the ledger's taken seat/status/holder triples. Seats
/// the mirror had but the ledger no longer holds come back AVAILABLE; seats the ledger holds
/// lose any soft lock, join the mirror and count for their holder. Each difference is logged.
static RESYNC: LazyLock<Script> = LazyLock::new(|| {
    ledger_script(
        r#"
local taken, locks, log, flush = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local window, maxlen = ARGV[1], ARGV[2]
local ledger = {}
for i = 4, #ARGV, 3 do ledger[ARGV[i]] = {ARGV[i + 1], ARGV[i + 2]} end
local changed = 0
local mirror = redis.call('HGETALL', taken)
for j = 1, #mirror, 2 do
  local seat, holder = mirror[j], mirror[j + 1]
  local entry = ledger[seat]
  if not entry or entry[2] ~= holder then redis.call('SREM', owned(holder), member(seat)) end
  if not entry then
    redis.call('HDEL', taken, seat)
    log_change(log, maxlen, seat, 'AVAILABLE')
    changed = changed + 1
  end
end
for seat, entry in pairs(ledger) do
  local locked = clear_lock(locks, seat)
  local added = redis.call('HSET', taken, seat, entry[2])
  redis.call('SADD', owned(entry[2]), member(seat))
  if added == 1 or locked then
    log_change(log, maxlen, seat, entry[1])
    changed = changed + 1
  end
end
return {changed, changed > 0 and mark_flush(flush, window) or 0}
"#,
    )
});

/// Locks whose expiry passed without a release come back as AVAILABLE in the log.
static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    change_log_script(
        r#"
local locks, log, flush, lock_prefix = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, window, maxlen = ARGV[1], ARGV[2], ARGV[3]
local lapsed = redis.call('ZRANGEBYSCORE', locks, '-inf', now, 'LIMIT', 0, 1000)
local changed = 0
for _, seat in ipairs(lapsed) do
  redis.call('ZREM', locks, seat)
  if redis.call('EXISTS', lock_prefix .. seat) == 0 then
    log_change(log, maxlen, seat, 'AVAILABLE')
    changed = changed + 1
  end
end
return {changed, changed > 0 and mark_flush(flush, window) or 0}
"#,
    )
});

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
    change_log_script(
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
    log_change(log, maxlen, ARGV[i], ARGV[i + 1])
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

struct SeatKeys {
    /// `seat:{concert}`: a buyer's sets hang off it.
    concert: String,
    /// `seat:{concert}:option`: a seat's lock is it plus the seat id.
    option: String,
    option_id: i64,
    locks: String,
    taken: String,
    log: String,
    flush: String,
    flushed: String,
}

impl SeatKeys {
    fn lock(&self, seat: SeatId) -> String {
        format!("{}:{seat}", self.option)
    }
    fn held(&self, user: &UserId) -> String {
        format!("{}:held:{user}", self.concert)
    }
    fn owned(&self, user: &UserId) -> String {
        format!("{}:owned:{user}", self.concert)
    }
    /// The prefixes the scripts append a seat id, or `held:`/`owned:` and a user, to.
    fn option_prefix(&self) -> String {
        format!("{}:", self.option)
    }
    fn concert_prefix(&self) -> String {
        format!("{}:", self.concert)
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn unexpected(what: &str, reply: &impl std::fmt::Debug) -> StoreError {
    StoreError::internal(format!("unexpected {what} reply {reply:?}"))
}

fn status_name(s: SeatStatus) -> &'static str {
    s.as_str()
}

impl RedisSeatLocks {
    pub fn new(store: RedisStore) -> Self {
        Self { store }
    }

    /// `seat-concert:{option}`: the performance's concert, for calls that know only the
    /// performance. A performance never changes concert, so it never goes stale.
    fn concert_pointer(&self, option: OptionId) -> String {
        self.store.key(&format!("seat-concert:{{{option}}}"))
    }

    fn keys(&self, performance: PerformanceKey) -> SeatKeys {
        let concert = self.store.key(&format!("seat:{{{}}}", performance.concert));
        let option = format!("{concert}:{}", performance.option);
        SeatKeys {
            locks: format!("{option}:locks"),
            taken: format!("{option}:taken"),
            log: format!("{option}:log"),
            flush: format!("{option}:flush"),
            flushed: format!("{option}:flushed"),
            option_id: performance.option.get(),
            option,
            concert,
        }
    }
}

impl SeatLocks for RedisSeatLocks {
    async fn select(
        &self,
        performance: PerformanceKey,
        seat: SeatId,
        user: &UserId,
        request: &RequestId,
        now: DateTime<Utc>,
        terms: LockTerms,
    ) -> Result<SelectOutcome, StoreError> {
        let k = self.keys(performance);
        let mut invocation = SELECT.prepare_invoke();
        invocation
            .key(k.lock(seat))
            .key(k.held(user))
            .key(k.owned(user))
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
            .arg(k.option_id);
        // The concert pointer rides in the same round trip (it is another slot's key, so it
        // cannot be written by the script).
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.concert_pointer(performance.option))
            .arg(performance.concert.get())
            .ignore()
            .invoke_script(&invocation);
        let mut conn = self.store.conn.clone();
        let (reply,): (Vec<String>,) = match pipe.query_async(&mut conn).await {
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                SELECT.load_async(&mut conn).await.map_err(store_error)?;
                pipe.query_async(&mut conn).await
            }
            other => other,
        }
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

    async fn concert_of(&self, option: OptionId) -> Result<Option<ConcertId>, StoreError> {
        let mut conn = self.store.conn.clone();
        let concert: Option<i64> = redis::cmd("GET")
            .arg(self.concert_pointer(option))
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(concert.map(ConcertId::from_stored))
    }

    async fn release(
        &self,
        performance: PerformanceKey,
        seat: SeatId,
        user: &UserId,
        flush_window: Duration,
    ) -> Result<ReleaseOutcome, StoreError> {
        let k = self.keys(performance);
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
            .arg(k.option_id)
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
        performance: PerformanceKey,
        seat: SeatId,
        user: &UserId,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let k = self.keys(performance);
        let mut conn = self.store.conn.clone();
        let extended: i64 = EXTEND
            .key(k.lock(seat))
            .key(k.held(user))
            .key(&k.locks)
            .arg(seat.get())
            .arg(user.as_str())
            .arg(millis(now))
            .arg(ttl.as_millis() as u64)
            .arg(k.option_id)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(extended == 1)
    }

    async fn holders(
        &self,
        performance: PerformanceKey,
        seats: &[SeatId],
    ) -> Result<Vec<Option<UserId>>, StoreError> {
        if seats.is_empty() {
            return Ok(Vec::new());
        }
        let k = self.keys(performance);
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
        performance: PerformanceKey,
        holder: &UserId,
        changes: &[(SeatId, SeatStatus)],
        flush_window: Duration,
    ) -> Result<bool, StoreError> {
        if changes.is_empty() {
            return Ok(false);
        }
        let mut conn = self.store.conn.clone();
        let mut invocation =
            ledger_invocation(&RECORD_LEDGER, &self.keys(performance), flush_window);
        invocation.arg(holder.as_str());
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
        performance: PerformanceKey,
        taken: &[TakenSeat],
        flush_window: Duration,
    ) -> Result<(u32, bool), StoreError> {
        let mut conn = self.store.conn.clone();
        let mut invocation = ledger_invocation(&RESYNC, &self.keys(performance), flush_window);
        for t in taken {
            invocation
                .arg(t.seat.get())
                .arg(status_name(t.status))
                .arg(t.holder.as_str());
        }
        let (changed, first): (u32, i64) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok((changed, first == 1))
    }

    async fn sweep_expired(
        &self,
        performance: PerformanceKey,
        now: DateTime<Utc>,
        flush_window: Duration,
    ) -> Result<(u32, bool), StoreError> {
        let k = self.keys(performance);
        let mut conn = self.store.conn.clone();
        let (n, first): (u32, i64) = SWEEP
            .key(&k.locks)
            .key(&k.log)
            .key(&k.flush)
            .key(k.option_prefix())
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
        performance: PerformanceKey,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ChangeBatch, StoreError> {
        let k = self.keys(performance);
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
            redis::from_redis_value(reply).map_err(StoreError::internal)?;
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

    async fn flush_window_left(
        &self,
        performance: PerformanceKey,
    ) -> Result<Option<Duration>, StoreError> {
        let k = self.keys(performance);
        let mut conn = self.store.conn.clone();
        let ms: i64 = redis::cmd("PTTL")
            .arg(&k.flush)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        // -2: no marker; -1 cannot happen (the marker is always set with PX).
        Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
    }

    async fn flush_cursor(
        &self,
        performance: PerformanceKey,
    ) -> Result<Option<String>, StoreError> {
        let k = self.keys(performance);
        let mut conn = self.store.conn.clone();
        redis::cmd("GET")
            .arg(&k.flushed)
            .query_async(&mut conn)
            .await
            .map_err(store_error)
    }

    async fn advance_flush_cursor(
        &self,
        performance: PerformanceKey,
        from: Option<&str>,
        to: &str,
    ) -> Result<bool, StoreError> {
        let k = self.keys(performance);
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
        performance: PerformanceKey,
        read_to: &str,
        changes: &[(SeatId, SeatStatus)],
    ) -> Result<u32, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let k = self.keys(performance);
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
