//! Scheduled work that must run once per tick, however many invocations the scheduler
//! delivers, and the tick loop one scheduled invocation runs.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};

use crate::StoreError;

/// A lock with an owner and an expiry; only the owner releases it.
pub trait SchedulerLock: Send + Sync {
    /// True if this owner now holds `name` for `ttl`.
    fn try_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Releases `name` if this owner still holds it; true if it did.
    fn release(
        &self,
        name: &str,
        owner: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// One tick: the instant it was scheduled for, and who runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickRun {
    pub scheduled_at: DateTime<Utc>,
    /// The tick's number: invocations for the same scheduled instant share it.
    pub sequence: u64,
    pub period: Duration,
    pub owner: String,
    /// How long a claim of this tick is held: past the tick itself, so a late duplicate of
    /// it still finds it taken.
    pub hold: Duration,
}

impl TickRun {
    pub fn new(scheduled_at: DateTime<Utc>, period: Duration, owner: impl Into<String>) -> Self {
        let period_ms = (period.as_millis() as i64).max(1);
        Self {
            scheduled_at,
            sequence: (scheduled_at.timestamp_millis().max(0) / period_ms) as u64,
            period,
            owner: owner.into(),
            hold: (period * 3).max(Duration::from_secs(5)),
        }
    }

    /// Claims this tick of `job`. None if another invocation has it, or already ran it.
    pub async fn claim<L: SchedulerLock>(
        &self,
        lock: &L,
        job: &str,
    ) -> Result<Option<TickClaim>, StoreError> {
        let name = format!("{job}:{}", self.sequence);
        if lock.try_acquire(&name, &self.owner, self.hold).await? {
            Ok(Some(TickClaim {
                name,
                owner: self.owner.clone(),
            }))
        } else {
            Ok(None)
        }
    }
}

/// A claimed tick.
#[must_use]
pub struct TickClaim {
    name: String,
    owner: String,
}

impl TickClaim {
    /// A finished tick keeps its claim until it expires, so the tick runs once; a failed
    /// one gives it back so a retry can run it.
    pub async fn finish<L: SchedulerLock>(
        self,
        lock: &L,
        succeeded: bool,
    ) -> Result<(), StoreError> {
        if !succeeded {
            lock.release(&self.name, &self.owner).await?;
        }
        Ok(())
    }
}

/// How long before the invocation's deadline the loop stops starting ticks: room for the
/// last one to finish and the invocation to answer.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// What a tick loop does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickStep {
    /// Run this tick now.
    Run(TickRun),
    /// Nothing is due yet: sleep this long, then ask again.
    Wait(Duration),
    /// This invocation's ticks are over.
    Done,
}

/// The ticks one scheduled invocation runs. It covers every tick instant (a multiple of the
/// tick period) from its scheduled time up to one schedule period later, so consecutive
/// invocations cover consecutive instants and a duplicate covers the same ones (each tick's
/// claim lets one of them run it). Each tick runs in its turn: when one is due the loop runs
/// the latest due instant and drops the earlier ones that went by (an invocation that starts
/// late, or a tick that overran), so ticks never bunch up. No tick starts later than its own
/// period before `deadline - DEADLINE_MARGIN`.
#[derive(Debug)]
pub struct TickLoop {
    tick: Duration,
    tick_ms: i64,
    /// The next instant's sequence not yet run or dropped, and the first one past the period.
    next: i64,
    end: i64,
    last_start_ms: i64,
    hold: Duration,
    owner: String,
    passed: u32,
    cut_short: u32,
}

