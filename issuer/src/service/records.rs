//! What the service stores in the [`super::store::Store`]: JSON values, except mark records,
//! which are compact CBOR (`spec/storage.md`).

use base64::Engine;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use trustmark_domain::{AssessmentId, CertifierId, MarkId};

use crate::assessment::{Answer, CarriedOver, Decision, Response};
use crate::MarkStatus;

/// A certifier: an organisation that issues marks, with issuer keys of its own (records of
/// earlier versions also hold the kid of the one key all certifiers shared; it is ignored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Certifier {
    /// Id.
    pub id: CertifierId,
    /// Display name.
    pub name: String,
    /// `third-party` (a test lab) or `self` (a manufacturer).
    pub assurance: String,
    /// Created at (Unix seconds).
    pub created_at: u64,
}

/// A stored assessment and its decision.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AssessmentRecord {
    /// Id.
    pub id: AssessmentId,
    /// Owner.
    pub certifier_id: CertifierId,
    /// Framework id.
    pub framework: String,
    /// Target class.
    pub target_class: u8,
    /// The decision.
    pub decision: Decision,
    /// The responses as submitted, normalised.
    pub responses: Vec<StoredResponse>,
    /// Created at.
    pub created_at: u64,
}

impl AssessmentRecord {
    /// The catalogue the record was decided against: its framework at the release its
    /// decision names.
    pub fn catalogue(
        &self,
    ) -> Result<std::sync::Arc<crate::assessment::Catalogue>, crate::assessment::AssessmentError>
    {
        crate::assessment::find(&self.framework, Some(&self.decision.version))
    }
}

/// A response as stored: the answer as its code, blank texts `null`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoredResponse {
    /// Requirement id.
    pub requirement: String,
    /// The answer (`C`, `P`, `N`, `NA`).
    pub response: Answer,
    /// Evidence reference.
    pub evidence: Option<String>,
    /// Justification.
    pub justification: Option<String>,
    /// Set on a response pre-filled from another framework's assessment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_over: Option<CarriedOver>,
}

impl StoredResponse {
    /// The stored form of a response.
    pub fn from_response(r: &Response) -> Self {
        Self {
            requirement: r.requirement.clone(),
            response: r.answer,
            evidence: r.evidence.clone(),
            justification: r.justification.clone(),
            carried_over: r.carried_over.clone(),
        }
    }

    /// The response again; `row` is its position in the record, from 1.
    pub fn to_response(&self, row: usize) -> Response {
        Response {
            requirement: self.requirement.clone(),
            answer: self.response,
            evidence: self.evidence.clone(),
            justification: self.justification.clone(),
            carried_over: self.carried_over.clone(),
            row,
        }
    }
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
    pub mark_id: MarkId,
    /// Owner.
    pub certifier_id: CertifierId,
    /// Issuer display name.
    pub issuer: String,
    /// Hex kid of the signing key.
    pub kid: String,
    /// Status list number.
    pub status_list: u32,
    /// Index in the status list.
    pub status_index: u32,
    /// Its status.
    pub status: MarkStatus,
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

/// A signed token with what is known of it.
#[derive(Debug)]
pub struct SignedToken<'a> {
    /// The COSE bytes.
    pub token: &'a [u8],
    /// Its id ([`crate::mark_id`]).
    pub mark_id: MarkId,
    /// The kid it was signed under.
    pub kid: &'a [u8],
    /// The status list its index is in (its key's).
    pub status_list: u32,
    /// Its claims.
    pub claims: trustmark_format::MarkClaims,
}

/// Why a stored mark record cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable mark record: {0}")]
pub struct RecordError(String);

/// Version 1 of a stored mark record: a CBOR array of what the token does not already say,
/// then the token. Everything the token says (product, firmware, classes, dates, kid) is read
/// back from it, so the two can never disagree, and the record is about a third of the size
/// of the JSON it replaced (which [`MarkRecord::decode`] still reads).
#[derive(Serialize, Deserialize)]
struct StoredMarkV1(
    /// Format version: 1.
    u8,
    /// Owner (certifier id).
    CertifierId,
    /// Issuer display name.
    String,
    /// Status list number.
    u32,
    /// Index in the status list.
    u32,
    /// Status name (`valid`, `revoked`, `suspended`; any other refuses to decode).
    MarkStatus,
    /// Why the status last changed.
    Option<String>,
    /// Assessment digests (32 bytes each), in the order of the token's framework claims.
    Vec<serde_bytes::ByteBuf>,
    /// The token.
    serde_bytes::ByteBuf,
);

