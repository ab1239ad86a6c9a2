//! Issuing marks (`POST /v1/marks`, `POST /v1/marks:batch`, `spec/api.md` 6.6 and 6.7): the
//! classes decided from the certifier's stored assessments, the certifier's active key and its
//! accreditation checked (`spec/pki.md` 11.4), a status index taken from that key's list, the
//! mark signed by the signer provider, and its registry record handed to the writer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use trustmark_domain::{AssessmentId, CertifierId};
use trustmark_format::UnixTime;

use super::auth::Caller;
use super::body::RequestBody;
use super::error::ApiError;
use super::handler::{json_body, with_signer, Rendered};
use super::idempotency::Claim;
use super::records::SignedMark;
use super::records::{AssessmentRecord, Certifier, ClaimRecord, MarkRecord, SignedToken};
use super::state::{Metrics, NoIndex};
use super::writer::Command;
use super::{now, AppState};
use crate::{decide_claims, Assessment, IssueRequest};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FirmwareBody {
    version: String,
    sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMark {
    #[serde(default)]
    assessment_id: Option<String>,
    #[serde(default)]
    assessment_ids: Vec<String>,
    vendor: String,
    model: String,
    hw_version: String,
    firmware: FirmwareBody,
    support_until: String,
    valid_days: u64,
}

/// The framework claims decided from stored assessments (owned by `certifier`). One
/// decision serves every mark of a batch that rests on the same assessments.
type Decided = std::sync::Arc<Vec<crate::DecidedClaim>>;

/// Decisions made, by certifier and assessment ids. A stored assessment never changes, nor does
/// its certifier's assurance or the service's policy (read at start), so neither does a decision:
/// each mark after the first that rests on the same assessments skips reading and re-assessing
/// them. The certifier is part of the key, so a decision is never served to another certifier.
pub(super) struct DecisionCache(quick_cache::sync::Cache<(CertifierId, Vec<String>), Decided>);

impl DecisionCache {
    /// Room for `entries` decisions (the least used go first).
    pub(super) fn new(entries: usize) -> Self {
        Self(quick_cache::sync::Cache::new(entries.max(1)))
    }
}

/// The claims decided from `ids`, from the cache or made now.
fn decide(state: &AppState, certifier: &Certifier, ids: &[String]) -> Result<Decided, ApiError> {
    let key = (certifier.id.clone(), ids.to_vec());
    if let Some(decided) = state.decisions.0.get(&key) {
        return Ok(decided);
    }
    let decided = decide_now(state, certifier, ids)?;
    state.decisions.0.insert(key, decided.clone());
    Ok(decided)
}

fn decide_now(
    state: &AppState,
    certifier: &Certifier,
    ids: &[String],
) -> Result<Decided, ApiError> {
    if ids.is_empty() {
        return Err(ApiError::invalid(
            "assessment_id: every mark rests on an assessment",
        ));
    }
    let mut assessments = Vec::with_capacity(ids.len());
    let mut claims = Vec::with_capacity(ids.len());
    for id in ids {
        let id = AssessmentId::parse(id).map_err(|_| {
            ApiError::invalid(format!(
                "assessment_id {id:?}: not an id (32 lowercase hex digits)"
            ))
        })?;
        let record: AssessmentRecord = state
            .registry(|r| r.assessment(&id))?
            .ok_or_else(|| ApiError::invalid(format!("assessment_id {id}: no such assessment")))?;
        if record.certifier_id != certifier.id {
            return Err(ApiError::forbidden(format!(
                "assessment {id} belongs to another certifier"
            )));
        }
        let catalogue = record.catalogue().map_err(ApiError::internal)?;
        let responses = record
            .responses
            .iter()
            .enumerate()
            .map(|(i, r)| r.to_response(i + 1))
            .collect();
        claims.push(crate::ClaimRequest {
            framework: record.framework.clone(),
            version: None,
            class: None,
        });
        assessments.push(Assessment {
            catalogue,
            responses,
            target_class: Some(record.target_class),
        });
    }
    let request = IssueRequest {
        claims,
        assurance: certifier.assurance.clone(),
        ..IssueRequest::default()
    };
    Ok(std::sync::Arc::new(decide_claims(
        &request,
        &assessments,
        &state.config.policy,
    )?))
}

/// Takes a status index from `list`, warning once when it passes 90% of its capacity.
fn take_index(state: &AppState, list: &super::state::ListState) -> Result<u32, ApiError> {
    let index = loop {
        match list.indexes.take() {
            Ok(index) => break index,
            Err(NoIndex::Full(full)) => {
                Metrics::inc(&state.shared.metrics.status_list_full);
                return Err(full.into());
            }
            Err(NoIndex::LeaseUsed) => renew_lease(state, list)?,
        }
    };
    let capacity = list.indexes.capacity();
    if u64::from(index) * 10 >= u64::from(capacity) * 9
        && !list.warned.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            list = list.number,
            kid = %list.kid,
            index,
            capacity,
            "status list over 90% full: rotate the certifier to a new key (which gets a fresh list) before it fills"
        );
    }
    Ok(index)
}