impl TickLoop {
    pub fn new(
        scheduled_at: DateTime<Utc>,
        schedule_period: Duration,
        tick: Duration,
        deadline: DateTime<Utc>,
        owner: impl Into<String>,
    ) -> Self {
        let tick_ms = (tick.as_millis() as i64).max(1);
        let start_ms = scheduled_at.timestamp_millis();
        let period_ms = schedule_period.as_millis() as i64;
        let reserve_ms = DEADLINE_MARGIN.as_millis() as i64 + tick_ms;
        Self {
            tick,
            tick_ms,
            next: start_ms.div_euclid(tick_ms) + i64::from(start_ms.rem_euclid(tick_ms) > 0),
            end: (start_ms + period_ms).div_euclid(tick_ms)
                + i64::from((start_ms + period_ms).rem_euclid(tick_ms) > 0),
            last_start_ms: deadline.timestamp_millis() - reserve_ms,
            // Held for a schedule period too, so a duplicate of this invocation delivered up
            // to a period late still finds every tick it covers taken.
            hold: (tick * 3)
                .max(Duration::from_secs(5))
                .max(schedule_period + tick),
            owner: owner.into(),
            passed: 0,
            cut_short: 0,
        }
    }

    /// What to do at `now`.
    pub fn step(&mut self, now: DateTime<Utc>) -> TickStep {
        if self.next >= self.end {
            return TickStep::Done;
        }
        let now_ms = now.timestamp_millis();
        let due = now_ms.div_euclid(self.tick_ms).min(self.end - 1);
        let start_ms = if due >= self.next {
            now_ms
        } else {
            self.next * self.tick_ms
        };
        let instant = DateTime::from_timestamp_millis(due.max(self.next) * self.tick_ms);
        let Some(instant) = instant.filter(|_| start_ms <= self.last_start_ms) else {
            self.cut_short += count(self.end - self.next);
            self.next = self.end;
            return TickStep::Done;
        };
        if due < self.next {
            return TickStep::Wait(Duration::from_millis((start_ms - now_ms) as u64));
        }
        self.passed += count(due - self.next);
        self.next = due + 1;
        TickStep::Run(TickRun {
            hold: self.hold,
            ..TickRun::new(instant, self.tick, self.owner.clone())
        })
    }

    /// Tick instants that went by unrun: before the invocation started, or while an earlier
    /// tick ran.
    pub fn passed(&self) -> u32 {
        self.passed
    }

    /// Tick instants left unrun because the deadline came first.
    pub fn cut_short(&self) -> u32 {
        self.cut_short
    }
}

