//! The JSON API under `/v1` for assessments, marks and verification (see `spec/api.md`); the
//! administration routes are in `admin.rs`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use trustmark_format::UnixTime;

use super::auth::Caller;
use super::body::RequestBody;
use super::error::ApiError;
pub(super) use super::handler::submit;
use super::handler::{is_id, json_body, load, new_id, Rendered};
use super::idempotency::Claim;
use super::records::{
    AssessmentRecord, Certifier, ClaimRecord, MarkRecord, SignedToken, StoredResponse,
};
use super::state::Metrics;
use super::store::{StoreError, Table};
use super::writer::{Command, Remember, SignedMark};
use super::{now, page, AppState};
use crate::assessment::{self, ResponsesFormat};
use crate::{decide_claims, Assessment, IssueRequest, MarkStatus, StatusChange};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssessmentQuery {
    framework: Option<String>,
    target_class: Option<u8>,
}

/// `POST /v1/assessments` (certifier): JSON `{framework, target_class, responses: [...]}`, or a
/// CSV/XLSX upload with `?framework=...&target_class=N`. Answers the decision.
pub(super) async fn create_assessment(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    Query(query): Query<AssessmentQuery>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let certifier_id = caller.certifier()?.to_owned();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let format = if content_type.starts_with("text/csv") {
        ResponsesFormat::Csv
    } else if content_type.contains("spreadsheetml")
        || content_type.starts_with("application/vnd.ms-excel")
    {
        ResponsesFormat::Xlsx
    } else if content_type.starts_with("application/json") {
        ResponsesFormat::Json
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json, text/csv or an XLSX workbook",
        ));
    };
    let file = assessment::parse(&body, format, &state.config.upload)?;
    let framework = file.framework.clone().or(query.framework).ok_or_else(|| {
        ApiError::invalid("framework: give it in the JSON body or as ?framework=")
    })?;
    let target_class = file.target_class.or(query.target_class).ok_or_else(|| {
        ApiError::invalid("target_class: give it in the JSON body or as ?target_class=")
    })?;
    let catalogue = assessment::find(&framework)?;
    let decision = assessment::assess(&catalogue, target_class, &file.responses)?;
    let mut answer = serde_json::to_value(&decision).map_err(ApiError::internal)?;
    let record = AssessmentRecord {
        id: new_id()?,
        certifier_id,
        framework: catalogue.id.clone(),
        target_class,
        decision,
        responses: file
            .responses
            .iter()
            .map(StoredResponse::from_response)
            .collect(),
        created_at: now(),
    };
    answer["assessment_id"] = serde_json::Value::String(record.id.clone());
    let answer = Rendered::json(StatusCode::CREATED, &answer)?;
    answer
        .commit(&state, claim.as_deref(), |reply| Command::SaveAssessment {
            record: Box::new(record),
            reply,
        })
        .await
}

/// `GET /v1/assessments/{id}` (the owning certifier or admin).
pub(super) async fn get_assessment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !is_id(&id) {
        return Err(ApiError::not_found("assessment"));
    }
    let record: AssessmentRecord =
        load(&state, Table::Assessment, &id)?.ok_or_else(|| ApiError::not_found("assessment"))?;
    caller.owns(&record.certifier_id, "assessment")?;
    Ok(Json(record).into_response())
}

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

