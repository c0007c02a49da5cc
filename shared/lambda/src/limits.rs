//! How many instances of each function run at once, the PostgreSQL connections each
//! instance pools, and how the push queue is batched: the one table that the AWS template's
//! `ReservedConcurrentExecutions`, `DATABASE_MAX_CONNECTIONS` and SQS event follow
//! (`tests/tests/template.rs` checks both ways) and that `ticketrush-local` enforces.
//!
//! The numbers are chosen so the functions behind RDS Proxy can never hold more connections
//! than the proxy may open, even if every session is pinned (sqlx's cached prepared
//! statements pin each proxy session to one database connection): the sum of
//! `concurrency × connections` over them is at most [`DATABASE_BUDGET`]'s proxy pool.

/// How a function reaches PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// It does not.
    None,
    /// Through RDS Proxy, with this many pooled connections per instance.
    Proxied(u32),
    /// Straight to the instance, with this many: the migrations hold an advisory lock, which
    /// would pin a proxy session anyway, and must run before the proxy has traffic.
    Direct(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionLimits {
    /// The function crate (and binary).
    pub function: &'static str,
    /// Lambda reserved concurrency: instances at once. Beyond it Lambda throttles.
    pub concurrency: u32,
    pub database: Database,
}

impl FunctionLimits {
    /// `DATABASE_MAX_CONNECTIONS` of one instance, if the function uses PostgreSQL.
    pub fn connections_per_instance(&self) -> Option<u32> {
        match self.database {
            Database::None => None,
            Database::Proxied(n) | Database::Direct(n) => Some(n),
        }
    }

    /// The most connections the function's instances hold together.
    pub fn connections(&self) -> u32 {
        self.concurrency * self.connections_per_instance().unwrap_or(0)
    }
}

/// Every deployed function. Two connections where a repository holds one connection while
/// it reads through the pool (a reservation transition reloads the row it moved, push-dispatch
/// reads the catalog for several records at once); one elsewhere: an instance serves one
/// request at a time.
pub const FUNCTION_LIMITS: &[FunctionLimits] = &[
    // Public reads: the hottest paths, bounded so a search burst cannot starve holds.
    limits("search", 8, Database::Proxied(1)),
    limits("concert-detail", 3, Database::Proxied(1)),
    limits("seat-map", 4, Database::Proxied(1)),
    limits("http-authorize", 50, Database::None),
    // The buy path.
    limits("queue-join", 8, Database::Proxied(1)),
    limits("queue-status", 100, Database::None),
    limits("queue-leave", 10, Database::None),
    limits("seat-select", 8, Database::Proxied(1)),
    limits("seat-release", 20, Database::None),
    limits("hold-confirm", 3, Database::Proxied(2)),
    limits("reservations", 2, Database::Proxied(2)),
    limits("payment-webhook", 2, Database::Proxied(2)),
    limits("admin-sales-policy", 1, Database::Proxied(1)),
    // One schedule each. Two, so a period's invocation never waits for the last one's tick
    // loop to end (Lambda would retry it, late); each tick claims its own lock.
    limits("queue-activate", 2, Database::Proxied(1)),
    limits("hold-expire", 2, Database::Proxied(2)),
    limits("sale-status-tick", 2, Database::Proxied(1)),
    limits("push-dispatch", 3, Database::Proxied(1)),
    // Live push: DynamoDB and @connections; ws-message also checks a subscribe's topic
    // against the catalog.
    limits("ws-authorize", 100, Database::None),
    limits("ws-connect", 100, Database::None),
    limits("ws-disconnect", 100, Database::None),
    limits("ws-message", 6, Database::Proxied(1)),
    limits("migrate", 1, Database::Direct(1)),
];

const fn limits(function: &'static str, concurrency: u32, database: Database) -> FunctionLimits {
    FunctionLimits {
        function,
        concurrency,
        database,
    }
}

/// The limits of a deployed function.
pub fn limits_of(function: &str) -> Option<&'static FunctionLimits> {
    FUNCTION_LIMITS.iter().find(|l| l.function == function)
}

