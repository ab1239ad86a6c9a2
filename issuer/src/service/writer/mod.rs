//! The single writer: every change goes through one thread that groups the requests waiting
//! at a time into one atomic batch and one flush (group commit), then answers them all. A mark
//! is acknowledged only after the flush that made it durable; status indexes and the audit chain
//! are assigned in one place, so they never collide or fork.

mod changes;
mod command;
mod error;
mod pki;

use std::sync::Arc;

use tokio::sync::mpsc;

pub(super) use command::{Command, KeyAction, NewKey, Remember, Reply, Write};
pub(super) use error::WriteError;

use super::audit::AuditEntry;
use super::keys::ApiKeyRecord;
use super::now;
use super::records::MarkRecord;
use super::repository::{self, Repository, UnitOfWork};
use super::state::{InForce, Metrics, Shared, StatusBits};
use super::store::StoreError;
use crate::MarkStatus;

/// Most commands in one commit group: bounds the latency a group adds.
const MAX_GROUP: usize = 4096;

/// The writer's own state.
pub(super) struct Writer {
    store: Arc<dyn Repository>,
    shared: Arc<Shared>,
    counters: Counters,
    /// The audit position the status bits in memory are complete up to when the current
    /// group started (its snapshots are saved at it).
    group_start: u64,
    /// The position of the last snapshot saved or loaded.
    snapshot_at: Option<u64>,
    /// On a shared store, the audit position up to which the other instances' changes are
    /// applied ([`Command::Follow`]); snapshots are saved no later. `None`: nobody else writes.
    followed: Option<u64>,
}

/// How the start-up got the status bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loaded {
    /// From the snapshots saved at this audit position, then the entries after it.
    Snapshot {
        /// The snapshots' position.
        at: u64,
        /// Entries replayed after it.
        replayed: u64,
    },
    /// By reading every mark (no usable snapshot).
    Scan,
}

/// What the writer counts, saved before a command and restored if it is refused.
#[derive(Debug, Clone)]
struct Counters {
    /// The status indexes, status lists and audit head, stored with every change.
    stored: repository::Counters,
    /// The sequence of the trust list in force.
    trust_sequence: Option<u64>,
}

/// A change computed for one command, applied to the shared state only after the flush.
enum Effect {
    Status(u32, u32, MarkStatus),
    ApiKey(String, ApiKeyRecord),
    IssuerKey(trustmark_domain::IssuerKey),
    TrustList(Arc<InForce>),
    Issued(usize),
    StatusChanged(u32),
    Assessment,
    Snapshot(u64),
}

/// Why a group's commit failed, for every command of it.
struct Failure {
    detail: String,
    /// The store could not be reached (503, retry later) rather than failed (500).
    unavailable: bool,
}

/// A computed answer waiting for the flush.
enum Pending {
    Unit(Reply<()>, Result<(), WriteError>),
    Mark(Reply<MarkRecord>, Box<Result<MarkRecord, WriteError>>),
    Count(Reply<usize>, Result<usize, WriteError>),
    Flag(Reply<bool>, Result<bool, WriteError>),
    Changes(
        Reply<Vec<trustmark_domain::KeyChange>>,
        Result<Vec<trustmark_domain::KeyChange>, WriteError>,
    ),
}

impl Pending {
    /// Whether the command was refused (and must leave nothing in the batch).
    fn is_refusal(&self) -> bool {
        match self {
            Self::Unit(_, r) => r.is_err(),
            Self::Mark(_, r) => r.is_err(),
            Self::Count(_, r) => r.is_err(),
            Self::Flag(_, r) => r.is_err(),
            Self::Changes(_, r) => r.is_err(),
        }
    }

    /// The same reply, refused with `error`.
    fn refused(self, error: WriteError) -> Self {
        match self {
            Self::Unit(tx, _) => Self::Unit(tx, Err(error)),
            Self::Mark(tx, _) => Self::Mark(tx, Box::new(Err(error))),
            Self::Count(tx, _) => Self::Count(tx, Err(error)),
            Self::Flag(tx, _) => Self::Flag(tx, Err(error)),
            Self::Changes(tx, _) => Self::Changes(tx, Err(error)),
        }
    }

    /// The changed mark, for an answer rendered from it.
    fn mark(&self) -> Option<&MarkRecord> {
        match self {
            Self::Mark(_, result) => result.as_ref().as_ref().ok(),
            _ => None,
        }
    }

