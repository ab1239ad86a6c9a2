//! The append-only, hash-chained audit log: every assessment, issuance, revocation, suspension,
//! reinstatement, certifier and key event (`spec/storage.md` 8.1). Entry `n` carries the hash of entry `n - 1`, so
//! removing or changing an entry breaks every hash after it.

use serde::{Deserialize, Serialize};

use super::repository::Repository;
use super::store::StoreError;

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
    /// SHA-256 (hex) over `prev_hash` and the entry's other fields, encoded as its version
    /// says.
    pub hash: String,
    /// How `hash` is computed: 2, over deterministic CBOR (every new entry); 1, over compact
    /// JSON (entries of earlier versions, which have no `v` field).
    #[serde(
        rename = "v",
        default = "version_1",
        skip_serializing_if = "is_version_1"
    )]
    pub version: u8,
}

/// The hash version of entries without a `v` field.
fn version_1() -> u8 {
    1
}

fn is_version_1(v: &u8) -> bool {
    *v == 1
}

/// The hash version of new entries.
pub const HASH_VERSION: u8 = 2;

/// Why an entry cannot be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Version 1: the JSON encoding failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Version 2: the details hold something deterministic CBOR is not defined for here (a
    /// floating-point number), or the encoder failed.
    #[error("audit details: {0}")]
    Cbor(String),
    /// A hash version this build does not know.
    #[error("unknown audit hash version {0}")]
    Version(u8),
}

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
    ) -> Result<Self, HashError> {
        let mut entry = Self {
            seq,
            time,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            details,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
            version: HASH_VERSION,
        };
        entry.hash = entry.compute_hash()?;
        Ok(entry)
    }

    /// The bytes this entry's hash is computed over (`spec/storage.md` 8.2).
    pub fn hashed_bytes(&self) -> Result<Vec<u8>, HashError> {
        match self.version {
            // Version 1: the compact JSON of every field but `hash` (serde writes struct fields
            // in declaration order and `serde_json::Value` maps sorted).
            1 => Ok(serde_json::to_vec(&Self {
                hash: String::new(),
                ..self.clone()
            })?),
            // Version 2: the deterministic CBOR (RFC 8949 4.2.1) of
            // [2, seq, time, actor, action, subject, details, prev_hash as 32 bytes].
            2 => {
                let prev = hex::decode(&self.prev_hash)
                    .ok()
                    .filter(|b| b.len() == 32)
                    .ok_or_else(|| HashError::Cbor("prev_hash is not 32 bytes of hex".into()))?;
                let item = ciborium::Value::Array(vec![
                    ciborium::Value::Integer(2.into()),
                    ciborium::Value::Integer(self.seq.into()),
                    ciborium::Value::Integer(self.time.into()),
                    ciborium::Value::Text(self.actor.clone()),
                    ciborium::Value::Text(self.action.clone()),
                    ciborium::Value::Text(self.subject.clone()),
                    deterministic(&self.details)?,
                    ciborium::Value::Bytes(prev),
                ]);
                let mut bytes = Vec::new();
                ciborium::into_writer(&item, &mut bytes)
                    .map_err(|e| HashError::Cbor(e.to_string()))?;
                Ok(bytes)
            }
            other => Err(HashError::Version(other)),
        }
    }

    /// The hash this entry must carry: lowercase hex SHA-256 of [`Self::hashed_bytes`].
    pub fn compute_hash(&self) -> Result<String, HashError> {
        Ok(hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            &self.hashed_bytes()?,
        )))
    }
}

