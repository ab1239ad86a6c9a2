//! API keys: `tmk_` and 43 base64url characters (32 random bytes). Only their SHA-256 is stored,
//! with who holds the key, when it was made, when it expires and whether it is revoked; a key is
//! shown once, when it is made (`spec/api.md` 2).

use base64::Engine;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// A new random API key.
pub(super) fn new_key() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::internal("no randomness"))?;
    Ok(format!(
        "tmk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The stored form of a key: lowercase hex SHA-256 of its text.
pub(super) fn key_hash(key: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()))
}

/// The public id of a key: the first 32 hex digits of its hash (safe to show and log: the key
/// has 256 bits of entropy, so its hash reveals nothing of it).
pub fn key_id(hash: &str) -> &str {
    hash.get(..32).unwrap_or(hash)
}

/// Who holds an API key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyHolder {
    /// The scheme operator.
    Admin,
    /// A certifier, by id.
    Certifier(trustmark_domain::CertifierId),
}

/// Whether a key opens the API now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// It does.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

/// An API key as stored under its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredApiKey", into = "StoredApiKey")]
pub struct ApiKeyRecord {
    /// Who holds it.
    pub holder: KeyHolder,
    /// When it was made (Unix seconds); `None` for keys made before keys recorded it.
    pub created_at: Option<u64>,
    /// When it stops opening the API, if ever.
    pub expires_at: Option<u64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<u64>,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
}

impl ApiKeyRecord {
    /// A new key for `holder`, made at `now`.
    pub fn new(holder: KeyHolder, now: u64, expires_at: Option<u64>) -> Self {
        Self {
            holder,
            created_at: Some(now),
            expires_at,
            revoked_at: None,
            revocation_reason: None,
        }
    }

    /// Its state at `now`.
    pub fn state(&self, now: u64) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|at| now >= at) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }

    /// What the admin routes show of a key with hash `hash` at `now` (never the key).
    pub fn to_json(&self, hash: &str, now: u64) -> serde_json::Value {
        let (role, certifier_id) = match &self.holder {
            KeyHolder::Admin => ("admin", None),
            KeyHolder::Certifier(id) => ("certifier", Some(id.as_str())),
        };
        serde_json::json!({
            "key_id": key_id(hash),
            "role": role,
            "certifier_id": certifier_id,
            "state": self.state(now),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "revocation_reason": self.revocation_reason,
        })
    }
}

/// The stored JSON: `{"role": "admin" | "certifier", "certifier_id"?, "created_at"?,
/// "expires_at"?, "revoked_at"?, "revocation_reason"?}`. Records of earlier versions hold only
/// the role (and certifier id) and still read; anything else unknown refuses to.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredApiKey {
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certifier_id: Option<trustmark_domain::CertifierId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revocation_reason: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Role {
    Admin,
    Certifier,
}

impl TryFrom<StoredApiKey> for ApiKeyRecord {
    type Error = String;

    fn try_from(stored: StoredApiKey) -> Result<Self, String> {
        let holder = match (stored.role, stored.certifier_id) {
            (Role::Admin, None) => KeyHolder::Admin,
            (Role::Certifier, Some(id)) => KeyHolder::Certifier(id),
            (Role::Admin, Some(_)) => return Err("an admin key with a certifier id".into()),
            (Role::Certifier, None) => return Err("a certifier key without a certifier id".into()),
        };
        if stored.revoked_at.is_none() && stored.revocation_reason.is_some() {
            return Err("a revocation reason on a key that is not revoked".into());
        }
        Ok(Self {
            holder,
            created_at: stored.created_at,
            expires_at: stored.expires_at,
            revoked_at: stored.revoked_at,
            revocation_reason: stored.revocation_reason,
        })
    }
}

impl From<ApiKeyRecord> for StoredApiKey {
    fn from(record: ApiKeyRecord) -> Self {
        let (role, certifier_id) = match record.holder {
            KeyHolder::Admin => (Role::Admin, None),
            KeyHolder::Certifier(id) => (Role::Certifier, Some(id)),
        };
        Self {
            role,
            certifier_id,
            created_at: record.created_at,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
            revocation_reason: record.revocation_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_records_read_and_damaged_ones_do_not() {
        let admin: ApiKeyRecord = serde_json::from_str(r#"{"role":"admin"}"#).unwrap();
        assert_eq!((admin.holder, admin.created_at), (KeyHolder::Admin, None));
        let c1 = "c1".repeat(16);
        let certifier: ApiKeyRecord =
            serde_json::from_str(&format!(r#"{{"role":"certifier","certifier_id":"{c1}"}}"#))
                .unwrap();
        let c1 = trustmark_domain::CertifierId::parse(&c1).unwrap();
        assert_eq!(certifier.holder, KeyHolder::Certifier(c1));
        for bad in [
            r#"{"role":"root"}"#,
            r#"{"role":"certifier"}"#,
            r#"{"role":"certifier","certifier_id":"c1"}"#,
            r#"{"role":"admin","certifier_id":"c1"}"#,
            r#"{"role":"admin","scopes":["all"]}"#,
            r#"{"role":"admin","revocation_reason":"x"}"#,
            r#"{"role":"admin","expires_at":"soon"}"#,
        ] {
            assert!(serde_json::from_str::<ApiKeyRecord>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_is_active_until_it_expires_or_is_revoked() {
        let mut key = ApiKeyRecord::new(KeyHolder::Admin, 100, Some(200));
        assert_eq!(key.state(199), KeyState::Active);
        assert_eq!(key.state(200), KeyState::Expired);
        key.revoked_at = Some(150);
        assert_eq!(key.state(160), KeyState::Revoked);
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(
            json,
            r#"{"role":"admin","created_at":100,"expires_at":200,"revoked_at":150}"#
        );
        assert_eq!(serde_json::from_str::<ApiKeyRecord>(&json).unwrap(), key);
    }
}