    /// Sends the answer, or `failure` (the group's commit failed) in its place.
    fn send(self, failure: Option<&Failure>) {
        fn failed<T>(failure: &Failure) -> Result<T, WriteError> {
            let detail = failure.detail.clone();
            Err(if failure.unavailable {
                WriteError::Unavailable(detail)
            } else {
                WriteError::Internal(detail)
            })
        }
        // A client that went away does not need its answer.
        match self {
            Self::Unit(tx, r) => drop(tx.send(failure.map_or(r, failed))),
            Self::Mark(tx, r) => drop(tx.send(failure.map_or(*r, failed))),
            Self::Count(tx, r) => drop(tx.send(failure.map_or(r, failed))),
            Self::Flag(tx, r) => drop(tx.send(failure.map_or(r, failed))),
            Self::Changes(tx, r) => drop(tx.send(failure.map_or(r, failed))),
        }
    }
}

impl Writer {
    /// Loads the counters and heads from the store and rebuilds the shared state. Fails closed:
    /// a stored value that does not decode stops the start with an error naming its table and
    /// key; nothing is skipped or read as a default.
    pub(super) fn open(
        store: Arc<dyn Repository>,
        shared: Arc<Shared>,
    ) -> Result<(Self, Loaded), StoreError> {
        let mut stored = store.counters()?;
        let trust_sequence = match store.trust_list()? {
            Some(bytes) => Some(pki::stored_sequence(&bytes).map_err(|e| {
                StoreError::new(format!("the stored trust list does not decode: {e}"))
            })?),
            None => None,
        };
        shared.load_api_keys(store.as_ref())?;
        shared.load_issuer_keys(store.as_ref())?;
        let capacity = shared.list_capacity;
        let lists = shared.all_lists();
        for list in &lists {
            let next = *stored.next_index.entry(list.number).or_insert(0);
            if next > capacity {
                return Err(StoreError::new(format!(
                    "the store holds status indexes up to {next} in list {}, past the configured status list capacity {capacity}",
                    list.number
                )));
            }
        }
        let loaded = match load_snapshots(store.as_ref(), &shared, &stored)? {
            Some(loaded) => loaded,
            None => {
                scan_statuses(store.as_ref(), &shared, &stored)?;
                Loaded::Scan
            }
        };
        // Handlers take indexes from here; an index taken by a request that never committed is
        // never acknowledged to anyone, so handing it out again after a restart is safe.
        for list in &lists {
            if shared.leased_indexes {
                // Every index below the stored high-water mark may be another instance's.
                list.indexes.grant(0..0);
            } else {
                list.indexes
                    .restart_at(stored.next_index.get(&list.number).copied().unwrap_or(0));
            }
        }
        shared
            .next_list
            .fetch_max(stored.next_status_list, std::sync::atomic::Ordering::SeqCst);
        shared
            .metrics
            .audit_entries
            .store(stored.audit.entries, std::sync::atomic::Ordering::Relaxed);
        stored.next_status_list = shared.next_list.load(std::sync::atomic::Ordering::SeqCst);
        let snapshot_at = match loaded {
            Loaded::Snapshot { at, .. } => Some(at),
            Loaded::Scan => None,
        };
        let group_start = stored.audit.entries;
        let shared_store = store.is_shared();
        Ok((
            Self {
                store,
                shared,
                counters: Counters {
                    stored,
                    trust_sequence,
                },
                group_start,
                snapshot_at,
                followed: shared_store.then_some(group_start),
            },
            loaded,
        ))
    }

    /// Applies the changes other instances made since the last follow; answers whether a
    /// trust list was put in force meanwhile. The changes are committed already, and applied
    /// after every earlier group of this writer: nothing read can be older than what memory
    /// holds.
    fn follow(&mut self) -> Result<bool, WriteError> {
        let Some(from) = self.followed else {
            return Ok(false);
        };
        let (next, trust_list) =
            super::follow::apply_changes(self.store.as_ref(), &self.shared, from)?;
        self.followed = Some(next);
        Ok(trust_list)
    }

