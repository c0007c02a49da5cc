//! Identity comes from the API Gateway JWT authorizer's claims. Handlers never parse tokens.

use lambda_http::{Request, RequestExt, request::RequestContext};
use thiserror::Error;
use ticketrush_core::{Tier, UserId};

/// The caller, as the authorizer vouched for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    pub tier: Tier,
    pub admin: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("this endpoint needs a bearer token")]
    Missing,
    #[error("the token's claims are not usable: {0}")]
    BadClaims(String),
}

/// The caller if the request carries authorizer claims, `None` if anonymous.
pub fn identity(req: &Request) -> Result<Option<Identity>, IdentityError> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return Ok(None);
    };
    let Some(claims) = ctx
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .map(|j| &j.claims)
    else {
        return Ok(None);
    };
    from_claims(claims)
}

/// The caller a token's claims describe (`sub`, `tier`, `admin`, as API Gateway passes them:
/// strings); `None` without a subject.
pub fn from_claims(
    claims: &std::collections::HashMap<String, String>,
) -> Result<Option<Identity>, IdentityError> {
    let Some(sub) = claims.get("sub") else {
        return Ok(None);
    };
    let user = UserId::parse(sub).map_err(|e| IdentityError::BadClaims(e.to_string()))?;
    let tier = match claims.get("tier") {
        None => Tier::Basic,
        Some(raw) => raw.parse().map_err(|e: ticketrush_core::ValidationError| {
            IdentityError::BadClaims(e.to_string())
        })?,
    };
    let admin = claims.get("admin").is_some_and(|v| v == "true");
    Ok(Some(Identity { user, tier, admin }))
}

/// The caller's tier for viewer-dependent rules; anonymous callers see the general sale.
pub fn viewer_tier(req: &Request) -> Result<Option<Tier>, IdentityError> {
    Ok(identity(req)?.map(|i| i.tier))
}

/// The caller, or an error for an anonymous request.
pub fn require_identity(req: &Request) -> Result<Identity, IdentityError> {
    identity(req)?.ok_or(IdentityError::Missing)
}
