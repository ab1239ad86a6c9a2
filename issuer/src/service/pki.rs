//! The PKI routes (`spec/api.md` 6.16 to 6.19): a certifier's issuer keys (made here, certified
//! by the scheme operator from their signing request) and the trust list put in force. The
//! development scheme runs the same operations ([`accredit_for_development`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use trustmark_domain::{IssuerKey, KeyChange, KeyRing, Kid};
use trustmark_format::trust_list::MAX_TRUST_LIST_LEN;
use trustmark_format::{Algorithm, UnixTime};
use trustmark_keys::certification_request;

use super::admin::certifier;
use super::auth::Caller;
use super::body::RequestBody;
use super::error::ApiError;
use super::handler::{json_body, submit, with_signer, Rendered};
use super::idempotency::Claim;
use super::records::Certifier;
use super::scheme::Mode;
use super::state::InForce;
use super::status::list_uri;
use super::writer::{Command, KeyAction};
use super::{now, AppState};

/// Options of a new issuer key.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NewIssuerKey {
    #[serde(default)]
    alg: Option<String>,
}

/// A key as the API shows it: its state in its ring, its status list, and its accreditation as
/// the trust list in force states it.
fn key_json(state: &AppState, key: &IssuerKey, ring: &[IssuerKey]) -> serde_json::Value {
    let in_force = state.shared.in_force();
    let accreditation = in_force
        .as_ref()
        .and_then(|t| t.accepted.entry(key))
        .map(|entry| {
            serde_json::json!({
                "not_before": entry.not_before.0,
                "not_after": entry.not_after.0,
                "frameworks": entry.scope.frameworks.iter().map(|f| serde_json::json!({
                    "framework": f.framework.to_string(), "max_class": f.max_class,
                })).collect::<Vec<_>>(),
                "assurances": entry.scope.assurances.iter().map(|a| a.name()).collect::<Vec<_>>(),
            })
        });
    serde_json::json!({
        "kid": key.kid,
        "certifier_id": key.certifier_id,
        "alg": key.alg,
        "state": KeyRing::new(ring).state(key),
        "status_list": key.status_list,
        "status_list_uri": list_uri(&state.base_url, key.status_list),
        "created_at": key.created_at,
        "certificate": key.certificate,
        "activated_at": key.activated_at,
        "retired_at": key.retired_at,
        "accreditation": accreditation,
    })
}

/// Makes a key for `certifier` in the signer provider, with a status list of its own, and its
/// signing request. Nothing is stored yet.
fn make_key(
    state: &AppState,
    certifier: &Certifier,
    alg: Algorithm,
) -> Result<(IssuerKey, String), ApiError> {
    let signer = state
        .signers
        .generate(alg)
        .map_err(ApiError::signer_unavailable)?;
    let list = state.shared.next_list.fetch_add(1, Ordering::SeqCst);
    let key = IssuerKey::pending(
        &certifier.id,
        alg,
        signer.public_key(),
        signer.kid(),
        list,
        now(),
    )?;
    let csr = certification_request(signer.as_ref(), &certifier.name, &certifier.name)
        .map_err(ApiError::signer_unavailable)?;
    Ok((key, csr))
}

/// `POST /v1/certifiers/{id}/keys` (admin): a pending key and its PKCS#10 request.
pub(super) async fn create_issuer_key(
    State(state): State<AppState>,
    caller: Caller,
    claim: Option<Extension<Claim>>,
    Path(id): Path<String>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let certifier = certifier(&state, &id)?;
    let request: NewIssuerKey = if body.is_empty() {
        NewIssuerKey::default()
    } else {
        json_body(&body)?
    };
    let alg = match request.alg.as_deref().unwrap_or("ed25519") {
        "ed25519" => Algorithm::EdDsa,
        "es256" => Algorithm::Es256,
        other => {
            return Err(ApiError::invalid(format!(
                "alg {other:?}: \"ed25519\" or \"es256\""
            )))
        }
    };
    let making = certifier.clone();
    let (key, csr) = with_signer(&state, move |state| make_key(state, &making, alg)).await?;
    let mut ring = state.shared.keys_of(&certifier.id);
    ring.push(key.clone());
    let mut answer = key_json(&state, &key, &ring);
    answer["csr"] = csr.into();
    answer["next"] =
        "the scheme operator issues the certificate from this request (trustmark-scheme accredit); install it with PUT .../keys/{kid}/certificate".into();
    let answer = Rendered::json(StatusCode::CREATED, &answer)?;
    answer
        .commit(&state, claim.as_deref(), |reply| Command::SaveIssuerKey {
            key: Box::new(key),
            action: KeyAction::Created,
            actor: "admin".into(),
            reply,
        })
        .await
}

