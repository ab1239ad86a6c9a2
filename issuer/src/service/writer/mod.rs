//! The single writer: every change goes through one thread that groups the requests waiting
//! at a time into one atomic batch and one flush (group commit), then answers them all. A mark
//! is acknowledged only after the flush that made it durable; status indexes and the audit chain
//! are assigned in one place, so they never collide or fork.

mod changes;
mod command;
mod pki;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

pub(super) use command::{Command, KeyAction, NewKey, Remember, Reply, SignedMark, Write};

use super::audit::{AuditEntry, AUDIT_HEAD, GENESIS};
use super::error::ApiError;
use super::keys::ApiKeyRecord;
use super::now;
use super::records::MarkRecord;
use super::state::{InForce, Metrics, Shared};
use super::store::{printable_key, Store, StoreError, Table, WriteBatch};
use crate::MarkStatus;

/// Most commands in one commit group: bounds the latency a group adds.
const MAX_GROUP: usize = 4096;

/// The writer's own state.
pub(super) struct Writer {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    counters: Counters,
}

/// What the writer counts, saved before a command and restored if it is refused.
#[derive(Debug, Clone)]
struct Counters {
    /// Per status list: one past the highest status index stored.
    next_index: HashMap<u32, u32>,
    /// The number the next issuer key's status list gets.
    next_list: u32,
    /// The sequence of the trust list in force.
    trust_sequence: Option<u64>,
    audit_seq: u64,
    audit_head: String,
}

/// Meta key of the next status index of list `n`.
fn next_index_key(list: u32) -> Vec<u8> {
    format!("next-index/{list}").into_bytes()
}

/// Meta key of the next status list number.
const NEXT_LIST: &[u8] = b"next-status-list";

/// Meta key of the trust list in force (its signed bytes).
pub(super) const TRUST_LIST: &[u8] = b"trust-list";

/// A change computed for one command, applied to the shared state only after the flush.
enum Effect {
    Status(u32, u32, MarkStatus),
    ApiKey(String, ApiKeyRecord),
    IssuerKey(trustmark_domain::IssuerKey),
    TrustList(Arc<InForce>),
    Issued(usize),
    StatusChanged(u32),
    Assessment,
}

/// A big-endian u32 counter of the Meta table.
fn read_u32(store: &dyn Store, key: &[u8]) -> Result<Option<u32>, StoreError> {
    store
        .get(Table::Meta, key)?
        .map(|v| {
            v.try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::corrupt(Table::Meta, key, "not 4 bytes"))
        })
        .transpose()
}

/// A computed answer waiting for the flush.
enum Pending {
    Unit(Reply<()>, Result<(), ApiError>),
    Mark(Reply<MarkRecord>, Box<Result<MarkRecord, ApiError>>),
    Count(Reply<usize>, Result<usize, ApiError>),
    Changes(
        Reply<Vec<trustmark_domain::KeyChange>>,
        Result<Vec<trustmark_domain::KeyChange>, ApiError>,
    ),
}

impl Pending {
    /// Whether the command was refused (and must leave nothing in the batch).
    fn is_refusal(&self) -> bool {
        match self {
            Self::Unit(_, r) => r.is_err(),
            Self::Mark(_, r) => r.is_err(),
            Self::Count(_, r) => r.is_err(),
            Self::Changes(_, r) => r.is_err(),
        }
    }

