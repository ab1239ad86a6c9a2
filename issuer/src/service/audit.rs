//! The append-only, hash-chained audit log: every assessment, issuance, revocation, suspension,
//! reinstatement, certifier and key event (`spec/storage.md` 8.1). Entry `n` carries the hash of entry `n - 1`, so
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
    /// What: `assessment.created`, `mark.issued`, `marks.issued`, `mark.revoked`,
    /// `mark.suspended`, `mark.reinstated`, `certifier.created`, `key.admin_created`.
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
    ) -> Result<Self, serde_json::Error> {
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
        entry.hash = entry.compute_hash()?;
        Ok(entry)
    }

    /// The hash this entry must carry: SHA-256 over the JSON of every field but `hash` (serde
    /// writes struct fields in declaration order and `serde_json::Value` maps sorted, so the
    /// bytes are stable).
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        let unhashed = Self {
            hash: String::new(),
            ..self.clone()
        };
        let bytes = serde_json::to_vec(&unhashed)?;
        Ok(hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            &bytes,
        )))
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
    // The first broken entry; the walk stops there.
    let mut broken: Option<AuditError> = None;
    let walked = store.for_each(Table::Audit, &mut |key, value| {
        let check = || {
            let entry: AuditEntry = serde_json::from_slice(value).map_err(|_| "unreadable")?;
            if key != count.to_be_bytes() || entry.seq != count {
                return Err("out of sequence (an entry is missing)");
            }
            if entry.prev_hash != prev {
                return Err("does not follow the previous entry");
            }
            if entry.compute_hash().ok().as_ref() != Some(&entry.hash) {
                return Err("altered (hash mismatch)");
            }
            Ok(entry.hash)
        };
        match check() {
            Ok(hash) => {
                prev = hash;
                count += 1;
                Ok(())
            }
            Err(reason) => {
                broken = Some(AuditError::Broken {
                    seq: count,
                    reason: reason.to_owned(),
                });
                Err(StoreError("audit walk stopped".into()))
            }
        }
    });
    if let Some(broken) = broken {
        return Err(broken);
    }
    walked?;
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

#[cfg(test)]
mod tests {
    use super::super::store::{SledStore, WriteBatch};
    use super::*;

    /// A store holding a chain of `n` entries and its head.
    fn chain(n: u64) -> (tempfile::TempDir, SledStore, Vec<AuditEntry>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut entries: Vec<AuditEntry> = Vec::new();
        let mut batch = WriteBatch::default();
        for seq in 0..n {
            let prev = entries.last().map_or(GENESIS, |e| e.hash.as_str());
            let details = serde_json::json!({ "n": seq });
            let entry = AuditEntry::new(
                seq,
                1_795_300_000,
                "admin",
                "mark.revoked",
                "m",
                details,
                prev,
            )
            .unwrap();
            batch.put(
                Table::Audit,
                &seq.to_be_bytes(),
                serde_json::to_vec(&entry).unwrap(),
            );
            entries.push(entry);
        }
        let head = (n, entries.last().map_or(GENESIS, |e| e.hash.as_str()));
        batch.put(Table::Meta, AUDIT_HEAD, serde_json::to_vec(&head).unwrap());
        store.apply(batch).unwrap();
        (dir, store, entries)
    }

    fn put(store: &SledStore, table: Table, key: &[u8], value: Vec<u8>) {
        let mut batch = WriteBatch::default();
        batch.put(table, key, value);
        store.apply(batch).unwrap();
    }

    fn broken(store: &SledStore) -> String {
        verify_chain(store).unwrap_err().to_string()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (_dir, store, entries) = chain(5);
        assert_eq!(verify_chain(&store).unwrap(), (5, entries[4].hash.clone()));
    }

    #[test]
    fn an_altered_entry_is_found() {
        let (_dir, store, mut entries) = chain(5);
        entries[2].details = serde_json::json!({ "n": 99 });
        put(
            &store,
            Table::Audit,
            &2u64.to_be_bytes(),
            serde_json::to_vec(&entries[2]).unwrap(),
        );
        assert_eq!(broken(&store), "audit entry 2: altered (hash mismatch)");
    }

    #[test]
    fn an_entry_rehashed_after_a_change_breaks_the_next_link() {
        let (_dir, store, entries) = chain(5);
        let forged = AuditEntry::new(
            2,
            1,
            "admin",
            "mark.revoked",
            "m",
            serde_json::json!({}),
            &entries[1].hash,
        )
        .unwrap();
        put(
            &store,
            Table::Audit,
            &2u64.to_be_bytes(),
            serde_json::to_vec(&forged).unwrap(),
        );
        assert_eq!(
            broken(&store),
            "audit entry 3: does not follow the previous entry"
        );
    }

    #[test]
    fn a_missing_entry_is_found() {
        let (_dir, store, entries) = chain(5);
        // Entry 3 moved to key 4: as if entry 4 were gone and 3 renumbered by the store.
        put(
            &store,
            Table::Audit,
            &3u64.to_be_bytes(),
            serde_json::to_vec(&entries[4]).unwrap(),
        );
        assert_eq!(
            broken(&store),
            "audit entry 3: out of sequence (an entry is missing)"
        );
    }

    #[test]
    fn a_log_cut_short_is_found_by_its_head() {
        let (_dir, store, entries) = chain(5);
        let head = (6u64, entries[4].hash.clone());
        put(
            &store,
            Table::Meta,
            AUDIT_HEAD,
            serde_json::to_vec(&head).unwrap(),
        );
        assert_eq!(
            broken(&store),
            "audit entry 5: the log ends at entry 5 but its stored head says 6"
        );
    }

    #[test]
    fn an_unreadable_entry_is_found() {
        let (_dir, store, _) = chain(3);
        put(
            &store,
            Table::Audit,
            &1u64.to_be_bytes(),
            b"{not json".to_vec(),
        );
        assert_eq!(broken(&store), "audit entry 1: unreadable");
    }
}
