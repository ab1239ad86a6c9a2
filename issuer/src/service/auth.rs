//! Authentication: `Authorization: Bearer <API key>`, looked up by hash among the keys that
//! are active now (`spec/api.md` 2).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use trustmark_domain::CertifierId;

use super::error::ApiError;
use super::keys::{key_hash, KeyHolder, KeyState};
use super::state::Metrics;
use super::{now, AppState};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Caller {
    /// Who holds the key.
    pub holder: KeyHolder,
    /// The hash of the key used (the scope of its idempotency keys and rate limit).
    pub key_hash: String,
}

impl Caller {
    /// The audit actor name.
    pub(super) fn actor(&self) -> String {
        match &self.holder {
            KeyHolder::Admin => "admin".into(),
            KeyHolder::Certifier(id) => format!("certifier:{id}"),
        }
    }

    /// The certifier id, or 403 for the admin.
    pub(super) fn certifier(&self) -> Result<&CertifierId, ApiError> {
        match &self.holder {
            KeyHolder::Certifier(id) => Ok(id),
            KeyHolder::Admin => Err(ApiError::forbidden("this needs a certifier's API key")),
        }
    }

    /// 403 unless the admin.
    pub(super) fn admin(&self) -> Result<(), ApiError> {
        match &self.holder {
            KeyHolder::Admin => Ok(()),
            KeyHolder::Certifier(_) => Err(ApiError::forbidden("this needs the admin API key")),
        }
    }

    /// 403 unless the admin or the certifier `owner`.
    pub(super) fn owns(&self, owner: &CertifierId, what: &str) -> Result<(), ApiError> {
        match &self.holder {
            KeyHolder::Certifier(me) if me != owner => Err(ApiError::forbidden(format!(
                "the {what} belongs to another certifier"
            ))),
            _ => Ok(()),
        }
    }

    /// The active key presented in `parts`, without taking a rate-limit token.
    pub(super) fn of_request(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
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
        let record = state
            .shared
            .api_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .cloned()
            .ok_or_else(|| unauthorized("unknown API key"))?;
        match record.state(now()) {
            KeyState::Active => Ok(Self {
                holder: record.holder,
                key_hash: hash,
            }),
            KeyState::Revoked => Err(unauthorized("the API key is revoked")),
            KeyState::Expired => Err(unauthorized("the API key has expired")),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Self::of_request(parts, state)?;
        if let Err(wait) = state.limiter.take(&caller.key_hash) {
            Metrics::inc(&state.shared.metrics.rate_limited);
            return Err(ApiError::rate_limited(
                "too many requests for this API key; slow down",
                wait,
            ));
        }
        Ok(caller)
    }
}
