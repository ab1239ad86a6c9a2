//! A key-value store with atomic batches and an explicit durability barrier, under the typed
//! repositories of [`super::repository`] (which give any [`Store`] the registry's records).
//! sled is the embedded default (`spec/storage.md` says what durability it gives); a server
//! database implements the repositories directly.

use std::path::Path;

/// The tables of the store. Keys are prefixed with the table's byte, so one atomic batch can
/// write several tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Table {
    /// certifier id -> [`super::records::Certifier`]
    Certifier = 1,
    /// SHA-256 of an API key -> [`super::keys::ApiKeyRecord`]
    ApiKey = 2,
    /// assessment id -> [`super::records::AssessmentRecord`]
    Assessment = 3,
    /// mark id -> [`super::records::MarkRecord`]
    Mark = 4,
    /// sequence number (u64 big-endian) -> [`super::audit::AuditEntry`]
    Audit = 5,
    /// counters and heads (`next-index/<list>`, `next-status-list`, `audit-head`), and the
    /// trust list in force (`trust-list`)
    Meta = 6,
    /// API key hash `/` idempotency key -> [`super::idempotency::StoredAnswer`]
    Idempotency = 7,
    /// kid -> [`trustmark_domain::IssuerKey`]
    IssuerKey = 8,
    /// status list number (u32 big-endian) -> its snapshot: the audit position (u64
    /// big-endian), the number of entries (u32 big-endian) and the packed entries
    StatusSnapshot = 9,
}

fn key(table: Table, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(table as u8);
    k.extend_from_slice(key);
    k
}

/// A storage failure. Never shown to clients beyond "internal error", or, when the store could
/// not be reached, "unavailable, retry later" (503).
#[derive(Debug, thiserror::Error)]
#[error("storage: {message}")]
pub struct StoreError {
    message: String,
    unavailable: bool,
}

impl StoreError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: false,
        }
    }

    /// The store could not be reached (a database server down or restarting): nothing was
    /// done, and the same request may succeed later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: true,
        }
    }

    /// Whether the store could not be reached.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

/// Writes applied together or not at all: puts, and deletes (a `None` value).
#[derive(Debug, Default)]
pub struct WriteBatch {
    puts: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Key -> position of its last put; built by the first [`Self::get`] and kept up to date
    /// after it, so a batch nobody reads (issuance) never pays for it.
    index: Option<std::collections::HashMap<Vec<u8>, usize>>,
}

impl WriteBatch {
    /// Adds a put.
    pub fn put(&mut self, table: Table, k: &[u8], value: Vec<u8>) {
        self.write(table, k, Some(value));
    }

    /// Adds a delete.
    pub fn delete(&mut self, table: Table, k: &[u8]) {
        self.write(table, k, None);
    }

    fn write(&mut self, table: Table, k: &[u8], value: Option<Vec<u8>>) {
        let key = key(table, k);
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.puts.len());
        }
        self.puts.push((key, value));
    }

    /// What the batch last does to `k`, if anything (`Some(None)`: deletes it): a later command
    /// of a commit group reads what an earlier one wrote.
    pub fn get(&mut self, table: Table, k: &[u8]) -> Option<Option<&[u8]>> {
        let puts = &self.puts;
        let index = self.index.get_or_insert_with(|| {
            puts.iter()
                .enumerate()
                .map(|(i, (key, _))| (key.clone(), i))
                .collect()
        });
        let at = *index.get(&key(table, k))?;
        self.puts.get(at).map(|(_, value)| value.as_deref())
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
    }

    /// A point to [`Self::rollback`] to: the number of puts made so far.
    pub fn savepoint(&self) -> usize {
        self.puts.len()
    }

    /// Drops every put made after `savepoint`, so a command refused half-way leaves nothing in
    /// the batch of its commit group.
    pub fn rollback(&mut self, savepoint: usize) {
        if savepoint >= self.puts.len() {
            return;
        }
        self.puts.truncate(savepoint);
        // The index would point past the end or at overwritten puts: rebuild it when next read.
        self.index = None;
    }
}

/// A stored key for messages: the text if it is printable ASCII, else hex.
pub fn printable_key(key: &[u8]) -> String {
    if key.iter().all(|b| b.is_ascii_graphic()) {
        String::from_utf8_lossy(key).into_owned()
    } else {
        format!("0x{}", hex::encode(key))
    }
}

impl StoreError {
    /// A stored value that does not decode: names its table and key, so the operator can find
    /// it.
    pub fn corrupt(table: Table, key: &[u8], reason: impl std::fmt::Display) -> Self {
        Self::new(format!(
            "table {table:?}, key {}: stored value does not decode: {reason}",
            printable_key(key)
        ))
    }
}

/// A stored `(key, value)`.
pub type Entry = (Vec<u8>, Vec<u8>);

