//! The typed repositories over a byte [`Store`] (sled): each record type in its own table, keys
//! and value encodings as `spec/storage.md` 3 lists them.

use std::collections::BTreeMap;

use trustmark_domain::{AssessmentId, CertifierId, IssuerKey, MarkId};

use super::{
    AnswerVisit, ApiKeyVisit, AssessmentVisit, AuditHead, AuditVisit, CommitTimes, Counters,
    MarkVisit, Registry, Repository, Savepoint, StatusSlot, StatusSnapshot, StatusVisit,
    UnitOfWork,
};
use crate::service::audit::AuditEntry;
use crate::service::idempotency::StoredAnswer;
use crate::service::keys::ApiKeyRecord;
use crate::service::records::{AssessmentRecord, Certifier, MarkRecord, SignedMark};
use crate::service::store::{printable_key, Store, StoreError, Table, WriteBatch};

/// Meta key of the signed trust list in force.
const TRUST_LIST: &[u8] = b"trust-list";
/// Meta key of the audit head: JSON `[entries, hash]`.
const AUDIT_HEAD: &[u8] = b"audit-head";
/// Meta key of the next status list number (`u32` big-endian).
const NEXT_STATUS_LIST: &[u8] = b"next-status-list";
/// Meta key prefix of a list's next status index (`next-index/<n>`, `u32` big-endian).
const NEXT_INDEX: &str = "next-index/";

/// Decodes `value`, stored under `key` in `table`, with `decode`, naming both when it fails.
fn decoded<T, E: std::fmt::Display>(
    table: Table,
    key: &[u8],
    value: Option<Vec<u8>>,
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    value
        .map(|bytes| decode(&bytes).map_err(|e| StoreError::corrupt(table, key, e)))
        .transpose()
}

/// The value of `key` in `table`, decoded with `decode`.
fn read<T, E: std::fmt::Display>(
    store: &(impl Store + ?Sized),
    table: Table,
    key: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    decoded(table, key, store.get(table, key)?, decode)
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::new(format!("encoding a record: {e}")))
}

fn u32_value(key: &[u8], value: &[u8]) -> Result<u32, StoreError> {
    value
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| StoreError::corrupt(Table::Meta, key, "not 4 bytes"))
}

fn utf8(table: Table, key: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(key).map_err(|_| StoreError::corrupt(table, key, "the key is not UTF-8"))
}

impl<S: Store + ?Sized> Registry for S {
    fn may_block(&self) -> bool {
        false
    }

    fn kind(&self) -> &'static str {
        "sled"
    }

    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn certifier(&self, id: &CertifierId) -> Result<Option<Certifier>, StoreError> {
        read(self, Table::Certifier, id.as_str().as_bytes(), json)
    }

    fn certifiers(&self) -> Result<Vec<Certifier>, StoreError> {
        self.scan(Table::Certifier)?
            .into_iter()
            .map(|(id, bytes)| {
                json(&bytes).map_err(|e| StoreError::corrupt(Table::Certifier, &id, e))
            })
            .collect()
    }

    fn assessment(&self, id: &AssessmentId) -> Result<Option<AssessmentRecord>, StoreError> {
        read(self, Table::Assessment, id.as_str().as_bytes(), json)
    }

    fn mark(&self, id: &MarkId) -> Result<Option<MarkRecord>, StoreError> {
        read(
            self,
            Table::Mark,
            id.as_str().as_bytes(),
            MarkRecord::decode,
        )
    }

    fn mark_issuer(&self, id: &MarkId) -> Result<Option<String>, StoreError> {
        read(
            self,
            Table::Mark,
            id.as_str().as_bytes(),
            MarkRecord::stored_issuer,
        )
    }

    fn idempotent_answer(&self, key: &[u8]) -> Result<Option<StoredAnswer>, StoreError> {
        read(self, Table::Idempotency, key, json)
    }

    fn trust_list(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(Table::Meta, TRUST_LIST)
    }
}

