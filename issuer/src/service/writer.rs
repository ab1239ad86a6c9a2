//! The single writer: every change goes through one thread that groups the requests waiting
//! at a time into one atomic batch and one flush (group commit), then answers them all. A mark
//! is acknowledged only after the flush that made it durable; status indexes and the audit chain
//! are assigned in one place, so they never collide or fork.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::audit::{AuditEntry, AUDIT_HEAD, GENESIS};
use super::error::ApiError;
use super::now;
use super::records::{ApiKey, AssessmentRecord, Certifier, MarkRecord};
use super::state::{Metrics, Shared, StatusListFull};
use super::store::{printable_key, Store, StoreError, Table, WriteBatch};
use crate::{MarkStatus, StatusChange};

/// Most commands in one commit group: bounds the latency a group adds.
const MAX_GROUP: usize = 4096;

/// Most marks one `marks.issued` audit entry lists. Keeps entries (about 200 bytes per mark)
/// and the store's nodes of them well under sled's blob threshold, while a batch of 1,000
/// marks costs 32 audit entries instead of 1,000.
const AUDIT_MARKS_PER_ENTRY: usize = 32;

type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What the writer does.
#[derive(Debug)]
pub(super) enum Command {
    /// Store marks signed by a handler (with status indexes from [`Shared::indexes`]).
    Issue {
        /// The owner.
        certifier_id: String,
        /// The signed marks' records, already encoded by the handler.
        marks: Vec<SignedMark>,
        /// The answer.
        reply: Reply<Vec<MarkRecord>>,
    },
    /// Change a mark's status.
    SetStatus {
        /// The mark.
        mark_id: String,
        /// The change.
        change: StatusChange,
        /// Why.
        reason: String,
        /// Who (`admin` or `certifier:<id>`).
        actor: String,
        /// The answer.
        reply: Reply<MarkRecord>,
    },
    /// Create a certifier with its API key (stored as a hash).
    CreateCertifier {
        /// The certifier.
        certifier: Certifier,
        /// SHA-256 (hex) of its API key.
        key_hash: String,
        /// The answer.
        reply: Reply<()>,
    },
    /// Store the admin key (first start).
    CreateAdminKey {
        /// SHA-256 (hex) of the key.
        key_hash: String,
        /// The answer.
        reply: Reply<()>,
    },
    /// Store an assessment.
    SaveAssessment {
        /// The record.
        record: Box<AssessmentRecord>,
        /// The answer.
        reply: Reply<()>,
    },
}

/// A mark signed by a handler with its registry record encoded there too, so the single writer
/// only inserts bytes (encoding in the handlers runs on every core).
#[derive(Debug)]
pub(super) struct SignedMark {
    /// The record.
    pub record: MarkRecord,
    /// [`MarkRecord::encode`] of it.
    pub encoded: Vec<u8>,
}

#[cfg(test)]
impl SignedMark {
    /// Encodes `record`.
    pub(super) fn new(record: MarkRecord) -> Self {
        let encoded = record.encode().unwrap();
        Self { record, encoded }
    }
}

/// The writer's own state.
pub(super) struct Writer {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    /// One past the highest status index stored.
    next_index: u32,
    audit_seq: u64,
    audit_head: String,
}

/// Meta key of the next status index of list 1.
const NEXT_INDEX: &[u8] = b"next-index/1";

/// A change computed for one command, applied to the shared state only after the flush.
enum Effect {
    Status(u32, MarkStatus),
    ApiKey(String, ApiKey),
    Issued(usize),
    StatusChanged,
    Assessment,
}

/// A computed answer waiting for the flush.
enum Pending {
    Marks(Reply<Vec<MarkRecord>>, Result<Vec<MarkRecord>, ApiError>),
    Mark(Reply<MarkRecord>, Box<Result<MarkRecord, ApiError>>),
    Unit(Reply<()>, Result<(), ApiError>),
}

impl Pending {
    /// Whether the command was refused (and must leave nothing in the batch).
    fn is_refusal(&self) -> bool {
        match self {
            Self::Marks(_, r) => r.is_err(),
            Self::Mark(_, r) => r.is_err(),
            Self::Unit(_, r) => r.is_err(),
        }
    }

