//! Rate limits: a token bucket per API key on the authenticated routes, and per client address
//! on the public routes that cost CPU (the verification page, `POST /v1/verify`, QR images),
//! with the client address taken from a trusted proxy's header where one is configured
//! (`spec/api.md` 3).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::Metrics;
use super::AppState;

/// Most buckets one limiter keeps. Past it, idle (full) buckets are dropped; if every bucket
/// is busy, new clients share one overflow bucket, so a flood from many addresses costs at most
/// this many entries (about 100 bytes each) and still meets a limit.
const MAX_BUCKETS: usize = 65_536;

/// Token buckets by key: `per_second` sustained, up to `burst` at once; a new key starts full.
#[derive(Debug)]
pub struct RateLimiter<K> {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets<K>>,
}

#[derive(Debug)]
struct Buckets<K> {
    by_key: HashMap<K, Bucket>,
    overflow: Bucket,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Refills for the time since the last call, then takes a token, or says how long until
    /// one is there.
    fn take(&mut self, now: Instant, per_second: f64, burst: f64) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - self.tokens) / per_second).min(3600.0),
            ))
        }
    }

    /// Whether it would be full by `now` (an idle client's bucket, safe to forget).
    fn is_full_at(&self, now: Instant, per_second: f64, burst: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * per_second >= burst
    }
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `per_second` sustained (must be positive), up to `burst` at once.
    pub fn new(per_second: f64, burst: f64) -> Self {
        let now = Instant::now();
        Self {
            per_second,
            burst,
            buckets: Mutex::new(Buckets {
                by_key: HashMap::new(),
                overflow: Bucket {
                    tokens: burst,
                    last: now,
                },
            }),
        }
    }

    /// Takes a token for `key`, or answers how long to wait for one.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let (per_second, burst) = (self.per_second, self.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.by_key.get_mut(key) {
            return bucket.take(now, per_second, burst);
        }
        if buckets.by_key.len() >= MAX_BUCKETS {
            buckets
                .by_key
                .retain(|_, b| !b.is_full_at(now, per_second, burst));
        }
        if buckets.by_key.len() >= MAX_BUCKETS {
            return buckets.overflow.take(now, per_second, burst);
        }
        let mut bucket = Bucket {
            tokens: burst,
            last: now,
        };
        let taken = bucket.take(now, per_second, burst);
        buckets.by_key.insert(key.clone(), bucket);
        taken
    }
}

/// Where the client of a request is, for the public rate limit: its address, an IPv6 address
/// cut to its /64 (one host can hold a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of an address.
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(bits.into()))
                }
            },
        }
    }
}

/// The client address of a request: the peer, or, when the peer is a configured trusted proxy
/// and it sent the configured header, the last address of that header (the one the proxy
/// added; earlier ones are whatever the client claimed).
pub fn client_address(state: &AppState, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    let config = &state.config;
    let Some(header) = &config.trusted_proxy_header else {
        return peer;
    };
    if !config.trusted_proxies.contains(&peer) {
        return peer;
    }
    // The last entry only: if the proxy's own entry does not parse, an earlier (client-made)
    // one must not take its place.
    headers
        .get_all(header.as_str())
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|a| a.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

/// Takes a token from the bucket of the request's client on the public routes that cost CPU,
/// or refuses with 429 and `Retry-After`. A request without a peer address (not from the
/// server loop: tests driving the router directly) is not limited.
pub(super) fn take_public(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<(), ApiError> {
    let Some(peer) = peer else {
        return Ok(());
    };
    let client = ClientKey::of(client_address(state, headers, peer.ip()));
    state.public_limiter.take(&client).map_err(|wait| {
        Metrics::inc(&state.shared.metrics.public_rate_limited);
        ApiError::rate_limited(
            "too many verification requests from this address; slow down",
            wait,
        )
    })
}

/// Middleware of the public routes that cost CPU ([`take_public`]).
pub(super) async fn public_compute(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    match take_public(&state, request.headers(), peer) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_says_how_long_to_wait() {
        let limiter = RateLimiter::new(2.0, 3.0);
        for _ in 0..3 {
            assert_eq!(limiter.take(&"a"), Ok(()));
        }
        let wait = limiter.take(&"a").unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        // Another key has its own bucket.
        assert_eq!(limiter.take(&"b"), Ok(()));
    }

    #[test]
    fn many_keys_cost_a_bounded_map_and_share_an_overflow_bucket() {
        let limiter = RateLimiter::new(0.001, 1.0);
        for key in 0..MAX_BUCKETS + 10 {
            // Busy buckets (empty after one request) cannot be dropped...
            let _ = limiter.take(&key);
        }
        let buckets = limiter.buckets.lock().unwrap();
        assert_eq!(buckets.by_key.len(), MAX_BUCKETS);
        // ...so the ten extra keys shared the overflow bucket, which gave one token.
        assert!(buckets.overflow.tokens < 1.0);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            ClientKey::of(mapped),
            ClientKey::of("192.0.2.7".parse().unwrap())
        );
    }
}
