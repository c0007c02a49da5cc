//! Tokens checked the way an API Gateway JWT authorizer checks them: signature, issuer,
//! audience, expiry. HS256 with a shared key is what the local runtime issues and checks;
//! in AWS the WebSocket authorizer checks the OIDC issuer's tokens against its JWKS, so a
//! browser connects with the same token it sends to the HTTP API.

use std::{collections::HashMap, time::Duration};

use crate::config::{ConfigError, Env, ExposeSecret, Secret, long_enough};
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
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
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
/// (`aud`, or `client_id` as in Cognito access tokens; one of `audiences`) and expiry.
#[derive(Debug, Clone)]
pub struct JwksVerifier {
    keys: JwkSet,
    issuer: String,
    audiences: Vec<String>,
}

impl JwksVerifier {
    pub fn new(keys: JwkSet, issuer: String, audiences: Vec<String>) -> Self {
        Self {
            keys,
            issuer,
            audiences,
        }
    }

    /// Reads the key set at `url` (once, at cold start).
    pub async fn fetch(
        url: &str,
        issuer: String,
        audiences: Vec<String>,
    ) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::invalid("JWT_JWKS_URL", reason);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let keys: JwkSet = client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| invalid(format!("the key set could not be read: {e}")))?
            .json()
            .await
            .map_err(|e| invalid(format!("not a JWK set: {e}")))?;
        if keys.keys.is_empty() {
            return Err(invalid("the key set has no keys".into()));
        }
        Ok(Self::new(keys, issuer, audiences))
    }

    pub fn verify(&self, token: &str) -> Result<HashMap<String, String>, TokenRefused> {
        let header = decode_header(token)?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(TokenRefused::SharedKeyAlgorithm);
        }
        let kid = header.kid.as_deref().ok_or(TokenRefused::NoKeyId)?;
        let jwk = self
            .keys
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
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        let claims = decode::<HashMap<String, Value>>(token, &key, &validation)?.claims;
        let ours = |a: &str| self.audiences.iter().any(|o| o == a);
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

/// How the WebSocket authorizer checks tokens: the issuer's JWKS when `JWT_JWKS_URL` is set
/// (AWS; `JWT_AUDIENCE` may then list several, comma-separated), else the shared HS256 key
/// (local).
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
        Ok(Self::Jwks(
            JwksVerifier::fetch(&url, issuer, audiences).await?,
        ))
    }

    pub fn verify(&self, token: &str) -> Result<HashMap<String, String>, TokenRefused> {
        match self {
            Self::SharedKey(s) => s.verify(token),
            Self::Jwks(j) => j.verify(token),
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
}
