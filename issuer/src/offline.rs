//! The offline issuer's records on disk: a status-index counter and one file per issued mark.
//! (The issuer service keeps these in its database instead.)

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{IssueError, IssuedMark};

/// Allocates status-list indexes from `DIR/status-index`, one process at a time.
pub struct OfflineRegistry {
    dir: PathBuf,
}

impl OfflineRegistry {
    /// The registry under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.to_path_buf(),
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IssueError + '_ {
        move |source| IssueError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Reserves the next status index. The counter is written and synced before the index is
    /// used, so a crash never hands the same index out twice (at worst one is skipped).
    pub fn next_status_index(&self) -> Result<u32, IssueError> {
        let lock = self.dir.join("status-index.lock");
        let _guard = FileLock::acquire(&lock)?;
        let counter = self.dir.join("status-index");
        let current = match std::fs::read_to_string(&counter) {
            Ok(text) => text.trim().parse::<u32>().map_err(|_| {
                IssueError::invalid("status-index", format!("{} is corrupt", counter.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(Self::io(&counter)(e)),
        };
        let next = current
            .checked_add(1)
            .ok_or_else(|| IssueError::invalid("status-index", "exhausted"))?;
        let temp = self.dir.join("status-index.tmp");
        let mut file = std::fs::File::create(&temp).map_err(Self::io(&temp))?;
        file.write_all(next.to_string().as_bytes())
            .map_err(Self::io(&temp))?;
        file.sync_all().map_err(Self::io(&temp))?;
        std::fs::rename(&temp, &counter).map_err(Self::io(&counter))?;
        Ok(current)
    }

    /// Stores the issued mark: its token as `DIR/marks/<mark_id>.cbor` and its registry record
    /// (claims and the digests of the assessment records it rests on, per framework) as
    /// `DIR/marks/<mark_id>.json`.
    pub fn record(
        &self,
        mark: &IssuedMark,
        assessment_digests: &[(String, String)],
    ) -> Result<PathBuf, IssueError> {
        let marks = self.dir.join("marks");
        std::fs::create_dir_all(&marks).map_err(Self::io(&marks))?;
        let token_path = marks.join(format!("{}.cbor", mark.mark_id));
        write_synced(&token_path, &mark.token)?;
        let record = serde_json::json!({
            "mark_id": mark.mark_id,
            "status_index": mark.claims.status_index,
            "issued_at": mark.claims.issued_at.0,
            "expires_at": mark.claims.expires_at.0,
            "vendor": mark.claims.vendor,
            "model": mark.claims.model,
            "firmware_sha256": hex::encode(mark.claims.firmware.sha256),
            "assessments": assessment_digests.iter().map(|(framework, digest)| serde_json::json!({
                "framework": framework,
                "record_sha256": digest,
            })).collect::<Vec<_>>(),
        });
        let record_path = marks.join(format!("{}.json", mark.mark_id));
        write_synced(&record_path, record.to_string().as_bytes())?;
        Ok(record_path)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), IssueError> {
    let mut file = std::fs::File::create(path).map_err(OfflineRegistry::io(path))?;
    file.write_all(bytes).map_err(OfflineRegistry::io(path))?;
    file.sync_all().map_err(OfflineRegistry::io(path))
}

/// An exclusive lock file, removed on drop. Waits up to 10 s for another process.
struct FileLock(PathBuf);

impl FileLock {
    fn acquire(path: &Path) -> Result<Self, IssueError> {
        for _ in 0..1000 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return Ok(Self(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(OfflineRegistry::io(path)(e)),
            }
        }
        Err(IssueError::invalid(
            "status-index",
            format!(
                "{} is held by another process (remove it if none is running)",
                path.display()
            ),
        ))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Nothing useful can be done if removal fails; the next acquire reports the stale lock.
        let _ = std::fs::remove_file(&self.0);
    }
}