/// What the connection numbers must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseBudget {
    /// The instance's `max_connections` planned with: RDS sets
    /// `LEAST(DBInstanceClassMemory/9531392, 5000)`, at most 112 on the 1 GiB `db.t4g.micro`
    /// (the template's default) and less in practice, since RDS keeps part of the memory.
    pub planned_max_connections: u32,
    /// The proxy target group's `MaxConnectionsPercent` of `max_connections`.
    pub proxy_max_connections_percent: u32,
    /// Connections PostgreSQL keeps for superusers (`superuser_reserved_connections`), which
    /// RDS's own monitoring uses.
    pub reserved_for_rds: u32,
    /// Sessions left for an operator (psql, a dump) beside the migrate function.
    pub operator_sessions: u32,
}

impl DatabaseBudget {
    /// The most connections the proxy opens to the instance.
    pub const fn proxy_pool(&self) -> u32 {
        self.planned_max_connections * self.proxy_max_connections_percent / 100
    }
}

pub const DATABASE_BUDGET: DatabaseBudget = DatabaseBudget {
    planned_max_connections: 80,
    proxy_max_connections_percent: 80,
    reserved_for_rds: 3,
    operator_sessions: 5,
};

/// The most connections the functions behind the proxy can hold together.
pub fn proxied_connections() -> u32 {
    FUNCTION_LIMITS
        .iter()
        .filter(|l| matches!(l.database, Database::Proxied(_)))
        .map(FunctionLimits::connections)
        .sum()
}

/// The connections that bypass the proxy (the migrate function).
pub fn direct_connections() -> u32 {
    FUNCTION_LIMITS
        .iter()
        .filter(|l| matches!(l.database, Database::Direct(_)))
        .map(FunctionLimits::connections)
        .sum()
}

/// Reserved concurrency of every function together; the account keeps 100 unreserved.
pub fn reserved_concurrency() -> u32 {
    FUNCTION_LIMITS.iter().map(|l| l.concurrency).sum()
}

/// How Lambda's event source reads a queue for its function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqsBatching {
    /// `BatchSize`: messages per invocation at most.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`: how long to gather a batch before invoking. Zero
    /// invokes with what one receive returns; a push waiting out a window would arrive that
    /// much later (a seat change is meant to show within a second).
    pub maximum_batching_window_secs: u32,
}

/// The push queue's trigger of push-dispatch.
pub const PUSH_QUEUE_BATCHING: SqsBatching = SqsBatching {
    batch_size: 10,
    maximum_batching_window_secs: 0,
};

/// Messages one SQS `ReceiveMessage` returns at most.
pub const SQS_RECEIVE_MAX: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxied_functions_fit_the_proxy_pool_and_the_rest_fits_beside_it() {
        let budget = DATABASE_BUDGET;
        assert!(
            proxied_connections() <= budget.proxy_pool(),
            "{} connections behind a proxy pool of {}",
            proxied_connections(),
            budget.proxy_pool()
        );
        let outside = budget.planned_max_connections - budget.proxy_pool();
        assert!(
            budget.reserved_for_rds + direct_connections() + budget.operator_sessions <= outside,
            "{outside} connections outside the proxy"
        );
        // With the real ceiling of a 1 GiB instance the same percent still fits.
        assert!(112 * budget.proxy_max_connections_percent / 100 + budget.reserved_for_rds <= 112);
    }

    #[test]
    fn every_function_is_listed_once_with_a_usable_bound() {
        let mut names: Vec<_> = FUNCTION_LIMITS.iter().map(|l| l.function).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a function listed twice");
        for l in FUNCTION_LIMITS {
            assert!(
                l.concurrency >= 1,
                "{}: reserved concurrency 0 disables it",
                l.function
            );
            if let Some(n) = l.connections_per_instance() {
                assert!((1..=2).contains(&n), "{}: {n} connections", l.function);
            }
        }
        // Lambda refuses reserved concurrency that leaves fewer than 100 unreserved of the
        // default account limit of 1,000.
        assert!(reserved_concurrency() <= 900, "{}", reserved_concurrency());
        assert_eq!(limits_of("search").map(|l| l.concurrency), Some(8));
        assert_eq!(limits_of("nope"), None);
    }

    #[test]
    fn the_push_batching_is_one_lambda_accepts() {
        let b = PUSH_QUEUE_BATCHING;
        assert!((1..=10_000).contains(&b.batch_size));
        assert!(b.maximum_batching_window_secs <= 300);
        // Lambda requires a window of at least a second for batches above ten.
        assert!(b.batch_size <= SQS_RECEIVE_MAX || b.maximum_batching_window_secs >= 1);
    }
}