/// Indexes leased from a shared store at a time (`spec/storage.md` 11.5): a lease costs one
/// round trip to the database; what a stopped instance leaves of its lease is never used.
const INDEX_LEASE: u32 = 256;

/// Fetches a new lease of status indexes of `list` from the store, unless another request did
/// while this one waited for the lease lock.
fn renew_lease(state: &AppState, list: &super::state::ListState) -> Result<(), ApiError> {
    let _one_at_a_time = list
        .indexes
        .leasing
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !list.indexes.used_up() {
        return Ok(());
    }
    let capacity = list.indexes.capacity();
    let lease = state.registry(|r| r.lease_indexes(list.number, INDEX_LEASE, capacity))?;
    list.indexes.grant(lease);
    Ok(())
}

/// Signs a mark with already decided claims: a status index, the claims, the signature, and
/// the encoded registry record; also its URL, for the answer. Nothing is stored yet.
fn sign_mark(
    state: &AppState,
    certifier: &Certifier,
    request: NewMark,
    decided: &[crate::DecidedClaim],
) -> Result<(SignedMark, String), ApiError> {
    let issue_request = IssueRequest {
        vendor: request.vendor,
        model: request.model,
        hw_version: request.hw_version,
        firmware: crate::FirmwareRequest {
            version: request.firmware.version,
            sha256: request.firmware.sha256,
        },
        claims: Vec::new(),
        assurance: certifier.assurance.clone(),
        support_until: request.support_until,
        valid_days: request.valid_days,
    };
    let in_force = state
        .shared
        .in_force()
        .ok_or(trustmark_domain::DomainError::NoTrustList)?;
    let at = UnixTime(now());
    let assurance = trustmark_format::Assurance::from_name(&certifier.assurance)
        .ok_or_else(|| ApiError::internal("a certifier with an unknown assurance"))?;
    // The ring is read in place (it holds certificates: no copy per mark).
    let (kid, status_list, entry) = state.shared.with_keys_of(&certifier.id, |ring| {
        let (key, entry) = in_force.accepted.authorize(
            &certifier.id,
            trustmark_domain::KeyRing::new(ring),
            at,
            decided.iter().map(|d| (d.framework, d.class, assurance)),
        )?;
        Ok::<_, ApiError>((key.kid.clone(), key.status_list, entry))
    })?;
    let list = state
        .shared
        .list(status_list)
        .ok_or_else(|| ApiError::internal(format!("key {kid} has no status list")))?;
    let index = take_index(state, &list)?;
    let signer = state
        .signers
        .signer(kid.as_bytes())
        .map_err(ApiError::signer_unavailable)?;
    let claims = issue_request.to_claims(at, index, decided)?;
    let issuer = crate::MarkIssuer::with_accreditation(
        signer.as_ref(),
        std::borrow::Cow::Borrowed(entry),
        &state.base_url,
    )?;
    let crate::IssuedMark {
        mark_id,
        token,
        url,
        claims,
    } = issuer.issue(claims)?;
    let digests: Vec<(String, String)> = decided
        .iter()
        .map(|d| (d.decision.framework.clone(), d.decision.digest.clone()))
        .collect();
    let signed = SignedToken {
        token: &token,
        mark_id,
        kid: kid.as_bytes(),
        status_list,
        claims,
    };
    // The registry names the certifier; the trust list names the key holder.
    let record = MarkRecord::from_signed(signed, &certifier.id, &certifier.name, &digests)
        .map_err(ApiError::internal)?;
    let encoded = record
        .encode_with_token(&token)
        .map_err(ApiError::internal)?;
    Ok((SignedMark { record, encoded }, url))
}