    fn send(self, failure: Option<&ApiError>) {
        // A client that went away does not need its answer.
        match self {
            Self::Marks(tx, r) => drop(tx.send(failure.map_or(r, |e| Err(e.clone())))),
            Self::Mark(tx, r) => drop(tx.send(failure.map_or(*r, |e| Err(e.clone())))),
            Self::Unit(tx, r) => drop(tx.send(failure.map_or(r, |e| Err(e.clone())))),
        }
    }
}

impl Writer {
    /// Loads the counters and heads from the store and rebuilds the shared state. Fails closed:
    /// a stored value that does not decode stops the start with an error naming its table and
    /// key; nothing is skipped or read as a default.
    pub(super) fn open(store: Arc<dyn Store>, shared: Arc<Shared>) -> Result<Self, StoreError> {
        let next_index = match store.get(Table::Meta, NEXT_INDEX)? {
            Some(v) => u32::from_be_bytes(
                v.try_into()
                    .map_err(|_| StoreError::corrupt(Table::Meta, NEXT_INDEX, "not 4 bytes"))?,
            ),
            None => 0,
        };
        let capacity = shared.indexes.capacity();
        if next_index > capacity {
            return Err(StoreError(format!(
                "the store holds status indexes up to {next_index}, past the configured status list capacity {capacity}"
            )));
        }
        let (audit_seq, audit_head) = match store.get(Table::Meta, AUDIT_HEAD)? {
            Some(v) => serde_json::from_slice::<(u64, String)>(&v)
                .map_err(|e| StoreError::corrupt(Table::Meta, AUDIT_HEAD, e))?,
            None => (0, GENESIS.to_owned()),
        };
        {
            let mut keys = shared.api_keys.write().unwrap_or_else(|e| e.into_inner());
            store.for_each(Table::ApiKey, &mut |hash, value| {
                let role: ApiKey = serde_json::from_slice(value)
                    .map_err(|e| StoreError::corrupt(Table::ApiKey, hash, e))?;
                keys.insert(printable_key(hash), role);
                Ok(())
            })?;
            let mut status = shared.status.write().unwrap_or_else(|e| e.into_inner());
            store.for_each(Table::Mark, &mut |id, value| {
                let (index, mark_status) = MarkRecord::stored_status(value)
                    .map_err(|e| StoreError::corrupt(Table::Mark, id, e))?;
                if index >= next_index {
                    return Err(StoreError::corrupt(
                        Table::Mark,
                        id,
                        format!("status index {index} at or past next-index/1 = {next_index}"),
                    ));
                }
                status
                    .set(index, mark_status)
                    .map_err(|e| StoreError::corrupt(Table::Mark, id, e))
            })?;
        }
        // Handlers take indexes from here; an index taken by a request that never committed is
        // never acknowledged to anyone, so handing it out again after a restart is safe.
        shared.indexes.restart_at(next_index);
        Ok(Self {
            store,
            shared,
            next_index,
            audit_seq,
            audit_head,
        })
    }

