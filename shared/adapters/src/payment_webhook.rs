//! Webhook signatures: `t={unix seconds},v1={base64url HMAC-SHA256 of "{t}.{body}"}`, keyed
//! with the secret shared with the payment gateway. The timestamp is signed too, so an old
//! delivery cannot be replayed with a fresh time.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{ConfigError, Env, ExposeSecret, Secret, long_enough};

/// The request header that carries the signature.
pub const SIGNATURE_HEADER: &str = "ticketrush-signature";

#[derive(Clone, Debug)]
pub struct HmacWebhookSignatures {
    key: Secret,
}

#[derive(serde::Deserialize)]
struct WebhookVars {
    payment_webhook_secret: Secret,
}

impl HmacWebhookSignatures {
    pub const MIN_SECRET_LEN: usize = 32;

    pub fn new(key: Secret) -> Self {
        Self { key }
    }

    /// From `PAYMENT_WEBHOOK_SECRET`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: WebhookVars = env.read()?;
        Ok(Self::new(long_enough(
            "PAYMENT_WEBHOOK_SECRET",
            vars.payment_webhook_secret,
            Self::MIN_SECRET_LEN,
        )?))
    }

    fn mac(&self, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The header value the gateway sends with `body` signed at `at`.
    pub fn sign(&self, at: DateTime<Utc>, body: &[u8]) -> String {
        let t = at.timestamp();
        let tag = self.mac(t, body).finalize().into_bytes();
        format!("t={t},v1={}", URL_SAFE_NO_PAD.encode(tag))
    }
}

impl HmacWebhookSignatures {
    /// When the gateway signed `body`, if `signature` is its genuine signature over it.
    pub fn verify(&self, signature: &str, body: &[u8]) -> Option<DateTime<Utc>> {
        let mut timestamp = None;
        let mut tag = None;
        for part in signature.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
                Some(("v1", v)) => tag = URL_SAFE_NO_PAD.decode(v).ok(),
                _ => {}
            }
        }
        let (timestamp, tag) = (timestamp?, tag?);
        self.mac(timestamp, body).verify_slice(&tag).ok()?;
        DateTime::from_timestamp(timestamp, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(key: &str) -> HmacWebhookSignatures {
        HmacWebhookSignatures::new(Secret::from(key))
    }

    #[test]
    fn a_signature_verifies_only_its_own_body_time_and_key() {
        let s = signer("0123456789abcdef0123456789abcdef");
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let header = s.sign(at, b"{\"a\":1}");
        assert_eq!(s.verify(&header, b"{\"a\":1}"), Some(at));
        assert_eq!(s.verify(&header, b"{\"a\":2}"), None);
        assert_eq!(
            signer("another-key-0123456789abcdef012345").verify(&header, b"{\"a\":1}"),
            None
        );
        let moved = header.replace("t=1800000000", "t=1800000100");
        assert_eq!(s.verify(&moved, b"{\"a\":1}"), None);
        assert_eq!(s.verify("garbage", b"{\"a\":1}"), None);
    }
}