fn decide(state: &AppState, certifier: &Certifier, ids: &[String]) -> Result<Decided, ApiError> {
    if ids.is_empty() {
        return Err(ApiError::invalid(
            "assessment_id: every mark rests on an assessment",
        ));
    }
    let mut assessments = Vec::with_capacity(ids.len());
    let mut claims = Vec::with_capacity(ids.len());
    for id in ids {
        if !is_id(id) {
            return Err(ApiError::invalid(format!(
                "assessment_id {id:?}: not an id (32 lowercase hex digits)"
            )));
        }
        let record: AssessmentRecord = load(state, Table::Assessment, id)?
            .ok_or_else(|| ApiError::invalid(format!("assessment_id {id}: no such assessment")))?;
        if record.certifier_id != certifier.id {
            return Err(ApiError::forbidden(format!(
                "assessment {id} belongs to another certifier"
            )));
        }
        let catalogue = assessment::find(&record.framework).map_err(ApiError::internal)?;
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
    let index = list.indexes.take().inspect_err(|_| {
        Metrics::inc(&state.shared.metrics.status_list_full);
    })?;
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

fn certifier_of(state: &AppState, caller: &Caller) -> Result<Certifier, ApiError> {
    let id = caller.certifier()?;
    load(state, Table::Certifier, id)?
        .ok_or_else(|| ApiError::internal(format!("certifier {id} has a key but no record")))
}

/// The answer for an issued mark.
#[derive(serde::Serialize)]
struct Issued<'a> {
    mark_id: &'a str,
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
    let decided = decide(&state, &certifier, &request.assessment_ids())?;
    let (signed, url) = sign_mark(&state, &certifier, request, &decided)?;
    let answer = Rendered::json(StatusCode::CREATED, &issued_json(&signed.record, url))?;
    let certifier_id = certifier.id;
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
        let mut decisions: std::collections::HashMap<Vec<String>, Decided> =
            std::collections::HashMap::new();
        request
            .marks
            .into_iter()
            .map(|m| {
                let ids = m.assessment_ids();
                let decided = match decisions.get(&ids) {
                    Some(d) => d.clone(),
                    None => {
                        let d = decide(&signing_state, &signing_certifier, &ids)?;
                        decisions.insert(ids, d.clone());
                        d
                    }
                };
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

fn mark(state: &AppState, id: &str) -> Result<MarkRecord, ApiError> {
    if !is_id(id) {
        return Err(ApiError::not_found("mark"));
    }
    let bytes = state
        .store
        .get(Table::Mark, id.as_bytes())?
        .ok_or_else(|| ApiError::not_found("mark"))?;
    MarkRecord::decode(&bytes)
        .map_err(|e| ApiError::internal(StoreError::corrupt(Table::Mark, id.as_bytes(), e)))
}

/// The public registry record (no token internals beyond what the QR shows).
pub(super) fn public_record(
    state: &AppState,
    record: &MarkRecord,
) -> Result<serde_json::Value, ApiError> {
    let expired = now() >= record.expires_at;
    let url = record.url(&state.base_url).map_err(ApiError::internal)?;
    Ok(serde_json::json!({
        "mark_id": record.mark_id,
        "status": if expired && record.status == MarkStatus::Valid { "expired" } else { record.status.name() },
        "status_reason": record.status_reason,
        "issuer": record.issuer,
        "kid": record.kid,
        "vendor": record.vendor,
        "model": record.model,
        "hw_version": record.hw_version,
        "firmware": {"version": record.firmware_version, "sha256": record.firmware_sha256},
        "claims": record.claims,
        "issued_at": record.issued_at,
        "expires_at": record.expires_at,
        "support_until": record.support_until,
        "status_list": format!("{}/v1/status-lists/{}", state.base_url, record.status_list),
        "status_index": record.status_index,
        "url": url,
    }))
}

/// `GET /v1/marks/{id}`: JSON, or the verification page for browsers.
pub(super) async fn get_mark(
    State(state): State<AppState>,
    Path(id): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let record = mark(&state, &id)?;
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        // The page verifies the mark: the public routes' per-client limit applies.
        super::limits::take_public(&state, &headers, peer.map(|p| p.0 .0))?;
        let token = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &record.token,
        )
        .map_err(ApiError::internal)?;
        return Ok(page::verification_page(&state, &token));
    }
    Ok(Json(public_record(&state, &record)?).into_response())
}

/// `GET /v1/marks/{id}/qr.svg`.
pub(super) async fn qr_svg(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = mark(&state, &id)?;
    let url = record.url(&state.base_url).map_err(ApiError::internal)?;
    let code = crate::qr::qr_code(&url, crate::qr::PRINT_EC_LEVEL)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// `GET /v1/marks/{id}/qr.png`.
pub(super) async fn qr_png(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = mark(&state, &id)?;
    let url = record.url(&state.base_url).map_err(ApiError::internal)?;
    let code = crate::qr::qr_code(&url, crate::qr::PRINT_EC_LEVEL)?;
    let image = code
        .render::<image::Luma<u8>>()
        .module_dimensions(4, 4)
        .build();
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusBody {
    reason: String,
}

async fn change_status(
    state: AppState,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    id: String,
    body: axum::body::Bytes,
    change: StatusChange,
) -> Result<Response, ApiError> {
    let record = mark(&state, &id)?;
    caller.owns(&record.certifier_id, "mark")?;
    let request: StatusBody = json_body(&body)?;
    let reason = request.reason.trim().to_owned();
    if reason.is_empty() || reason.len() > 512 || reason.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "reason: 1 to 512 characters, no control characters",
        ));
    }
    let actor = caller.actor();
    let remember = claim.map(|Extension(claim)| {
        let state = state.clone();
        Remember::OfMark {
            claim,
            render: Box::new(move |record: &MarkRecord| {
                serde_json::to_vec(&public_record(&state, record)?).map_err(ApiError::internal)
            }),
        }
    });
    let updated = submit(&state, remember, |reply| Command::SetStatus {
        mark_id: id,
        change,
        reason,
        actor,
        reply,
    })
    .await?;
    Ok(Json(public_record(&state, &updated)?).into_response())
}

/// `POST /v1/marks/{id}/revoke`.
pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    Path(id): Path<String>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    change_status(state, caller, claim, id, body, StatusChange::Revoke).await
}