/// The fields of [`StoredMarkV1`] before its token, the rest skipped.
#[derive(Deserialize)]
struct StoredHead(
    u8,
    IgnoredAny,
    String,
    u32,
    u32,
    MarkStatus,
    IgnoredAny,
    IgnoredAny,
    IgnoredAny,
);

/// Version of [`StoredMarkV1`].
const STORED_MARK_V1: u8 = 1;

/// Length of an assessment digest (SHA-256).
const DIGEST_LEN: usize = 32;

/// A mark signed by a handler with its registry record encoded there too, so the single writer
/// only inserts bytes (encoding in the handlers runs on every core).
#[derive(Debug)]
pub struct SignedMark {
    /// The record.
    pub record: MarkRecord,
    /// [`MarkRecord::encode`] of it.
    pub encoded: Vec<u8>,
}

#[cfg(test)]
impl SignedMark {
    /// Encodes `record`.
    pub(super) fn new(record: MarkRecord) -> Self {
        let encoded = record.encode().unwrap();
        Self { record, encoded }
    }
}

impl MarkRecord {
    /// The record of a signed token: the token's claims plus what the registry adds.
    /// `digests` gives each framework claim's assessment digest (hex) by framework id.
    pub fn from_token(
        token: &[u8],
        certifier_id: &CertifierId,
        issuer: &str,
        (status_list, status_index): (u32, u32),
        digests: &[(String, String)],
    ) -> Result<Self, RecordError> {
        let signed = parse_signed(token, status_list, status_index)?;
        Self::from_signed(signed, certifier_id, issuer, digests)
    }

    /// The record of a token whose claims, id and kid are already known (the issuer's own, just
    /// signed: nothing to parse again). Every framework claim needs its digest in `digests`.
    pub fn from_signed(
        signed: SignedToken<'_>,
        certifier_id: &CertifierId,
        issuer: &str,
        digests: &[(String, String)],
    ) -> Result<Self, RecordError> {
        let ordered = signed
            .claims
            .frameworks
            .iter()
            .map(|f| {
                let framework = f.framework.to_string();
                let digest = digests
                    .iter()
                    .find(|(id, _)| *id == framework)
                    .map(|(_, d)| d.clone())
                    .ok_or_else(|| RecordError(format!("no assessment digest for {framework}")))?;
                check_digest(&digest)?;
                Ok(digest)
            })
            .collect::<Result<Vec<_>, RecordError>>()?;
        Ok(Self::from_parts(signed, certifier_id, issuer, ordered))
    }

