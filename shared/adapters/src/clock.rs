use chrono::{DateTime, Utc};
use ticketrush_core::Clock;

/// The machine clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
