//! Settings kept in Secrets Manager. In AWS a function gets `<NAME>_SECRET_ARN` instead of
//! `<NAME>` (DATABASE_URL, REDIS_URL, QUEUE_TOKEN_SECRET, ...) and reads each secret once,
//! at cold start; locally plain variables work as before and no AWS call is made.

use std::collections::HashMap;

use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::config::{ConfigError, Env};

const SUFFIX: &str = "_SECRET_ARN";

/// The process environment, with every `<NAME>_SECRET_ARN` resolved into `<NAME>`.
/// A secret wins over a plain variable of the same name.
pub async fn process_env() -> Result<Env, ConfigError> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let refs = secret_refs(vars.iter().cloned());
    if refs.is_empty() {
        return Ok(Env::from_pairs(vars));
    }
    let sdk = aws_config::load_from_env().await;
    let resolved = read(&aws_sdk_secretsmanager::Client::new(&sdk), refs).await?;
    let plain: Vec<_> = vars
        .into_iter()
        .filter(|(name, _)| !resolved.contains_key(name))
        .collect();
    Ok(Env::from_pairs(plain.into_iter().chain(resolved)))
}

/// `(NAME, arn)` for every non-empty `<NAME>_SECRET_ARN`.
pub fn secret_refs(vars: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    vars.into_iter()
        .filter(|(_, arn)| !arn.is_empty())
        .filter_map(|(k, arn)| k.strip_suffix(SUFFIX).map(|name| (name.to_owned(), arn)))
        .collect()
}

/// Reads the secrets concurrently: `NAME -> value`.
pub async fn read(
    client: &aws_sdk_secretsmanager::Client,
    refs: Vec<(String, String)>,
) -> Result<HashMap<String, String>, ConfigError> {
    let mut reads = tokio::task::JoinSet::new();
    for (name, arn) in refs {
        let client = client.clone();
        reads.spawn(async move {
            let fail = |reason: String| ConfigError::Secret {
                name: format!("{name}{SUFFIX}"),
                reason,
            };
            let out = client
                .get_secret_value()
                .secret_id(&arn)
                .send()
                .await
                .map_err(|e| fail(DisplayErrorContext(&e).to_string()))?;
            let value = out
                .secret_string
                .filter(|v| !v.is_empty())
                .ok_or_else(|| fail("the secret has no string value".into()))?;
            Ok::<_, ConfigError>((name, value))
        });
    }
    let mut resolved = HashMap::new();
    while let Some(joined) = reads.join_next().await {
        let (name, value) = joined.map_err(|e| ConfigError::Secret {
            name: "secret read".into(),
            reason: e.to_string(),
        })??;
        resolved.insert(name, value);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_empty_secret_arns_are_references() {
        let refs = secret_refs([
            ("DATABASE_URL_SECRET_ARN".into(), "arn:db".into()),
            ("REDIS_URL_SECRET_ARN".into(), String::new()),
            ("REDIS_URL".into(), "redis://x".into()),
        ]);
        assert_eq!(refs, vec![("DATABASE_URL".to_owned(), "arn:db".to_owned())]);
    }
}
