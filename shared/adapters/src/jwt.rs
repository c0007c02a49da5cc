//! Tokens checked the way an API Gateway JWT authorizer checks them: signature, issuer,
//! audience, expiry and not-before. HS256 with a shared key is what the local runtime issues and checks;
//! in AWS the WebSocket authorizer checks the OIDC issuer's tokens against its JWKS, so a
//! browser connects with the same token it sends to the HTTP API.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use crate::config::{self, ConfigError, Env, ExposeSecret, Secret, long_enough};
use chrono::Utc;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
    jwk::JwkSet,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ticketrush_core::{Tier, UserId};

/// Why a token was refused, in words a caller can act on; the decoder's own error is kept
/// as the source.
#[derive(Debug, thiserror::Error)]
pub enum TokenRefused {
    #[error("{0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("shared-key algorithms are not accepted from an OIDC issuer")]
    SharedKeyAlgorithm,
    #[error("the token names no key (kid)")]
    NoKeyId,
    #[error("the issuer has no key {0:?}")]
    UnknownKey(String),
    #[error("key {kid:?} is not for {alg:?}")]
    WrongAlgorithm { kid: String, alg: Algorithm },
    #[error("the token is not for this audience")]
    WrongAudience,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    secret: Secret,
    pub issuer: String,
    pub audience: String,
}

#[derive(Deserialize)]
struct JwtVars {
    jwt_secret: Secret,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
}

#[derive(Deserialize)]
struct JwksVars {
    jwt_jwks_url: Option<String>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    tier: Tier,
    admin: bool,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// Seconds of clock skew allowed on `exp` and `nbf` alike.
const LEEWAY_SECS: u64 = 0;

/// The time claims every token is checked on, for `alg`: `exp` required, `nbf` checked when
/// present, both with [`LEEWAY_SECS`]; the issuer must be `issuer`.
fn validation(alg: Algorithm, issuer: &str) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[issuer]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    validation
}

impl JwtSettings {
    pub const MIN_SECRET_LEN: usize = 16;

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: JwtVars = env.read()?;
        Ok(Self {
            secret: long_enough("JWT_SECRET", vars.jwt_secret, Self::MIN_SECRET_LEN)?,
            issuer: vars
                .jwt_issuer
                .unwrap_or_else(|| "ticketrush-local".to_owned()),
            audience: vars.jwt_audience.unwrap_or_else(|| "ticketrush".to_owned()),
        })
    }

    pub fn issue(
        &self,
        user: &UserId,
        tier: Tier,
        admin: bool,
        ttl_secs: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.as_str(),
            tier,
            admin,
            iss: &self.issuer,
            aud: &self.audience,
            iat: now,
            exp: now + i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
        };
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.expose_secret().as_bytes()),
        )
    }

    /// The token's claims as API Gateway passes them to a function, or why it was refused.
    pub fn verify(&self, token: &str) -> Result<HashMap<String, String>, TokenRefused> {
        let mut validation = validation(Algorithm::HS256, &self.issuer);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<HashMap<String, Value>>(
            token,
            &DecodingKey::from_secret(self.secret.expose_secret().as_bytes()),
            &validation,
        )?;
        Ok(string_claims(data.claims))
    }
}

/// Claims as API Gateway passes them on: strings, anything else as its JSON text.
fn string_claims(claims: HashMap<String, Value>) -> HashMap<String, String> {
    claims
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect()
}

/// Tokens of an OIDC issuer (Cognito or any other) checked against its published keys:
/// the key named by `kid`, an asymmetric algorithm that key allows, the issuer, the audience
/// (`aud`, or `client_id` as in Cognito access tokens; one of `audiences`), expiry and
/// not-before.
///
/// The key set is read at cold start and read again when a token names a key it does not
/// hold (the issuer rotated its keys), at most once per `reread_every` however many tokens
/// ask: callers that find the key missing at the same moment wait for one read together. A
/// read replaces the whole set, so a key the issuer withdrew goes too.
/// Cheap to clone; clones share the keys.
#[derive(Debug, Clone)]
pub struct JwksVerifier {
    inner: Arc<JwksInner>,
}

#[derive(Debug)]
struct JwksInner {
    url: String,
    client: reqwest::Client,
    keys: RwLock<Arc<JwkSet>>,
    /// When the key set was last read again (or a read was tried); None before the first.
    /// Held across a re-read, so concurrent callers share it.
    last_reread: tokio::sync::Mutex<Option<Instant>>,
    reread_every: Duration,
    issuer: String,
    audiences: Vec<String>,
}

