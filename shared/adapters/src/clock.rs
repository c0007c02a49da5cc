use chrono::{DateTime, Utc};

/// The machine clock: server time for every rule that depends on "now". Use cases take the
/// time as an argument, so their tests pin it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