    /// The record of `signed` with `digests` in the order of its framework claims (as many).
    fn from_parts(
        signed: SignedToken<'_>,
        certifier_id: &CertifierId,
        issuer: &str,
        digests: Vec<String>,
    ) -> Self {
        let SignedToken {
            token,
            mark_id,
            kid,
            status_list,
            claims: c,
        } = signed;
        Self {
            mark_id,
            certifier_id: certifier_id.clone(),
            issuer: issuer.to_owned(),
            kid: hex::encode(kid),
            status_list,
            status_index: c.status_index,
            status: MarkStatus::Valid,
            status_reason: None,
            vendor: c.vendor,
            model: c.model,
            hw_version: c.hw_version,
            firmware_version: c.firmware.version,
            firmware_sha256: hex::encode(c.firmware.sha256),
            claims: c
                .frameworks
                .iter()
                .zip(digests)
                .map(|(f, assessment_digest)| ClaimRecord {
                    framework: f.framework.to_string(),
                    version: f.version.clone(),
                    class: f.class,
                    assurance: f.assurance.name().to_owned(),
                    assessment_digest,
                })
                .collect(),
            issued_at: c.issued_at.0,
            expires_at: c.expires_at.0,
            support_until: crate::format_day(c.support_until),
            token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token),
        }
    }

    /// The stored form (version 1: a CBOR array, `spec/storage.md` 3.2).
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        self.encode_with_token(&self.token_bytes()?)
    }

    /// [`Self::encode`] given the record's token bytes, which the caller already has (the
    /// record keeps its token as base64url). Refuses a record whose digests are not 64 hex
    /// digits each: nothing is written that would not read back.
    pub fn encode_with_token(&self, token: &[u8]) -> Result<Vec<u8>, RecordError> {
        let digests = self
            .assessment_digests()?
            .into_iter()
            .map(serde_bytes::ByteBuf::from)
            .collect();
        let stored = StoredMarkV1(
            STORED_MARK_V1,
            self.certifier_id.clone(),
            self.issuer.clone(),
            self.status_list,
            self.status_index,
            self.status,
            self.status_reason.clone(),
            digests,
            serde_bytes::ByteBuf::from(token),
        );
        let mut out = Vec::with_capacity(320);
        ciborium::into_writer(&stored, &mut out)
            .map_err(|e| RecordError(format!("encoding: {e}")))?;
        Ok(out)
    }

    /// Reads the stored form, or the JSON records of earlier versions. Anything that does not
    /// decode into a whole, consistent record (a status name nobody knows, a digest of the
    /// wrong length, a token that does not parse or disagrees with the record) is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.first() == Some(&b'{') {
            let record: Self =
                serde_json::from_slice(bytes).map_err(|e| RecordError(e.to_string()))?;
            for claim in &record.claims {
                check_digest(&claim.assessment_digest)?;
            }
            record.token_bytes()?;
            return Ok(record);
        }
        let StoredMarkV1(
            version,
            certifier_id,
            issuer,
            status_list,
            status_index,
            status,
            reason,
            digests,
            token,
        ) = ciborium::from_reader(bytes).map_err(|e| RecordError(e.to_string()))?;
        if version != STORED_MARK_V1 {
            return Err(RecordError(format!("unknown record version {version}")));
        }
        Self::from_stored(
            &token,
            &certifier_id,
            &issuer,
            (status_list, status_index),
            (status, reason),
            &digests,
        )
    }

    /// The record of a stored token and what the registry stored beside it: the certifier,
    /// the issuer name, the status slot, the status and its reason, and the assessment digests
    /// (32 bytes each) in the order of the token's framework claims.
    pub fn from_stored(
        token: &[u8],
        certifier_id: &CertifierId,
        issuer: &str,
        (status_list, status_index): (u32, u32),
        (status, reason): (MarkStatus, Option<String>),
        digests: &[impl AsRef<[u8]>],
    ) -> Result<Self, RecordError> {
        let signed = parse_signed(token, status_list, status_index)?;
        if digests.len() != signed.claims.frameworks.len() {
            return Err(RecordError(format!(
                "{} assessment digests for {} claims",
                digests.len(),
                signed.claims.frameworks.len()
            )));
        }
        if let Some(bad) = digests.iter().find(|d| d.as_ref().len() != DIGEST_LEN) {
            return Err(RecordError(format!(
                "an assessment digest of {} bytes",
                bad.as_ref().len()
            )));
        }
        let digests = digests.iter().map(hex::encode).collect();
        let mut record = Self::from_parts(signed, certifier_id, issuer, digests);
        record.status = status;
        record.status_reason = reason;
        Ok(record)
    }

    /// The start of a stored record (issuer name, status index and status), read
    /// without its token: the start-up scan of every record and the verification page need no
    /// more.
    fn stored_head(bytes: &[u8]) -> Result<StoredHead, RecordError> {
        if bytes.first() == Some(&b'{') {
            let record = Self::decode(bytes)?;
            return Ok(StoredHead(
                STORED_MARK_V1,
                IgnoredAny,
                record.issuer,
                record.status_list,
                record.status_index,
                record.status,
                IgnoredAny,
                IgnoredAny,
                IgnoredAny,
            ));
        }
        let head: StoredHead =
            ciborium::from_reader(bytes).map_err(|e| RecordError(e.to_string()))?;
        if head.0 != STORED_MARK_V1 {
            return Err(RecordError(format!("unknown record version {}", head.0)));
        }
        Ok(head)
    }

    /// The status list, status index and status of a stored record (for the start-up scan).
    pub fn stored_status(bytes: &[u8]) -> Result<(u32, u32, MarkStatus), RecordError> {
        let head = Self::stored_head(bytes)?;
        Ok((head.3, head.4, head.5))
    }

    /// The issuer display name (the certifier's name) of a stored record (for the page).
    pub fn stored_issuer(bytes: &[u8]) -> Result<String, RecordError> {
        Ok(Self::stored_head(bytes)?.2)
    }

    /// The assessment digests (32 bytes each) in the order of the claims; refused if one is not
    /// 64 hex digits.
    pub fn assessment_digests(&self) -> Result<Vec<Vec<u8>>, RecordError> {
        self.claims
            .iter()
            .map(|c| check_digest(&c.assessment_digest))
            .collect()
    }

    /// The token bytes.
    pub fn token_bytes(&self) -> Result<Vec<u8>, RecordError> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.token)
            .map_err(|e| RecordError(format!("token: {e}")))
    }

    /// The QR URL under `base_url`.
    pub fn url(&self, base_url: &str) -> Result<String, RecordError> {
        Ok(trustmark_format::qr_text::mark_url(
            base_url,
            &self.token_bytes()?,
        ))
    }
}