/// `POST /v1/marks/{id}/suspend`.
pub(super) async fn suspend(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    Path(id): Path<String>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    change_status(state, caller, claim, id, body, StatusChange::Suspend).await
}

/// `POST /v1/marks/{id}/reinstate`.
pub(super) async fn reinstate(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    Path(id): Path<String>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    change_status(state, caller, claim, id, body, StatusChange::Reinstate).await
}

/// `GET /v1/pki/root.pem`.
pub(super) async fn root_pem(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        state.scheme.root_pem.clone(),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifyBody {
    /// The QR text (URL), the token text, or the base64url token.
    mark: String,
    #[serde(default)]
    firmware_sha256: Option<String>,
}

/// `POST /v1/verify`: verifies a mark server side with the service's trust list and current
/// status.
pub(super) async fn verify(
    State(state): State<AppState>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let request: VerifyBody = json_body(&body)?;
    // Read as `trustmark-verify` reads its INPUT: URL, digits or base64url, in that order.
    let token = trustmark_verifier::mark_text::token_from_text(&request.mark).map_err(|e| {
        ApiError::invalid(format!(
            "mark: not a mark URL, token text or base64url token ({}: {e})",
            e.code()
        ))
    })?;
    let firmware = match &request.firmware_sha256 {
        Some(h) => Some(
            hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| ApiError::invalid("firmware_sha256: 64 hex digits"))?,
        ),
        None => None,
    };
    let outcome = page::check(&state, &token, firmware)?;
    Ok(Json(outcome.to_json(&token)).into_response())
}

/// `GET /healthz`: `ok`; `degraded` (200) while the trust list in force expires within the
/// warning period; `failing` (503) with no trust list in force or an expired one, since then
/// nothing can be issued or verified.
pub(super) async fn healthz(State(state): State<AppState>) -> Response {
    use trustmark_domain::TrustListHealth;
    let warn = state.config.scheme.trust_list_warn_days * 86_400;
    let Some(in_force) = state.shared.in_force() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "failing",
                "trust_list": null,
                "problems": ["no trust list is in force: publish one (PUT /v1/trust-list)"],
            })),
        )
            .into_response();
    };
    let list = &in_force.accepted.list;
    let (status, code, problem) = match in_force.accepted.health(UnixTime(now()), warn) {
        TrustListHealth::Current { .. } => ("ok", StatusCode::OK, None),
        TrustListHealth::ExpiringSoon { seconds_left } => (
            "degraded",
            StatusCode::OK,
            Some(format!(
                "the trust list expires in {} hours: publish a new one",
                seconds_left / 3600
            )),
        ),
        TrustListHealth::Expired => (
            "failing",
            StatusCode::SERVICE_UNAVAILABLE,
            Some("the trust list expired: nothing verifies until a new one is published".into()),
        ),
    };
    (
        code,
        Json(serde_json::json!({
            "status": status,
            "development_scheme": state.scheme.is_development(),
            "trust_list": {
                "sequence": list.sequence,
                "issued_at": list.issued_at.0,
                "expires_at": list.expires_at.0,
                "expires_in_seconds": i128::from(list.expires_at.0) - i128::from(now()),
                "issuers": list.issuers.len(),
            },
            "problems": problem.into_iter().collect::<Vec<_>>(),
        })),
    )
        .into_response()
}