/// Whether the key set may be read again at `now`, last read again at `last`.
fn may_reread(last: Option<Instant>, now: Instant, every: Duration) -> bool {
    last.is_none_or(|last| now.saturating_duration_since(last) >= every)
}

/// The key set at `url`, if it is one with at least one key.
async fn read_key_set(client: &reqwest::Client, url: &str) -> Result<JwkSet, String> {
    let keys: JwkSet = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("the key set could not be read: {e}"))?
        .json()
        .await
        .map_err(|e| format!("not a JWK set: {e}"))?;
    if keys.keys.is_empty() {
        return Err("the key set has no keys".into());
    }
    Ok(keys)
}

impl JwksVerifier {
    /// Reads the key set at `url` now; a cold start without one fails, naming `JWT_JWKS_URL`.
    pub async fn fetch(
        url: &str,
        issuer: String,
        audiences: Vec<String>,
        reread_every: Duration,
    ) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::invalid("JWT_JWKS_URL", reason);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let keys = read_key_set(&client, url).await.map_err(invalid)?;
        Ok(Self {
            inner: Arc::new(JwksInner {
                url: url.to_owned(),
                client,
                keys: RwLock::new(Arc::new(keys)),
                last_reread: tokio::sync::Mutex::new(None),
                reread_every,
                issuer,
                audiences,
            }),
        })
    }

    fn keys(&self) -> Arc<JwkSet> {
        // A poisoned lock still holds a whole key set: it is only ever replaced at once.
        self.inner
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The key set after reading it again, if `seen` is still the newest and the last
    /// re-read is `reread_every` old; else the newest there is. A failed read keeps the keys
    /// held.
    async fn reread(&self, seen: &Arc<JwkSet>) -> Arc<JwkSet> {
        let inner = &self.inner;
        let mut last = inner.last_reread.lock().await;
        let current = self.keys();
        if !Arc::ptr_eq(&current, seen) || !may_reread(*last, Instant::now(), inner.reread_every) {
            return current;
        }
        *last = Some(Instant::now());
        match read_key_set(&inner.client, &inner.url).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *inner
                    .keys
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = keys.clone();
                tracing::info!(keys = keys.keys.len(), "JWKS read again for an unknown key");
                keys
            }
            Err(error) => {
                tracing::warn!(%error, "JWKS not read again; the keys held stay");
                current
            }
        }
    }

    pub async fn verify(&self, token: &str) -> Result<HashMap<String, String>, TokenRefused> {
        let header = decode_header(token)?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(TokenRefused::SharedKeyAlgorithm);
        }
        let kid = header.kid.as_deref().ok_or(TokenRefused::NoKeyId)?;
        let mut keys = self.keys();
        if keys.find(kid).is_none() {
            keys = self.reread(&keys).await;
        }
        let jwk = keys
            .find(kid)
            .ok_or_else(|| TokenRefused::UnknownKey(kid.to_owned()))?;
        if let Some(allowed) = jwk.common.key_algorithm
            && Algorithm::try_from(allowed).ok() != Some(header.alg)
        {
            return Err(TokenRefused::WrongAlgorithm {
                kid: kid.to_owned(),
                alg: header.alg,
            });
        }
        let key = DecodingKey::from_jwk(jwk)?;
        let mut validation = validation(header.alg, &self.inner.issuer);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims = decode::<HashMap<String, Value>>(token, &key, &validation)?.claims;
        let ours = |a: &str| self.inner.audiences.iter().any(|o| o == a);
        let audience = |v: Option<&Value>| match v {
            Some(Value::String(s)) => ours(s),
            Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).any(ours),
            _ => false,
        };
        if !audience(claims.get("aud")) && !audience(claims.get("client_id")) {
            return Err(TokenRefused::WrongAudience);
        }
        Ok(string_claims(claims))
    }
}

/// How the authorizers (`ws-authorize`, `http-authorize`) check tokens: the issuer's JWKS
/// when `JWT_JWKS_URL` is set (AWS; `JWT_AUDIENCE` may then list several, comma-separated;
/// re-read on an unknown key at most every `JWT_JWKS_REREAD_SECS`), else the shared HS256
/// key (local). Cheap to clone.
#[derive(Debug, Clone)]
pub enum TokenVerifier {
    SharedKey(JwtSettings),
    Jwks(JwksVerifier),
}