/// Parses a stored token far enough to build its record (the signature is not checked: the
/// store is trusted), and checks that it carries `status_index`.
fn parse_signed(
    token: &[u8],
    status_list: u32,
    status_index: u32,
) -> Result<SignedToken<'_>, RecordError> {
    let bad = |e: trustmark_format::FormatError| RecordError(format!("token: {e}"));
    let parsed = trustmark_format::mark::parse(token).map_err(bad)?;
    let claims = trustmark_format::MarkClaims::from_cbor(parsed.payload()).map_err(bad)?;
    if claims.status_index != status_index {
        return Err(RecordError(format!(
            "status index {status_index} but the token says {}",
            claims.status_index
        )));
    }
    Ok(SignedToken {
        token,
        mark_id: crate::mark_id(token),
        kid: parsed.kid(),
        status_list,
        claims,
    })
}

/// The bytes of a hex assessment digest, which must be 32 bytes.
fn check_digest(digest: &str) -> Result<Vec<u8>, RecordError> {
    hex::decode(digest)
        .ok()
        .filter(|d| d.len() == DIGEST_LEN)
        .ok_or_else(|| RecordError(format!("assessment digest {digest:?}: not 64 hex digits")))
}

/// A record of a well-formed (not validly signed) typical mark with status index `index`.
#[cfg(test)]
pub(super) fn sample_record(index: u32) -> MarkRecord {
    let mut claims = crate::size_report::typical_claims();
    claims.status_index = index;
    let token = trustmark_format::mark::encode(
        &claims,
        trustmark_format::Algorithm::EdDsa,
        &[1, 2, 3, 4],
        |_| Ok::<_, trustmark_format::FormatError>(vec![7; 64]),
    )
    .unwrap();
    let digests = [(claims.frameworks[0].framework.to_string(), "ab".repeat(32))];
    MarkRecord::from_token(&token, &sample_certifier(), "Lab", (1, index), &digests).unwrap()
}

/// The certifier of the sample records and assessments: 16 bytes of 0xc1.
#[cfg(test)]
pub(super) fn sample_certifier() -> CertifierId {
    CertifierId::from_bytes([0xc1; 16])
}

