//! The registry's storage as typed repositories (`spec/storage.md` 2.1): handlers read records
//! through [`Registry`]; the start-up reads its scans and counters through [`Repository`]; the
//! writer thread changes the registry only through a [`UnitOfWork`], which takes records (never
//! table bytes) and commits them atomically and durably. Every value read is decoded here and
//! fails closed: a stored value that does not decode is an error naming where it is stored,
//! never a default.
//!
//! A byte [`super::store::Store`] (sled) gets all three from `kv.rs`; PostgreSQL, a store with
//! real tables, implements them itself (`postgres/`). Either way it must pass the store conformance suite
//! (`conformance.rs`).

mod kv;
pub mod postgres;

#[cfg(test)]
pub(super) mod conformance;

use std::collections::BTreeMap;
use std::time::Duration;

use trustmark_domain::{AssessmentId, CertifierId, IssuerKey, MarkId};

use super::audit::{AuditEntry, GENESIS};
use super::idempotency::StoredAnswer;
use super::keys::ApiKeyRecord;
use super::records::{AssessmentRecord, Certifier, MarkRecord, SignedMark};
use super::store::StoreError;
use crate::MarkStatus;

/// The registry's reads, for the handlers.
pub trait Registry: Send + Sync {
    /// Whether a read may wait on a server (then the handlers read on a blocking thread, never
    /// on an asynchronous worker).
    fn may_block(&self) -> bool;
    /// Which store this is, for `/healthz` and logs: `sled` or `postgresql`.
    fn kind(&self) -> &'static str;
    /// Whether the store answers now (a round trip to a server; always for an embedded one).
    fn ping(&self) -> Result<(), StoreError>;
    /// The certifier `id`.
    fn certifier(&self, id: &CertifierId) -> Result<Option<Certifier>, StoreError>;
    /// Every certifier, in id order.
    fn certifiers(&self) -> Result<Vec<Certifier>, StoreError>;
    /// The assessment `id`.
    fn assessment(&self, id: &AssessmentId) -> Result<Option<AssessmentRecord>, StoreError>;
    /// The mark `id`'s registry record.
    fn mark(&self, id: &MarkId) -> Result<Option<MarkRecord>, StoreError>;
    /// The issuer name (the certifier's) of mark `id`, without decoding its token.
    fn mark_issuer(&self, id: &MarkId) -> Result<Option<String>, StoreError>;
    /// The answer stored under an idempotency key (expired or not).
    fn idempotent_answer(&self, key: &[u8]) -> Result<Option<StoredAnswer>, StoreError>;
    /// The signed trust list in force, as stored.
    fn trust_list(&self) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The head of the audit chain: how many entries it has and the hash of the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Entries so far (the next entry's `seq`).
    pub entries: u64,
    /// The last entry's hash ([`GENESIS`] before the first).
    pub hash: String,
}

impl Default for AuditHead {
    fn default() -> Self {
        Self {
            entries: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// The counters the writer hands out from, stored in the commit of every change so that they
/// never fall behind what they count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Per status list: one past the highest status index stored.
    pub next_index: BTreeMap<u32, u32>,
    /// The number the next issuer key's status list gets (0: none stored yet).
    pub next_status_list: u32,
    /// The audit chain's head.
    pub audit: AuditHead,
}

/// Where a stored mark's status is kept, and which it is (the start-up rebuilds the status
/// lists from these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSlot {
    /// The status list (the signing key's).
    pub list: u32,
    /// The index in it.
    pub index: u32,
    /// The status.
    pub status: MarkStatus,
}

/// A status list's bits as saved, so a start need not read every mark (`spec/storage.md` 9):
/// they hold every status change made before the audit chain had `audit_entries` entries (a
/// start replays the entries after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// The status list.
    pub list: u32,
    /// The audit position the bits are complete up to.
    pub audit_entries: u64,
    /// Entries in the list (one past the highest index counted).
    pub len: u32,
    /// The entries, 2 bits each, least significant first (`len.div_ceil(4)` bytes).
    pub bits: Vec<u8>,
}

/// What [`Repository::for_each_api_key`] calls with each key's hash and record.
pub type ApiKeyVisit<'a> = dyn FnMut(String, ApiKeyRecord) -> Result<(), StoreError> + 'a;
/// What [`Repository::for_each_mark_status`] calls with each mark's id and status.
pub type StatusVisit<'a> = dyn FnMut(&str, StatusSlot) -> Result<(), StoreError> + 'a;
/// What [`Repository::for_each_mark`] calls with each mark.
pub type MarkVisit<'a> = dyn FnMut(MarkRecord) -> Result<(), StoreError> + 'a;
/// What [`Repository::for_each_assessment`] calls with each assessment.
pub type AssessmentVisit<'a> = dyn FnMut(AssessmentRecord) -> Result<(), StoreError> + 'a;
/// What [`Repository::for_each_idempotent_answer`] calls with each key and answer.
pub type AnswerVisit<'a> = dyn FnMut(Vec<u8>, StoredAnswer) -> Result<(), StoreError> + 'a;
/// What [`Repository::for_each_audit_entry`] calls with each entry's stored position and the
/// entry (`None`: it does not decode; the chain check reports it as unreadable).
pub type AuditVisit<'a> = dyn FnMut(u64, Option<AuditEntry>) -> Result<(), StoreError> + 'a;

/// A whole registry: its reads, the start-up's scans and units of work.
pub trait Repository: Registry {
    /// Starts a unit of work. Nothing it writes is seen by others before
    /// [`UnitOfWork::commit`]; dropped without a commit, it writes nothing.
    fn begin(&self) -> Box<dyn UnitOfWork + '_>;
    /// The stored counters (the defaults on an empty registry).
    fn counters(&self) -> Result<Counters, StoreError>;
    /// Whether other processes may write this store at the same time (service instances on one
    /// database): then status indexes come in leases ([`Self::lease_indexes`]) and each
    /// instance follows the others' changes ([`Self::audit_entries_from`]).
    fn is_shared(&self) -> bool;
    /// Leases up to `count` status indexes of list `list` that no other lease holds, below
    /// `capacity` (an empty range when the list is full). Only a shared store leases.
    fn lease_indexes(
        &self,
        list: u32,
        count: u32,
        capacity: u32,
    ) -> Result<std::ops::Range<u32>, StoreError>;
    /// Up to `limit` audit entries from position `from`, in order.
    fn audit_entries_from(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Calls `visit` with every API key, in hash order; stops at the first error.
    fn for_each_api_key(&self, visit: &mut ApiKeyVisit<'_>) -> Result<(), StoreError>;
    /// Every issuer key, in kid order.
    fn issuer_keys(&self) -> Result<Vec<IssuerKey>, StoreError>;
    /// Calls `visit` with every mark's status, without decoding tokens or holding the marks in
    /// memory; stops at the first error.
    fn for_each_mark_status(&self, visit: &mut StatusVisit<'_>) -> Result<(), StoreError>;
    /// Calls `visit` with every mark record (a copy of the registry); stops at the first error.
    fn for_each_mark(&self, visit: &mut MarkVisit<'_>) -> Result<(), StoreError>;
    /// Calls `visit` with every assessment; stops at the first error.
    fn for_each_assessment(&self, visit: &mut AssessmentVisit<'_>) -> Result<(), StoreError>;
    /// Calls `visit` with every stored idempotent answer; stops at the first error.
    fn for_each_idempotent_answer(&self, visit: &mut AnswerVisit<'_>) -> Result<(), StoreError>;
    /// Calls `visit` with every audit entry in position order; stops at the first error.
    fn for_each_audit_entry(&self, visit: &mut AuditVisit<'_>) -> Result<(), StoreError>;
    /// The saved status list snapshots, in list order.
    fn status_snapshots(&self) -> Result<Vec<StatusSnapshot>, StoreError>;
    /// The keys of up to `limit` idempotent answers that expired by `now`. An answer that does
    /// not decode is not listed (it is logged, and refused where it is read).
    fn expired_answers(&self, now: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError>;
}

/// A point of a unit of work to roll back to (see [`UnitOfWork::savepoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Savepoint(usize);

/// How long a commit took: making the writes visible, then durable.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitTimes {
    /// Applying the writes atomically.
    pub apply: Duration,
    /// Waiting until they are durable.
    pub flush: Duration,
}

/// The writes of one commit group, applied together or not at all. Reads through a unit see
/// its own writes (a later command of a group reads what an earlier one wrote).
pub trait UnitOfWork {
    /// Locks the registry's head for the rest of this unit and returns the counters stored
    /// now. Where several processes write one store (service instances on one database), they
    /// may be ahead of what this writer counted; `None` where this process is the store's only
    /// writer and its own counters are current.
    fn lock_head(&mut self) -> Result<Option<Counters>, StoreError>;
    /// Stores a certifier (new, or changed).
    fn put_certifier(&mut self, certifier: &Certifier) -> Result<(), StoreError>;
    /// Stores an API key's record under the key's hash.
    fn put_api_key(&mut self, hash: &str, record: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Stores an assessment.
    fn put_assessment(&mut self, record: &AssessmentRecord) -> Result<(), StoreError>;
    /// Stores a newly signed mark.
    fn put_mark(&mut self, mark: SignedMark) -> Result<(), StoreError>;
    /// Stores a changed mark record (its status).
    fn put_mark_record(&mut self, record: &MarkRecord) -> Result<(), StoreError>;
    /// The mark `id` as this unit leaves it.
    fn mark(&mut self, id: &MarkId) -> Result<Option<MarkRecord>, StoreError>;
    /// Stores an issuer key (new, or changed).
    fn put_issuer_key(&mut self, key: &IssuerKey) -> Result<(), StoreError>;
    /// Appends an audit entry at position `entry.seq`.
    fn append_audit_entry(&mut self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The answer under idempotency key `key` as this unit leaves it.
    fn idempotent_answer(&mut self, key: &[u8]) -> Result<Option<StoredAnswer>, StoreError>;
    /// Stores an answer under idempotency key `key`.
    fn put_idempotent_answer(
        &mut self,
        key: &[u8],
        answer: &StoredAnswer,
    ) -> Result<(), StoreError>;
    /// Deletes the answer under idempotency key `key`.
    fn delete_idempotent_answer(&mut self, key: &[u8]);
    /// Stores the signed trust list put in force.
    fn put_trust_list(&mut self, signed: &[u8]);
    /// Saves a status list's snapshot (replacing the list's earlier one).
    fn put_status_snapshot(&mut self, snapshot: &StatusSnapshot) -> Result<(), StoreError>;
    /// Stores the counters.
    fn put_counters(&mut self, counters: &Counters) -> Result<(), StoreError>;
    /// Whether nothing was written.
    fn is_empty(&self) -> bool;
    /// A point to [`Self::rollback`] to.
    fn savepoint(&self) -> Savepoint;
    /// Undoes every write made after `savepoint`, so a command refused half-way leaves nothing
    /// in its group's unit.
    fn rollback(&mut self, savepoint: Savepoint);
    /// Applies every write atomically and returns once they are durable.
    fn commit(self: Box<Self>) -> Result<CommitTimes, StoreError>;
}
