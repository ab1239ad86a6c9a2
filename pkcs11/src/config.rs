//! Which token to use and how to log in (`spec/pki.md` 12.1). The PIN is read from a file or an
//! environment variable, never from the command line, and never printed.

use std::path::PathBuf;

use serde::Deserialize;
use trustmark_keys::KeyError;

/// Sessions opened when neither the configuration nor the token sets a limit.
pub const DEFAULT_SESSIONS: usize = 4;

/// A PKCS#11 token: the module that drives it, its label, and where its user PIN comes from.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// A file holding the user PIN (a trailing newline is ignored). It must not be readable by
    /// group or others.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// An environment variable holding the user PIN.
    #[serde(default)]
    pub pin_env: Option<String>,
    /// Sessions to keep open, each on its own thread (default [`DEFAULT_SESSIONS`], and never
    /// more than the token allows).
    #[serde(default)]
    pub sessions: Option<usize>,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin_file", &self.pin_file)
            .field("pin_env", &self.pin_env)
            .field("sessions", &self.sessions)
            .finish()
    }
}

/// A user PIN. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(…)")
    }
}

impl Pin {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl TokenConfig {
    /// Checks the configuration: a module, a label, and exactly one PIN source.
    pub fn check(&self) -> Result<(), KeyError> {
        if self.module.as_os_str().is_empty() || self.token_label.trim().is_empty() {
            return Err(KeyError::Store(
                "token: give the PKCS#11 module path and the token label".into(),
            ));
        }
        match (&self.pin_file, &self.pin_env) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(KeyError::Store(
                    "token: give the PIN in exactly one of pin_file and pin_env".into(),
                ))
            }
        }
        if self.sessions == Some(0) {
            return Err(KeyError::Store("token: sessions must be at least 1".into()));
        }
        Ok(())
    }

    /// Reads the user PIN from its file or variable, now (so a changed PIN is picked up when the
    /// token is next logged in to).
    pub fn read_pin(&self) -> Result<Pin, KeyError> {
        let pin = match (&self.pin_file, &self.pin_env) {
            (Some(path), None) => {
                refuse_shared_file(path)?;
                let text = std::fs::read_to_string(path).map_err(|e| {
                    KeyError::Unavailable(format!("token PIN file {}: {e}", path.display()))
                })?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            }
            (None, Some(name)) => std::env::var(name).map_err(|_| {
                KeyError::Unavailable(format!("token PIN: environment variable {name} is not set"))
            })?,
            _ => return Err(KeyError::Store("token: no PIN source".into())),
        };
        if pin.is_empty() {
            return Err(KeyError::Unavailable("token PIN is empty".into()));
        }
        Ok(Pin(pin))
    }
}

/// A PIN file others can read is refused, as ssh refuses such a private key.
fn refuse_shared_file(path: &std::path::Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| KeyError::Unavailable(format!("token PIN file {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Store(format!(
            "token PIN file {} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TokenConfig {
        TokenConfig {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token_label: "t".into(),
            pin_file: None,
            pin_env: Some("TRUSTMARK_TEST_PIN_UNSET".into()),
            sessions: None,
        }
    }

    #[test]
    fn the_pin_comes_from_one_source_and_is_never_printed() {
        assert!(config().check().is_ok());
        let both = TokenConfig {
            pin_file: Some("/x".into()),
            ..config()
        };
        assert_eq!(
            both.check().unwrap_err().to_string(),
            "signing key store: token: give the PIN in exactly one of pin_file and pin_env"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, "123456\n").unwrap();
        let from_file = TokenConfig {
            pin_file: Some(file.clone()),
            pin_env: None,
            ..config()
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(from_file
            .read_pin()
            .unwrap_err()
            .to_string()
            .contains("readable by group or others (mode 644)"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pin = from_file.read_pin().unwrap();
        assert_eq!(pin.expose(), "123456");
        assert_eq!(format!("{pin:?}"), "Pin(…)");
        assert!(!format!("{from_file:?}").contains("123456"));
        assert_eq!(
            config().read_pin().unwrap_err().to_string(),
            "signing key store unavailable: token PIN: environment variable TRUSTMARK_TEST_PIN_UNSET is not set"
        );
    }
}
