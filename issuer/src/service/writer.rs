//! The single writer: every change goes through one thread that groups the requests waiting
//! at a time into one atomic batch and one flush (group commit), then answers them all. A mark
//! is acknowledged only after the flush that made it durable; status indexes and the audit chain
//! are assigned in one place, so they never collide or fork.

use std::sync::Arc;

use axum::http::StatusCode;
use tokio::sync::{mpsc, oneshot};

use super::audit::{AuditEntry, AUDIT_HEAD, GENESIS};
use super::error::ApiError;
use super::records::{ApiKey, AssessmentRecord, Certifier, MarkRecord};
use super::state::{Metrics, Shared, STATUS_REVOKED, STATUS_SUSPENDED, STATUS_VALID};
use super::store::{Store, StoreError, Table, WriteBatch};

/// Most commands in one commit group: bounds the latency a group adds.
const MAX_GROUP: usize = 4096;

/// Most marks one `marks.issued` audit entry lists. Keeps entries (about 200 bytes per mark)
/// and the store's nodes of them well under sled's blob threshold, while a batch of 1,000
/// marks costs 32 audit entries instead of 1,000.
const AUDIT_MARKS_PER_ENTRY: usize = 32;

/// A status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusChange {
    /// Revoke (final).
    Revoke,
    /// Suspend.
    Suspend,
    /// Reinstate a suspended mark.
    Reinstate,
}

type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What the writer does.
#[derive(Debug)]
pub(super) enum Command {
    /// Store marks signed by a handler (with status indexes from [`Shared::next_index`]).
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
        let encoded = record.encode();
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
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A change computed for one command, applied to the shared state only after the flush.
enum Effect {
    Status(u32, u8),
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
    /// Loads the counters and heads from the store and rebuilds the shared state.
    pub(super) fn open(store: Arc<dyn Store>, shared: Arc<Shared>) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError(format!("corrupt {what}"));
        let next_index = match store.get(Table::Meta, NEXT_INDEX)? {
            Some(v) => u32::from_be_bytes(v.try_into().map_err(|_| corrupt("next index"))?),
            None => 0,
        };
        let (audit_seq, audit_head) = match store.get(Table::Meta, AUDIT_HEAD)? {
            Some(v) => {
                serde_json::from_slice::<(u64, String)>(&v).map_err(|_| corrupt("audit head"))?
            }
            None => (0, GENESIS.to_owned()),
        };
        {
            let mut keys = shared.api_keys.write().unwrap_or_else(|e| e.into_inner());
            for (hash, value) in store.scan(Table::ApiKey)? {
                let role: ApiKey =
                    serde_json::from_slice(&value).map_err(|_| corrupt("api key"))?;
                keys.insert(String::from_utf8_lossy(&hash).into_owned(), role);
            }
            let mut status = shared.status.write().unwrap_or_else(|e| e.into_inner());
            store.for_each(Table::Mark, &mut |_, value| {
                let (index, name) =
                    MarkRecord::stored_status(value).map_err(|_| corrupt("mark"))?;
                status.set(index, status_value(&name));
                Ok(())
            })?;
        }
        // Handlers take indexes from here; an index taken by a request that never committed is
        // never acknowledged to anyone, so handing it out again after a restart is safe.
        shared
            .next_index
            .store(next_index, std::sync::atomic::Ordering::SeqCst);
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
    ) {
        let entry = AuditEntry::new(
            self.audit_seq,
            now(),
            actor,
            action,
            subject,
            details,
            &self.audit_head,
        );
        batch.put(
            Table::Audit,
            &self.audit_seq.to_be_bytes(),
            serde_json::to_vec(&entry).unwrap_or_default(),
        );
        self.audit_seq += 1;
        self.audit_head = entry.hash;
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
        if !batch.is_empty() {
            batch.put(
                Table::Meta,
                NEXT_INDEX,
                self.next_index.to_be_bytes().to_vec(),
            );
            batch.put(
                Table::Meta,
                AUDIT_HEAD,
                serde_json::to_vec(&(self.audit_seq, &self.audit_head)).unwrap_or_default(),
            );
        }
        let started = std::time::Instant::now();
        let applied = self.store.apply(batch);
        let apply_time = started.elapsed();
        let durable = applied.and_then(|()| self.store.flush());
        let flush_time = started.elapsed().saturating_sub(apply_time);
        if let Err(e) = durable {
            (self.next_index, self.audit_seq, self.audit_head) = saved;
            let failure = ApiError::internal(e);
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
            match effect {
                Effect::Status(index, status) => self
                    .shared
                    .status
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(index, status),
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
        for answer in answers {
            answer.send(None);
        }
    }

    fn apply(
        &mut self,
        command: Command,
        batch: &mut WriteBatch,
        effects: &mut Vec<Effect>,
    ) -> Pending {
        match command {
            Command::Issue {
                certifier_id,
                marks,
                reply,
            } => {
                let records = self.store_marks(&certifier_id, marks, batch, effects);
                Pending::Marks(reply, Ok(records))
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
                let role = ApiKey::Certifier {
                    certifier_id: certifier.id.clone(),
                };
                batch.put(
                    Table::Certifier,
                    certifier.id.as_bytes(),
                    serde_json::to_vec(&certifier).unwrap_or_default(),
                );
                batch.put(
                    Table::ApiKey,
                    key_hash.as_bytes(),
                    serde_json::to_vec(&role).unwrap_or_default(),
                );
                self.audit(batch, "admin", "certifier.created", &certifier.id, serde_json::json!({
                    "name": certifier.name, "assurance": certifier.assurance, "kid": certifier.kid,
                }));
                effects.push(Effect::ApiKey(key_hash, role));
                Pending::Unit(reply, Ok(()))
            }
            Command::CreateAdminKey { key_hash, reply } => {
                batch.put(
                    Table::ApiKey,
                    key_hash.as_bytes(),
                    serde_json::to_vec(&ApiKey::Admin).unwrap_or_default(),
                );
                self.audit(
                    batch,
                    "system",
                    "key.admin_created",
                    "admin",
                    serde_json::json!({}),
                );
                effects.push(Effect::ApiKey(key_hash, ApiKey::Admin));
                Pending::Unit(reply, Ok(()))
            }
            Command::SaveAssessment { record, reply } => {
                batch.put(
                    Table::Assessment,
                    record.id.as_bytes(),
                    serde_json::to_vec(&record).unwrap_or_default(),
                );
                let details = serde_json::json!({
                    "framework": record.framework,
                    "target_class": record.target_class,
                    "achieved_class": record.decision.get("achieved_class"),
                    "digest": record.decision.get("digest"),
                });
                let actor = format!("certifier:{}", record.certifier_id);
                self.audit(batch, &actor, "assessment.created", &record.id, details);
                effects.push(Effect::Assessment);
                Pending::Unit(reply, Ok(()))
            }
        }
    }

    /// Stores signed marks with one audit entry per command: `mark.issued` for one mark,
    /// `marks.issued` listing up to [`AUDIT_MARKS_PER_ENTRY`] marks for a batch.
    fn store_marks(
        &mut self,
        certifier_id: &str,
        marks: Vec<SignedMark>,
        batch: &mut WriteBatch,
        effects: &mut Vec<Effect>,
    ) -> Vec<MarkRecord> {
        let issued = |record: &MarkRecord| {
            serde_json::json!({
                "status_index": record.status_index,
                "assessments": record.claims.iter().map(|c| serde_json::json!({"framework": c.framework, "digest": c.assessment_digest})).collect::<Vec<_>>(),
            })
        };
        let actor = format!("certifier:{certifier_id}");
        if let [one] = marks.as_slice() {
            let details = issued(&one.record);
            self.audit(batch, &actor, "mark.issued", &one.record.mark_id, details);
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
                self.audit(batch, &actor, "marks.issued", &subject, details);
            }
        }
        let mut records = Vec::with_capacity(marks.len());
        for SignedMark { record, encoded } in marks {
            batch.put(Table::Mark, record.mark_id.as_bytes(), encoded);
            self.next_index = self.next_index.max(record.status_index.saturating_add(1));
            effects.push(Effect::Status(record.status_index, STATUS_VALID));
            records.push(record);
        }
        effects.push(Effect::Issued(records.len()));
        records
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
        let mut record = MarkRecord::decode(&stored.ok_or_else(|| ApiError::not_found("mark"))?)
            .map_err(ApiError::internal)?;
        let (new_status, action) = match (record.status.as_str(), change) {
            ("revoked", _) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "already_revoked",
                    "the mark is revoked; revocation is final",
                ))
            }
            ("valid", StatusChange::Revoke) | ("suspended", StatusChange::Revoke) => {
                ("revoked", "mark.revoked")
            }
            ("valid", StatusChange::Suspend) => ("suspended", "mark.suspended"),
            ("suspended", StatusChange::Reinstate) => ("valid", "mark.reinstated"),
            (current, _) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "invalid_transition",
                    format!("the mark is {current}; that change does not apply"),
                ))
            }
        };
        let old = record.status.clone();
        record.status = new_status.to_owned();
        record.status_reason = Some(reason.to_owned());
        batch.put(Table::Mark, mark_id.as_bytes(), record.encode());
        self.audit(
            batch,
            actor,
            action,
            mark_id,
            serde_json::json!({"from": old, "to": new_status, "reason": reason}),
        );
        effects.push(Effect::Status(
            record.status_index,
            status_value(new_status),
        ));
        effects.push(Effect::StatusChanged);
        Ok(record)
    }
}

