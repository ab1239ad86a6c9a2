//! The JSON API under `/v1` for assessments, mark records, status changes and verification (see
//! `spec/api.md`); issuing marks is in `issuance.rs`, the administration routes in `admin.rs` and
//! `pki.rs`, health and metrics in `ops.rs`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::auth::Caller;
use super::body::RequestBody;
use super::error::ApiError;
pub(super) use super::handler::submit;
use super::handler::{json_body, new_id, path_id, Rendered};
use super::idempotency::Claim;
use super::records::{AssessmentRecord, MarkRecord, StoredResponse};
use super::writer::{Command, Remember};
use super::{now, page, AppState};
use crate::assessment::{self, ResponsesFormat};
use crate::{MarkStatus, StatusChange};
use trustmark_domain::{AssessmentId, MarkId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssessmentQuery {
    framework: Option<String>,
    release: Option<String>,
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
    let release = file.release.clone().or(query.release);
    let catalogue = assessment::find(&framework, release.as_deref())?;
    let decision = assessment::assess(&catalogue, target_class, &file.responses)?;
    let mut answer = serde_json::to_value(&decision).map_err(ApiError::internal)?;
    let record = AssessmentRecord {
        id: new_id(AssessmentId::from_bytes)?,
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
    answer["assessment_id"] = record.id.to_string().into();
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
    Ok(Json(owned_assessment(&state, &caller, &id)?).into_response())
}

/// The stored assessment whose id is written `id`, if the caller may read it: 404 when there
/// is none (or `id` is not an id), 403 when it is another certifier's.
fn owned_assessment(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<AssessmentRecord, ApiError> {
    let id = path_id(id, AssessmentId::parse, "assessment")?;
    let record: AssessmentRecord = state
        .registry(|r| r.assessment(&id))?
        .ok_or_else(|| ApiError::not_found("assessment"))?;
    caller.owns(&record.certifier_id, "assessment")?;
    Ok(record)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReuseQuery {
    framework: String,
    release: Option<String>,
    target_class: Option<u8>,
}

/// `GET /v1/assessments/{id}/reuse?framework=OTHER[&release=R][&target_class=N]` (the owning
/// certifier or admin): OTHER's responses pre-filled from the stored assessment through the
/// crosswalk, as a saved-assessment document to confirm, complete and send to
/// `POST /v1/assessments`. Nothing is stored.
pub(super) async fn reuse_assessment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ReuseQuery>,
) -> Result<Response, ApiError> {
    let record = owned_assessment(&state, &caller, &id)?;
    let earlier = record.catalogue().map_err(ApiError::internal)?;
    let target = assessment::find(&query.framework, query.release.as_deref())?;
    let responses: Vec<_> = record
        .responses
        .iter()
        .enumerate()
        .map(|(i, r)| r.to_response(i + 1))
        .collect();
    let prefill = assessment::crosswalk()
        .map_err(ApiError::internal)?
        .prefill(&earlier, &responses, &target)?;
    let target_class = query
        .target_class
        .or_else(|| target.highest_defined_level())
        .unwrap_or(target.first_level());
    Ok(Json(assessment::saved(&target, target_class, &prefill.responses)).into_response())
}

/// The mark whose id is written `id`, or 404.
fn mark(state: &AppState, id: &str) -> Result<MarkRecord, ApiError> {
    let id = path_id(id, MarkId::parse, "mark")?;
    state
        .registry(|r| r.mark(&id))?
        .ok_or_else(|| ApiError::not_found("mark"))
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
                let public = public_record(&state, record).map_err(|e| e.message)?;
                serde_json::to_vec(&public).map_err(|e| e.to_string())
            }),
        }
    });
    let updated = submit(&state, remember, |reply| Command::SetStatus {
        mark_id: record.mark_id.clone(),
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
