//! State shared between the HTTP handlers and the writer: API keys, issuer keys, one status list
//! per issuer key (status bits, indexes), the trust list in force, and counters for `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use trustmark_domain::{AcceptedTrustList, CertifierId, IssuerKey, Kid};
use trustmark_format::status_list::{StatusList, MAX_LIST_BYTES};
use trustmark_verifier::TrustStore;

use super::keys::ApiKeyRecord;
use super::status::StatusListCache;
use crate::MarkStatus;

/// The most entries one status list can hold: the format's size limit
/// ([`MAX_LIST_BYTES`], 1 MiB of packed bits) at 2 bits per entry, 4 194 304 marks.
pub const STATUS_LIST_CAPACITY: u32 = (MAX_LIST_BYTES * 4) as u32;

/// A status list has no room for another mark (`spec/api.md` 6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the status list of this issuer key is full: it holds {capacity} marks; rotate to a new key, which gets a fresh list")]
pub struct StatusListFull {
    /// Its capacity.
    pub capacity: u32,
}

/// The status of every mark of one status list: the format crate's 2-bit [`StatusList`]
/// (entries LSB first), grown as marks are issued, up to a capacity.
#[derive(Debug, Clone)]
pub struct StatusBits {
    list: StatusList,
    /// One past the highest index set.
    len: u32,
    /// The most entries it takes (at most [`STATUS_LIST_CAPACITY`]).
    capacity: u32,
}

impl Default for StatusBits {
    fn default() -> Self {
        Self::with_capacity(STATUS_LIST_CAPACITY)
    }
}

impl StatusBits {
    /// An empty list that takes up to `capacity` entries (capped at [`STATUS_LIST_CAPACITY`]).
    pub fn with_capacity(capacity: u32) -> Self {
        Self {
            // safe: 2 bits per entry and an empty list are always accepted.
            list: StatusList::from_bytes(2, Vec::new())
                .unwrap_or_else(|_| unreachable!("2 bits is valid")),
            len: 0,
            capacity: capacity.min(STATUS_LIST_CAPACITY),
        }
    }

    /// The entries of a saved snapshot: `len` entries packed in `bytes` (`len.div_ceil(4)`
    /// bytes), in a list of `capacity`.
    pub fn from_saved(capacity: u32, len: u32, bytes: Vec<u8>) -> Result<Self, String> {
        let capacity = capacity.min(STATUS_LIST_CAPACITY);
        if len > capacity {
            return Err(format!("{len} entries, past the capacity {capacity}"));
        }
        if bytes.len() != len.div_ceil(4) as usize {
            return Err(format!("{} bytes for {len} entries", bytes.len()));
        }
        let list = StatusList::from_bytes(2, bytes).map_err(|e| e.to_string())?;
        Ok(Self {
            list,
            len,
            capacity,
        })
    }

    /// The most entries it takes.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Number of entries.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The status of entry `index` (valid beyond the end: no mark has that index).
    pub fn get(&self, index: u32) -> MarkStatus {
        match self.list.get(index as usize).unwrap_or(0) {
            0 => MarkStatus::Valid,
            2 => MarkStatus::Suspended,
            // 1, and 3, which only `set` could write and never does: fail closed.
            _ => MarkStatus::Revoked,
        }
    }

    /// Sets entry `index`, growing the list (its buffer doubles, so growing stays linear); an
    /// index at or past the capacity is refused and changes nothing.
    pub fn set(&mut self, index: u32, status: MarkStatus) -> Result<(), StatusListFull> {
        self.grow(index)?;
        self.list
            .set(index as usize, status.list_value())
            .map_err(|_| StatusListFull {
                capacity: self.capacity,
            })?;
        self.len = self.len.max(index + 1);
        Ok(())
    }

    /// Counts the entries up to `len` (capped at the capacity), which read as valid until set:
    /// the marks another instance issued in this list (`spec/storage.md` 11.5).
    pub fn extend_to(&mut self, len: u32) -> Result<(), StatusListFull> {
        let len = len.min(self.capacity);
        if len > self.len {
            self.grow(len - 1)?;
            self.len = len;
        }
        Ok(())
    }

