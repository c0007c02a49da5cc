//! `ticketrush-local`: every function on one machine, called the way AWS calls them.

use clap::{Parser, Subcommand};
use ticketrush_adapters::config::Env;
use ticketrush_lambda::{startup::or_exit, telemetry};

mod concurrency;
mod connections_api;
mod functions;
mod health;
mod http;
mod jwt;
mod operator;
mod samples;
mod scheduler;
mod settings;
mod setup;
mod sqs_source;
mod web;
mod websocket;

#[derive(Parser)]
#[command(
    name = "ticketrush-local",
    about = "Run ticketrush on one machine, as AWS would"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Create the database, apply migrations, create the emulator's tables and queues,
    /// and optionally load a sample catalog.
    Setup {
        /// A sample catalog to load (idempotent; sale times are relative to now).
        #[arg(long)]
        samples: Option<std::path::PathBuf>,
    },
    /// Print the HTTP API's OpenAPI 3.1 document (committed as infra/openapi.json).
    Openapi,
    /// Print a dev token, signed the way the local authorizer checks it.
    Token {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "BASIC")]
        tier: String,
        #[arg(long)]
        admin: bool,
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
}

#[tokio::main]
async fn main() {
    telemetry::init();
    let env = Env::process();
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let settings = or_exit(settings::LocalSettings::from_env(&env), "configuration");
            or_exit(http::serve(settings).await, "ticketrush-local");
        }
        Command::Setup { samples } => {
            let settings = or_exit(settings::LocalSettings::from_env(&env), "configuration");
            or_exit(setup::run(&settings, samples.as_deref()).await, "setup");
        }
        Command::Openapi => print!("{}", ticketrush_lambda::openapi::document_json()),
        Command::Token {
            user,
            tier,
            admin,
            ttl_secs,
        } => {
            let jwt = or_exit(jwt::JwtSettings::from_env(&env), "configuration");
            let tier = or_exit(tier.parse(), "--tier");
            let user = or_exit(ticketrush_core::UserId::parse(&user), "--user");
            println!(
                "{}",
                or_exit(jwt.issue(&user, tier, admin, ttl_secs), "token")
            );
        }
    }
}
