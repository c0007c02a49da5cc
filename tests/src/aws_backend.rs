//! Which AWS the tests talk to: `TICKETRUSH_TEST_AWS=emulator` (default: the moto server at
//! `AWS_ENDPOINT_URL` that `make test` starts) or `localstack` (a LocalStack container
//! through testcontainers, with the `localstack` feature; needs a Docker engine and, for
//! current images, `LOCALSTACK_AUTH_TOKEN`). The tests then create the same tables and
//! queues there and run unchanged.

use crate::setting;

/// The endpoint URL of the selected backend. Stops the test at once with a clear message
/// when the backend cannot be had; it never falls back silently.
pub async fn endpoint() -> String {
    match setting("TICKETRUSH_TEST_AWS", "emulator").as_str() {
        "emulator" => setting("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        "localstack" => localstack_endpoint().await,
        other => panic!("TICKETRUSH_TEST_AWS={other}: use emulator or localstack"),
    }
}

#[cfg(not(feature = "localstack"))]
async fn localstack_endpoint() -> String {
    panic!(
        "TICKETRUSH_TEST_AWS=localstack needs the tests built with --features localstack \
         (cargo nextest run -p ticketrush-testkit --features localstack)"
    )
}

#[cfg(feature = "localstack")]
async fn localstack_endpoint() -> String {
    localstack::endpoint().await
}

#[cfg(feature = "localstack")]
mod localstack {
    use testcontainers_modules::{
        localstack::LocalStack,
        testcontainers::{ContainerAsync, ImageExt, runners::AsyncRunner},
    };
    use tokio::sync::OnceCell;

    /// One container per test process, kept until the process ends (the testcontainers
    /// reaper removes it).
    static CONTAINER: OnceCell<(ContainerAsync<LocalStack>, String)> = OnceCell::const_new();

    pub async fn endpoint() -> String {
        CONTAINER.get_or_init(start).await.1.clone()
    }

    fn docker_reachable() -> bool {
        if let Ok(host) = std::env::var("DOCKER_HOST") {
            return match host.strip_prefix("unix://") {
                Some(path) => std::os::unix::net::UnixStream::connect(path).is_ok(),
                None => host
                    .trim_start_matches("tcp://")
                    .parse::<std::net::SocketAddr>()
                    .is_ok_and(|a| std::net::TcpStream::connect(a).is_ok()),
            };
        }
        std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok()
    }

    async fn start() -> (ContainerAsync<LocalStack>, String) {
        assert!(
            docker_reachable(),
            "no Docker engine: set TICKETRUSH_TEST_AWS=emulator"
        );
        let mut image =
            LocalStack::default().with_env_var("SERVICES", "dynamodb,sqs,secretsmanager");
        if let Ok(token) = std::env::var("LOCALSTACK_AUTH_TOKEN") {
            image = image.with_env_var("LOCALSTACK_AUTH_TOKEN", token);
        }
        let container = image
            .start()
            .await
            .unwrap_or_else(|e| panic!("LocalStack did not start: {e}"));
        let host = container.get_host().await.expect("LocalStack host");
        let port = container
            .get_host_port_ipv4(4566)
            .await
            .expect("LocalStack port");
        let url = format!("http://{host}:{port}");
        (container, url)
    }
}