    /// The same reply, refused with `error`.
    fn refused(self, error: ApiError) -> Self {
        match self {
            Self::Unit(tx, _) => Self::Unit(tx, Err(error)),
            Self::Mark(tx, _) => Self::Mark(tx, Box::new(Err(error))),
            Self::Count(tx, _) => Self::Count(tx, Err(error)),
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

    fn send(self, failure: Option<&ApiError>) {
        // A client that went away does not need its answer.
        match self {
            Self::Unit(tx, r) => drop(tx.send(failure.map_or(r, |e| Err(e.clone())))),
            Self::Mark(tx, r) => drop(tx.send(failure.map_or(*r, |e| Err(e.clone())))),
            Self::Count(tx, r) => drop(tx.send(failure.map_or(r, |e| Err(e.clone())))),
            Self::Changes(tx, r) => drop(tx.send(failure.map_or(r, |e| Err(e.clone())))),
        }
    }
}

impl Writer {
    /// Loads the counters and heads from the store and rebuilds the shared state. Fails closed:
    /// a stored value that does not decode stops the start with an error naming its table and
    /// key; nothing is skipped or read as a default.
    pub(super) fn open(store: Arc<dyn Store>, shared: Arc<Shared>) -> Result<Self, StoreError> {
        let (audit_seq, audit_head) = match store.get(Table::Meta, AUDIT_HEAD)? {
            Some(v) => serde_json::from_slice::<(u64, String)>(&v)
                .map_err(|e| StoreError::corrupt(Table::Meta, AUDIT_HEAD, e))?,
            None => (0, GENESIS.to_owned()),
        };
        let trust_sequence = match store.get(Table::Meta, TRUST_LIST)? {
            Some(bytes) => Some(
                pki::stored_sequence(&bytes)
                    .map_err(|e| StoreError::corrupt(Table::Meta, TRUST_LIST, e))?,
            ),
            None => None,
        };
        store.for_each(Table::ApiKey, &mut |hash, value| {
            let record: ApiKeyRecord = serde_json::from_slice(value)
                .map_err(|e| StoreError::corrupt(Table::ApiKey, hash, e))?;
            shared
                .api_keys
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(printable_key(hash), record);
            Ok(())
        })?;
        store.for_each(Table::IssuerKey, &mut |kid, value| {
            let key: trustmark_domain::IssuerKey = serde_json::from_slice(value)
                .map_err(|e| StoreError::corrupt(Table::IssuerKey, kid, e))?;
            if key.kid.to_string().as_bytes() != kid {
                return Err(StoreError::corrupt(
                    Table::IssuerKey,
                    kid,
                    format!("the record is of key {}", key.kid),
                ));
            }
            shared.add_list(&key);
            shared.put_key(key);
            Ok(())
        })?;
        let capacity = shared.list_capacity;
        let mut next_index = HashMap::new();
        let lists: Vec<_> = shared
            .lists
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for list in &lists {
            let key = next_index_key(list.number);
            let next = read_u32(store.as_ref(), &key)?.unwrap_or(0);
            if next > capacity {
                return Err(StoreError(format!(
                    "the store holds status indexes up to {next} in list {}, past the configured status list capacity {capacity}",
                    list.number
                )));
            }
            next_index.insert(list.number, next);
        }
        store.for_each(Table::Mark, &mut |id, value| {
            let (number, index, mark_status) = MarkRecord::stored_status(value)
                .map_err(|e| StoreError::corrupt(Table::Mark, id, e))?;
            let list = shared.list(number).ok_or_else(|| {
                StoreError::corrupt(Table::Mark, id, format!("status list {number} has no key"))
            })?;
            let next = next_index.get(&number).copied().unwrap_or(0);
            if index >= next {
                return Err(StoreError::corrupt(
                    Table::Mark,
                    id,
                    format!("status index {index} at or past next-index/{number} = {next}"),
                ));
            }
            let set = list
                .bits
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .set(index, mark_status);
            set.map_err(|e| StoreError::corrupt(Table::Mark, id, e))
        })?;
        // Handlers take indexes from here; an index taken by a request that never committed is
        // never acknowledged to anyone, so handing it out again after a restart is safe.
        for list in &lists {
            list.indexes
                .restart_at(next_index.get(&list.number).copied().unwrap_or(0));
        }
        let stored_next_list = read_u32(store.as_ref(), NEXT_LIST)?.unwrap_or(1);
        shared
            .next_list
            .fetch_max(stored_next_list, std::sync::atomic::Ordering::SeqCst);
        shared
            .metrics
            .audit_entries
            .store(audit_seq, std::sync::atomic::Ordering::Relaxed);
        let next_list = shared.next_list.load(std::sync::atomic::Ordering::SeqCst);
        Ok(Self {
            store,
            shared,
            counters: Counters {
                next_index,
                next_list,
                trust_sequence,
                audit_seq,
                audit_head,
            },
        })
    }

    /// Runs until every sender is gone, then returns (graceful shutdown drains the queue).
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
    }

    fn audit(
        &mut self,
        batch: &mut WriteBatch,
        actor: &str,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<(), ApiError> {
        let entry = AuditEntry::new(
            self.counters.audit_seq,
            now(),
            actor,
            action,
            subject,
            details,
            &self.counters.audit_head,
        )
        .map_err(ApiError::internal)?;
        batch.put(
            Table::Audit,
            &self.counters.audit_seq.to_be_bytes(),
            json(&entry)?,
        );
        self.counters.audit_seq += 1;
        self.counters.audit_head = entry.hash;
        Ok(())
    }

    /// Processes one group: computes every write, applies them atomically, flushes, then
    /// updates the shared state and answers. On a storage failure nothing is acknowledged and
    /// the counters are restored.
    fn commit(&mut self, group: Vec<Write>) {
        let saved = self.counters.clone();
        let mut batch = WriteBatch::default();
        let mut effects = Vec::new();
        let mut answers = Vec::with_capacity(group.len());
        let count = group.len();
        for write in group {
            answers.push(self.apply(write, &mut batch, &mut effects));
        }
        let started = std::time::Instant::now();
        let durable = self
            .close_batch(&mut batch)
            .map_err(ApiError::internal)
            .and_then(|()| self.store.apply(batch).map_err(ApiError::internal));
        let apply_time = started.elapsed();
        let durable = durable.and_then(|()| self.store.flush().map_err(ApiError::internal));
        let flush_time = started.elapsed().saturating_sub(apply_time);
        if let Err(failure) = durable {
            self.counters = saved;
            for answer in answers {
                answer.send(Some(&failure));
            }
            return;
        }
        let metrics: &Metrics = &self.shared.metrics;
        Metrics::inc(&metrics.commit_groups);
        let add = |counter: &std::sync::atomic::AtomicU64, n: u64| {
            counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed)
        };
        add(&metrics.commit_commands, count as u64);
        let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        add(&metrics.commit_apply_micros, micros(apply_time));
        add(&metrics.commit_flush_micros, micros(flush_time));
        metrics.audit_entries.store(
            self.counters.audit_seq,
            std::sync::atomic::Ordering::Relaxed,
        );
        for effect in effects {
            self.take_effect(effect);
        }
        for answer in answers {
            answer.send(None);
        }
    }

    /// Adds the counters to a batch that changes anything.
    fn close_batch(&self, batch: &mut WriteBatch) -> Result<(), serde_json::Error> {
        if !batch.is_empty() {
            for (list, next) in &self.counters.next_index {
                batch.put(
                    Table::Meta,
                    &next_index_key(*list),
                    next.to_be_bytes().to_vec(),
                );
            }
            batch.put(
                Table::Meta,
                NEXT_LIST,
                self.counters.next_list.to_be_bytes().to_vec(),
            );
            let head = serde_json::to_vec(&(self.counters.audit_seq, &self.counters.audit_head))?;
            batch.put(Table::Meta, AUDIT_HEAD, head);
        }
        Ok(())
    }

    /// Makes a durable change visible in shared memory.
    fn take_effect(&self, effect: Effect) {
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
        }
    }

