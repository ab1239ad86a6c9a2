//! API errors: `{"error": {"code", "message"}}` with the right HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// Seconds to wait before retrying (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `rate_limited`, with `Retry-After` (whole seconds, at least 1) from `wait`.
    pub fn rate_limited(message: impl Into<String>, wait: std::time::Duration) -> Self {
        Self {
            retry_after: Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                .map(|s| s.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    /// 400 invalid request.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 403: authenticated, but not allowed to act on this object.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 500; the details go to the log, not the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; nothing was stored",
        )
    }
}

impl ApiError {
    /// 503 `store_unavailable` (with `Retry-After`): the registry's database could not be
    /// reached.
    pub fn store_unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::error!("store unavailable: {detail}");
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the registry's database did not answer; try again later (a retry with the same \
             Idempotency-Key takes effect once)",
        );
        error.retry_after = Some(2);
        error
    }

    /// 503 `signer_unavailable`: the key that must sign cannot be reached (a missing key file,
    /// a token that is gone). Nothing was stored.
    pub fn signer_unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::error!("signer unavailable: {detail}");
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "signer_unavailable",
            "the signing key is unavailable; nothing was stored, try again later",
        );
        error.retry_after = Some(5);
        error
    }
}

impl From<trustmark_domain::DomainError> for ApiError {
    fn from(e: trustmark_domain::DomainError) -> Self {
        use trustmark_domain::DomainError as E;
        let (status, code) = match &e {
            E::NoActiveKey { .. } => (StatusCode::CONFLICT, "no_active_key"),
            E::UnknownKey { .. } => (StatusCode::NOT_FOUND, "not_found"),
            E::KeyRetired { .. } => (StatusCode::CONFLICT, "key_retired"),
            E::CertificateKeyMismatch { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "certificate_key_mismatch")
            }
            E::CertificateForeignRoot { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "certificate_foreign_root")
            }
            E::Key(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_certificate"),
            E::TrustList(_) => (StatusCode::UNPROCESSABLE_ENTITY, "trust_list_invalid"),
            E::TrustListRollback { .. } => (StatusCode::CONFLICT, "trust_list_rollback"),
            E::NoTrustList => (StatusCode::SERVICE_UNAVAILABLE, "no_trust_list"),
            E::KeyNotListed { .. } => (StatusCode::CONFLICT, "key_not_listed"),
            E::AccreditationNotInForce { .. } => {
                (StatusCode::FORBIDDEN, "accreditation_not_in_force")
            }
            E::OutsideScope { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "outside_scope"),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<crate::IssueError> for ApiError {
    fn from(e: crate::IssueError) -> Self {
        use crate::IssueError as E;
        match e {
            E::Key(trustmark_keys::KeyError::Unavailable(_)) => Self::signer_unavailable(e),
            E::Key(_) | E::Io { .. } | E::Qr(_) => Self::internal(e),
            E::OutsideScope { .. } | E::ThirdPartyRequired { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_accredited",
                e.to_string(),
            ),
            E::ClassNotAchieved { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "class_not_achieved",
                e.to_string(),
            ),
            E::ProvisionalDecision { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "provisional_decision",
                e.to_string(),
            ),
            _ => Self::invalid(e.to_string()),
        }
    }
}

impl From<crate::assessment::AssessmentError> for ApiError {
    fn from(e: crate::assessment::AssessmentError) -> Self {
        use crate::assessment::AssessmentError as E;
        match &e {
            E::OverBudget(over) => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                over.limit.code(),
                e.to_string(),
            ),
            E::ClassNotCertifiable { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "class_not_certifiable",
                e.to_string(),
            ),
            E::NoCrosswalk { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_crosswalk",
                e.to_string(),
            ),
            E::Catalogue { .. } => Self::internal(e),
            _ => Self::invalid(e.to_string()),
        }
    }
}

impl From<super::state::StatusListFull> for ApiError {
    fn from(e: super::state::StatusListFull) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "status_list_full",
            format!("{e} (nothing was stored)"),
        )
    }
}

impl From<crate::TransitionError> for ApiError {
    fn from(e: crate::TransitionError) -> Self {
        let code = match e {
            crate::TransitionError::AlreadyRevoked => "already_revoked",
            crate::TransitionError::NotApplicable { .. } => "invalid_transition",
        };
        Self::new(StatusCode::CONFLICT, code, e.to_string())
    }
}

impl From<super::store::StoreError> for ApiError {
    fn from(e: super::store::StoreError) -> Self {
        if e.is_unavailable() {
            Self::store_unavailable(e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<super::writer::WriteError> for ApiError {
    fn from(e: super::writer::WriteError) -> Self {
        use super::writer::WriteError as E;
        match e {
            E::Domain(e) => e.into(),
            E::Transition(e) => e.into(),
            E::StatusListFull(e) => e.into(),
            E::NotFound(what) => Self::not_found(what),
            E::ApiKeyAlreadyRevoked => {
                Self::new(StatusCode::CONFLICT, "key_already_revoked", e.to_string())
            }
            E::LastAdminKey => Self::new(StatusCode::CONFLICT, "last_admin_key", e.to_string()),
            E::IdempotencyKeyInFlight => super::idempotency::in_flight(),
            E::Internal(detail) => Self::internal(detail),
            E::Unavailable(detail) => Self::store_unavailable(detail),
        }
    }
}
