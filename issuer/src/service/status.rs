//! `GET /v1/status-lists/{n}`: the IETF Token Status List token of issuer key's list `n`, signed
//! by that key, rebuilt when a status changes or the cached token is older than half its `ttl`, and sized in
//! blocks so that newly issued marks are inside the published list.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use trustmark_format::status_list::{StatusList, StatusListToken, MEDIA_TYPE};
use trustmark_format::UnixTime;

use crate::status_zlib::ChunkedZlib;

use super::error::ApiError;
use super::state::ListState;
use super::{now, AppState};

/// Where status list `number` is published: the URI its tokens and the trust list name.
pub fn list_uri(base_url: &str, number: u32) -> String {
    format!("{base_url}/v1/status-lists/{number}")
}

/// Entries are published in blocks of this many, so a new mark's index is already in the list.
pub const BLOCK: u32 = 1 << 16;

/// The signed token last built, and the compressor that keeps the chunks it was made of.
#[derive(Debug, Default)]
pub struct StatusListCache {
    token: Mutex<Option<Cached>>,
    /// Held while building, so one rebuild runs at a time and the others wait for its token.
    compressor: Mutex<ChunkedZlib>,
}

#[derive(Debug, Clone)]
struct Cached {
    version: u64,
    entries: u32,
    built_at: u64,
    token: std::sync::Arc<Vec<u8>>,
}

impl StatusListCache {
    /// The cached token if it was built from status `version` with `entries` entries and is
    /// younger than `fresh_for` seconds.
    fn fresh(&self, version: u64, entries: u32, fresh_for: u64) -> Option<std::sync::Arc<Vec<u8>>> {
        let cached = self.token.lock().unwrap_or_else(|e| e.into_inner());
        cached
            .as_ref()
            .filter(|c| {
                c.version == version && c.entries == entries && now() < c.built_at + fresh_for
            })
            .map(|c| c.token.clone())
    }

    /// Builds the token (unless a build that finished while this one waited made it), caches
    /// and returns it. Blocking: compresses and signs.
    fn rebuild(
        &self,
        state: &AppState,
        list: &ListState,
        version: u64,
        entries: u32,
        fresh_for: u64,
    ) -> Result<std::sync::Arc<Vec<u8>>, ApiError> {
        let mut compressor = self.compressor.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = self.fresh(version, entries, fresh_for) {
            return Ok(token);
        }
        let started = std::time::Instant::now();
        let token = std::sync::Arc::new(build(state, list, entries, &mut compressor)?);
        tracing::debug!(
            entries,
            chunks_compressed = compressor.recompressed(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "status list rebuilt"
        );
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            version,
            entries,
            built_at: now(),
            token: token.clone(),
        });
        Ok(token)
    }
}

/// The number of entries published for `issued` marks: whole blocks, at least one.
pub fn published_entries(issued: u32) -> u32 {
    issued.div_ceil(BLOCK).max(1).saturating_mul(BLOCK)
}

/// Builds and signs the status list token from the current statuses: zlib level 9 with a 4 KiB
/// window, in chunks reused from the last build where the bits did not change
/// ([`crate::status_zlib`]).
fn build(
    state: &AppState,
    status: &ListState,
    entries: u32,
    compressor: &mut ChunkedZlib,
) -> Result<Vec<u8>, ApiError> {
    let mut bytes = status
        .bits
        .read()
        .map_err(|_| ApiError::internal("status lock poisoned"))?
        .bytes()
        .to_vec();
    bytes.resize(entries as usize / 4, 0);
    let list = StatusList::from_bytes(2, bytes).map_err(ApiError::internal)?;
    let issued_at = now();
    let token = StatusListToken {
        uri: list_uri(&state.base_url, status.number),
        issued_at: UnixTime(issued_at),
        expires_at: Some(UnixTime(issued_at + state.config.status_list_exp_seconds)),
        ttl: Some(state.config.status_list_ttl_seconds),
        list,
    };
    let key = state
        .signers
        .signer(status.kid.as_bytes())
        .map_err(ApiError::signer_unavailable)?;
    let key = key.as_ref();
    let mut failure = None;
    let compress = |bits: &[u8]| {
        compressor.compress(bits).unwrap_or_else(|e| {
            failure = Some(e);
            Vec::new()
        })
    };
    let signed = token
        .sign(key.algorithm(), key.kid(), compress, |tbs| key.sign(tbs))
        .map_err(|e: trustmark_keys::KeyError| match e {
            trustmark_keys::KeyError::Unavailable(_) => ApiError::signer_unavailable(e),
            other => ApiError::internal(other),
        })?;
    match failure {
        Some(e) => Err(ApiError::internal(e)),
        None => Ok(signed),
    }
}

/// `GET /v1/status-lists/{n}`.
pub(super) async fn status_list(
    State(state): State<AppState>,
    Path(n): Path<u32>,
) -> Result<Response, ApiError> {
    let list = state
        .shared
        .list(n)
        .ok_or_else(|| ApiError::not_found("status list"))?;
    let version = list.version.load(Ordering::Acquire);
    let entries = published_entries(list.len());
    let fresh_for = state.config.status_list_ttl_seconds / 2;
    let token = match list.cache.fresh(version, entries, fresh_for) {
        Some(token) => token,
        None => {
            // Compressing and signing is CPU work: keep it off the async workers.
            let building = state.clone();
            tokio::task::spawn_blocking(move || {
                list.cache
                    .rebuild(&building, &list, version, entries, fresh_for)
            })
            .await
            .map_err(ApiError::internal)??
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