    /// Makes room for entry `index` (the buffer doubles, so growing stays linear); an index at
    /// or past the capacity is refused.
    fn grow(&mut self, index: u32) -> Result<(), StatusListFull> {
        let full = StatusListFull {
            capacity: self.capacity,
        };
        if index >= self.capacity {
            return Err(full);
        }
        let needed = index as usize / 4 + 1;
        if self.list.as_bytes().len() < needed {
            let mut bytes = self.list.as_bytes().to_vec();
            let grown = needed
                .max(bytes.len() * 2)
                .min(self.capacity.div_ceil(4) as usize);
            bytes.resize(grown, 0);
            self.list = StatusList::from_bytes(2, bytes).map_err(|_| full)?;
        }
        Ok(())
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
    /// Requests refused by the per-API-key rate limit.
    pub rate_limited: AtomicU64,
    /// Requests refused by the per-client rate limit of the public routes.
    pub public_rate_limited: AtomicU64,
    /// Issuance refused because a status list is full.
    pub status_list_full: AtomicU64,
    /// Entries in the audit log (every durable change adds at least one).
    pub audit_entries: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The status indexes of one list handed to handlers: unique within the process, and never at or
/// past the list's capacity (`spec/storage.md` section 5).
///
/// The indexes it may hand out are a range `[next, end)`: up to the capacity for a store only
/// this process writes; a lease from the database where several instances share the store
/// (`spec/storage.md` 11.5), renewed by [`Self::grant`] when [`Self::take`] says it is used up.
/// Both ends are one atomic word, so a take never sees one end of a new lease with the other of
/// the old.
#[derive(Debug)]
pub struct StatusIndexes {
    /// `end << 32 | next`.
    range: AtomicU64,
    capacity: u32,
    /// Held while a lease is fetched, so one request fetches it and the others wait for it.
    pub leasing: std::sync::Mutex<()>,
}

/// Why no index was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoIndex {
    /// The list is full.
    Full(StatusListFull),
    /// The lease is used up: fetch another one.
    LeaseUsed,
}

fn pack(next: u32, end: u32) -> u64 {
    u64::from(end) << 32 | u64::from(next)
}

fn unpack(range: u64) -> (u32, u32) {
    // Truncation intended: the two halves of the word.
    ((range & 0xffff_ffff) as u32, (range >> 32) as u32)
}

impl StatusIndexes {
    /// Indexes from `next` up to `capacity` (exclusive).
    pub fn new(next: u32, capacity: u32) -> Self {
        Self {
            range: AtomicU64::new(pack(next, capacity)),
            capacity,
            leasing: std::sync::Mutex::new(()),
        }
    }

    /// Takes the next index, or refuses when the list is full (the counter then stays at the
    /// capacity: it never wraps) or the lease is used up.
    pub fn take(&self) -> Result<u32, NoIndex> {
        let taken = self
            .range
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |range| {
                let (next, end) = unpack(range);
                // `then`, not `then_some`: `next + 1` must not be computed at the end.
                (next < end.min(self.capacity)).then(|| pack(next + 1, end))
            });
        match taken {
            Ok(range) => Ok(unpack(range).0),
            Err(range) if unpack(range).0 >= self.capacity => Err(NoIndex::Full(StatusListFull {
                capacity: self.capacity,
            })),
            Err(_) => Err(NoIndex::LeaseUsed),
        }
    }

    /// Hands out every index from `next` up to the capacity (start-up, a store of one process).
    pub fn restart_at(&self, next: u32) {
        self.range
            .store(pack(next, self.capacity), Ordering::SeqCst);
    }

    /// Hands out the leased indexes `range` (an empty range: none until the next lease).
    pub fn grant(&self, range: std::ops::Range<u32>) {
        self.range
            .store(pack(range.start, range.end), Ordering::SeqCst);
    }

    /// Whether the lease is used up (and the list not full): [`Self::take`] would say
    /// [`NoIndex::LeaseUsed`].
    pub fn used_up(&self) -> bool {
        let (next, end) = unpack(self.range.load(Ordering::SeqCst));
        next >= end && next < self.capacity
    }

    /// The capacity.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }
}