impl NewMark {
    fn assessment_ids(&self) -> Vec<String> {
        self.assessment_id
            .iter()
            .chain(&self.assessment_ids)
            .cloned()
            .collect()
    }
}

/// The caller's certifier. Certifier records never change once stored, so they are kept in
/// memory after the first read: issuance does not wait on the store for them.
fn certifier_of(state: &AppState, caller: &Caller) -> Result<Certifier, ApiError> {
    let id = caller.certifier()?;
    if let Some(certifier) = state.certifiers.get(id) {
        return Ok(certifier);
    }
    let certifier = state
        .registry(|r| r.certifier(id))?
        .ok_or_else(|| ApiError::internal(format!("certifier {id} has a key but no record")))?;
    state.certifiers.insert(id.clone(), certifier.clone());
    Ok(certifier)
}

/// The answer for an issued mark.
#[derive(serde::Serialize)]
struct Issued<'a> {
    mark_id: &'a trustmark_domain::MarkId,
    token: &'a str,
    url: String,
    bytes: usize,
    kid: &'a str,
    status_list: u32,
    status_index: u32,
    claims: &'a [ClaimRecord],
}

/// The answer for `record`, whose QR URL is `url` (made when it was signed).
fn issued_json(record: &MarkRecord, url: String) -> Issued<'_> {
    Issued {
        mark_id: &record.mark_id,
        token: &record.token,
        url,
        // Unpadded base64url: n bytes are ceil(4n / 3) characters.
        bytes: record.token.len() * 3 / 4,
        kid: &record.kid,
        status_list: record.status_list,
        status_index: record.status_index,
        claims: &record.claims,
    }
}

/// The answer to a batch.
#[derive(serde::Serialize)]
struct IssuedBatch<'a> {
    marks: Vec<Issued<'a>>,
}

/// `POST /v1/marks` (certifier): 201 once the mark is durably stored.
pub(super) async fn create_mark(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let certifier = certifier_of(&state, &caller)?;
    let request: NewMark = json_body(&body)?;
    let certifier_id = certifier.id.clone();
    let (signed, url) = with_signer(&state, move |state| {
        let decided = decide(state, &certifier, &request.assessment_ids())?;
        sign_mark(state, &certifier, request, &decided)
    })
    .await?;
    let answer = Rendered::json(StatusCode::CREATED, &issued_json(&signed.record, url))?;
    answer
        .commit(&state, claim.as_deref(), |reply| Command::Issue {
            certifier_id,
            marks: vec![signed],
            reply,
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMarks {
    marks: Vec<NewMark>,
}

/// `POST /v1/marks:batch` (certifier): all or none, in one commit.
pub(super) async fn create_marks(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let certifier = certifier_of(&state, &caller)?;
    let request: NewMarks = json_body(&body)?;
    if request.marks.is_empty() || request.marks.len() > state.config.max_batch {
        return Err(ApiError::invalid(format!(
            "marks: 1 to {} per batch",
            state.config.max_batch
        )));
    }
    let signing_state = state.clone();
    let signing_certifier = certifier.clone();
    // Signing a batch is CPU work: keep it off the async workers.
    let signed = tokio::task::spawn_blocking(move || {
        request
            .marks
            .into_iter()
            .map(|m| {
                let decided = decide(&signing_state, &signing_certifier, &m.assessment_ids())?;
                sign_mark(&signing_state, &signing_certifier, m, &decided)
            })
            .enumerate()
            .map(|(i, r)| {
                r.map_err(|e| ApiError {
                    message: format!("marks[{i}]: {}", e.message),
                    ..e
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(ApiError::internal)??;
    let (signed, urls): (Vec<SignedMark>, Vec<String>) = signed.into_iter().unzip();
    let answer = IssuedBatch {
        marks: signed
            .iter()
            .zip(urls)
            .map(|(m, url)| issued_json(&m.record, url))
            .collect(),
    };
    let answer = Rendered::json(StatusCode::CREATED, &answer)?;
    let certifier_id = certifier.id;
    answer
        .commit(&state, claim.as_deref(), |reply| Command::Issue {
            certifier_id,
            marks: signed,
            reply,
        })
        .await
}
