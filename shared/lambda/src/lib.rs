//! The edge glue every function shares: request parsing into checked domain types,
//! identity from the authorizer context, problem+json in one place, tracing set-up,
//! and the route table that both AWS and the local runtime follow.

pub mod identity;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod request;
pub mod response;
pub mod routes;
pub mod telemetry;
pub mod ticks;
pub mod websocket;
pub mod wire;

/// Every ticketrush binary (each Lambda function and the local runtime) allocates with
/// mimalloc: under load glibc's malloc, with its arena locks, was about a fifth of a seat
/// click's CPU, and mimalloc cut the CPU per click by about a quarter (`make bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use identity::Identity;
pub use problem::{IntoProblem, Problem};
pub use response::json;
pub mod startup;