/// An assessment (id: 16 bytes of `id`) of [`sample_certifier`]: every UK PSTI row compliant,
/// target class 1.
#[cfg(test)]
pub(super) fn sample_assessment(id: u8) -> AssessmentRecord {
    let catalogue = crate::assessment::find("uk-psti", None).unwrap();
    let responses = crate::assessment::from_csv(
        b"requirement,response,evidence\n1,C,E1\n2,C,E2\n3,C,E3\n",
        &crate::assessment::UploadBudget::default(),
    )
    .unwrap();
    let decision = crate::assessment::assess(&catalogue, 1, &responses).unwrap();
    AssessmentRecord {
        id: AssessmentId::from_bytes([id; 16]),
        certifier_id: sample_certifier(),
        framework: "uk-psti".into(),
        target_class: 1,
        decision,
        responses: responses
            .iter()
            .map(StoredResponse::from_response)
            .collect(),
        created_at: 1_795_300_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> MarkRecord {
        sample_record(12345)
    }

    #[test]
    fn stored_form_round_trips_and_is_compact() {
        let mut record = record();
        record.status = MarkStatus::Revoked;
        record.status_reason = Some("key compromise".into());
        let stored = record.encode().unwrap();
        assert_eq!(MarkRecord::decode(&stored).unwrap(), record);
        let json = serde_json::to_vec(&record).unwrap();
        assert!(
            stored.len() * 2 < json.len(),
            "{} vs {}",
            stored.len(),
            json.len()
        );
    }

    #[test]
    fn the_start_up_scan_reads_index_and_status() {
        let mut record = record();
        record.status = MarkStatus::Suspended;
        let expected = (1, record.status_index, MarkStatus::Suspended);
        let stored = record.encode().unwrap();
        assert_eq!(MarkRecord::stored_status(&stored).unwrap(), expected);
        let json = serde_json::to_vec(&record).unwrap();
        assert_eq!(MarkRecord::stored_status(&json).unwrap(), expected);
        assert!(MarkRecord::stored_status(&stored[..20]).is_err());
        for bytes in [&stored, &json] {
            assert_eq!(MarkRecord::stored_issuer(bytes).unwrap(), "Lab");
        }
    }

    #[test]
    fn the_issuers_record_equals_the_one_read_from_its_token() {
        let record = record();
        let token = record.token_bytes().unwrap();
        let parsed = trustmark_format::mark::parse(&token).unwrap();
        let signed = || SignedToken {
            token: &token,
            mark_id: crate::mark_id(&token),
            kid: parsed.kid(),
            status_list: 1,
            claims: trustmark_format::MarkClaims::from_cbor(parsed.payload()).unwrap(),
        };
        let digests = [(record.claims[0].framework.clone(), "ab".repeat(32))];
        let issued =
            MarkRecord::from_signed(signed(), &sample_certifier(), "Lab", &digests).unwrap();
        assert_eq!(issued, record);
        assert_eq!(
            issued.encode_with_token(&token).unwrap(),
            record.encode().unwrap()
        );
        // A claim without its assessment digest is refused, not stored with an empty one.
        assert_eq!(
            MarkRecord::from_signed(signed(), &sample_certifier(), "Lab", &[])
                .unwrap_err()
                .to_string(),
            "unreadable mark record: no assessment digest for iotsf-icaf"
        );
    }

    #[test]
    fn earlier_json_records_still_read() {
        let record = record();
        let json = serde_json::to_vec(&record).unwrap();
        assert_eq!(MarkRecord::decode(&json).unwrap(), record);
    }

    /// The stored form of `record` with its status name replaced by `name` (same length).
    fn with_status_name(record: &MarkRecord, name: &str) -> Vec<u8> {
        let stored = record.encode().unwrap();
        let from = record.status.name().as_bytes();
        let at = stored.windows(from.len()).position(|w| w == from).unwrap();
        let mut changed = stored.clone();
        changed[at..at + from.len()].copy_from_slice(name.as_bytes());
        changed
    }

    #[test]
    fn damaged_records_are_refused() {
        let stored = record().encode().unwrap();
        assert!(MarkRecord::decode(&stored[..stored.len() - 1]).is_err());
        let mut wrong_version = stored.clone();
        wrong_version[1] = 2;
        assert_eq!(
            MarkRecord::decode(&wrong_version).unwrap_err().to_string(),
            "unreadable mark record: unknown record version 2"
        );
        assert!(MarkRecord::decode(b"").is_err());
    }

    #[test]
    fn an_unknown_status_name_is_refused_not_read_as_valid() {
        let mut record = record();
        record.status = MarkStatus::Revoked;
        // "revoked" -> "expired": a future or damaged status name, CBOR still well formed.
        let stored = with_status_name(&record, "expired");
        for error in [
            MarkRecord::decode(&stored).unwrap_err(),
            MarkRecord::stored_status(&stored).unwrap_err(),
        ] {
            assert!(
                error.to_string().contains("unknown variant `expired`"),
                "{error}"
            );
        }
        let json = serde_json::to_string(&record)
            .unwrap()
            .replace("\"revoked\"", "\"withdrawn\"");
        assert!(MarkRecord::decode(json.as_bytes()).is_err());
        assert!(MarkRecord::stored_status(json.as_bytes()).is_err());
    }

    #[test]
    fn a_bad_digest_is_neither_written_nor_read() {
        let mut record = record();
        record.claims[0].assessment_digest = "not hex".into();
        assert_eq!(
            record.encode().unwrap_err().to_string(),
            "unreadable mark record: assessment digest \"not hex\": not 64 hex digits"
        );
        let json = serde_json::to_vec(&record).unwrap();
        assert!(MarkRecord::decode(&json).is_err());
        record.token = "%%%".into();
        assert!(record.token_bytes().is_err());
    }
}
