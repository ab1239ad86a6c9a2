//! Why the writer refuses a command or cannot commit it. What a client is answered is the HTTP
//! layer's business (`ApiError: From<WriteError>`, `spec/api.md` 5.2).

use trustmark_domain::{DomainError, TransitionError};

use super::super::state::StatusListFull;
use super::super::store::StoreError;

/// A refused or failed write.
#[derive(Debug, thiserror::Error)]
pub(in crate::service) enum WriteError {
    /// A rule of the PKI (a retired key, a rolled-back trust list, ...).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The status change does not apply to the mark's status.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The signing key's status list has no room.
    #[error(transparent)]
    StatusListFull(#[from] StatusListFull),
    /// The object acted on does not exist (`mark`, `API key`, `issuer key`).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// Revoking an API key that is revoked already.
    #[error("the API key is revoked already")]
    ApiKeyAlreadyRevoked,
    /// Revoking the last active admin key, which would lock the operator out.
    #[error("this is the last active admin key: create another admin key before revoking it")]
    LastAdminKey,
    /// An unexpired answer is stored under the command's idempotency key already (another
    /// process's request).
    #[error("a request with this idempotency key is in flight")]
    IdempotencyKeyInFlight,
    /// Storage failed, or the command found the registry inconsistent: nothing of the group
    /// was stored.
    #[error("{0}")]
    Internal(String),
    /// The store could not be reached: the group was not acknowledged (and, if the connection
    /// was lost at its commit, may or may not be stored).
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl WriteError {
    /// An internal failure described by `detail`.
    pub(in crate::service) fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }
}