/// `GET /v1/certifiers/{id}/keys` (admin or the certifier).
pub(super) async fn list_issuer_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let certifier = certifier(&state, &id)?;
    caller.owns(&certifier.id, "certifier")?;
    let ring = state.shared.keys_of(&certifier.id);
    let keys: Vec<_> = ring.iter().map(|k| key_json(&state, k, &ring)).collect();
    Ok(Json(serde_json::json!({"keys": keys})).into_response())
}

/// Checks `pem` as the certificate of key `kid` of `certifier` and stores it.
async fn install_certificate(
    state: &AppState,
    certifier: &Certifier,
    kid: &Kid,
    pem: &str,
) -> Result<(IssuerKey, Vec<IssuerKey>), ApiError> {
    let mut ring = state.shared.keys_of(&certifier.id);
    let at = ring
        .iter()
        .position(|k| k.kid == *kid)
        .ok_or_else(|| ApiError::not_found("issuer key"))?;
    ring[at].check_certificate(pem, &state.scheme.root)?;
    ring[at].certificate = Some(format!("{}\n", pem.trim()));
    let key = ring[at].clone();
    let stored = key.clone();
    submit(state, None, |reply| Command::SaveIssuerKey {
        key: Box::new(stored),
        action: KeyAction::Certified,
        actor: "admin".into(),
        reply,
    })
    .await?;
    Ok((key, ring))
}

/// `PUT /v1/certifiers/{id}/keys/{kid}/certificate` (admin): the issuer certificate (PEM) for
/// a key, which must certify that key and chain to the scheme root.
pub(super) async fn put_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, kid)): Path<(String, String)>,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let certifier = certifier(&state, &id)?;
    let kid = Kid::from_hex(&kid).ok_or_else(|| ApiError::not_found("issuer key"))?;
    let pem = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("the certificate must be PEM text"))?;
    let (key, ring) = install_certificate(&state, &certifier, &kid, pem).await?;
    Ok(Json(key_json(&state, &key, &ring)).into_response())
}

/// Puts a signed trust list in force: checked under the scheme root, current, and newer than
/// the list in force (again in the writer, which serialises uploads).
pub(super) async fn apply_trust_list(
    state: &AppState,
    bytes: Vec<u8>,
    actor: &str,
) -> Result<(Arc<InForce>, Vec<KeyChange>), ApiError> {
    if bytes.len() > MAX_TRUST_LIST_LEN {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a trust list is at most {MAX_TRUST_LIST_LEN} bytes"),
        ));
    }
    let current = state.shared.in_force().map(|t| t.accepted.list.sequence);
    let in_force = state
        .scheme
        .accept(bytes, current, UnixTime(now()), state.crypto)?;
    let applied = in_force.clone();
    let changes = submit(state, None, |reply| Command::ApplyTrustList {
        in_force: applied,
        actor: actor.to_owned(),
        reply,
    })
    .await?;
    let list = &in_force.accepted.list;
    tracing::info!(
        sequence = list.sequence,
        expires_at = list.expires_at.0,
        issuers = list.issuers.len(),
        changes = changes.len(),
        "trust list in force"
    );
    Ok((in_force, changes))
}

/// `PUT /v1/trust-list` (admin): a signed trust list (COSE_Sign1 bytes), in force at once.
pub(super) async fn put_trust_list(
    State(state): State<AppState>,
    caller: Caller,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let (in_force, changes) = apply_trust_list(&state, body.to_vec(), "admin").await?;
    let list = &in_force.accepted.list;
    let (activated, retired) = KeyChange::split(&changes);
    Ok(Json(serde_json::json!({
        "sequence": list.sequence,
        "issued_at": list.issued_at.0,
        "expires_at": list.expires_at.0,
        "issuers": list.issuers.len(),
        "activated": activated,
        "retired": retired,
    }))
    .into_response())
}

