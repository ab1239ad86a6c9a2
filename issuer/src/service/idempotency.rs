//! Retry-safe writes (`spec/api.md` 5.4). A client sends `Idempotency-Key: <key>` with a write;
//! its successful answer is stored under that key, scoped to the API key that sent it, in the
//! same atomic commit as the change itself. A retry with the same key and the same request gets
//! the stored answer and changes nothing; the same key with another request is 422; a retry
//! while the first is still running is 409. Entries expire after `idempotency_ttl_seconds`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::{now, AppState};

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// The response header on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// Longest idempotency key (a UUID is 36 characters).
pub const MAX_KEY_LEN: usize = 255;

/// A successful answer stored under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredAnswer {
    /// SHA-256 (hex) of the request it answered ([`request_hash`]).
    pub request_hash: String,
    /// Its status code.
    pub status: u16,
    /// Its JSON body (secrets withheld: see [`withhold_secret`]).
    pub body: String,
    /// When it was stored.
    pub created_at: u64,
    /// When the key may be used again for another request.
    pub expires_at: u64,
}

/// A write that must store its answer under an idempotency key: where, and for which request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Claim {
    /// The store key: API key hash, `/`, idempotency key.
    pub storage_key: Vec<u8>,
    /// [`request_hash`] of the request.
    pub request_hash: String,
    /// Now and the expiry.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
}

impl Claim {
    /// The stored form of `body` (a success with `status`) under this claim.
    pub(super) fn answer(&self, status: StatusCode, body: &[u8]) -> Result<StoredAnswer, ApiError> {
        Ok(StoredAnswer {
            request_hash: self.request_hash.clone(),
            status: status.as_u16(),
            body: String::from_utf8(body.to_vec()).map_err(ApiError::internal)?,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// The idempotency keys of requests running now, so a retry that overlaps its original waits
/// for nothing and changes nothing (409).
#[derive(Debug, Default)]
pub struct InFlight(Mutex<HashSet<Vec<u8>>>);

/// Holds a key in [`InFlight`] until dropped (the request has been answered).
struct Running {
    set: Arc<InFlight>,
    key: Vec<u8>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl InFlight {
    fn start(self: &Arc<Self>, key: &[u8]) -> Option<Running> {
        let mut running = self.0.lock().unwrap_or_else(|e| e.into_inner());
        running.insert(key.to_vec()).then(|| Running {
            set: self.clone(),
            key: key.to_vec(),
        })
    }
}

/// SHA-256 (hex) over what identifies a request: method, path and query, content type, body,
/// each length-prefixed.
pub fn request_hash(
    method: &str,
    path_and_query: &str,
    content_type: &[u8],
    body: &[u8],
) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        method.as_bytes(),
        path_and_query.as_bytes(),
        content_type,
        body,
    ] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    hex::encode(context.finish())
}

/// The stored form of an answer that carries a secret (a new API key): the key is replaced by
/// `null` and `api_key_withheld` is set, so no secret is stored. A client that lost the
/// original answer has an administrator issue a replacement key.
pub fn withhold_secret(mut body: serde_json::Value) -> serde_json::Value {
    if let Some(object) = body.as_object_mut() {
        if object.contains_key("api_key") {
            object.insert("api_key".into(), serde_json::Value::Null);
            object.insert("api_key_withheld".into(), serde_json::Value::Bool(true));
        }
    }
    body
}

/// 409: a request under the same idempotency key is running.
pub(super) fn in_flight() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_flight",
        "a request with this Idempotency-Key is still running; retry after it is answered",
    )
}

/// A valid idempotency key: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
fn valid_key(value: &HeaderValue) -> Option<&str> {
    let key = value.to_str().ok()?;
    (!key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic()))
        .then_some(key)
}

fn store_key(caller: &Caller, key: &str) -> Vec<u8> {
    format!("{}/{key}", caller.key_hash).into_bytes()
}

/// The stored answer under `storage_key`, if one is there and not expired.
pub(super) fn lookup(
    state: &AppState,
    storage_key: &[u8],
) -> Result<Option<StoredAnswer>, ApiError> {
    let answer = state.registry(|r| r.idempotent_answer(storage_key))?;
    Ok(answer.filter(|a| a.expires_at > now()))
}

/// The replay of a stored answer.
fn replay(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Middleware of the write routes. Without the header it does nothing. With it: the key must be
/// valid (400 `invalid_idempotency_key`); a stored answer for the same request is replayed, for
/// another request refused (422 `idempotency_key_reused`); a request still running under the key
/// refuses this one (409 `idempotency_key_in_flight`); else the handler runs with the [`Claim`]
/// in the request's extensions, and stores its answer with its change.
///
/// A request whose API key is not active passes through untouched, to be refused by the handler
/// (401): stored answers are only ever shown to an active key of the scope they were made in.
pub(super) async fn middleware(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(value) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let Some(key) = valid_key(value).map(str::to_owned) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            format!("Idempotency-Key: 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
        .into_response();
    };
    let (parts, body) = request.into_parts();
    let Ok(caller) = Caller::of_request(&parts, &state) else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    // Under the same size limit and deadline as every body (`body.rs`).
    let body = match super::body::read(body, &state.config).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let path = parts.uri.path_and_query().map_or("", |p| p.as_str());
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map_or(&b""[..], HeaderValue::as_bytes);
    let hash = request_hash(parts.method.as_str(), path, content_type, &body);
    let storage_key = store_key(&caller, &key);
    match lookup(&state, &storage_key) {
        Ok(Some(answer)) if answer.request_hash == hash => return replay(answer),
        Ok(Some(_)) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for another request; use a new key",
            )
            .into_response()
        }
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    let Some(_running) = state.in_flight.start(&storage_key) else {
        return in_flight().into_response();
    };
    let created_at = now();
    let claim = Claim {
        storage_key,
        request_hash: hash,
        created_at,
        expires_at: created_at.saturating_add(state.config.idempotency_ttl_seconds),
    };
    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(claim);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_hash_separates_its_parts() {
        let a = request_hash("POST", "/v1/marks", b"application/json", b"{}");
        assert_eq!(
            a,
            request_hash("POST", "/v1/marks", b"application/json", b"{}")
        );
        assert_ne!(
            a,
            request_hash("POST", "/v1/marks", b"application/json", b"{} ")
        );
        assert_ne!(
            a,
            request_hash("POST", "/v1/marks:batch", b"application/json", b"{}")
        );
        assert_ne!(
            request_hash("POST", "/a", b"b", b""),
            request_hash("POST", "/ab", b"", b"")
        );
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        let ok = HeaderValue::from_static("6f1c2a4e-9d3b-4c2f-8e1a-1b2c3d4e5f60");
        assert!(valid_key(&ok).is_some());
        for bad in ["", "has space", &"k".repeat(256)] {
            assert!(
                valid_key(&HeaderValue::from_str(bad).unwrap()).is_none(),
                "{bad:?}"
            );
        }
        assert!(valid_key(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).is_none());
    }

    #[test]
    fn secrets_are_withheld_from_stored_answers() {
        let body = serde_json::json!({"api_key": "tmk_secret", "certifier_id": "c1"});
        assert_eq!(
            withhold_secret(body),
            serde_json::json!({"api_key": null, "api_key_withheld": true, "certifier_id": "c1"})
        );
        let plain = serde_json::json!({"mark_id": "m"});
        assert_eq!(withhold_secret(plain.clone()), plain);
    }
}