    /// Computes one write into the group's batch: its change, then its answer under its
    /// idempotency key. A write refused half-way leaves nothing behind: its puts, effects and
    /// counters are rolled back.
    fn apply(
        &mut self,
        write: Write,
        batch: &mut WriteBatch,
        effects: &mut Vec<Effect>,
    ) -> Pending {
        let savepoint = batch.savepoint();
        let effects_before = effects.len();
        let counters = self.counters.clone();
        let mut pending = self.change(write.command, batch, effects);
        if let (false, Some(remember)) = (pending.is_refusal(), write.remember) {
            if let Err(e) = self.remember(remember, &pending, batch) {
                pending = pending.refused(e);
            }
        }
        if pending.is_refusal() {
            batch.rollback(savepoint);
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
        batch: &mut WriteBatch,
    ) -> Result<(), ApiError> {
        let (storage_key, answer) = match remember {
            Remember::Answer {
                storage_key,
                answer,
            } => (storage_key, answer),
            Remember::OfMark { claim, render } => {
                let mark = pending
                    .mark()
                    .ok_or_else(|| ApiError::internal("an answer of a mark without a mark"))?;
                let body = render(mark)?;
                let answer = claim.answer(axum::http::StatusCode::OK, &body)?;
                (claim.storage_key, answer)
            }
        };
        let existing = match batch.get(Table::Idempotency, &storage_key) {
            Some(pending) => pending.map(<[u8]>::to_vec),
            None => self.store.get(Table::Idempotency, &storage_key)?,
        };
        let live = existing
            .and_then(|b| serde_json::from_slice::<super::idempotency::StoredAnswer>(&b).ok())
            .is_some_and(|a| a.expires_at > answer.created_at);
        if live {
            return Err(super::idempotency::in_flight());
        }
        batch.put(Table::Idempotency, &storage_key, json(&answer)?);
        Ok(())
    }
}

/// The compact JSON of a value to store.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests;
