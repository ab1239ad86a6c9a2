//! What the service stores, as JSON values in the [`super::store::Store`].

use serde::{Deserialize, Serialize};

/// A certifier: an organisation that issues marks under an issuer key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Certifier {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `third-party` (a test lab) or `self` (a manufacturer).
    pub assurance: String,
    /// Hex kid of the issuer key it signs with.
    pub kid: String,
    /// Created at (Unix seconds).
    pub created_at: u64,
}

/// Who an API key belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ApiKey {
    /// The scheme operator.
    Admin,
    /// A certifier.
    Certifier {
        /// The certifier's id.
        certifier_id: String,
    },
}

/// A stored assessment and its decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssessmentRecord {
    /// Id.
    pub id: String,
    /// Owner.
    pub certifier_id: String,
    /// Framework id.
    pub framework: String,
    /// Target class.
    pub target_class: u8,
    /// The decision (JSON of `assessment::Decision`).
    pub decision: serde_json::Value,
    /// The responses as submitted, normalised (JSON).
    pub responses: serde_json::Value,
    /// Created at.
    pub created_at: u64,
}

/// A framework claim of a stored mark.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClaimRecord {
    /// Framework id.
    pub framework: String,
    /// Release.
    pub version: String,
    /// Class.
    pub class: u8,
    /// Assurance.
    pub assurance: String,
    /// SHA-256 of the assessment record it rests on.
    pub assessment_digest: String,
}

/// A mark's registry record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MarkRecord {
    /// Id (hex of the first 16 bytes of SHA-256 over the token).
    pub mark_id: String,
    /// Owner.
    pub certifier_id: String,
    /// Issuer display name.
    pub issuer: String,
    /// Hex kid of the signing key.
    pub kid: String,
    /// Status list number.
    pub status_list: u32,
    /// Index in the status list.
    pub status_index: u32,
    /// `valid`, `revoked` or `suspended`.
    pub status: String,
    /// Why the status last changed.
    #[serde(default)]
    pub status_reason: Option<String>,
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Hardware version.
    pub hw_version: String,
    /// Firmware version.
    pub firmware_version: String,
    /// Firmware SHA-256, hex.
    pub firmware_sha256: String,
    /// Framework claims.
    pub claims: Vec<ClaimRecord>,
    /// Issued at (Unix seconds).
    pub issued_at: u64,
    /// Expires at.
    pub expires_at: u64,
    /// Support period end, `YYYY-MM-DD`.
    pub support_until: String,
    /// The token, base64url. (The QR URL is derived from it and the public base URL, so it is
    /// not stored.)
    pub token: String,
}

impl MarkRecord {
    /// The token bytes.
    pub fn token_bytes(&self) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.token)
            .unwrap_or_default()
    }

    /// The QR URL under `base_url`.
    pub fn url(&self, base_url: &str) -> String {
        trustmark_format::qr_text::mark_url(base_url, &self.token_bytes())
    }
}
