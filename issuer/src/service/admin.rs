//! The scheme operator's routes (admin key): certifiers and the life of API keys
//! (`spec/api.md` 6.3, 6.15). Every change is audited.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use trustmark_domain::CertifierId;
use trustmark_format::Assurance;

use super::auth::Caller;
use super::body::RequestBody;
use super::error::ApiError;
use super::handler::{is_id, json_body, new_id, path_id, Rendered};
use super::idempotency::Claim;
use super::keys::{key_hash, key_id, new_key, ApiKeyRecord, KeyHolder};
use super::records::Certifier;
use super::writer::{Command, NewKey};
use super::{now, AppState};

/// Longest revocation reason, in bytes.
const MAX_REASON: usize = 512;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCertifier {
    name: String,
    assurance: String,
    #[serde(default)]
    api_key_expires_at: Option<u64>,
}

/// Options of a new API key.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKeyOptions {
    #[serde(default)]
    expires_at: Option<u64>,
}

/// An expiry must be in the future.
fn check_expiry(expires_at: Option<u64>, field: &str) -> Result<Option<u64>, ApiError> {
    match expires_at {
        Some(at) if at <= now() => Err(ApiError::invalid(format!(
            "{field}: must be in the future (Unix seconds)"
        ))),
        other => Ok(other),
    }
}

/// A new key for `holder`: the secret and what is stored of it.
fn make_key(holder: KeyHolder, expires_at: Option<u64>) -> Result<(String, NewKey), ApiError> {
    let key = new_key()?;
    let new = NewKey {
        hash: key_hash(&key),
        record: ApiKeyRecord::new(holder, now(), expires_at),
    };
    Ok((key, new))
}

/// The answer of a new key: the key (shown once) and what the listing shows of it.
fn key_answer(secret: &str, new: &NewKey) -> Result<Rendered, ApiError> {
    let mut answer = new.record.to_json(&new.hash, now());
    answer["api_key"] = secret.into();
    answer["note"] = "store the API key now: it is not shown again".into();
    Rendered::with_secret(StatusCode::CREATED, answer)
}

/// `POST /v1/certifiers` (admin): a certifier, with its first API key (in the answer, once). It
/// signs nothing until it has an active issuer key (`POST /v1/certifiers/{id}/keys`); in
/// development mode the service accredits one at once with its development root.
pub(super) async fn create_certifier(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let request: NewCertifier = json_body(&body)?;
    let name = request.name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name: 1 to 128 characters, no control characters",
        ));
    }
    let assurance = Assurance::from_name(&request.assurance)
        .ok_or_else(|| ApiError::invalid("assurance: \"third-party\" or \"self\""))?;
    let expires_at = check_expiry(request.api_key_expires_at, "api_key_expires_at")?;
    let certifier = Certifier {
        id: new_id(CertifierId::from_bytes)?,
        name: name.to_owned(),
        assurance: assurance.name().to_owned(),
        created_at: now(),
    };
    let (secret, key) = make_key(KeyHolder::Certifier(certifier.id.clone()), expires_at)?;
    let answer = Rendered::with_secret(
        StatusCode::CREATED,
        serde_json::json!({
            "certifier_id": certifier.id,
            "name": certifier.name,
            "assurance": certifier.assurance,
            "key_id": key_id(&key.hash),
            "api_key": secret,
            "api_key_expires_at": expires_at,
            "note": "store the API key now: it is not shown again",
        }),
    )?;
    let created = certifier.clone();
    let response = answer
        .commit(&state, claim.as_deref(), |reply| Command::CreateCertifier {
            certifier,
            key,
            reply,
        })
        .await?;
    if state.scheme.is_development() {
        super::pki::accredit_for_development(&state, &created).await?;
    }
    Ok(response)
}

/// The API keys of `holder`, as the listing shows them, oldest first.
fn keys_of(state: &AppState, holder: &KeyHolder) -> Vec<serde_json::Value> {
    let at = now();
    let keys = state
        .shared
        .api_keys
        .read()
        .unwrap_or_else(|e| e.into_inner());
    let mut listed: Vec<(&String, &ApiKeyRecord)> =
        keys.iter().filter(|(_, k)| k.holder == *holder).collect();
    listed.sort_by_key(|(hash, k)| (k.created_at, *hash));
    listed
        .into_iter()
        .map(|(hash, k)| k.to_json(hash, at))
        .collect()
}

