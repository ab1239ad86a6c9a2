//! The append-only, hash-chained audit log: every issuance, revocation, suspension,
//! reinstatement, certifier and key event. Entry `n` carries the hash of entry `n - 1`, so
//! removing or changing an entry breaks every hash after it.

use serde::{Deserialize, Serialize};

use super::store::{Store, StoreError, Table};

/// One audit entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When (Unix seconds).
    pub time: u64,
    /// Who: `admin`, `certifier:<id>` or `system`.
    pub actor: String,
    /// What: `mark.issued`, `mark.revoked`, `mark.suspended`, `mark.reinstated`,
    /// `certifier.created`, `service.started`, ...
    pub action: String,
    /// The object acted on (a mark id, a certifier id).
    pub subject: String,
    /// Details (for an issuance, the assessment digests).
    pub details: serde_json::Value,
    /// Hash of the previous entry (hex; 64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) over `prev_hash` and the entry's other fields.
    pub hash: String,
}

/// Meta key of the stored head: `(entries, hash of the last entry)`, written in the same atomic
/// batch as the entries.
pub const AUDIT_HEAD: &[u8] = b"audit-head";

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl AuditEntry {
    /// Makes entry `seq` after `prev_hash`.
    pub fn new(
        seq: u64,
        time: u64,
        actor: &str,
        action: &str,
        subject: &str,
        details: serde_json::Value,
        prev_hash: &str,
    ) -> Self {
        let mut entry = Self {
            seq,
            time,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            details,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// The hash this entry must carry: SHA-256 over the JSON of every field but `hash` (serde
    /// writes struct fields in declaration order and `serde_json::Value` maps sorted, so the
    /// bytes are stable).
    pub fn compute_hash(&self) -> String {
        let unhashed = Self {
            hash: String::new(),
            ..self.clone()
        };
        let bytes = serde_json::to_vec(&unhashed).unwrap_or_default();
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
    }
}

/// Why the chain does not verify.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An entry is unreadable, out of place or altered.
    #[error("audit entry {seq}: {reason}")]
    Broken {
        /// The entry.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Walks the whole chain; returns the number of entries and the head hash.
pub fn verify_chain(store: &dyn Store) -> Result<(u64, String), AuditError> {
    let mut prev = GENESIS.to_owned();
    let mut count = 0u64;
    for (key, value) in store.scan(Table::Audit)? {
        let broken = |reason: &str| AuditError::Broken {
            seq: count,
            reason: reason.to_owned(),
        };
        let entry: AuditEntry = serde_json::from_slice(&value).map_err(|_| broken("unreadable"))?;
        if key != count.to_be_bytes() || entry.seq != count {
            return Err(broken("out of sequence (an entry is missing)"));
        }
        if entry.prev_hash != prev {
            return Err(broken("does not follow the previous entry"));
        }
        if entry.compute_hash() != entry.hash {
            return Err(broken("altered (hash mismatch)"));
        }
        prev = entry.hash;
        count += 1;
    }
    // The stored head, written with every batch, must name the last entry: a log cut short
    // together with its newest entries would otherwise still verify.
    if let Some(head) = store.get(Table::Meta, AUDIT_HEAD)? {
        let (seq, hash): (u64, String) =
            serde_json::from_slice(&head).map_err(|_| AuditError::Broken {
                seq: count,
                reason: "unreadable head".into(),
            })?;
        if seq != count || hash != prev {
            return Err(AuditError::Broken {
                seq: count,
                reason: format!("the log ends at entry {count} but its stored head says {seq}"),
            });
        }
    }
    Ok((count, prev))
}
