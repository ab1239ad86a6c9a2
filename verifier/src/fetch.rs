//! std: fetching the trust list and status lists over HTTP with an on-disk cache, so a gateway
//! keeps working offline and never fetches more than it must.
//!
//! - A cached document that the caller says is still fresh (for a status list: `iat + ttl` not
//!   reached) is used without asking the network.
//! - Otherwise the request is conditional (`If-None-Match` with the cached `ETag`,
//!   `If-Modified-Since` with the cached `Last-Modified`); `304 Not Modified` keeps the cache.
//! - When the network fails, the cached copy is returned, marked as such: whether it is still
//!   acceptable is for verification to decide (trust lists expire, and a status list older than
//!   the policy's `max_status_age` is refused), never for the cache.
//!
//! Nothing here verifies anything: callers pass what they fetched to
//! [`crate::TrustStore::from_signed`] and [`crate::verify_status_list`].

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest document fetched (a status list of 2^20 entries is about 15 KB; trust lists are
/// smaller than 256 KiB by their format's limit).
pub const MAX_DOCUMENT_BYTES: u64 = 4 * 1024 * 1024;

/// Where a document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Fetched now.
    Network,
    /// The server said the cached copy is current (304).
    NotModified,
    /// The cached copy was still fresh; the network was not asked.
    CacheFresh,
    /// The network failed; this is the cached copy.
    CacheOffline,
}

/// A fetched (or cached) document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub origin: Origin,
}

/// Why nothing could be had.
#[derive(Debug)]
#[non_exhaustive]
pub enum FetchError {
    /// The network failed and there is no cached copy.
    Unavailable {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The cache directory could not be written.
    Cache {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { url, reason } => {
                write!(f, "{url}: {reason}, and no cached copy")
            }
            Self::Cache { path, reason } => write!(f, "cache {}: {reason}", path.display()),
        }
    }
}

impl core::error::Error for FetchError {}

/// Cached HTTP validators of one document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Validators {
    fn parse(text: &str) -> Self {
        let mut v = Self::default();
        for line in text.lines() {
            match line.split_once(": ") {
                Some(("etag", value)) => v.etag = Some(value.to_string()),
                Some(("last-modified", value)) => v.last_modified = Some(value.to_string()),
                _ => {}
            }
        }
        v
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(etag) = &self.etag {
            out.push_str(&format!("etag: {etag}\n"));
        }
        if let Some(modified) = &self.last_modified {
            out.push_str(&format!("last-modified: {modified}\n"));
        }
        out
    }
}

/// An HTTP client with an on-disk cache.
#[derive(Debug)]
pub struct Source {
    cache_dir: PathBuf,
    agent: ureq::Agent,
}

impl Source {
    /// A source caching in `cache_dir` (created if needed), with a 10 s timeout per request.
    pub fn new(cache_dir: &Path) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Self {
            cache_dir: cache_dir.to_path_buf(),
            agent,
        }
    }

    fn paths(&self, url: &str) -> (PathBuf, PathBuf) {
        let digest = ring::digest::digest(&ring::digest::SHA256, url.as_bytes());
        let name: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (
            self.cache_dir.join(format!("{name}.bin")),
            self.cache_dir.join(format!("{name}.meta")),
        )
    }

    /// The cached copy of `url`, if any.
    pub fn cached(&self, url: &str) -> Option<Vec<u8>> {
        fs::read(self.paths(url).0).ok()
    }

    /// Fetches `url`, or uses the cache: `fresh(cached)` says whether a cached copy may be used
    /// without asking the network.
    pub fn fetch(&self, url: &str, fresh: impl Fn(&[u8]) -> bool) -> Result<Fetched, FetchError> {
        let (body_path, meta_path) = self.paths(url);
        let cached = fs::read(&body_path).ok();
        if let Some(bytes) = cached.as_ref().filter(|b| fresh(b)) {
            return Ok(Fetched {
                bytes: bytes.clone(),
                origin: Origin::CacheFresh,
            });
        }
        let validators = fs::read_to_string(&meta_path)
            .map(|t| Validators::parse(&t))
            .unwrap_or_default();
        let mut request = self.agent.get(url);
        if cached.is_some() {
            if let Some(etag) = &validators.etag {
                request = request.header("if-none-match", etag);
            }
            if let Some(modified) = &validators.last_modified {
                request = request.header("if-modified-since", modified);
            }
        }
        let offline = |reason: String| match &cached {
            Some(bytes) => Ok(Fetched {
                bytes: bytes.clone(),
                origin: Origin::CacheOffline,
            }),
            None => Err(FetchError::Unavailable {
                url: url.to_string(),
                reason,
            }),
        };
        let response = match request.call() {
            Ok(response) => response,
            Err(e) => return offline(e.to_string()),
        };
        match response.status().as_u16() {
            304 => match &cached {
                Some(bytes) => Ok(Fetched {
                    bytes: bytes.clone(),
                    origin: Origin::NotModified,
                }),
                None => offline("304 without a cached copy".into()),
            },
            200 => {
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(ToString::to_string)
                };
                let fresh_validators = Validators {
                    etag: header("etag"),
                    last_modified: header("last-modified"),
                };
                let mut bytes = Vec::new();
                if let Err(e) = response
                    .into_body()
                    .into_reader()
                    .take(MAX_DOCUMENT_BYTES + 1)
                    .read_to_end(&mut bytes)
                {
                    return offline(e.to_string());
                }
                if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
                    return offline(format!("larger than {MAX_DOCUMENT_BYTES} bytes"));
                }
                self.store(&body_path, &bytes)?;
                self.store(&meta_path, fresh_validators.render().as_bytes())?;
                Ok(Fetched {
                    bytes,
                    origin: Origin::Network,
                })
            }
            status => offline(format!("HTTP {status}")),
        }
    }

    /// Writes a cache file atomically (temporary file, then rename).
    fn store(&self, path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
        let cache_error = |e: std::io::Error| FetchError::Cache {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        fs::create_dir_all(&self.cache_dir).map_err(cache_error)?;
        let temp = path.with_extension("tmp");
        fs::write(&temp, bytes).map_err(cache_error)?;
        fs::rename(&temp, path).map_err(cache_error)
    }
}

/// Whether a cached status list token is still inside its `ttl` at `now` (then it need not be
/// fetched again). Anything unreadable is not fresh.
pub fn status_list_fresh(token: &[u8], now: trustmark_format::UnixTime) -> bool {
    use trustmark_format::status_list::{StatusListClaims, StatusListToken};
    StatusListToken::parse_signed(token)
        .ok()
        .and_then(|sign1| StatusListClaims::from_cbor(sign1.payload()).ok())
        .is_some_and(|claims| {
            claims
                .ttl
                .is_some_and(|ttl| now.0 < claims.issued_at.0.saturating_add(ttl))
        })
}
