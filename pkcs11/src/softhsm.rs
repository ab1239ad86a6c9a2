//! Throwaway SoftHSM2 tokens, for tests, benchmarks and a development setup: a configuration
//! file and a token directory under a directory of the caller's, and a token initialised in it
//! with `softhsm2-util` (Debian package `softhsm2`). Nothing here is used by a production
//! deployment, which names its own module and token.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::TokenConfig;

/// Debian's SoftHSM2 module, or `TRUSTMARK_SOFTHSM_MODULE`.
pub fn module() -> PathBuf {
    std::env::var_os("TRUSTMARK_SOFTHSM_MODULE")
        .map_or_else(|| "/usr/lib/softhsm/libsofthsm2.so".into(), PathBuf::from)
}

/// A SoftHSM2 set-up in a directory: `softhsm2.conf` and `tokens/`. Processes that use it must
/// have `SOFTHSM2_CONF` set to [`SoftHsm::conf`] before the module is loaded.
#[derive(Debug, Clone)]
pub struct SoftHsm {
    /// The configuration file.
    pub conf: PathBuf,
    /// The token directory.
    tokens: PathBuf,
}

/// A token taken out of its SoftHSM2 set-up by [`SoftHsm::pull_out`].
#[derive(Debug)]
pub struct Pulled {
    slot: PathBuf,
    away: PathBuf,
}

impl Pulled {
    /// Puts the token back where it was.
    pub fn put_back(self) -> Result<(), String> {
        std::fs::rename(&self.away, &self.slot)
            .map_err(|e| format!("cannot put {} back: {e}", self.slot.display()))
    }
}

impl SoftHsm {
    /// Writes the configuration for a token directory under `dir`.
    pub fn create(dir: &Path) -> Result<Self, String> {
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).map_err(|e| format!("{}: {e}", tokens.display()))?;
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .map_err(|e| format!("{}: {e}", conf.display()))?;
        Ok(Self { conf, tokens })
    }

    /// Takes the set-up's token out, as if pulled from its slot: its directory leaves the
    /// token directory (for tests of a set-up with one token).
    pub fn pull_out(&self) -> Result<Pulled, String> {
        let slot = std::fs::read_dir(&self.tokens)
            .map_err(|e| format!("{}: {e}", self.tokens.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.is_dir())
            .ok_or_else(|| format!("no token in {}", self.tokens.display()))?;
        let away = self.tokens.with_file_name("pulled-out");
        std::fs::rename(&slot, &away)
            .map_err(|e| format!("cannot pull {} out: {e}", slot.display()))?;
        Ok(Pulled { slot, away })
    }

    /// Initialises a new token labelled `label` with the user PIN `pin`, and writes the PIN to
    /// `pin_file` (mode 0600): the configuration to use it.
    pub fn init_token(
        &self,
        label: &str,
        pin: &str,
        pin_file: &Path,
    ) -> Result<TokenConfig, String> {
        let so_pin = format!("so-{pin}");
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--init-token", "--free", "--label", label, "--so-pin"])
            .arg(&so_pin)
            .arg("--pin")
            .arg(pin)
            .output()
            .map_err(|e| {
                format!("cannot run softhsm2-util ({e}): install Debian's softhsm2 package")
            })?;
        if !out.status.success() {
            return Err(format!(
                "softhsm2-util --init-token: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        write_private(pin_file, pin)?;
        Ok(TokenConfig {
            module: module(),
            token_label: label.to_owned(),
            pin_file: Some(pin_file.to_owned()),
            pin_env: None,
            sessions: None,
        })
    }

    /// Deletes the token labelled `label` (as if it were pulled out of its slot).
    pub fn delete_token(&self, label: &str) -> Result<(), String> {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--delete-token", "--token", label])
            .output()
            .map_err(|e| format!("cannot run softhsm2-util: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "softhsm2-util --delete-token: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

/// Writes `text` to a new file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}