impl TokenVerifier {
    pub async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: JwksVars = env.read()?;
        let Some(url) = vars.jwt_jwks_url else {
            return Ok(Self::SharedKey(JwtSettings::from_env(env)?));
        };
        let issuer = vars
            .jwt_issuer
            .ok_or_else(|| ConfigError::Missing("JWT_ISSUER".into()))?;
        let audiences = vars
            .jwt_audience
            .ok_or_else(|| ConfigError::Missing("JWT_AUDIENCE".into()))?
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        let reread_every = config::jwks_reread_interval_from_env(env)?;
        Ok(Self::Jwks(
            JwksVerifier::fetch(&url, issuer, audiences, reread_every).await?,
        ))
    }

    /// The token's claims as API Gateway passes them to a function, or why it was refused.
    /// Async: an unknown key may read the issuer's key set again.
    pub async fn verify(&self, token: &str) -> Result<HashMap<String, String>, TokenRefused> {
        match self {
            Self::SharedKey(s) => s.verify(token),
            Self::Jwks(j) => j.verify(token).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JwtSettings {
        JwtSettings {
            secret: Secret::from("0123456789abcdef-test"),
            issuer: "iss".into(),
            audience: "aud".into(),
        }
    }

    #[test]
    fn issued_tokens_verify_and_carry_string_claims() {
        let s = settings();
        let token = s
            .issue(&UserId::parse("u1").unwrap(), Tier::Gold, true, 60)
            .unwrap();
        let claims = s.verify(&token).unwrap();
        assert_eq!(claims["sub"], "u1");
        assert_eq!(claims["tier"], "GOLD");
        assert_eq!(claims["admin"], "true");
    }

    #[test]
    fn tampered_expired_and_foreign_tokens_are_refused() {
        let s = settings();
        let token = s
            .issue(&UserId::parse("u1").unwrap(), Tier::Gold, false, 60)
            .unwrap();
        assert!(s.verify(&format!("{token}x")).is_err());
        assert!(s.verify("not-a-jwt").is_err());
        let mut other = settings();
        other.audience = "elsewhere".into();
        assert!(other.verify(&token).is_err());
        let expired = JwtSettings { ..settings() };
        let mut claims: HashMap<&str, Value> = HashMap::new();
        claims.insert("sub", "u1".into());
        claims.insert("iss", "iss".into());
        claims.insert("aud", "aud".into());
        claims.insert("exp", (Utc::now().timestamp() - 10).into());
        let old = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef-test"),
        )
        .unwrap();
        assert!(expired.verify(&old).is_err());
    }

    fn signed(claims: &[(&str, Value)]) -> String {
        let all: HashMap<&str, Value> = claims.iter().cloned().collect();
        encode(
            &Header::new(Algorithm::HS256),
            &all,
            &EncodingKey::from_secret(b"0123456789abcdef-test"),
        )
        .unwrap()
    }

    #[test]
    fn a_token_not_yet_valid_is_refused_and_one_already_valid_passes() {
        let now = Utc::now().timestamp();
        let with_nbf = |nbf: i64| {
            signed(&[
                ("sub", "u1".into()),
                ("iss", "iss".into()),
                ("aud", "aud".into()),
                ("exp", (now + 600).into()),
                ("nbf", nbf.into()),
            ])
        };
        let refused = settings().verify(&with_nbf(now + 120)).unwrap_err();
        assert!(
            matches!(&refused, TokenRefused::Invalid(e)
                if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ImmatureSignature)),
            "{refused}"
        );
        assert_eq!(settings().verify(&with_nbf(now - 5)).unwrap()["sub"], "u1");
    }

    #[test]
    fn the_key_set_is_read_again_only_once_the_interval_has_passed() {
        let every = Duration::from_secs(60);
        let last = Instant::now();
        assert!(
            may_reread(None, last, every),
            "the first re-read is not held back"
        );
        assert!(!may_reread(Some(last), last, every));
        assert!(!may_reread(
            Some(last),
            last + Duration::from_secs(59),
            every
        ));
        assert!(may_reread(Some(last), last + every, every));
        // A clock read before `last` (another caller's) is not "long ago".
        assert!(!may_reread(
            Some(last + Duration::from_secs(1)),
            last,
            every
        ));
    }
}