fn count(instants: i64) -> u32 {
    u32::try_from(instants.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeLock, at};

    #[tokio::test]
    async fn a_tick_runs_once_and_a_failed_tick_can_run_again() {
        let lock = FakeLock::default();
        let period = Duration::from_secs(1);
        let first = TickRun::new(at(0), period, "a");
        let duplicate = TickRun::new(at(0), period, "b");
        assert_eq!(first.sequence, duplicate.sequence);
        let claim = first
            .claim(&lock, "job")
            .await
            .unwrap()
            .expect("first claim");
        assert!(duplicate.claim(&lock, "job").await.unwrap().is_none());
        claim.finish(&lock, true).await.unwrap();
        assert!(
            duplicate.claim(&lock, "job").await.unwrap().is_none(),
            "a finished tick stays claimed"
        );

        let next = TickRun::new(at(1), period, "a");
        let claim = next
            .claim(&lock, "job")
            .await
            .unwrap()
            .expect("the next tick is free");
        claim.finish(&lock, false).await.unwrap();
        let retry = TickRun::new(at(1), period, "c");
        assert!(
            retry.claim(&lock, "job").await.unwrap().is_some(),
            "a failed tick is given back"
        );
    }

    const MINUTE: Duration = Duration::from_secs(60);
    const SECOND: Duration = Duration::from_secs(1);

    fn ms(n: i64) -> chrono::Duration {
        chrono::Duration::milliseconds(n)
    }

    /// One invocation on the fake timeline: its loop, when it starts, and how long each of
    /// its ticks takes (by the tick's instant).
    struct Invocation {
        ticks: TickLoop,
        starts: DateTime<Utc>,
        work: fn(DateTime<Utc>) -> Duration,
    }

    fn invocation(scheduled: DateTime<Utc>, starts: DateTime<Utc>, owner: &str) -> Invocation {
        Invocation {
            // Lambda's deadline: the start plus the timeout (the period and 15 s).
            ticks: TickLoop::new(scheduled, MINUTE, SECOND, starts + ms(75_000), owner),
            starts,
            work: |_| Duration::from_millis(30),
        }
    }

    /// A tick some invocation ran: its instant, who ran it, and when it started.
    #[derive(Debug)]
    struct Ran {
        instant: DateTime<Utc>,
        owner: String,
        started: DateTime<Utc>,
    }

    /// Runs the invocations as the runner does, on a fake clock (each waits exactly as long
    /// as it is told, each tick takes its `work`), interleaved in time order; earlier
    /// invocations go first at equal times. Every tick claims its lock and keeps it.
    async fn drive(invocations: &mut [Invocation], lock: &FakeLock) -> Vec<Ran> {
        let mut clocks: Vec<Option<DateTime<Utc>>> =
            invocations.iter().map(|i| Some(i.starts)).collect();
        let mut ran = Vec::new();
        while let Some((i, now)) = clocks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (i, c)))
            .min_by_key(|(i, c)| (*c, *i))
        {
            let inv = &mut invocations[i];
            clocks[i] = match inv.ticks.step(now) {
                TickStep::Run(tick) => {
                    if let Some(claim) = tick.claim(lock, "job").await.unwrap() {
                        claim.finish(lock, true).await.unwrap();
                        ran.push(Ran {
                            instant: tick.scheduled_at,
                            owner: tick.owner.clone(),
                            started: now,
                        });
                    }
                    Some(now + chrono::Duration::from_std((inv.work)(tick.scheduled_at)).unwrap())
                }
                TickStep::Wait(d) => Some(now + chrono::Duration::from_std(d).unwrap()),
                TickStep::Done => None,
            };
        }
        ran
    }

    fn instants(ran: &[Ran]) -> Vec<DateTime<Utc>> {
        ran.iter().map(|r| r.instant).collect()
    }

    fn seconds(range: std::ops::Range<i64>) -> Vec<DateTime<Utc>> {
        range.map(at).collect()
    }

    #[tokio::test]
    async fn one_invocation_runs_each_second_of_its_minute_at_its_own_instant() {
        let lock = FakeLock::default();
        let mut runs = [invocation(at(0), at(0) + ms(40), "a")];
        let ran = drive(&mut runs, &lock).await;
        assert_eq!(instants(&ran), seconds(0..60));
        // The first starts as soon as the invocation does; each later one at its instant.
        assert_eq!(ran[0].started, at(0) + ms(40));
        assert!(ran[1..].iter().all(|r| r.started == r.instant));
        assert_eq!((runs[0].ticks.passed(), runs[0].ticks.cut_short()), (0, 0));
        assert_eq!(runs[0].ticks.step(at(120)), TickStep::Done);
    }

    #[tokio::test]
    async fn consecutive_duplicate_and_overlapping_invocations_run_each_tick_once() {
        let lock = FakeLock::default();
        let slow_last: fn(DateTime<Utc>) -> Duration = |instant| {
            if instant == at(59) {
                Duration::from_millis(1_500)
            } else {
                Duration::from_millis(30)
            }
        };
        let mut runs = [
            Invocation {
                work: slow_last,
                ..invocation(at(0), at(0) + ms(20), "first")
            },
            // EventBridge delivers the same schedule again, a little later.
            invocation(at(0), at(0) + ms(700), "duplicate"),
            // The next minute's invocation starts while the first's last tick still runs.
            invocation(at(60), at(60) + ms(10), "next"),
        ];
        let ran = drive(&mut runs, &lock).await;
        let mut got = instants(&ran);
        got.sort();
        assert_eq!(
            got,
            seconds(0..120),
            "every tick of both minutes, each once"
        );
        assert!(ran.iter().all(|r| r.owner != "duplicate"), "{ran:?}");
        assert!(
            ran.iter()
                .all(|r| (r.instant < at(60)) == (r.owner == "first")),
            "each minute's ticks are its own invocation's"
        );
    }

    #[tokio::test]
    async fn a_tick_that_overruns_is_followed_by_the_latest_due_one_and_drops_the_rest() {
        let lock = FakeLock::default();
        let mut runs = [Invocation {
            work: |instant| {
                if instant == at(5) {
                    Duration::from_millis(2_500)
                } else {
                    Duration::from_millis(30)
                }
            },
            ..invocation(at(0), at(0), "a")
        }];
        let ran = drive(&mut runs, &lock).await;
        let got = instants(&ran);
        assert!(!got.contains(&at(6)), "the instant it overran is dropped");
        let seven = ran.iter().find(|r| r.instant == at(7)).expect("tick 7");
        assert_eq!(
            seven.started,
            at(7) + ms(500),
            "run at once when the overrun ends"
        );
        assert_eq!(got.len(), 59);
        assert_eq!(runs[0].ticks.passed(), 1);
    }

    #[tokio::test]
    async fn an_invocation_that_starts_late_begins_at_the_current_tick() {
        let lock = FakeLock::default();
        let mut late = [invocation(at(0), at(30) + ms(400), "a")];
        let ran = drive(&mut late, &lock).await;
        assert_eq!(instants(&ran), seconds(30..60));
        assert_eq!(late[0].ticks.passed(), 30);

        // Delivered after its whole minute: the last tick runs once, then it is over.
        let lock = FakeLock::default();
        let mut stale = [invocation(at(0), at(600), "a")];
        let ran = drive(&mut stale, &lock).await;
        assert_eq!(instants(&ran), vec![at(59)]);
        assert_eq!(ran[0].started, at(600));
    }

    #[tokio::test]
    async fn no_tick_starts_within_its_own_period_and_the_margin_of_the_deadline() {
        let lock = FakeLock::default();
        let mut runs = [Invocation {
            ticks: TickLoop::new(at(0), MINUTE, SECOND, at(20), "a"),
            starts: at(0),
            work: |_| Duration::from_millis(30),
        }];
        let ran = drive(&mut runs, &lock).await;
        // 20 s - 5 s margin - 1 s tick: the last tick starts at 14 s.
        assert_eq!(instants(&ran), seconds(0..15));
        assert_eq!(runs[0].ticks.cut_short(), 45);
        // A deadline already past runs nothing.
        let mut over = TickLoop::new(at(0), MINUTE, SECOND, at(0), "a");
        assert_eq!(over.step(at(0)), TickStep::Done);
        assert_eq!(over.cut_short(), 60);
    }

    #[test]
    fn instants_are_multiples_of_the_tick_from_the_scheduled_time_and_claims_outlive_the_minute() {
        let tick = Duration::from_millis(400);
        // 1_800_000_001 s is 200 ms past a multiple of 400 ms: the first instant is the next one.
        let mut ticks = TickLoop::new(at(1), MINUTE, tick, at(200), "a");
        let TickStep::Wait(wait) = ticks.step(at(1)) else {
            panic!("the first instant is ahead")
        };
        assert_eq!(wait, Duration::from_millis(200));
        let mut now = at(1) + ms(200);
        let mut seen = Vec::new();
        loop {
            match ticks.step(now) {
                TickStep::Run(run) => {
                    assert_eq!(run.scheduled_at.timestamp_millis() % 400, 0);
                    assert_eq!(
                        run.sequence,
                        (run.scheduled_at.timestamp_millis() / 400) as u64
                    );
                    assert!(run.hold > MINUTE, "{:?}", run.hold);
                    seen.push(run.scheduled_at);
                }
                TickStep::Wait(d) => now += chrono::Duration::from_std(d).unwrap(),
                TickStep::Done => break,
            }
        }
        assert_eq!(seen.len(), 150, "60 s of 400 ms ticks");
        assert_eq!(seen.first(), Some(&(at(1) + ms(200))));
        assert!(*seen.last().unwrap() < at(61));
        // The next minute's invocation starts where this one stopped.
        let mut next = TickLoop::new(at(61), MINUTE, tick, at(200), "b");
        assert_eq!(
            next.step(at(61)),
            TickStep::Wait(Duration::from_millis(200))
        );
        let TickStep::Run(first) = next.step(at(61) + ms(200)) else {
            panic!("its first instant is due")
        };
        assert_eq!(first.scheduled_at, *seen.last().unwrap() + ms(400));
    }
}