/// What [`Store::for_each`] calls with each `(key, value)`.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// The storage the service needs.
pub trait Store: Send + Sync + 'static {
    /// One value.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Calls `visit` with every `(key, value)` of a table, in key order, without holding the
    /// table in memory; stops at the first error.
    fn for_each(&self, table: Table, visit: &mut Visit<'_>) -> Result<(), StoreError>;
    /// As [`Self::for_each`], from the first key at or after `from`.
    fn for_each_from(
        &self,
        table: Table,
        from: &[u8],
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError>;
    /// Every `(key, value)` of a table, in key order (for small tables).
    fn scan(&self, table: Table) -> Result<Vec<Entry>, StoreError> {
        let mut entries = Vec::new();
        self.for_each(table, &mut |k, v| {
            entries.push((k.to_vec(), v.to_vec()));
            Ok(())
        })?;
        Ok(entries)
    }
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
    /// sled's blob directory: values or nodes over a quarter segment (128 KiB) are written
    /// there as one file each, which sled never syncs.
    blobs: std::path::PathBuf,
    /// The highest blob id synced so far (blob ids are log sequence numbers, so they grow).
    synced_blob: std::sync::Mutex<u64>,
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
            .map_err(|e| StoreError::new(format!("opening {}: {e}", dir.display())))?;
        let data_path = dir.join("db");
        let data_file = std::fs::File::open(&data_path)
            .map_err(|e| StoreError::new(format!("opening {}: {e}", data_path.display())))?;
        Ok(Self {
            db,
            data_file,
            blobs: dir.join("blobs"),
            synced_blob: std::sync::Mutex::new(0),
        })
    }

    /// `fdatasync`s the blob files written since the last call, then the directory that names
    /// them. A blob removed by sled meanwhile needs no sync.
    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let failed = |e: std::io::Error| StoreError::new(format!("syncing sled blobs: {e}"));
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(failed(e)),
        };
        let mut synced = self.synced_blob.lock().unwrap_or_else(|e| e.into_inner());
        let mut highest = *synced;
        for entry in entries {
            let entry = entry.map_err(failed)?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if id <= *synced {
                continue;
            }
            match std::fs::File::open(entry.path()) {
                Ok(file) => file.sync_data().map_err(failed)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(failed(e)),
            }
            highest = highest.max(id);
        }
        if highest > *synced {
            std::fs::File::open(&self.blobs)
                .and_then(|dir| dir.sync_all())
                .map_err(failed)?;
            *synced = highest;
        }
        Ok(())
    }
}

fn sled_error(e: sled::Error) -> StoreError {
    StoreError::new(e.to_string())
}

impl Store for SledStore {
    fn get(&self, table: Table, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get(key(table, k))
            .map_err(sled_error)?
            .map(|v| v.to_vec()))
    }

    fn for_each(&self, table: Table, visit: &mut Visit<'_>) -> Result<(), StoreError> {
        for item in self.db.scan_prefix([table as u8]) {
            let (k, v) = item.map_err(sled_error)?;
            visit(&k[1..], &v)?;
        }
        Ok(())
    }

    fn for_each_from(
        &self,
        table: Table,
        from: &[u8],
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        let start = key(table, from);
        for item in self.db.range(start..) {
            let (k, v) = item.map_err(sled_error)?;
            if k.first() != Some(&(table as u8)) {
                break;
            }
            visit(&k[1..], &v)?;
        }
        Ok(())
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.puts {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.db.apply_batch(b).map_err(sled_error)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(sled_error)?;
        self.sync_new_blobs()?;
        self.data_file
            .sync_data()
            .map_err(|e| StoreError::new(format!("fdatasync: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_syncs_the_blob_files_sled_leaves_unsynced() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut batch = WriteBatch::default();
        batch.put(Table::Assessment, b"big", vec![7; 300 * 1024]);
        store.apply(batch).unwrap();
        store.flush().unwrap();
        let blobs: Vec<u64> = std::fs::read_dir(dir.path().join("blobs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .collect();
        assert!(!blobs.is_empty(), "a 300 KiB value should be a sled blob");
        assert_eq!(
            *store.synced_blob.lock().unwrap(),
            blobs.into_iter().max().unwrap()
        );
        assert_eq!(
            store.get(Table::Assessment, b"big").unwrap().unwrap().len(),
            300 * 1024
        );
    }

    #[test]
    fn a_batch_reads_its_own_latest_write() {
        let mut batch = WriteBatch::default();
        batch.put(Table::Mark, b"m", b"1".to_vec());
        batch.put(Table::Meta, b"m", b"other table".to_vec());
        batch.put(Table::Mark, b"m", b"2".to_vec());
        assert_eq!(batch.get(Table::Mark, b"m"), Some(Some(&b"2"[..])));
        assert_eq!(batch.get(Table::Mark, b"n"), None);
        // Puts after the first read are seen too, and deletes.
        batch.put(Table::Mark, b"m", b"3".to_vec());
        batch.put(Table::Mark, b"n", b"4".to_vec());
        assert_eq!(batch.get(Table::Mark, b"m"), Some(Some(&b"3"[..])));
        assert_eq!(batch.get(Table::Mark, b"n"), Some(Some(&b"4"[..])));
        assert_eq!(
            batch.get(Table::Meta, b"m"),
            Some(Some(&b"other table"[..]))
        );
        batch.delete(Table::Mark, b"n");
        assert_eq!(batch.get(Table::Mark, b"n"), Some(None));
    }

    #[test]
    fn a_rollback_drops_the_puts_after_its_savepoint() {
        let mut batch = WriteBatch::default();
        batch.put(Table::Mark, b"m", b"1".to_vec());
        let savepoint = batch.savepoint();
        batch.put(Table::Mark, b"m", b"2".to_vec());
        batch.put(Table::Mark, b"n", b"3".to_vec());
        assert_eq!(batch.get(Table::Mark, b"m"), Some(Some(&b"2"[..])));
        batch.rollback(savepoint);
        assert_eq!(batch.get(Table::Mark, b"m"), Some(Some(&b"1"[..])));
        assert_eq!(batch.get(Table::Mark, b"n"), None);
        assert_eq!(
            StoreError::corrupt(Table::Mark, b"m1", "bad").to_string(),
            "storage: table Mark, key m1: stored value does not decode: bad"
        );
        assert_eq!(printable_key(&[0, 1]), "0x0001");
    }
}