impl<S: Store> Repository for S {
    fn begin(&self) -> Box<dyn UnitOfWork + '_> {
        Box::new(KvUnit {
            store: self,
            batch: WriteBatch::default(),
        })
    }

    fn counters(&self) -> Result<Counters, StoreError> {
        let mut counters = Counters::default();
        self.for_each(Table::Meta, &mut |key, value| {
            if key == AUDIT_HEAD {
                let (entries, hash) = json::<(u64, String)>(value)
                    .map_err(|e| StoreError::corrupt(Table::Meta, key, e))?;
                counters.audit = AuditHead { entries, hash };
            } else if key == NEXT_STATUS_LIST {
                counters.next_status_list = u32_value(key, value)?;
            } else if let Some(list) = key.strip_prefix(NEXT_INDEX.as_bytes()) {
                let list = std::str::from_utf8(list)
                    .ok()
                    .and_then(|l| l.parse::<u32>().ok())
                    .ok_or_else(|| StoreError::corrupt(Table::Meta, key, "no list number"))?;
                counters.next_index.insert(list, u32_value(key, value)?);
            } else if key != TRUST_LIST {
                return Err(StoreError::corrupt(
                    Table::Meta,
                    key,
                    "a key this version does not know",
                ));
            }
            Ok(())
        })?;
        Ok(counters)
    }

    fn is_shared(&self) -> bool {
        // sled locks its directory: one process.
        false
    }

    fn lease_indexes(
        &self,
        _list: u32,
        _count: u32,
        _capacity: u32,
    ) -> Result<std::ops::Range<u32>, StoreError> {
        Err(StoreError::new(
            "the embedded store is not shared: its status indexes are counted in memory",
        ))
    }

    fn audit_entries_from(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = Vec::new();
        if limit == 0 {
            return Ok(entries);
        }
        let walked = self.for_each_from(Table::Audit, &from.to_be_bytes(), &mut |key, value| {
            entries.push(json(value).map_err(|e| StoreError::corrupt(Table::Audit, key, e))?);
            if entries.len() >= limit {
                // Stops the walk; not a failure.
                return Err(StoreError::new(String::new()));
            }
            Ok(())
        });
        if entries.len() < limit {
            walked?;
        }
        Ok(entries)
    }

    fn for_each_api_key(&self, visit: &mut ApiKeyVisit<'_>) -> Result<(), StoreError> {
        self.for_each(Table::ApiKey, &mut |hash, value| {
            let record: ApiKeyRecord =
                json(value).map_err(|e| StoreError::corrupt(Table::ApiKey, hash, e))?;
            visit(printable_key(hash), record)
        })
    }

    fn issuer_keys(&self) -> Result<Vec<IssuerKey>, StoreError> {
        let mut keys = Vec::new();
        self.for_each(Table::IssuerKey, &mut |kid, value| {
            let key: IssuerKey =
                json(value).map_err(|e| StoreError::corrupt(Table::IssuerKey, kid, e))?;
            if key.kid.to_string().as_bytes() != kid {
                return Err(StoreError::corrupt(
                    Table::IssuerKey,
                    kid,
                    format!("the record is of key {}", key.kid),
                ));
            }
            keys.push(key);
            Ok(())
        })?;
        Ok(keys)
    }

    fn for_each_mark_status(&self, visit: &mut StatusVisit<'_>) -> Result<(), StoreError> {
        self.for_each(Table::Mark, &mut |id, value| {
            let (list, index, status) = MarkRecord::stored_status(value)
                .map_err(|e| StoreError::corrupt(Table::Mark, id, e))?;
            visit(
                utf8(Table::Mark, id)?,
                StatusSlot {
                    list,
                    index,
                    status,
                },
            )
        })
    }

    fn for_each_mark(&self, visit: &mut MarkVisit<'_>) -> Result<(), StoreError> {
        self.for_each(Table::Mark, &mut |id, value| {
            visit(MarkRecord::decode(value).map_err(|e| StoreError::corrupt(Table::Mark, id, e))?)
        })
    }

    fn for_each_assessment(&self, visit: &mut AssessmentVisit<'_>) -> Result<(), StoreError> {
        self.for_each(Table::Assessment, &mut |id, value| {
            visit(json(value).map_err(|e| StoreError::corrupt(Table::Assessment, id, e))?)
        })
    }

    fn for_each_idempotent_answer(&self, visit: &mut AnswerVisit<'_>) -> Result<(), StoreError> {
        self.for_each(Table::Idempotency, &mut |key, value| {
            let answer =
                json(value).map_err(|e| StoreError::corrupt(Table::Idempotency, key, e))?;
            visit(key.to_vec(), answer)
        })
    }

    fn for_each_audit_entry(&self, visit: &mut AuditVisit<'_>) -> Result<(), StoreError> {
        self.for_each(Table::Audit, &mut |key, value| {
            let position = <[u8; 8]>::try_from(key)
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::corrupt(Table::Audit, key, "the key is not 8 bytes"))?;
            visit(position, json(value).ok())
        })
    }

    fn status_snapshots(&self) -> Result<Vec<StatusSnapshot>, StoreError> {
        let mut snapshots = Vec::new();
        self.for_each(Table::StatusSnapshot, &mut |key, value| {
            let bad = |reason: &str| StoreError::corrupt(Table::StatusSnapshot, key, reason);
            let list = <[u8; 4]>::try_from(key)
                .map(u32::from_be_bytes)
                .map_err(|_| bad("the key is not 4 bytes"))?;
            let (head, bits) = value
                .split_at_checked(12)
                .ok_or_else(|| bad("shorter than 12 bytes"))?;
            let (entries, len) = head.split_at(8);
            let snapshot = StatusSnapshot {
                list,
                audit_entries: u64::from_be_bytes(entries.try_into().map_err(|_| bad("position"))?),
                len: u32::from_be_bytes(len.try_into().map_err(|_| bad("length"))?),
                bits: bits.to_vec(),
            };
            if snapshot.bits.len() != snapshot.len.div_ceil(4) as usize {
                return Err(bad("its entries do not match its length"));
            }
            snapshots.push(snapshot);
            Ok(())
        })?;
        Ok(snapshots)
    }

    fn expired_answers(&self, now: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut expired = Vec::new();
        if limit == 0 {
            return Ok(expired);
        }
        let walked = self.for_each(Table::Idempotency, &mut |key, value| {
            match json::<StoredAnswer>(value) {
                Ok(answer) if answer.expires_at <= now => expired.push(key.to_vec()),
                Ok(_) => {}
                Err(e) => tracing::error!("{}", StoreError::corrupt(Table::Idempotency, key, e)),
            }
            if expired.len() >= limit {
                // Stops the walk; not a failure.
                return Err(StoreError::new(String::new()));
            }
            Ok(())
        });
        if expired.len() < limit {
            walked?;
        }
        Ok(expired)
    }
}