/// `GET /metrics` (Prometheus text format).
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &state.shared.metrics;
    let lines = [
        (
            "trustmark_marks_issued_total",
            "counter",
            "Marks issued since start.",
            m.marks_issued.load(Relaxed),
        ),
        (
            "trustmark_status_changes_total",
            "counter",
            "Revocations, suspensions and reinstatements since start.",
            m.status_changes.load(Relaxed),
        ),
        (
            "trustmark_assessments_total",
            "counter",
            "Assessments stored since start.",
            m.assessments.load(Relaxed),
        ),
        (
            "trustmark_commit_groups_total",
            "counter",
            "Durable commit groups (one flush each).",
            m.commit_groups.load(Relaxed),
        ),
        (
            "trustmark_commit_commands_total",
            "counter",
            "Commands committed in those groups.",
            m.commit_commands.load(Relaxed),
        ),
        (
            "trustmark_commit_apply_microseconds_total",
            "counter",
            "Time the writer spent applying commit groups to the store.",
            m.commit_apply_micros.load(Relaxed),
        ),
        (
            "trustmark_commit_flush_microseconds_total",
            "counter",
            "Time the writer spent making commit groups durable (store flush and fdatasync).",
            m.commit_flush_micros.load(Relaxed),
        ),
        (
            "trustmark_http_responses_2xx_total",
            "counter",
            "2xx responses.",
            m.http_2xx.load(Relaxed),
        ),
        (
            "trustmark_http_responses_4xx_total",
            "counter",
            "4xx responses.",
            m.http_4xx.load(Relaxed),
        ),
        (
            "trustmark_http_responses_5xx_total",
            "counter",
            "5xx responses.",
            m.http_5xx.load(Relaxed),
        ),
        (
            "trustmark_rate_limited_total",
            "counter",
            "Requests refused by the rate limit.",
            m.rate_limited.load(Relaxed),
        ),
        (
            "trustmark_public_rate_limited_total",
            "counter",
            "Public verification and QR requests refused by the per-client limit.",
            m.public_rate_limited.load(Relaxed),
        ),
        (
            "trustmark_audit_entries",
            "gauge",
            "Entries in the audit log.",
            m.audit_entries.load(Relaxed),
        ),
        (
            "trustmark_verify_cache_entries",
            "gauge",
            "Verified signatures remembered.",
            state.crypto.len() as u64,
        ),
        (
            "trustmark_status_list_full_total",
            "counter",
            "Issuance refused because a status list is full.",
            m.status_list_full.load(Relaxed),
        ),
        (
            "trustmark_status_list_capacity",
            "gauge",
            "Most entries one status list takes.",
            u64::from(state.shared.list_capacity),
        ),
    ];
    let mut text = String::new();
    for (name, kind, help, value) in lines {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    let mut lists: Vec<_> = state
        .shared
        .lists
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .map(|l| (l.number, l.kid.to_string(), l.len()))
        .collect();
    lists.sort_unstable();
    text.push_str("# HELP trustmark_status_list_entries Entries in each issuer key's status list.\n# TYPE trustmark_status_list_entries gauge\n");
    for (number, kid, len) in lists {
        text.push_str(&format!(
            "trustmark_status_list_entries{{list=\"{number}\",kid=\"{kid}\"}} {len}\n"
        ));
    }
    if let Some(in_force) = state.shared.in_force() {
        let list = &in_force.accepted.list;
        let left = i128::from(list.expires_at.0) - i128::from(now());
        text.push_str(&format!(
            "# HELP trustmark_trust_list_expires_in_seconds Seconds until the trust list in force expires (negative: expired).\n# TYPE trustmark_trust_list_expires_in_seconds gauge\ntrustmark_trust_list_expires_in_seconds {left}\n# HELP trustmark_trust_list_sequence Sequence number of the trust list in force.\n# TYPE trustmark_trust_list_sequence gauge\ntrustmark_trust_list_sequence {}\n",
            list.sequence
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