/// One issuer key's status list: the status of its marks, the indexes handed out, a version
/// bumped on every change (so the cached signed list knows to rebuild), and that cache.
#[derive(Debug)]
pub struct ListState {
    /// The list's number (`/v1/status-lists/{n}`).
    pub number: u32,
    /// The key that signs it (and whose marks it holds).
    pub kid: Kid,
    /// The status bits.
    pub bits: RwLock<StatusBits>,
    /// The next index to hand out.
    pub indexes: StatusIndexes,
    /// Incremented on every status change.
    pub version: AtomicU64,
    /// The signed list last built.
    pub cache: StatusListCache,
    /// Whether the 90% warning was logged.
    pub warned: std::sync::atomic::AtomicBool,
}

impl ListState {
    /// An empty list `number` of key `kid`, with room for `capacity` marks.
    pub fn new(number: u32, kid: Kid, capacity: u32) -> Self {
        let capacity = capacity.min(STATUS_LIST_CAPACITY);
        Self {
            number,
            kid,
            bits: RwLock::new(StatusBits::with_capacity(capacity)),
            indexes: StatusIndexes::new(0, capacity),
            version: AtomicU64::default(),
            cache: StatusListCache::default(),
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The status of entry `index`.
    pub fn get(&self, index: u32) -> MarkStatus {
        self.bits
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(index)
    }

    /// Entries set so far.
    pub fn len(&self) -> u32 {
        self.bits.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no mark is in it yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The trust list in force, verified under the scheme root, with the store verification uses.
pub struct InForce {
    /// The list.
    pub accepted: AcceptedTrustList,
    /// Its trust store (the service's caching crypto backend).
    pub store: TrustStore<'static>,
}

impl std::fmt::Debug for InForce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InForce")
            .field("sequence", &self.accepted.list.sequence)
            .finish_non_exhaustive()
    }
}

/// The issuer keys in memory: every lookup is a map lookup, whatever the number of keys.
#[derive(Debug, Default)]
struct KeyRings {
    by_certifier: HashMap<CertifierId, Vec<IssuerKey>>,
    owner: HashMap<Kid, CertifierId>,
}

impl KeyRings {
    fn key(&self, kid: &[u8]) -> Option<&IssuerKey> {
        let owner = self.owner.get(kid)?;
        self.by_certifier
            .get(owner)?
            .iter()
            .find(|k| k.kid.as_bytes() == kid)
    }
}

/// The status lists in memory, by number and by the kid of their key.
#[derive(Debug, Default)]
struct Lists {
    by_number: HashMap<u32, Arc<ListState>>,
    by_kid: HashMap<Kid, Arc<ListState>>,
}

/// Everything shared.
#[derive(Debug)]
pub struct Shared {
    /// API key hash (hex) -> role.
    pub api_keys: RwLock<HashMap<String, ApiKeyRecord>>,
    /// Issuer keys by certifier id, and which certifier holds each kid.
    issuer_keys: RwLock<KeyRings>,
    /// Status lists by number and by the kid of their key.
    lists: RwLock<Lists>,
    /// The number the next issuer key's status list gets.
    pub next_list: AtomicU32,
    /// The capacity of every status list.
    pub list_capacity: u32,
    /// Whether status indexes come in leases from the store (several instances share it)
    /// rather than from a counter of this process.
    pub leased_indexes: bool,
    /// The trust list in force, if one was published to this service.
    pub trust: RwLock<Option<Arc<InForce>>>,
    /// Counters.
    pub metrics: Metrics,
}

impl Shared {
    /// Empty state whose status lists take `capacity` entries each (at most
    /// [`STATUS_LIST_CAPACITY`]).
    pub fn new(capacity: u32) -> Self {
        Self {
            api_keys: RwLock::default(),
            issuer_keys: RwLock::default(),
            lists: RwLock::default(),
            next_list: AtomicU32::new(1),
            list_capacity: capacity.min(STATUS_LIST_CAPACITY),
            leased_indexes: false,
            trust: RwLock::default(),
            metrics: Metrics::default(),
        }
    }

    /// Status list `number`.
    pub fn list(&self, number: u32) -> Option<Arc<ListState>> {
        self.lists
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_number
            .get(&number)
            .cloned()
    }

    /// Every status list.
    pub fn all_lists(&self) -> Vec<Arc<ListState>> {
        self.lists
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_number
            .values()
            .cloned()
            .collect()
    }

    /// The status list of the key with `kid` (every key has one): no key record is copied, as
    /// the verification page asks on every view.
    pub fn list_of_kid(&self, kid: &[u8]) -> Option<Arc<ListState>> {
        self.lists
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_kid
            .get(kid)
            .cloned()
    }

    /// Adds (or keeps) the status list of `key`.
    pub fn add_list(&self, key: &IssuerKey) -> Arc<ListState> {
        let mut lists = self.lists.write().unwrap_or_else(|e| e.into_inner());
        self.next_list
            .fetch_max(key.status_list.saturating_add(1), Ordering::SeqCst);
        let list = lists
            .by_number
            .entry(key.status_list)
            .or_insert_with(|| {
                let list = ListState::new(key.status_list, key.kid.clone(), self.list_capacity);
                if self.leased_indexes {
                    // Nothing to hand out before the first lease.
                    list.indexes.grant(0..0);
                }
                Arc::new(list)
            })
            .clone();
        lists.by_kid.insert(list.kid.clone(), list.clone());
        list
    }

    /// Puts every stored API key in memory (added, or replacing the one of its hash).
    pub fn load_api_keys(
        &self,
        store: &dyn super::repository::Repository,
    ) -> Result<(), super::store::StoreError> {
        store.for_each_api_key(&mut |hash, record| {
            self.api_keys
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(hash, record);
            Ok(())
        })
    }

    /// Puts every stored issuer key, and its status list, in memory.
    pub fn load_issuer_keys(
        &self,
        store: &dyn super::repository::Repository,
    ) -> Result<(), super::store::StoreError> {
        for key in store.issuer_keys()? {
            self.add_list(&key);
            self.put_key(key);
        }
        Ok(())
    }

    /// The trust list in force.
    pub fn in_force(&self) -> Option<Arc<InForce>> {
        self.trust.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The keys of `certifier` (a copy: a ring is read while the writer may change them).
    pub fn keys_of(&self, certifier: &CertifierId) -> Vec<IssuerKey> {
        self.issuer_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_certifier
            .get(certifier)
            .cloned()
            .unwrap_or_default()
    }

    /// Every issuer key (a copy).
    pub fn all_keys(&self) -> Vec<IssuerKey> {
        self.issuer_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_certifier
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// Runs `read` on the keys of `certifier` (none: an empty ring) under the read lock.
    pub fn with_keys_of<T>(
        &self,
        certifier: &CertifierId,
        read: impl FnOnce(&[IssuerKey]) -> T,
    ) -> T {
        let keys = self.issuer_keys.read().unwrap_or_else(|e| e.into_inner());
        read(keys.by_certifier.get(certifier).map_or(&[], Vec::as_slice))
    }

    /// Adds or replaces an issuer key record.
    pub fn put_key(&self, key: IssuerKey) {
        let mut keys = self.issuer_keys.write().unwrap_or_else(|e| e.into_inner());
        keys.owner.insert(key.kid.clone(), key.certifier_id.clone());
        let ring = keys
            .by_certifier
            .entry(key.certifier_id.clone())
            .or_default();
        match ring.iter_mut().find(|k| k.kid == key.kid) {
            Some(old) => *old = key,
            None => ring.push(key),
        }
    }

    /// Runs `read` on the issuer key with `kid` (`None`: no such key) under the read lock.
    pub fn with_key<T>(&self, kid: &[u8], read: impl FnOnce(Option<&IssuerKey>) -> T) -> T {
        let keys = self.issuer_keys.read().unwrap_or_else(|e| e.into_inner());
        read(keys.key(kid))
    }

    /// The issuer key with `kid` (a copy).
    #[cfg(test)]
    pub fn key(&self, kid: &[u8]) -> Option<IssuerKey> {
        self.with_key(kid, |key| key.cloned())
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new(STATUS_LIST_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MarkStatus::{Revoked, Suspended, Valid};

    #[test]
    fn keys_and_lists_are_found_by_kid_across_certifiers() {
        let shared = Shared::new(16);
        let key = |certifier: u8, kid: u8, list: u32| {
            IssuerKey::pending(
                &CertifierId::from_bytes([certifier; 16]),
                trustmark_format::Algorithm::EdDsa,
                &[kid; 32],
                &[kid; 4],
                list,
                0,
            )
            .unwrap()
        };
        for (certifier, kid, list) in [(1, 10, 1), (2, 20, 2), (1, 11, 3)] {
            let key = key(certifier, kid, list);
            shared.add_list(&key);
            shared.put_key(key);
        }
        let mut retired = key(2, 20, 2);
        retired.retired_at = Some(5);
        shared.put_key(retired);
        assert_eq!(shared.key(&[11; 4]).unwrap().status_list, 3);
        assert_eq!(
            shared.with_key(&[20; 4], |k| k.map(|k| k.retired_at)),
            Some(Some(5)),
            "a replaced record is the one found"
        );
        assert!(shared.key(&[30; 4]).is_none());
        assert_eq!(shared.list_of_kid(&[20; 4]).unwrap().number, 2);
        assert!(shared.list_of_kid(&[30; 4]).is_none());
        assert_eq!(shared.keys_of(&CertifierId::from_bytes([1; 16])).len(), 2);
        assert_eq!(shared.all_lists().len(), 3);
        assert_eq!(shared.next_list.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn status_bits_pack_lsb_first() {
        let mut bits = StatusBits::default();
        bits.set(0, Revoked).unwrap();
        bits.set(1, Suspended).unwrap();
        bits.set(5, Revoked).unwrap();
        assert_eq!(bits.bytes(), &[0b1001, 0b0100]);
        assert_eq!(
            [0, 1, 2, 5, 99].map(|i| bits.get(i)),
            [Revoked, Suspended, Valid, Revoked, Valid]
        );
        bits.set(0, Valid).unwrap();
        assert_eq!(bits.get(0), Valid);
        assert_eq!(bits.len(), 6);
    }

    #[test]
    fn status_bits_refuse_an_index_past_the_capacity() {
        let mut bits = StatusBits::with_capacity(6);
        bits.set(5, Revoked).unwrap();
        assert_eq!(bits.set(6, Revoked), Err(StatusListFull { capacity: 6 }));
        assert_eq!((bits.len(), bits.get(6)), (6, Valid));
        // The format's own limit, whatever capacity is asked for.
        let mut bits = StatusBits::with_capacity(u32::MAX);
        assert_eq!(bits.capacity(), STATUS_LIST_CAPACITY);
        bits.set(STATUS_LIST_CAPACITY - 1, Suspended).unwrap();
        assert_eq!(bits.get(STATUS_LIST_CAPACITY - 1), Suspended);
        assert_eq!(
            bits.set(STATUS_LIST_CAPACITY, Revoked),
            Err(StatusListFull {
                capacity: STATUS_LIST_CAPACITY
            })
        );
        assert_eq!(bits.bytes().len(), MAX_LIST_BYTES);
    }

    #[test]
    fn indexes_stop_at_the_capacity_and_never_wrap() {
        let indexes = StatusIndexes::new(0, 2);
        assert_eq!((indexes.take(), indexes.take()), (Ok(0), Ok(1)));
        for _ in 0..3 {
            assert_eq!(
                indexes.take(),
                Err(NoIndex::Full(StatusListFull { capacity: 2 }))
            );
        }
        let indexes = StatusIndexes::new(u32::MAX - 1, u32::MAX);
        assert_eq!(indexes.take(), Ok(u32::MAX - 1));
        assert!(indexes.take().is_err());
    }

    #[test]
    fn leased_indexes_are_handed_out_until_the_lease_is_used_up() {
        let indexes = StatusIndexes::new(0, 10);
        indexes.grant(0..0);
        assert_eq!(indexes.take(), Err(NoIndex::LeaseUsed));
        indexes.grant(4..6);
        assert_eq!((indexes.take(), indexes.take()), (Ok(4), Ok(5)));
        assert_eq!(indexes.take(), Err(NoIndex::LeaseUsed));
        // A lease reaching past the capacity stops at it.
        indexes.grant(9..12);
        assert_eq!(indexes.take(), Ok(9));
        assert_eq!(
            indexes.take(),
            Err(NoIndex::Full(StatusListFull { capacity: 10 }))
        );
    }
}