    /// Runs until every sender is gone, then returns (graceful shutdown drains the queue).
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(command) => group.push(command),
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
            self.audit_seq,
            now(),
            actor,
            action,
            subject,
            details,
            &self.audit_head,
        )
        .map_err(ApiError::internal)?;
        batch.put(Table::Audit, &self.audit_seq.to_be_bytes(), json(&entry)?);
        self.audit_seq += 1;
        self.audit_head = entry.hash;
        Ok(())
    }

    /// Processes one group: computes every write, applies them atomically, flushes, then
    /// updates the shared state and answers. On a storage failure nothing is acknowledged and
    /// the counters are restored.
    fn commit(&mut self, group: Vec<Command>) {
        let saved = (self.next_index, self.audit_seq, self.audit_head.clone());
        let mut batch = WriteBatch::default();
        let mut effects = Vec::new();
        let mut answers = Vec::with_capacity(group.len());
        let count = group.len();
        for command in group {
            answers.push(self.apply(command, &mut batch, &mut effects));
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
            (self.next_index, self.audit_seq, self.audit_head) = saved;
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
            batch.put(
                Table::Meta,
                NEXT_INDEX,
                self.next_index.to_be_bytes().to_vec(),
            );
            let head = serde_json::to_vec(&(self.audit_seq, &self.audit_head))?;
            batch.put(Table::Meta, AUDIT_HEAD, head);
        }
        Ok(())
    }

    /// Makes a durable change visible in shared memory.
    fn take_effect(&self, effect: Effect) {
        let metrics = &self.shared.metrics;
        match effect {
            Effect::Status(index, status) => {
                let set = self
                    .shared
                    .status
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(index, status);
                // The writer refused any index past the capacity before it was stored.
                if let Err(e) = set {
                    tracing::error!("status index {index}: {e}");
                }
            }
            Effect::ApiKey(hash, role) => {
                self.shared
                    .api_keys
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(hash, role);
            }
            Effect::Issued(n) => {
                metrics
                    .marks_issued
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Effect::StatusChanged => {
                Metrics::inc(&metrics.status_changes);
                self.shared
                    .status_version
                    .fetch_add(1, std::sync::atomic::Ordering::Release);
            }
            Effect::Assessment => Metrics::inc(&metrics.assessments),
        }
    }

    /// Computes one command's writes into the group's batch. A command refused half-way
    /// leaves nothing behind: its puts, effects and counters are rolled back.
    fn apply(
        &mut self,
        command: Command,
        batch: &mut WriteBatch,
        effects: &mut Vec<Effect>,
    ) -> Pending {
        let savepoint = batch.savepoint();
        let effects_before = effects.len();
        let counters = (self.next_index, self.audit_seq, self.audit_head.clone());
        let pending = match command {
            Command::Issue {
                certifier_id,
                marks,
                reply,
            } => {
                let records = self.store_marks(&certifier_id, marks, batch, effects);
                Pending::Marks(reply, records)
            }
            Command::SetStatus {
                mark_id,
                change,
                reason,
                actor,
                reply,
            } => {
                let result = self.set_status(&mark_id, change, &reason, &actor, batch, effects);
                Pending::Mark(reply, Box::new(result))
            }
            Command::CreateCertifier {
                certifier,
                key_hash,
                reply,
            } => {
                let result = self.create_certifier(&certifier, key_hash, batch, effects);
                Pending::Unit(reply, result)
            }
            Command::CreateAdminKey { key_hash, reply } => {
                let result = self.create_admin_key(key_hash, batch, effects);
                Pending::Unit(reply, result)
            }
            Command::SaveAssessment { record, reply } => {
                let result = self.save_assessment(&record, batch, effects);
                Pending::Unit(reply, result)
            }
        };
        if pending.is_refusal() {
            batch.rollback(savepoint);
            effects.truncate(effects_before);
            (self.next_index, self.audit_seq, self.audit_head) = counters;
        }
        pending
    }

    fn create_certifier(
        &mut self,
        certifier: &Certifier,
        key_hash: String,
        batch: &mut WriteBatch,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ApiError> {
        let role = ApiKey::Certifier {
            certifier_id: certifier.id.clone(),
        };
        batch.put(Table::Certifier, certifier.id.as_bytes(), json(certifier)?);
        batch.put(Table::ApiKey, key_hash.as_bytes(), json(&role)?);
        let details = serde_json::json!({
            "name": certifier.name, "assurance": certifier.assurance, "kid": certifier.kid,
        });
        self.audit(batch, "admin", "certifier.created", &certifier.id, details)?;
        effects.push(Effect::ApiKey(key_hash, role));
        Ok(())
    }

    fn create_admin_key(
        &mut self,
        key_hash: String,
        batch: &mut WriteBatch,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ApiError> {
        batch.put(Table::ApiKey, key_hash.as_bytes(), json(&ApiKey::Admin)?);
        let details = serde_json::json!({});
        self.audit(batch, "system", "key.admin_created", "admin", details)?;
        effects.push(Effect::ApiKey(key_hash, ApiKey::Admin));
        Ok(())
    }

    fn save_assessment(
        &mut self,
        record: &AssessmentRecord,
        batch: &mut WriteBatch,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ApiError> {
        batch.put(Table::Assessment, record.id.as_bytes(), json(record)?);
        let details = serde_json::json!({
            "framework": record.framework,
            "target_class": record.target_class,
            "achieved_class": record.decision.achieved_class,
            "digest": record.decision.digest,
        });
        let actor = format!("certifier:{}", record.certifier_id);
        self.audit(batch, &actor, "assessment.created", &record.id, details)?;
        effects.push(Effect::Assessment);
        Ok(())
    }

    /// Stores signed marks with one audit entry per command: `mark.issued` for one mark,
    /// `marks.issued` listing up to [`AUDIT_MARKS_PER_ENTRY`] marks for a batch.
    fn store_marks(
        &mut self,
        certifier_id: &str,
        marks: Vec<SignedMark>,
        batch: &mut WriteBatch,
        effects: &mut Vec<Effect>,
    ) -> Result<Vec<MarkRecord>, ApiError> {
        let capacity = self.shared.indexes.capacity();
        if let Some(past) = marks.iter().find(|m| m.record.status_index >= capacity) {
            // Handlers take indexes below the capacity; this is the last line of defence.
            tracing::error!(
                index = past.record.status_index,
                "a mark past the status list's capacity"
            );
            return Err(StatusListFull { capacity }.into());
        }
        let issued = |record: &MarkRecord| {
            serde_json::json!({
                "status_index": record.status_index,
                "assessments": record.claims.iter().map(|c| serde_json::json!({"framework": c.framework, "digest": c.assessment_digest})).collect::<Vec<_>>(),
            })
        };
        let actor = format!("certifier:{certifier_id}");
        if let [one] = marks.as_slice() {
            let details = issued(&one.record);
            self.audit(batch, &actor, "mark.issued", &one.record.mark_id, details)?;
        } else {
            for (n, chunk) in marks.chunks(AUDIT_MARKS_PER_ENTRY).enumerate() {
                let listed = chunk
                    .iter()
                    .map(|m| {
                        let mut entry = issued(&m.record);
                        entry["mark_id"] = m.record.mark_id.clone().into();
                        entry
                    })
                    .collect::<Vec<_>>();
                let first = n * AUDIT_MARKS_PER_ENTRY + 1;
                let subject = format!(
                    "batch marks {first}-{} of {}",
                    first + chunk.len() - 1,
                    marks.len()
                );
                let details = serde_json::json!({ "marks": listed });
                self.audit(batch, &actor, "marks.issued", &subject, details)?;
            }
        }
        let mut records = Vec::with_capacity(marks.len());
        for SignedMark { record, encoded } in marks {
            batch.put(Table::Mark, record.mark_id.as_bytes(), encoded);
            self.next_index = self.next_index.max(record.status_index.saturating_add(1));
            effects.push(Effect::Status(record.status_index, MarkStatus::Valid));
            records.push(record);
        }
        effects.push(Effect::Issued(records.len()));
        Ok(records)
    }

    fn set_status(
        &mut self,
        mark_id: &str,
        change: StatusChange,
        reason: &str,
        actor: &str,
        batch: &mut WriteBatch,
        effects: &mut Vec<Effect>,
    ) -> Result<MarkRecord, ApiError> {
        // A mark issued or changed earlier in this group is read from the batch.
        let stored = match batch.get(Table::Mark, mark_id.as_bytes()) {
            Some(pending) => Some(pending.to_vec()),
            None => self.store.get(Table::Mark, mark_id.as_bytes())?,
        };
        let stored = stored.ok_or_else(|| ApiError::not_found("mark"))?;
        let mut record = MarkRecord::decode(&stored).map_err(|e| {
            ApiError::internal(StoreError::corrupt(Table::Mark, mark_id.as_bytes(), e))
        })?;
        let old = record.status;
        record.status = old.apply(change)?;
        record.status_reason = Some(reason.to_owned());
        batch.put(
            Table::Mark,
            mark_id.as_bytes(),
            record.encode().map_err(ApiError::internal)?,
        );
        let details = serde_json::json!({"from": old, "to": record.status, "reason": reason});
        self.audit(batch, actor, change.audit_action(), mark_id, details)?;
        effects.push(Effect::Status(record.status_index, record.status));
        effects.push(Effect::StatusChanged);
        Ok(record)
    }
}

/// The compact JSON of a value to store.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::super::audit::verify_chain;
    use super::super::records::{sample_record, StoredResponse};
    use super::super::store::SledStore;
    use super::*;

    fn writer(dir: &std::path::Path) -> (Writer, Arc<dyn Store>) {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir).unwrap());
        let writer = Writer::open(store.clone(), Arc::new(Shared::default())).unwrap();
        (writer, store)
    }

    fn issue(
        marks: Vec<SignedMark>,
    ) -> (
        Command,
        oneshot::Receiver<Result<Vec<MarkRecord>, ApiError>>,
    ) {
        let (reply, rx) = oneshot::channel();
        let command = Command::Issue {
            certifier_id: "c1".into(),
            marks,
            reply,
        };
        (command, rx)
    }

    fn audit_entries(store: &dyn Store) -> Vec<AuditEntry> {
        store
            .scan(Table::Audit)
            .unwrap()
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).unwrap())
            .collect()
    }

    #[test]
    fn a_batch_is_audited_in_entries_listing_every_mark() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, store) = writer(dir.path());
        let records: Vec<MarkRecord> = (0..70).map(sample_record).collect();
        let (command, mut rx) = issue(records.iter().cloned().map(SignedMark::new).collect());
        writer.commit(vec![command]);
        assert_eq!(rx.try_recv().unwrap().unwrap(), records);

        let entries = audit_entries(store.as_ref());
        let subjects: Vec<&str> = entries.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "batch marks 1-32 of 70",
                "batch marks 33-64 of 70",
                "batch marks 65-70 of 70"
            ]
        );
        let listed: Vec<&str> = entries
            .iter()
            .flat_map(|e| e.details["marks"].as_array().unwrap())
            .map(|m| m["mark_id"].as_str().unwrap())
            .collect();
        let issued: Vec<&str> = records.iter().map(|r| r.mark_id.as_str()).collect();
        assert_eq!(listed, issued);
        assert_eq!(entries[0].action, "marks.issued");
        assert_eq!(
            entries[0].details["marks"][0]["assessments"][0]["digest"],
            "ab".repeat(32)
        );
        assert_eq!(verify_chain(store.as_ref()).unwrap().0, 3);
        for record in &records {
            let stored = store.get(Table::Mark, record.mark_id.as_bytes()).unwrap();
            assert_eq!(&MarkRecord::decode(&stored.unwrap()).unwrap(), record);
        }
    }

    #[test]
    fn an_assessment_is_audited_with_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, store) = writer(dir.path());
        let catalogue = crate::assessment::find("uk-psti").unwrap();
        let responses = crate::assessment::from_csv(
            b"requirement,response,evidence\n1,C,E1\n2,C,E2\n3,C,E3\n",
            &crate::assessment::UploadBudget::default(),
        )
        .unwrap();
        let decision = crate::assessment::assess(&catalogue, 1, &responses).unwrap();
        let digest = decision.digest.clone();
        let record = AssessmentRecord {
            id: "a1".into(),
            certifier_id: "c1".into(),
            framework: "uk-psti".into(),
            target_class: 1,
            decision,
            responses: responses
                .iter()
                .map(StoredResponse::from_response)
                .collect(),
            created_at: 1_795_300_000,
        };
        let (reply, mut saved) = oneshot::channel();
        writer.commit(vec![Command::SaveAssessment {
            record: Box::new(record),
            reply,
        }]);
        saved.try_recv().unwrap().unwrap();
        let entries = audit_entries(store.as_ref());
        assert_eq!(
            (
                entries[0].actor.as_str(),
                entries[0].action.as_str(),
                entries[0].subject.as_str()
            ),
            ("certifier:c1", "assessment.created", "a1")
        );
        assert_eq!(
            entries[0].details,
            serde_json::json!({"framework": "uk-psti", "target_class": 1, "achieved_class": 1, "digest": digest})
        );
        assert_eq!(verify_chain(store.as_ref()).unwrap().0, 1);
    }

    #[test]
    fn a_status_change_sees_a_mark_issued_earlier_in_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, store) = writer(dir.path());
        let record = sample_record(7);
        let (command, _issued) = issue(vec![SignedMark::new(record.clone())]);
        let (reply, mut revoked) = oneshot::channel();
        let revoke = Command::SetStatus {
            mark_id: record.mark_id.clone(),
            change: StatusChange::Revoke,
            reason: "key compromise".into(),
            actor: "admin".into(),
            reply,
        };
        writer.commit(vec![command, revoke]);
        assert_eq!(
            revoked.try_recv().unwrap().unwrap().status,
            MarkStatus::Revoked
        );
        let stored = store.get(Table::Mark, record.mark_id.as_bytes()).unwrap();
        let stored = MarkRecord::decode(&stored.unwrap()).unwrap();
        assert_eq!(
            (stored.status, stored.status_reason.as_deref()),
            (MarkStatus::Revoked, Some("key compromise"))
        );
        let actions: Vec<String> = audit_entries(store.as_ref())
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["mark.issued", "mark.revoked"]);
        assert_eq!(
            writer.shared.status.read().unwrap().get(7),
            MarkStatus::Revoked
        );
    }
}