/// `GET /v1/trust-list`: the list in force.
pub(super) async fn get_trust_list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let in_force = state
        .shared
        .in_force()
        .ok_or_else(|| ApiError::from(trustmark_domain::DomainError::NoTrustList))?;
    Ok((
        [(header::CONTENT_TYPE, "application/cose")],
        in_force.accepted.bytes.clone(),
    )
        .into_response())
}

/// Accreditation of a development certifier: the development scope
/// (`trustmark_keys::development_scope`) with the certifier's own assurance.
fn development_scope(assurance: trustmark_format::Assurance) -> trustmark_format::IssuerScope {
    trustmark_format::IssuerScope {
        assurances: vec![assurance],
        ..trustmark_keys::development_scope()
    }
}

/// Days a development issuer certificate and trust list last.
const DEVELOPMENT_CERTIFICATE_DAYS: u64 = 1095;
const DEVELOPMENT_TRUST_LIST_DAYS: u64 = 90;

/// In development mode, makes `certifier` a key, accredits it with the development root and
/// publishes a trust list that holds it, so the certifier can issue at once. Does nothing in
/// operator mode.
pub(super) async fn accredit_for_development(
    state: &AppState,
    certifier: &Certifier,
) -> Result<(), ApiError> {
    let Mode::Development { dir, lock } = &state.scheme.mode else {
        return Ok(());
    };
    let _one_at_a_time = lock.lock().await;
    let assurance = trustmark_format::Assurance::from_name(&certifier.assurance)
        .ok_or_else(|| ApiError::internal("a certifier with an unknown assurance"))?;
    let making = certifier.clone();
    let (key, csr) = with_signer(state, move |state| {
        make_key(state, &making, Algorithm::EdDsa)
    })
    .await?;
    let kid = key.kid.clone();
    submit(state, None, |reply| Command::SaveIssuerKey {
        key: Box::new(key),
        action: KeyAction::Created,
        actor: "system:dev-scheme".into(),
        reply,
    })
    .await?;
    let at = UnixTime(now());
    let accreditation = trustmark_scheme::Accreditation {
        scope: development_scope(assurance),
        validity: trustmark_keys::Validity::days_from(at, DEVELOPMENT_CERTIFICATE_DAYS),
    };
    let accredited = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || trustmark_scheme::accredit(&dir, &csr, &accreditation))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?
    };
    install_certificate(state, certifier, &kid, &accredited.pem).await?;
    publish_development_list(state, dir).await
}

/// Signs and puts in force a development trust list of every key with a certificate that is
/// not retired.
async fn publish_development_list(
    state: &AppState,
    dir: &trustmark_scheme::SchemeDir,
) -> Result<(), ApiError> {
    let issuers: Vec<trustmark_scheme::ListedIssuer> = state
        .shared
        .all_keys()
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .filter_map(|k| {
            Some(trustmark_scheme::ListedIssuer {
                certificate_pem: k.certificate?,
                status_list_uri: Some(list_uri(&state.base_url, k.status_list)),
                withdrawn_at: None,
            })
        })
        .collect();
    let at = UnixTime(now());
    let options = trustmark_scheme::TrustListOptions {
        issuers,
        sequence: None,
        issued_at: at,
        expires_at: UnixTime(at.0 + DEVELOPMENT_TRUST_LIST_DAYS * 86_400),
    };
    let dir = dir.clone();
    let signed = tokio::task::spawn_blocking(move || trustmark_scheme::trust_list(&dir, &options))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    apply_trust_list(state, signed.bytes, "system:dev-scheme").await?;
    Ok(())
}

/// At a development start: re-signs the development list if it is missing or expires within
/// the warning period (the development root is on this machine; an operator's never is).
pub(super) async fn refresh_development_list(state: &AppState) -> Result<(), ApiError> {
    let Mode::Development { dir, lock } = &state.scheme.mode else {
        return Ok(());
    };
    let _one_at_a_time = lock.lock().await;
    let warn = state.config.scheme.trust_list_warn_days * 86_400;
    let fresh = state.shared.in_force().is_some_and(|t| {
        matches!(
            t.accepted.health(UnixTime(now()), warn),
            trustmark_domain::TrustListHealth::Current { .. }
        )
    });
    if fresh {
        return Ok(());
    }
    publish_development_list(state, dir).await
}
