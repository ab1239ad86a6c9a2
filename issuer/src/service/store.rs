//! Storage behind a trait: a key-value store with atomic batches and an explicit durability
//! barrier. sled is the embedded default (`spec/storage.md` says what durability it gives); a
//! server database replaces it by implementing [`Store`].

use std::path::Path;

/// The tables of the store. Keys are prefixed with the table's byte, so one atomic batch can
/// write several tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Table {
    /// certifier id -> [`super::records::Certifier`]
    Certifier = 1,
    /// SHA-256 of an API key -> [`super::records::ApiKey`]
    ApiKey = 2,
    /// assessment id -> [`super::records::AssessmentRecord`]
    Assessment = 3,
    /// mark id -> [`super::records::MarkRecord`]
    Mark = 4,
    /// sequence number (u64 big-endian) -> [`super::audit::AuditEntry`]
    Audit = 5,
    /// counters and heads (`next-index/<list>`, `audit-head`)
    Meta = 6,
}

fn key(table: Table, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(table as u8);
    k.extend_from_slice(key);
    k
}

/// A storage failure. Never shown to clients beyond "internal error".
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StoreError(pub String);

/// Writes applied together or not at all.
#[derive(Debug, Default)]
pub struct WriteBatch {
    puts: Vec<(Vec<u8>, Vec<u8>)>,
}

impl WriteBatch {
    /// Adds a put.
    pub fn put(&mut self, table: Table, k: &[u8], value: Vec<u8>) {
        self.puts.push((key(table, k), value));
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
    }
}

/// A stored `(key, value)`.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The storage the service needs.
pub trait Store: Send + Sync + 'static {
    /// One value.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every `(key, value)` of a table, in key order.
    fn scan(&self, table: Table) -> Result<Vec<Entry>, StoreError>;
    /// Applies a batch atomically (not yet durable).
    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError>;
    /// Returns when everything applied so far is durable.
    fn flush(&self) -> Result<(), StoreError>;
}

/// sled, embedded.
pub struct SledStore {
    db: sled::Db,
    /// sled's data file, opened again to `fdatasync` it: on Linux sled's `flush` ends with
    /// `sync_file_range`, which neither forces the drive's write cache nor records a changed
    /// file size, so a flushed write could still be lost to a power cut (`spec/storage.md`).
    data_file: std::fs::File,
}

impl SledStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            // Durability comes from the explicit flush after every commit group, not from a
            // timer.
            .flush_every_ms(None)
            .open()
            .map_err(|e| StoreError(format!("opening {}: {e}", dir.display())))?;
        let data_path = dir.join("db");
        let data_file = std::fs::File::open(&data_path)
            .map_err(|e| StoreError(format!("opening {}: {e}", data_path.display())))?;
        Ok(Self { db, data_file })
    }
}

fn sled_error(e: sled::Error) -> StoreError {
    StoreError(e.to_string())
}

impl Store for SledStore {
    fn get(&self, table: Table, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get(key(table, k))
            .map_err(sled_error)?
            .map(|v| v.to_vec()))
    }

    fn scan(&self, table: Table) -> Result<Vec<Entry>, StoreError> {
        self.db
            .scan_prefix([table as u8])
            .map(|item| {
                let (k, v) = item.map_err(sled_error)?;
                Ok((k[1..].to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.puts {
            b.insert(k, v);
        }
        self.db.apply_batch(b).map_err(sled_error)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(sled_error)?;
        self.data_file
            .sync_data()
            .map_err(|e| StoreError(format!("fdatasync: {e}")))
    }
}
