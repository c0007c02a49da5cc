use chrono::{DateTime, Utc};

/// Server time. Every rule that depends on "now" takes it from here, so tests pin it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}
