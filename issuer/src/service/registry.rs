//! Typed reads of the registry (`spec/storage.md` 2.1): what the handlers and the start-up read,
//! as records rather than table bytes. Every value is decoded here and fails closed: a stored
//! value that does not decode is an error naming its table and key, never a default. Any byte
//! [`Store`] gets these reads; a store with real tables implements [`Registry`] itself.

use super::idempotency::StoredAnswer;
use super::records::{AssessmentRecord, Certifier, MarkRecord};
use super::store::{Store, StoreError, Table};
use super::writer::TRUST_LIST;

/// The registry's reads.
pub trait Registry: Send + Sync {
    /// The certifier `id`.
    fn certifier(&self, id: &str) -> Result<Option<Certifier>, StoreError>;
    /// Every certifier, in id order.
    fn certifiers(&self) -> Result<Vec<Certifier>, StoreError>;
    /// The assessment `id`.
    fn assessment(&self, id: &str) -> Result<Option<AssessmentRecord>, StoreError>;
    /// The mark `id`'s registry record.
    fn mark(&self, id: &str) -> Result<Option<MarkRecord>, StoreError>;
    /// The issuer name (the certifier's) of mark `id`, without decoding its token.
    fn mark_issuer(&self, id: &str) -> Result<Option<String>, StoreError>;
    /// The answer stored under an idempotency key (expired or not).
    fn idempotent_answer(&self, key: &[u8]) -> Result<Option<StoredAnswer>, StoreError>;
    /// The signed trust list in force, as stored.
    fn trust_list(&self) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Decodes the value of `key` in `table` with `decode`, naming both when it fails.
fn read<T, E: std::fmt::Display>(
    store: &(impl Store + ?Sized),
    table: Table,
    key: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    store
        .get(table, key)?
        .map(|bytes| decode(&bytes).map_err(|e| StoreError::corrupt(table, key, e)))
        .transpose()
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl<S: Store + ?Sized> Registry for S {
    fn certifier(&self, id: &str) -> Result<Option<Certifier>, StoreError> {
        read(self, Table::Certifier, id.as_bytes(), json)
    }

    fn certifiers(&self) -> Result<Vec<Certifier>, StoreError> {
        self.scan(Table::Certifier)?
            .into_iter()
            .map(|(id, bytes)| {
                json(&bytes).map_err(|e| StoreError::corrupt(Table::Certifier, &id, e))
            })
            .collect()
    }

    fn assessment(&self, id: &str) -> Result<Option<AssessmentRecord>, StoreError> {
        read(self, Table::Assessment, id.as_bytes(), json)
    }

    fn mark(&self, id: &str) -> Result<Option<MarkRecord>, StoreError> {
        read(self, Table::Mark, id.as_bytes(), MarkRecord::decode)
    }

    fn mark_issuer(&self, id: &str) -> Result<Option<String>, StoreError> {
        read(self, Table::Mark, id.as_bytes(), MarkRecord::stored_issuer)
    }

    fn idempotent_answer(&self, key: &[u8]) -> Result<Option<StoredAnswer>, StoreError> {
        read(self, Table::Idempotency, key, json)
    }

    fn trust_list(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(Table::Meta, TRUST_LIST)
    }
}

#[cfg(test)]
mod tests {
    use super::super::records::sample_record;
    use super::super::store::{SledStore, WriteBatch};
    use super::*;

    fn put(store: &dyn Store, table: Table, key: &[u8], value: Vec<u8>) {
        let mut batch = WriteBatch::default();
        batch.put(table, key, value);
        store.apply(batch).unwrap();
    }

    /// What any registry must do: read back what was stored, `None` for what was not, and
    /// refuse (naming table and key) what does not decode.
    fn conformance(store: &dyn Store) {
        let mark = sample_record(3);
        put(
            store,
            Table::Mark,
            mark.mark_id.as_bytes(),
            mark.encode().unwrap(),
        );
        assert_eq!(store.mark(&mark.mark_id).unwrap(), Some(mark.clone()));
        assert_eq!(
            store.mark_issuer(&mark.mark_id).unwrap().as_deref(),
            Some("Lab")
        );
        assert_eq!(store.mark("0".repeat(32).as_str()).unwrap(), None);
        let certifier = Certifier {
            id: "c".repeat(32),
            name: "Lab".into(),
            assurance: "third-party".into(),
            created_at: 1,
        };
        put(
            store,
            Table::Certifier,
            certifier.id.as_bytes(),
            serde_json::to_vec(&certifier).unwrap(),
        );
        assert_eq!(
            store.certifier(&certifier.id).unwrap(),
            Some(certifier.clone())
        );
        assert_eq!(store.certifiers().unwrap(), [certifier]);
        assert_eq!(store.trust_list().unwrap(), None);
        put(store, Table::Mark, b"broken", b"\x81\x02".to_vec());
        let error = store.mark("broken").unwrap_err().to_string();
        assert!(
            error.starts_with("storage: table Mark, key broken: stored value does not decode"),
            "{error}"
        );
        put(store, Table::Certifier, b"bad", b"{}".to_vec());
        assert!(
            store.certifiers().is_err(),
            "one bad record fails the listing"
        );
    }

    #[test]
    fn the_sled_store_passes_the_registry_reads() {
        let dir = tempfile::tempdir().unwrap();
        conformance(&SledStore::open(dir.path()).unwrap());
    }
}
