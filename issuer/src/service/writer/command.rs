//! What handlers ask the writer to do.

use tokio::sync::oneshot;

use super::super::idempotency::{Claim, StoredAnswer};
use super::super::keys::ApiKeyRecord;
use super::super::records::{AssessmentRecord, Certifier, MarkRecord, SignedMark};
use super::WriteError;
use crate::StatusChange;

/// Where the writer sends a command's answer, once it is durable.
pub(in crate::service) type Reply<T> = oneshot::Sender<Result<T, WriteError>>;

/// A write, and the answer to remember with it under an idempotency key.
#[derive(Debug)]
pub(in crate::service) struct Write {
    /// The change.
    pub command: Command,
    /// Its answer, to store in the same commit (`None`: the request had no idempotency key).
    pub remember: Option<Remember>,
}

/// What the writer does.
#[derive(Debug)]
pub(in crate::service) enum Command {
    /// Store marks signed by a handler (with status indexes from `Shared::indexes`).
    Issue {
        /// The owner.
        certifier_id: trustmark_domain::CertifierId,
        /// The signed marks' records, already encoded by the handler.
        marks: Vec<SignedMark>,
        /// Done.
        reply: Reply<()>,
    },
    /// Change a mark's status.
    SetStatus {
        /// The mark.
        mark_id: trustmark_domain::MarkId,
        /// The change.
        change: StatusChange,
        /// Why.
        reason: String,
        /// Who (`admin` or `certifier:<id>`).
        actor: String,
        /// The changed record.
        reply: Reply<MarkRecord>,
    },
    /// Create a certifier with its first API key.
    CreateCertifier {
        /// The certifier.
        certifier: Certifier,
        /// Its key.
        key: NewKey,
        /// Done.
        reply: Reply<()>,
    },
    /// Store a new API key (an admin key, or another key of a certifier).
    CreateApiKey {
        /// The key.
        key: NewKey,
        /// Who asked (`admin`, or `system` for the bootstrap key).
        actor: String,
        /// Done.
        reply: Reply<()>,
    },
    /// Revoke an API key.
    RevokeApiKey {
        /// Its hash.
        key_hash: String,
        /// The record revoked (the stored one with `revoked_at` and the reason set).
        revoked: ApiKeyRecord,
        /// Who asked.
        actor: String,
        /// Done.
        reply: Reply<()>,
    },
    /// Store an assessment.
    SaveAssessment {
        /// The record.
        record: Box<AssessmentRecord>,
        /// Done.
        reply: Reply<()>,
    },
    /// Store a new issuer key, or a key's new certificate.
    SaveIssuerKey {
        /// The record.
        key: Box<trustmark_domain::IssuerKey>,
        /// Which change it is.
        action: KeyAction,
        /// Who asked.
        actor: String,
        /// Done.
        reply: Reply<()>,
    },
    /// Put a trust list in force (its sequence must be above the stored one's), activating
    /// and retiring keys as it says.
    ApplyTrustList {
        /// The accepted list and its trust store.
        in_force: std::sync::Arc<super::super::state::InForce>,
        /// Who asked.
        actor: String,
        /// The keys it changed.
        reply: Reply<Vec<trustmark_domain::KeyChange>>,
    },
    /// Delete up to `limit` expired idempotency records.
    SweepIdempotency {
        /// Records expired at this time go.
        now: u64,
        /// Most deleted in one commit.
        limit: usize,
        /// How many were deleted.
        reply: Reply<usize>,
    },
    /// Apply the changes other instances of a shared store made since the last follow
    /// (`spec/storage.md` 11.5); answers whether a trust list was put in force meanwhile. Never
    /// part of a commit group: the writer reads and applies them between groups.
    Follow {
        /// Whether the stored trust list changed.
        reply: Reply<bool>,
    },
    /// Save a snapshot of every status list's bits (`spec/storage.md` 9), unless nothing
    /// changed since the last.
    SaveSnapshot {
        /// How many lists were saved.
        reply: Reply<usize>,
    },
}

/// What [`Command::SaveIssuerKey`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::service) enum KeyAction {
    /// A new pending key.
    Created,
    /// Its certificate installed (or replaced).
    Certified,
}

/// A new API key: its hash and its record.
#[derive(Debug, Clone)]
pub(in crate::service) struct NewKey {
    /// SHA-256 (hex) of the key.
    pub hash: String,
    /// The record.
    pub record: ApiKeyRecord,
}

/// Renders the answer of a status change from the changed record (an error is a failure to
/// render, which refuses the change as internal).
pub(in crate::service) type RenderMark =
    Box<dyn FnOnce(&MarkRecord) -> Result<Vec<u8>, String> + Send>;

/// An answer to store under an idempotency key in the commit of its change.
pub(in crate::service) enum Remember {
    /// Known before the commit (issuance, creations, revocations of keys).
    Answer {
        /// Where.
        storage_key: Vec<u8>,
        /// What.
        answer: StoredAnswer,
    },
    /// Made from the changed mark, which only the writer knows (status changes; status 200).
    OfMark {
        /// Where, and for which request.
        claim: Claim,
        /// How.
        render: RenderMark,
    },
}

impl std::fmt::Debug for Remember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Answer { storage_key, .. } => f
                .debug_struct("Answer")
                .field("storage_key", &String::from_utf8_lossy(storage_key))
                .finish_non_exhaustive(),
            Self::OfMark { claim, .. } => f
                .debug_struct("OfMark")
                .field("claim", claim)
                .finish_non_exhaustive(),
        }
    }
}