/// A unit of work over a byte store: one atomic batch, flushed at commit.
struct KvUnit<'a, S: Store> {
    store: &'a S,
    batch: WriteBatch,
}

impl<S: Store> KvUnit<'_, S> {
    /// What this unit leaves under `key` in `table`: its own last write, else the store's.
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.batch.get(table, key) {
            Some(written) => Ok(written.map(<[u8]>::to_vec)),
            None => self.store.get(table, key),
        }
    }
}

impl<S: Store> UnitOfWork for KvUnit<'_, S> {
    fn lock_head(&mut self) -> Result<Option<Counters>, StoreError> {
        // An embedded store has one process, whose writer is the only one.
        Ok(None)
    }

    fn put_certifier(&mut self, certifier: &Certifier) -> Result<(), StoreError> {
        let value = to_json(certifier)?;
        self.batch
            .put(Table::Certifier, certifier.id.as_str().as_bytes(), value);
        Ok(())
    }

    fn put_api_key(&mut self, hash: &str, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let value = to_json(record)?;
        self.batch.put(Table::ApiKey, hash.as_bytes(), value);
        Ok(())
    }

    fn put_assessment(&mut self, record: &AssessmentRecord) -> Result<(), StoreError> {
        let value = to_json(record)?;
        self.batch
            .put(Table::Assessment, record.id.as_str().as_bytes(), value);
        Ok(())
    }

    fn put_mark(&mut self, mark: SignedMark) -> Result<(), StoreError> {
        self.batch.put(
            Table::Mark,
            mark.record.mark_id.as_str().as_bytes(),
            mark.encoded,
        );
        Ok(())
    }

    fn put_mark_record(&mut self, record: &MarkRecord) -> Result<(), StoreError> {
        let value = record
            .encode()
            .map_err(|e| StoreError::new(format!("encoding mark {}: {e}", record.mark_id)))?;
        self.batch
            .put(Table::Mark, record.mark_id.as_str().as_bytes(), value);
        Ok(())
    }

    fn mark(&mut self, id: &MarkId) -> Result<Option<MarkRecord>, StoreError> {
        let key = id.as_str().as_bytes();
        let value = self.get(Table::Mark, key)?;
        decoded(Table::Mark, key, value, MarkRecord::decode)
    }

    fn put_issuer_key(&mut self, key: &IssuerKey) -> Result<(), StoreError> {
        let value = to_json(key)?;
        self.batch
            .put(Table::IssuerKey, key.kid.to_string().as_bytes(), value);
        Ok(())
    }

    fn append_audit_entry(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        let value = to_json(entry)?;
        self.batch
            .put(Table::Audit, &entry.seq.to_be_bytes(), value);
        Ok(())
    }

    fn idempotent_answer(&mut self, key: &[u8]) -> Result<Option<StoredAnswer>, StoreError> {
        let value = self.get(Table::Idempotency, key)?;
        decoded(Table::Idempotency, key, value, json)
    }

    fn put_idempotent_answer(
        &mut self,
        key: &[u8],
        answer: &StoredAnswer,
    ) -> Result<(), StoreError> {
        let value = to_json(answer)?;
        self.batch.put(Table::Idempotency, key, value);
        Ok(())
    }

    fn delete_idempotent_answer(&mut self, key: &[u8]) {
        self.batch.delete(Table::Idempotency, key);
    }

    fn put_trust_list(&mut self, signed: &[u8]) {
        self.batch.put(Table::Meta, TRUST_LIST, signed.to_vec());
    }

    fn put_status_snapshot(&mut self, snapshot: &StatusSnapshot) -> Result<(), StoreError> {
        let mut value = Vec::with_capacity(12 + snapshot.bits.len());
        value.extend_from_slice(&snapshot.audit_entries.to_be_bytes());
        value.extend_from_slice(&snapshot.len.to_be_bytes());
        value.extend_from_slice(&snapshot.bits);
        self.batch
            .put(Table::StatusSnapshot, &snapshot.list.to_be_bytes(), value);
        Ok(())
    }

    fn put_counters(&mut self, counters: &Counters) -> Result<(), StoreError> {
        let next_index: &BTreeMap<u32, u32> = &counters.next_index;
        for (list, next) in next_index {
            let key = format!("{NEXT_INDEX}{list}");
            self.batch
                .put(Table::Meta, key.as_bytes(), next.to_be_bytes().to_vec());
        }
        self.batch.put(
            Table::Meta,
            NEXT_STATUS_LIST,
            counters.next_status_list.to_be_bytes().to_vec(),
        );
        let head = to_json(&(counters.audit.entries, &counters.audit.hash))?;
        self.batch.put(Table::Meta, AUDIT_HEAD, head);
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    fn savepoint(&self) -> Savepoint {
        Savepoint(self.batch.savepoint())
    }

    fn rollback(&mut self, savepoint: Savepoint) {
        self.batch.rollback(savepoint.0);
    }

    fn commit(self: Box<Self>) -> Result<CommitTimes, StoreError> {
        let started = std::time::Instant::now();
        self.store.apply(self.batch)?;
        let apply = started.elapsed();
        self.store.flush()?;
        Ok(CommitTimes {
            apply,
            flush: started.elapsed().saturating_sub(apply),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

    use super::super::conformance::{self, Backend};
    use super::*;
    use crate::service::records::sample_record;
    use crate::service::store::SledStore;

    struct Sled(tempfile::TempDir);

    impl Backend for Sled {
        fn open(&self) -> Box<dyn Repository> {
            Box::new(SledStore::open(self.0.path()).unwrap())
        }
    }

    #[test]
    fn the_sled_store_passes_the_store_conformance_suite() {
        conformance::run(&|| Box::new(Sled(tempfile::tempdir().unwrap())));
    }

    fn put(store: &SledStore, table: Table, key: &[u8], value: &[u8]) {
        let mut batch = WriteBatch::default();
        batch.put(table, key, value.to_vec());
        store.apply(batch).unwrap();
    }

    #[test]
    fn stored_bytes_that_do_not_decode_are_refused_naming_table_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mark = sample_record(3);
        put(
            &store,
            Table::Mark,
            mark.mark_id.as_str().as_bytes(),
            &mark.encode().unwrap(),
        );
        assert_eq!(store.mark(&mark.mark_id).unwrap(), Some(mark));
        let broken = MarkId::from_bytes([0xbb; 16]);
        put(&store, Table::Mark, broken.as_str().as_bytes(), b"\x81\x02");
        let error = Registry::mark(&store, &broken).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "storage: table Mark, key {broken}: stored value does not decode"
            )),
            "{error}"
        );
        let mut unit = store.begin();
        assert!(unit.mark(&broken).is_err(), "read through a unit too");
        drop(unit);
        assert!(store.for_each_mark_status(&mut |_, _| Ok(())).is_err());
        put(&store, Table::Certifier, b"bad", b"{}");
        assert!(
            store.certifiers().is_err(),
            "one bad record fails the listing"
        );
        put(&store, Table::Meta, b"next-index/1", b"\x00\x01");
        assert_eq!(
            store.counters().unwrap_err().to_string(),
            "storage: table Meta, key next-index/1: stored value does not decode: not 4 bytes"
        );
        put(&store, Table::Meta, b"next-index/1", &7u32.to_be_bytes());
        put(&store, Table::Meta, b"next-index", &7u32.to_be_bytes());
        assert_eq!(
            store.counters().unwrap_err().to_string(),
            "storage: table Meta, key next-index: stored value does not decode: a key this version does not know"
        );
        put(&store, Table::Audit, b"short", b"{}");
        assert!(store.for_each_audit_entry(&mut |_, _| Ok(())).is_err());
        put(&store, Table::IssuerKey, b"01020304", b"[]");
        assert!(store.issuer_keys().is_err());
    }
}
