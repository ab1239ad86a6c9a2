//! `GET /v1/status-lists/{n}`: the IETF Token Status List token of the service's issuer key,
//! rebuilt when a status changes or the cached token is older than half its `ttl`, and sized in
//! blocks so that newly issued marks are inside the published list.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use trustmark_format::status_list::{StatusList, StatusListToken, MEDIA_TYPE};
use trustmark_format::UnixTime;
use trustmark_keys::Signer;

use super::error::ApiError;
use super::{now, AppState};

/// Entries are published in blocks of this many, so a new mark's index is already in the list.
pub const BLOCK: u32 = 1 << 16;

/// A signed token and what it was built from.
#[derive(Debug, Default)]
pub struct StatusListCache {
    inner: Mutex<Option<Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    version: u64,
    entries: u32,
    built_at: u64,
    token: std::sync::Arc<Vec<u8>>,
}

/// zlib (the C library) at level 9 with a 4 KiB window (`windowBits` 12). On a sparse list of
/// 2^20 two-bit entries with 1% revoked the small window compresses about 3% better than the
/// default 32 KiB one (which the draft's examples use), bringing the signed token under the
/// brief's 15.3 KB, and a gateway inflating it needs only a 4 KiB window of memory
/// (`spec/status-list.md`).
pub fn zlib9(bytes: &[u8]) -> Vec<u8> {
    let mut compress =
        flate2::Compress::new_with_window_bits(flate2::Compression::new(9), true, 12);
    let mut out = Vec::with_capacity(bytes.len() / 8 + 64);
    loop {
        let consumed = compress.total_in() as usize;
        match compress.compress_vec(&bytes[consumed..], &mut out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => return out,
            Ok(_) => out.reserve(out.capacity().max(1024)),
            // zlib reports no error for valid parameters and a finishing stream.
            Err(_) => return Vec::new(),
        }
    }
}

/// The number of entries published for `issued` marks: whole blocks, at least one.
pub fn published_entries(issued: u32) -> u32 {
    issued.div_ceil(BLOCK).max(1).saturating_mul(BLOCK)
}

/// Builds and signs the status list token from the current statuses.
fn build(state: &AppState, entries: u32) -> Result<Vec<u8>, ApiError> {
    let mut bytes = state
        .shared
        .status
        .read()
        .map_err(|_| ApiError::internal("status lock poisoned"))?
        .bytes()
        .to_vec();
    bytes.resize(entries as usize / 4, 0);
    let list = StatusList::from_bytes(2, bytes).map_err(ApiError::internal)?;
    let issued_at = now();
    let token = StatusListToken {
        uri: format!("{}/v1/status-lists/1", state.base_url),
        issued_at: UnixTime(issued_at),
        expires_at: Some(UnixTime(issued_at + state.config.status_list_exp_seconds)),
        ttl: Some(state.config.status_list_ttl_seconds),
        list,
    };
    let key = state.issuer_key.as_ref();
    token
        .sign(key.algorithm(), key.kid(), zlib9, |tbs| key.sign(tbs))
        .map_err(|e: trustmark_keys::KeyError| ApiError::internal(e))
}

/// `GET /v1/status-lists/{n}`.
pub(super) async fn status_list(
    State(state): State<AppState>,
    Path(n): Path<u32>,
) -> Result<Response, ApiError> {
    if n != 1 {
        return Err(ApiError::not_found("status list"));
    }
    let version = state.shared.status_version.load(Ordering::Acquire);
    let issued = state.shared.status.read().map(|s| s.len()).unwrap_or(0);
    let entries = published_entries(issued);
    let fresh_for = state.config.status_list_ttl_seconds / 2;
    let token = {
        let mut cache = state
            .status_cache
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match cache.as_ref() {
            Some(c)
                if c.version == version
                    && c.entries == entries
                    && now() < c.built_at + fresh_for =>
            {
                c.token.clone()
            }
            _ => {
                let token = std::sync::Arc::new(build(&state, entries)?);
                *cache = Some(Cached {
                    version,
                    entries,
                    built_at: now(),
                    token: token.clone(),
                });
                token
            }
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, MEDIA_TYPE.to_owned()),
            (header::CACHE_CONTROL, format!("max-age={fresh_for}")),
        ],
        token.as_ref().clone(),
    )
        .into_response())
}
