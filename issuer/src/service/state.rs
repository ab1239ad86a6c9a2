//! State shared between the HTTP handlers and the writer: API keys, per-mark status bits, and
//! counters for `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use trustmark_format::status_list::StatusList;

use super::records::ApiKey;

/// Status values, as in the Token Status List (2 bits per mark).
pub const STATUS_VALID: u8 = 0;
/// Revoked (the draft's INVALID).
pub const STATUS_REVOKED: u8 = 1;
/// Suspended.
pub const STATUS_SUSPENDED: u8 = 2;

/// The status of every mark of one status list: the format crate's 2-bit [`StatusList`]
/// (entries LSB first), grown as marks are issued.
#[derive(Debug, Clone)]
pub struct StatusBits {
    list: StatusList,
    /// One past the highest index set.
    len: u32,
}

impl Default for StatusBits {
    fn default() -> Self {
        Self {
            // safe: 2 bits per entry and an empty list are always accepted.
            list: StatusList::from_bytes(2, Vec::new())
                .unwrap_or_else(|_| unreachable!("2 bits is valid")),
            len: 0,
        }
    }
}

impl StatusBits {
    /// Number of entries.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The status of entry `index` (valid beyond the end).
    pub fn get(&self, index: u32) -> u8 {
        self.list.get(index as usize).unwrap_or(STATUS_VALID)
    }

    /// Sets entry `index`, growing the list (capacity doubles, so growing stays linear).
    pub fn set(&mut self, index: u32, status: u8) {
        let needed = index as usize / 4 + 1;
        if self.list.as_bytes().len() < needed {
            let mut bytes = self.list.as_bytes().to_vec();
            bytes.resize(needed.max(bytes.len() * 2), 0);
            if let Ok(list) = StatusList::from_bytes(2, bytes) {
                self.list = list;
            }
        }
        // Out of range only past the format's size limit, which publishing refuses anyway.
        let _ = self.list.set(index as usize, status & 0b11);
        self.len = self.len.max(index + 1);
    }

    /// The packed bytes of the entries set so far.
    pub fn bytes(&self) -> &[u8] {
        let used = (self.len as usize).div_ceil(4);
        &self.list.as_bytes()[..used]
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Marks issued.
    pub marks_issued: AtomicU64,
    /// Status changes.
    pub status_changes: AtomicU64,
    /// Assessments stored.
    pub assessments: AtomicU64,
    /// Commit groups flushed.
    pub commit_groups: AtomicU64,
    /// Commands in those groups.
    pub commit_commands: AtomicU64,
    /// Time the writer spent applying those groups to the store, in microseconds.
    pub commit_apply_micros: AtomicU64,
    /// Time the writer spent making them durable (the store's flush), in microseconds.
    pub commit_flush_micros: AtomicU64,
    /// HTTP responses by class (2xx, 4xx, 5xx).
    pub http_2xx: AtomicU64,
    /// 4xx responses.
    pub http_4xx: AtomicU64,
    /// 5xx responses.
    pub http_5xx: AtomicU64,
    /// Requests refused by the rate limit.
    pub rate_limited: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A token bucket per API key.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, std::time::Instant)>>,
}

impl RateLimiter {
    /// `per_second` sustained, up to `burst` at once.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; false when the bucket is empty.
    pub fn allow(&self, key: &str) -> bool {
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Everything shared.
#[derive(Debug, Default)]
pub struct Shared {
    /// API key hash (hex) -> role.
    pub api_keys: RwLock<HashMap<String, ApiKey>>,
    /// Status of status list 1.
    pub status: RwLock<StatusBits>,
    /// The next status index to hand out (list 1).
    pub next_index: std::sync::atomic::AtomicU32,
    /// Incremented on every status change, so the status-list cache knows to rebuild.
    pub status_version: AtomicU64,
    /// Counters.
    pub metrics: Metrics,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bits_pack_lsb_first() {
        let mut bits = StatusBits::default();
        bits.set(0, STATUS_REVOKED);
        bits.set(1, STATUS_SUSPENDED);
        bits.set(5, STATUS_REVOKED);
        assert_eq!(bits.bytes(), &[0b1001, 0b0100]);
        assert_eq!(
            (
                bits.get(0),
                bits.get(1),
                bits.get(2),
                bits.get(5),
                bits.get(99)
            ),
            (1, 2, 0, 1, 0)
        );
        bits.set(0, STATUS_VALID);
        assert_eq!(bits.get(0), STATUS_VALID);
        assert_eq!(bits.len(), 6);
    }
}