    /// Saves a snapshot of every status list at the start of the current group, unless one is
    /// saved there already. The bits in memory hold every change committed before the group
    /// (and, on a shared store, every other instance's change the follower has read).
    fn save_snapshot(
        &mut self,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<usize, WriteError> {
        let at = self.group_start;
        if self.snapshot_at == Some(at) {
            return Ok(0);
        }
        let lists = self.shared.all_lists();
        for list in &lists {
            let bits = list.bits.read().unwrap_or_else(|e| e.into_inner());
            unit.put_status_snapshot(&repository::StatusSnapshot {
                list: list.number,
                audit_entries: at,
                len: bits.len(),
                bits: bits.bytes().to_vec(),
            })?;
        }
        effects.push(Effect::Snapshot(at));
        Ok(lists.len())
    }
}

/// Loads the saved status list snapshots into `shared` and replays the audit entries after
/// them; `None` when there are none to use (none saved, or saved past the stored head, or of
/// a list no key has: then the marks are read).
fn load_snapshots(
    store: &dyn Repository,
    shared: &Shared,
    stored: &repository::Counters,
) -> Result<Option<Loaded>, StoreError> {
    let snapshots = store.status_snapshots()?;
    let Some(at) = snapshots.iter().map(|s| s.audit_entries).min() else {
        return Ok(None);
    };
    let past_head = snapshots
        .iter()
        .any(|s| s.audit_entries > stored.audit.entries);
    let keyless = snapshots.iter().find(|s| shared.list(s.list).is_none());
    if past_head || keyless.is_some() {
        tracing::warn!(
            "the status list snapshots do not match the registry (saved past its audit head, or of a list no key has): reading every mark instead"
        );
        return Ok(None);
    }
    for snapshot in snapshots {
        let bits = StatusBits::from_saved(shared.list_capacity, snapshot.len, snapshot.bits)
            .map_err(|e| {
                StoreError::new(format!(
                    "the snapshot of status list {}: {e}",
                    snapshot.list
                ))
            })?;
        if let Some(list) = shared.list(snapshot.list) {
            *list.bits.write().unwrap_or_else(|e| e.into_inner()) = bits;
        }
    }
    let after = super::follow::replay_statuses(store, shared, at)?;
    Ok(Some(Loaded::Snapshot {
        at,
        replayed: after - at,
    }))
}

/// Sets the status bits from every stored mark, checking each is in a list a key has and below
/// its list's stored high-water mark.
fn scan_statuses(
    store: &dyn Repository,
    shared: &Shared,
    stored: &repository::Counters,
) -> Result<(), StoreError> {
    store.for_each_mark_status(&mut |id, slot| {
        let bad = |reason: String| StoreError::new(format!("mark {id}: {reason}"));
        let list = shared
            .list(slot.list)
            .ok_or_else(|| bad(format!("status list {} has no key", slot.list)))?;
        let next = stored.next_index.get(&slot.list).copied().unwrap_or(0);
        if slot.index >= next {
            return Err(bad(format!(
                "status index {} at or past the stored next index {next} of list {}",
                slot.index, slot.list
            )));
        }
        let set = list
            .bits
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .set(slot.index, slot.status);
        set.map_err(|e| bad(e.to_string()))
    })
}

impl Writer {
    /// Runs until every sender is gone, then saves a last snapshot of the status lists and
    /// returns (graceful shutdown drains the queue).
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Write>) {
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(write) => group.push(write),
                    Err(_) => break,
                }
            }
            self.commit(group);
        }
        let (reply, _) = tokio::sync::oneshot::channel();
        self.commit(vec![Write {
            command: Command::SaveSnapshot { reply },
            remember: None,
        }]);
    }

    /// Takes the counters another writer of the same store left: its audit head, and any
    /// status list or index it counted past this writer.
    fn adopt(&mut self, stored: repository::Counters) {
        let mine = &mut self.counters.stored;
        mine.audit = stored.audit;
        mine.next_status_list = mine.next_status_list.max(stored.next_status_list);
        for (list, next) in stored.next_index {
            let counted = mine.next_index.entry(list).or_default();
            *counted = (*counted).max(next);
        }
        self.shared
            .next_list
            .fetch_max(mine.next_status_list, std::sync::atomic::Ordering::SeqCst);
    }

    fn audit(
        &mut self,
        unit: &mut dyn UnitOfWork,
        actor: &str,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<(), WriteError> {
        let head = &mut self.counters.stored.audit;
        let entry = AuditEntry::new(
            head.entries,
            now(),
            actor,
            action,
            subject,
            details,
            &head.hash,
        )
        .map_err(WriteError::internal)?;
        unit.append_audit_entry(&entry)?;
        head.entries += 1;
        head.hash = entry.hash;
        Ok(())
    }

    /// Processes one group in one unit of work: computes every write, commits them atomically
    /// and durably, then updates the shared state and answers. On a storage failure nothing is
    /// acknowledged and the counters are restored.
    fn commit(&mut self, group: Vec<Write>) {
        let saved = self.counters.clone();
        let store = self.store.clone();
        let mut unit = store.begin();
        // Where other instances write the same database, this group starts from what they
        // stored; a head that cannot be locked fails the group (nothing is stored).
        let unlocked = match unit.lock_head() {
            Ok(Some(stored)) => {
                self.adopt(stored);
                None
            }
            Ok(None) => None,
            Err(e) => Some(e),
        };
        self.group_start = self
            .counters
            .stored
            .audit
            .entries
            .min(self.followed.unwrap_or(u64::MAX));
        let mut effects = Vec::new();
        let mut answers = Vec::with_capacity(group.len());
        let count = group.len();
        for write in group {
            answers.push(self.apply(write, unit.as_mut(), &mut effects));
        }
        let committed = if let Some(e) = unlocked {
            Err(e)
        } else if unit.is_empty() {
            Ok(repository::CommitTimes::default())
        } else {
            unit.put_counters(&self.counters.stored)
                .and_then(|()| unit.commit())
        };
        let times = match committed {
            Ok(times) => times,
            Err(e) => {
                let failure = Failure {
                    detail: format!("committing a group of {count} commands: {e}"),
                    unavailable: e.is_unavailable(),
                };
                tracing::error!("{}", failure.detail);
                self.counters = saved;
                for answer in answers {
                    answer.send(Some(&failure));
                }
                return;
            }
        };
        let metrics: &Metrics = &self.shared.metrics;
        Metrics::inc(&metrics.commit_groups);
        let add = |counter: &std::sync::atomic::AtomicU64, n: u64| {
            counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed)
        };
        add(&metrics.commit_commands, count as u64);
        let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        add(&metrics.commit_apply_micros, micros(times.apply));
        add(&metrics.commit_flush_micros, micros(times.flush));
        metrics.audit_entries.store(
            self.counters.stored.audit.entries,
            std::sync::atomic::Ordering::Relaxed,
        );
        for effect in effects {
            self.take_effect(effect);
        }
        for answer in answers {
            answer.send(None);
        }
    }

    /// Makes a durable change visible in shared memory.
    fn take_effect(&mut self, effect: Effect) {
        let metrics = &self.shared.metrics;
        match effect {
            Effect::Status(list, index, status) => {
                let Some(state) = self.shared.list(list) else {
                    tracing::error!("status list {list} has no key");
                    return;
                };
                let set = state
                    .bits
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(index, status);
                // The writer refused any index past the capacity before it was stored.
                if let Err(e) = set {
                    tracing::error!("status list {list} index {index}: {e}");
                }
            }
            Effect::IssuerKey(key) => {
                self.shared.add_list(&key);
                self.shared.put_key(key);
            }
            Effect::TrustList(in_force) => {
                *self.shared.trust.write().unwrap_or_else(|e| e.into_inner()) = Some(in_force);
            }
            Effect::ApiKey(hash, record) => {
                self.shared
                    .api_keys
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(hash, record);
            }
            Effect::Issued(n) => {
                metrics
                    .marks_issued
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Effect::StatusChanged(list) => {
                Metrics::inc(&metrics.status_changes);
                if let Some(state) = self.shared.list(list) {
                    state
                        .version
                        .fetch_add(1, std::sync::atomic::Ordering::Release);
                }
            }
            Effect::Assessment => Metrics::inc(&metrics.assessments),
            Effect::Snapshot(at) => self.snapshot_at = Some(at),
        }
    }

    /// Computes one write into the group's unit of work: its change, then its answer under its
    /// idempotency key. A write refused half-way leaves nothing behind: its writes, effects and
    /// counters are rolled back.
    fn apply(
        &mut self,
        write: Write,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Pending {
        let savepoint = unit.savepoint();
        let effects_before = effects.len();
        let counters = self.counters.clone();
        let mut pending = self.change(write.command, unit, effects);
        if let (false, Some(remember)) = (pending.is_refusal(), write.remember) {
            if let Err(e) = self.remember(remember, &pending, unit) {
                pending = pending.refused(e);
            }
        }
        if pending.is_refusal() {
            unit.rollback(savepoint);
            effects.truncate(effects_before);
            self.counters = counters;
        }
        pending
    }

    /// Stores a command's answer under its idempotency key. The handlers let one request run
    /// per key at a time, so an unexpired answer already stored under the key means another
    /// process wrote it: refused as a request in flight, and the change is rolled back.
    fn remember(
        &self,
        remember: Remember,
        pending: &Pending,
        unit: &mut dyn UnitOfWork,
    ) -> Result<(), WriteError> {
        let (storage_key, answer) = match remember {
            Remember::Answer {
                storage_key,
                answer,
            } => (storage_key, answer),
            Remember::OfMark { claim, render } => {
                let mark = pending
                    .mark()
                    .ok_or_else(|| WriteError::internal("an answer of a mark without a mark"))?;
                let body = render(mark).map_err(WriteError::Internal)?;
                let answer = claim
                    .answer(axum::http::StatusCode::OK, &body)
                    .map_err(|e| WriteError::Internal(e.message))?;
                (claim.storage_key, answer)
            }
        };
        // A stored answer that does not decode refuses the request (the handler's lookup
        // refuses it first).
        let live = unit
            .idempotent_answer(&storage_key)?
            .is_some_and(|a| a.expires_at > answer.created_at);
        if live {
            return Err(WriteError::IdempotencyKeyInFlight);
        }
        unit.put_idempotent_answer(&storage_key, &answer)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
