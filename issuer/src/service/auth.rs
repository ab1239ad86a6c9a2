//! API keys: `tmk_` and 43 base64url characters (32 random bytes). Only their SHA-256 is stored;
//! a key is shown once, when it is made. `Authorization: Bearer <key>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use base64::Engine;
use ring::rand::SecureRandom;

use super::error::ApiError;
use super::records::ApiKey;
use super::state::Metrics;
use super::AppState;

/// A new random API key.
pub(super) fn new_key() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::internal("no randomness"))?;
    Ok(format!(
        "tmk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The stored form of a key.
pub(super) fn key_hash(key: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()))
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Caller {
    /// The scheme operator.
    Admin,
    /// A certifier, by id.
    Certifier(String),
}

impl Caller {
    /// The audit actor name.
    pub(super) fn actor(&self) -> String {
        match self {
            Self::Admin => "admin".into(),
            Self::Certifier(id) => format!("certifier:{id}"),
        }
    }

    /// The certifier id, or 403 for the admin.
    pub(super) fn certifier(&self) -> Result<&str, ApiError> {
        match self {
            Self::Certifier(id) => Ok(id),
            Self::Admin => Err(ApiError::forbidden("this needs a certifier's API key")),
        }
    }

    /// 403 unless the admin.
    pub(super) fn admin(&self) -> Result<(), ApiError> {
        match self {
            Self::Admin => Ok(()),
            Self::Certifier(_) => Err(ApiError::forbidden("this needs the admin API key")),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized =
            |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send Authorization: Bearer <API key>"))?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <API key>'"))?;
        let hash = key_hash(key);
        let role = state
            .shared
            .api_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .cloned()
            .ok_or_else(|| unauthorized("unknown API key"))?;
        if !state.limiter.allow(&hash) {
            Metrics::inc(&state.shared.metrics.rate_limited);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests for this API key; slow down",
            ));
        }
        Ok(match role {
            ApiKey::Admin => Self::Admin,
            ApiKey::Certifier { certifier_id } => Self::Certifier(certifier_id),
        })
    }
}