/// A JSON value as a CBOR item in deterministic form: integers as CBOR integers (ciborium
/// writes the shortest head), text as definite-length text, map entries sorted by the bytewise
/// order of their encoded keys (RFC 8949 4.2.1). Floating-point numbers are refused: the audit
/// details never hold one, and their deterministic form would need rules this log does not need.
fn deterministic(value: &serde_json::Value) -> Result<ciborium::Value, HashError> {
    use ciborium::Value as C;
    use serde_json::Value as J;
    Ok(match value {
        J::Null => C::Null,
        J::Bool(b) => C::Bool(*b),
        J::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => C::Integer(u.into()),
            (None, Some(i)) => C::Integer(i.into()),
            _ => return Err(HashError::Cbor(format!("the number {n} is not an integer"))),
        },
        J::String(s) => C::Text(s.clone()),
        J::Array(items) => C::Array(items.iter().map(deterministic).collect::<Result<_, _>>()?),
        J::Object(map) => {
            let mut entries = map
                .iter()
                .map(|(k, v)| {
                    let mut key = Vec::new();
                    ciborium::into_writer(&C::Text(k.clone()), &mut key)
                        .map_err(|e| HashError::Cbor(e.to_string()))?;
                    Ok((key, C::Text(k.clone()), deterministic(v)?))
                })
                .collect::<Result<Vec<_>, HashError>>()?;
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            C::Map(entries.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
    })
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

/// Checks the stored head against the end of the chain, without walking it (the start-up's
/// check, `spec/storage.md` 8.3): the entry before the head is at its place, its hash verifies
/// and is the head's, and no entry follows it (for a `shared` store, where another instance
/// may have appended since the head was read, an entry that follows must chain from it). The
/// whole walk is [`verify_chain`] (`trustmark-issuer audit`).
pub fn verify_head(
    store: &dyn Repository,
    head: &super::repository::AuditHead,
    shared: bool,
) -> Result<(), AuditError> {
    let broken = |seq: u64, reason: String| AuditError::Broken { seq, reason };
    let from = head.entries.saturating_sub(1);
    let entries = store.audit_entries_from(from, 2)?;
    let mut entries = entries.into_iter();
    if head.entries > 0 {
        let last = entries.next().filter(|e| e.seq == from).ok_or_else(|| {
            broken(
                from,
                "missing: the stored head names it as the last entry".into(),
            )
        })?;
        if last.compute_hash().ok().as_ref() != Some(&last.hash) {
            return Err(broken(from, "altered (hash mismatch)".into()));
        }
        if last.hash != head.hash {
            return Err(broken(from, "its hash is not the stored head's".into()));
        }
    } else if head.hash != GENESIS {
        return Err(broken(0, "an empty log with a head hash".into()));
    }
    if let Some(next) = entries.next() {
        if !shared || next.prev_hash != head.hash || next.seq != head.entries {
            return Err(broken(
                next.seq,
                format!("follows the stored head of {} entries", head.entries),
            ));
        }
    }
    Ok(())
}

/// Walks the whole chain; returns the number of entries and the head hash.
pub fn verify_chain(store: &dyn Repository) -> Result<(u64, String), AuditError> {
    let mut prev = GENESIS.to_owned();
    let mut count = 0u64;
    // The first broken entry; the walk stops there.
    let mut broken: Option<AuditError> = None;
    let walked = store.for_each_audit_entry(&mut |position, entry| {
        let check = || {
            let entry = entry.ok_or("unreadable")?;
            if position != count || entry.seq != count {
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
                Err(StoreError::new("audit walk stopped"))
            }
        }
    });
    if let Some(broken) = broken {
        return Err(broken);
    }
    walked?;
    // The stored head, written with every commit, must name the last entry: a log cut short
    // together with its newest entries would otherwise still verify. (An empty registry has
    // no head stored: the default head, of no entries.)
    let head = store.counters()?.audit;
    if head.entries != count || head.hash != prev {
        return Err(AuditError::Broken {
            seq: count,
            reason: format!(
                "the log ends at entry {count} but its stored head says {}",
                head.entries
            ),
        });
    }
    Ok((count, prev))
}

#[cfg(test)]
mod tests {
    use super::super::store::{SledStore, Store, Table, WriteBatch};
    use super::*;

    const AUDIT_HEAD: &[u8] = b"audit-head";

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

    /// What the start-up's head check says of `store` (`ok` when it passes).
    fn head_check(store: &SledStore, shared: bool) -> String {
        let head = store.counters().unwrap().audit;
        verify_head(store, &head, shared).map_or_else(|e| e.to_string(), |()| "ok".into())
    }

    #[test]
    fn the_start_checks_the_stored_head_against_the_last_entry_only() {
        let (_dir, store, entries) = chain(5);
        assert_eq!(head_check(&store, false), "ok");
        let (_empty_dir, empty, _) = chain(0);
        assert_eq!(head_check(&empty, false), "ok");
        // The last entry altered, or replaced by one that verifies but is not the head's.
        let mut altered = entries[4].clone();
        altered.details = serde_json::json!({ "n": 99 });
        put(
            &store,
            Table::Audit,
            &4u64.to_be_bytes(),
            serde_json::to_vec(&altered).unwrap(),
        );
        assert_eq!(
            head_check(&store, false),
            "audit entry 4: altered (hash mismatch)"
        );
        let other = AuditEntry::new(
            4,
            2,
            "admin",
            "mark.revoked",
            "m",
            serde_json::json!({}),
            &entries[3].hash,
        )
        .unwrap();
        put(
            &store,
            Table::Audit,
            &4u64.to_be_bytes(),
            serde_json::to_vec(&other).unwrap(),
        );
        assert_eq!(
            head_check(&store, false),
            "audit entry 4: its hash is not the stored head's"
        );
        put(
            &store,
            Table::Audit,
            &4u64.to_be_bytes(),
            serde_json::to_vec(&entries[4]).unwrap(),
        );
        // An entry past the head: refused for a store of one process; on a shared store it
        // may be another instance's, and must chain from the head.
        let next = AuditEntry::new(
            5,
            2,
            "admin",
            "mark.revoked",
            "m",
            serde_json::json!({}),
            &entries[4].hash,
        )
        .unwrap();
        put(
            &store,
            Table::Audit,
            &5u64.to_be_bytes(),
            serde_json::to_vec(&next).unwrap(),
        );
        assert_eq!(
            head_check(&store, false),
            "audit entry 5: follows the stored head of 5 entries"
        );
        assert_eq!(head_check(&store, true), "ok");
        let stray = AuditEntry::new(
            5,
            2,
            "admin",
            "mark.revoked",
            "m",
            serde_json::json!({}),
            GENESIS,
        )
        .unwrap();
        put(
            &store,
            Table::Audit,
            &5u64.to_be_bytes(),
            serde_json::to_vec(&stray).unwrap(),
        );
        assert_eq!(
            head_check(&store, true),
            "audit entry 5: follows the stored head of 5 entries"
        );
        // The last entry missing.
        let mut batch = WriteBatch::default();
        batch.delete(Table::Audit, &4u64.to_be_bytes());
        batch.delete(Table::Audit, &5u64.to_be_bytes());
        store.apply(batch).unwrap();
        assert_eq!(
            head_check(&store, false),
            "audit entry 4: missing: the stored head names it as the last entry"
        );
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
    fn new_entries_hash_deterministic_cbor_and_old_json_entries_still_verify() {
        let entry = AuditEntry::new(
            7,
            1_796_000_000,
            "certifier:c1",
            "mark.issued",
            "4437b47385ab50a6a90562c95aba913c",
            serde_json::json!({"status_index": 0, "kid": "0c6f7b39", "assessments": [{"framework": "uk-psti", "digest": "ab"}], "n": -3}),
            GENESIS,
        )
        .unwrap();
        assert_eq!(entry.version, 2);
        let bytes = entry.hashed_bytes().unwrap();
        trustmark_format::cbor::check_deterministic(&bytes).unwrap();
        // Cross-checked with Python's cbor2 (canonical=True) and hashlib.sha256 over
        // [2, 7, 1796000000, "certifier:c1", "mark.issued", "4437…913c",
        //  {"n": -3, "kid": "0c6f7b39", "assessments": [{"digest": "ab", "framework": "uk-psti"}],
        //   "status_index": 0}, bytes(32)].
        assert_eq!(entry.hash, EXPECTED_V2_HASH);
        let json = serde_json::to_string(&entry).unwrap();
        assert!(json.ends_with(r#","v":2}"#), "{json}");
        assert_eq!(serde_json::from_str::<AuditEntry>(&json).unwrap(), entry);
        // An entry of an earlier version: no `v`, hashed over JSON.
        let old = r#"{"seq":0,"time":1795328550,"actor":"system","action":"key.admin_created","subject":"admin","details":{},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"5d1bedf1eb084c4a29051d17e328e4c7d956912fdfd4ff77befb14acb92584e3"}"#;
        let old: AuditEntry = serde_json::from_str(old).unwrap();
        assert_eq!(old.version, 1);
        assert_eq!(old.compute_hash().unwrap(), old.hash);
        assert!(!serde_json::to_string(&old).unwrap().contains(r#""v""#));
        // Details deterministic CBOR cannot carry are refused, not hashed some other way.
        assert!(
            AuditEntry::new(0, 0, "a", "b", "c", serde_json::json!({"x": 1.5}), GENESIS).is_err()
        );
    }

    /// The hash of the entry of the test above.
    const EXPECTED_V2_HASH: &str =
        "1a1d512ce8246ed954dfe81ba008f67a663f8a3430858946c670ceb3b29f5b7a";

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