fn certifier_json(state: &AppState, certifier: &Certifier) -> serde_json::Value {
    serde_json::json!({
        "certifier_id": certifier.id,
        "name": certifier.name,
        "assurance": certifier.assurance,
        "kid": trustmark_domain::KeyRing::new(&state.shared.keys_of(&certifier.id))
            .active()
            .map(|k| k.kid.to_string()),
        "created_at": certifier.created_at,
        "api_keys": keys_of(state, &KeyHolder::Certifier(certifier.id.clone())),
    })
}

/// `GET /v1/certifiers` (admin): every certifier with its API keys (never the keys
/// themselves).
pub(super) async fn list_certifiers(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let certifiers: Vec<serde_json::Value> = state
        .registry(|r| r.certifiers())?
        .iter()
        .map(|certifier| certifier_json(&state, certifier))
        .collect();
    Ok(Json(serde_json::json!({ "certifiers": certifiers })).into_response())
}

/// The certifier `id`, or 404.
pub(super) fn certifier(state: &AppState, id: &str) -> Result<Certifier, ApiError> {
    let id = path_id(id, CertifierId::parse, "certifier")?;
    state
        .registry(|r| r.certifier(&id))?
        .ok_or_else(|| ApiError::not_found("certifier"))
}

/// `GET /v1/certifiers/{id}` (admin).
pub(super) async fn get_certifier(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let certifier = certifier(&state, &id)?;
    Ok(Json(certifier_json(&state, &certifier)).into_response())
}

/// The key options of a body, which may be empty.
fn key_options(body: &axum::body::Bytes) -> Result<NewKeyOptions, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(NewKeyOptions::default());
    }
    let options: NewKeyOptions = json_body(body)?;
    check_expiry(options.expires_at, "expires_at")?;
    Ok(options)
}

/// Makes a key for `holder` with the options of `body`, stores it (audited), and answers it
/// once.
async fn issue_key(
    state: &AppState,
    caller: &Caller,
    claim: Option<&Claim>,
    holder: KeyHolder,
    body: &axum::body::Bytes,
) -> Result<Response, ApiError> {
    let options = key_options(body)?;
    let (secret, key) = make_key(holder, options.expires_at)?;
    key_answer(&secret, &key)?
        .commit(state, claim, |reply| Command::CreateApiKey {
            key,
            actor: caller.actor(),
            reply,
        })
        .await
}

/// `POST /v1/certifiers/{id}/api-keys` (admin): another API key for a certifier (a
/// replacement: revoke the old one after handing this one over).
pub(super) async fn create_certifier_key(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    Path(id): Path<String>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let certifier = certifier(&state, &id)?;
    let holder = KeyHolder::Certifier(certifier.id);
    issue_key(&state, &caller, claim.as_deref(), holder, &body).await
}

/// `POST /v1/admin/api-keys` (admin): another admin key.
pub(super) async fn create_admin_key(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    caller.admin()?;
    issue_key(&state, &caller, claim.as_deref(), KeyHolder::Admin, &body).await
}

/// `GET /v1/admin/api-keys` (admin): the admin keys.
pub(super) async fn list_admin_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.admin()?;
    Ok(Json(serde_json::json!({ "api_keys": keys_of(&state, &KeyHolder::Admin) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeBody {
    reason: String,
}

/// `POST /v1/api-keys/{key_id}/revoke` (admin): the key stops opening the API at once, on
/// every route. The last active admin key cannot be revoked (409 `last_admin_key`).
pub(super) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    Path(id): Path<String>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    caller.admin()?;
    if !is_id(&id) {
        return Err(ApiError::not_found("API key"));
    }
    let request: RevokeBody = json_body(&body)?;
    let reason = request.reason.trim().to_owned();
    if reason.is_empty() || reason.len() > MAX_REASON || reason.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "reason: 1 to 512 characters, no control characters",
        ));
    }
    let (hash, mut revoked) = state
        .shared
        .api_keys
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(hash, _)| key_id(hash) == id)
        .map(|(hash, record)| (hash.clone(), record.clone()))
        .ok_or_else(|| ApiError::not_found("API key"))?;
    let at = now();
    revoked.revoked_at = Some(at);
    revoked.revocation_reason = Some(reason);
    let answer = Rendered::json(StatusCode::OK, &revoked.to_json(&hash, at))?;
    answer
        .commit(&state, claim.as_deref(), |reply| Command::RevokeApiKey {
            key_hash: hash,
            revoked,
            actor: caller.actor(),
            reply,
        })
        .await
}
