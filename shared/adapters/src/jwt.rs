//! HS256 tokens checked the way an API Gateway JWT authorizer checks them: signature,
//! issuer, audience, expiry. The local runtime and the WebSocket authorizer share it.

use std::collections::HashMap;

use crate::config::{ConfigError, Env, Secret};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::Serialize;
use serde_json::Value;
use ticketrush_core::{Tier, UserId};

#[derive(Debug, Clone)]
pub struct JwtSettings {
    secret: Secret,
    pub issuer: String,
    pub audience: String,
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

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let secret = env.required("JWT_SECRET")?;
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET",
                reason: format!("must be at least {} bytes", Self::MIN_SECRET_LEN),
            });
        }
        Ok(Self {
            secret: Secret::new(secret),
            issuer: env.parse_or("JWT_ISSUER", "ticketrush-local".to_owned())?,
            audience: env.parse_or("JWT_AUDIENCE", "ticketrush".to_owned())?,
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
            &EncodingKey::from_secret(self.secret.expose().as_bytes()),
        )
    }

    /// The token's claims as API Gateway passes them to a function, or why it was refused.
    pub fn verify(&self, token: &str) -> Result<HashMap<String, String>, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        let data = decode::<HashMap<String, Value>>(
            token,
            &DecodingKey::from_secret(self.secret.expose().as_bytes()),
            &validation,
        )
        .map_err(|e| e.to_string())?;
        Ok(data
            .claims
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JwtSettings {
        JwtSettings {
            secret: Secret::new("0123456789abcdef-test".into()),
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
