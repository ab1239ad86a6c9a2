//! Writing key, certificate and trust-list files without ever replacing one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::KeyError;

/// Creates `path` with `mode` and writes `contents`, failing ([`KeyError::AlreadyExists`]) if
/// the file exists. The data is
/// flushed to disk before returning, so a key that was reported written survives a crash.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::AlreadyExists(path.to_path_buf()),
            _ => KeyError::Io {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
    file.write_all(contents).map_err(KeyError::io(path))?;
    file.sync_all().map_err(KeyError::io(path))
}