/// The 2-bit value of a status name.
pub(super) fn status_value(status: &str) -> u8 {
    match status {
        "revoked" => STATUS_REVOKED,
        "suspended" => STATUS_SUSPENDED,
        _ => STATUS_VALID,
    }
}

#[cfg(test)]
mod tests {
    use super::super::audit::verify_chain;
    use super::super::records::sample_record;
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
        let record = AssessmentRecord {
            id: "a1".into(),
            certifier_id: "c1".into(),
            framework: "uk-psti".into(),
            target_class: 1,
            decision: serde_json::json!({"achieved_class": 1, "digest": "ab".repeat(32)}),
            responses: serde_json::json!([]),
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
            serde_json::json!({"framework": "uk-psti", "target_class": 1, "achieved_class": 1, "digest": "ab".repeat(32)})
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
        assert_eq!(revoked.try_recv().unwrap().unwrap().status, "revoked");
        let stored = store.get(Table::Mark, record.mark_id.as_bytes()).unwrap();
        let stored = MarkRecord::decode(&stored.unwrap()).unwrap();
        assert_eq!(
            (stored.status.as_str(), stored.status_reason.as_deref()),
            ("revoked", Some("key compromise"))
        );
        let actions: Vec<String> = audit_entries(store.as_ref())
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["mark.issued", "mark.revoked"]);
        assert_eq!(writer.shared.status.read().unwrap().get(7), STATUS_REVOKED);
    }
}
