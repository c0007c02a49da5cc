//! Admission tokens signed with HMAC-SHA256 over concert, buyer and expiry, so a seat
//! function checks one without reading any store: `{expiresAtMs}.{mac}` in base64url.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use ticketrush_core::{
    ConcertId, UserId,
    queue::{ActiveToken, QueueTokens},
};

use crate::config::{ConfigError, Env, ExposeSecret, Secret, long_enough};

/// Debug shows no key: `Secret` hides it.
#[derive(Clone, Debug)]
pub struct HmacQueueTokens {
    key: Secret,
}

#[derive(serde::Deserialize)]
struct QueueTokenVars {
    queue_token_secret: Secret,
}

impl HmacQueueTokens {
    pub const MIN_SECRET_LEN: usize = 32;

    pub fn new(key: Secret) -> Self {
        Self { key }
    }

    /// From `QUEUE_TOKEN_SECRET`, shared by the queue and seat functions.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: QueueTokenVars = env.read()?;
        Ok(Self::new(long_enough(
            "QUEUE_TOKEN_SECRET",
            vars.queue_token_secret,
            Self::MIN_SECRET_LEN,
        )?))
    }

    fn mac(&self, concert: ConcertId, user: &UserId, expires_ms: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(format!("{concert}\n{user}\n{expires_ms}").as_bytes());
        mac
    }
}

impl QueueTokens for HmacQueueTokens {
    fn mint(&self, concert: ConcertId, user: &UserId, expires_at: DateTime<Utc>) -> ActiveToken {
        let expires_ms = expires_at.timestamp_millis();
        let tag = self.mac(concert, user, expires_ms).finalize().into_bytes();
        ActiveToken::minted(format!("{expires_ms}.{}", URL_SAFE_NO_PAD.encode(tag)))
    }

    fn verify(
        &self,
        concert: ConcertId,
        user: &UserId,
        token: &ActiveToken,
        now: DateTime<Utc>,
    ) -> bool {
        let Some((expires, tag)) = token.as_str().split_once('.') else {
            return false;
        };
        let (Ok(expires_ms), Ok(tag)) = (expires.parse::<i64>(), URL_SAFE_NO_PAD.decode(tag))
        else {
            return false;
        };
        expires_ms > now.timestamp_millis()
            && self
                .mac(concert, user, expires_ms)
                .verify_slice(&tag)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn tokens(key: &str) -> HmacQueueTokens {
        HmacQueueTokens::new(Secret::from(key))
    }

    #[test]
    fn a_token_is_good_for_its_concert_buyer_and_lifetime_only() {
        let t = tokens("k".repeat(32).as_str());
        let (c, u, now) = (
            ConcertId::from_stored(1),
            UserId::parse("fan").unwrap(),
            Utc::now(),
        );
        let token = t.mint(c, &u, now + Duration::seconds(60));
        assert!(
            ActiveToken::parse(token.as_str()).is_ok(),
            "fits the header rules: {}",
            token.as_str()
        );
        assert!(t.verify(c, &u, &token, now));
        assert!(!t.verify(ConcertId::from_stored(2), &u, &token, now));
        assert!(!t.verify(c, &UserId::parse("other").unwrap(), &token, now));
        assert!(!t.verify(c, &u, &token, now + Duration::seconds(61)));
        assert!(
            !tokens("x".repeat(32).as_str()).verify(c, &u, &token, now),
            "another key"
        );
        let forged = ActiveToken::parse(&format!(
            "{}.AAAA",
            (now + Duration::days(1)).timestamp_millis()
        ))
        .unwrap();
        assert!(!t.verify(c, &u, &forged, now));
    }
}
