//! The writer against a real sled store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use tokio::sync::oneshot;

use super::super::audit::verify_chain;
use super::super::idempotency::StoredAnswer;
use super::super::keys::{KeyHolder, KeyState};
use super::super::records::SignedMark;
use super::super::records::{sample_assessment, sample_certifier, sample_record};
use super::super::store::{SledStore, Store, Table, WriteBatch};
use super::*;
use crate::service::ApiError;
use crate::StatusChange;

impl WriteError {
    /// The code a client is answered.
    fn code(self) -> &'static str {
        ApiError::from(self).code
    }
}

/// The writer on a store holding the issuer key of status list 1 (the sample records' list),
/// stored directly so that the audit log starts empty.
fn writer(dir: &std::path::Path) -> (Writer, Arc<SledStore>) {
    let store = Arc::new(SledStore::open(dir).unwrap());
    if store.get(Table::IssuerKey, b"01020304").unwrap().is_none() {
        let key = trustmark_domain::IssuerKey::pending(
            &sample_certifier(),
            trustmark_format::Algorithm::EdDsa,
            &[9; 32],
            &[1, 2, 3, 4],
            1,
            0,
        )
        .unwrap();
        let mut batch = WriteBatch::default();
        batch.put(
            Table::IssuerKey,
            b"01020304",
            serde_json::to_vec(&key).unwrap(),
        );
        store.apply(batch).unwrap();
    }
    let writer = Writer::open(store.clone(), Arc::new(Shared::default()))
        .unwrap()
        .0;
    (writer, store)
}

fn issue(marks: Vec<SignedMark>) -> (Write, oneshot::Receiver<Result<(), WriteError>>) {
    let (reply, rx) = oneshot::channel();
    let command = Command::Issue {
        certifier_id: sample_certifier(),
        marks,
        reply,
    };
    (plain(command), rx)
}

/// A write without an idempotency key.
fn plain(command: Command) -> Write {
    Write {
        command,
        remember: None,
    }
}

fn audit_entries(store: &dyn Repository) -> Vec<AuditEntry> {
    let mut entries = Vec::new();
    store
        .for_each_audit_entry(&mut |_, entry| {
            entries.push(entry.unwrap());
            Ok(())
        })
        .unwrap();
    entries
}

#[test]
fn a_batch_is_audited_in_entries_listing_every_mark() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, store) = writer(dir.path());
    let records: Vec<MarkRecord> = (0..70).map(sample_record).collect();
    let (command, mut rx) = issue(records.iter().cloned().map(SignedMark::new).collect());
    writer.commit(vec![command]);
    rx.try_recv().unwrap().unwrap();

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
        let stored = store
            .get(Table::Mark, record.mark_id.as_str().as_bytes())
            .unwrap();
        assert_eq!(&MarkRecord::decode(&stored.unwrap()).unwrap(), record);
    }
}

#[test]
fn an_assessment_is_audited_with_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, store) = writer(dir.path());
    let record = sample_assessment(1);
    let (digest, record_id) = (record.decision.digest.clone(), record.id.clone());
    let (reply, mut saved) = oneshot::channel();
    writer.commit(vec![plain(Command::SaveAssessment {
        record: Box::new(record),
        reply,
    })]);
    saved.try_recv().unwrap().unwrap();
    let entries = audit_entries(store.as_ref());
    assert_eq!(
        (
            entries[0].actor.as_str(),
            entries[0].action.as_str(),
            entries[0].subject.as_str()
        ),
        (
            format!("certifier:{}", sample_certifier()).as_str(),
            "assessment.created",
            record_id.as_str()
        )
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
    let revoke = plain(Command::SetStatus {
        mark_id: record.mark_id.clone(),
        change: StatusChange::Revoke,
        reason: "key compromise".into(),
        actor: "admin".into(),
        reply,
    });
    writer.commit(vec![command, revoke]);
    assert_eq!(
        revoked.try_recv().unwrap().unwrap().status,
        MarkStatus::Revoked
    );
    let stored = store
        .get(Table::Mark, record.mark_id.as_str().as_bytes())
        .unwrap();
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
    assert_eq!(writer.shared.list(1).unwrap().get(7), MarkStatus::Revoked);
}

fn new_key(hash: &str, holder: KeyHolder) -> NewKey {
    NewKey {
        hash: hash.into(),
        record: ApiKeyRecord::new(holder, 1_795_300_000, None),
    }
}

fn create_key(hash: &str, holder: KeyHolder) -> (Write, oneshot::Receiver<Result<(), WriteError>>) {
    let (reply, rx) = oneshot::channel();
    let command = Command::CreateApiKey {
        key: new_key(hash, holder),
        actor: "admin".into(),
        reply,
    };
    (plain(command), rx)
}

fn revoke_key(writer: &Writer, hash: &str) -> (Write, oneshot::Receiver<Result<(), WriteError>>) {
    let mut revoked = writer.shared.api_keys.read().unwrap()[hash].clone();
    revoked.revoked_at = Some(now());
    revoked.revocation_reason = Some("left the company".into());
    let (reply, rx) = oneshot::channel();
    let command = Command::RevokeApiKey {
        key_hash: hash.into(),
        revoked,
        actor: "admin".into(),
        reply,
    };
    (plain(command), rx)
}

#[test]
fn the_last_active_admin_key_cannot_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, store) = writer(dir.path());
    let (first, mut created) = create_key("a1", KeyHolder::Admin);
    writer.commit(vec![first]);
    created.try_recv().unwrap().unwrap();
    let (revoke, mut refused) = revoke_key(&writer, "a1");
    writer.commit(vec![revoke]);
    assert_eq!(
        refused.try_recv().unwrap().unwrap_err().code(),
        "last_admin_key"
    );
    // With a second admin key, the first can go; the second then cannot, even in one group.
    let (second, mut created) = create_key("a2", KeyHolder::Admin);
    writer.commit(vec![second]);
    created.try_recv().unwrap().unwrap();
    let (revoke_first, mut first_done) = revoke_key(&writer, "a1");
    let (revoke_second, mut second_done) = revoke_key(&writer, "a2");
    writer.commit(vec![revoke_first, revoke_second]);
    first_done.try_recv().unwrap().unwrap();
    assert_eq!(
        second_done.try_recv().unwrap().unwrap_err().code(),
        "last_admin_key"
    );
    let keys = writer.shared.api_keys.read().unwrap().clone();
    assert_eq!(keys["a1"].state(now()), KeyState::Revoked);
    assert_eq!(keys["a2"].state(now()), KeyState::Active);
    let (again, mut again_done) = revoke_key(&writer, "a1");
    writer.commit(vec![again]);
    assert_eq!(
        again_done.try_recv().unwrap().unwrap_err().code(),
        "key_already_revoked"
    );
    let actions: Vec<String> = audit_entries(store.as_ref())
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["api_key.created", "api_key.created", "api_key.revoked"]
    );
    // What was stored reads back the same at the next start.
    drop(writer);
    let reopened = Writer::open(store, Arc::new(Shared::default())).unwrap().0;
    assert_eq!(*reopened.shared.api_keys.read().unwrap(), keys);
}

fn stored_answer(request_hash: &str, expires_at: u64) -> StoredAnswer {
    StoredAnswer {
        request_hash: request_hash.into(),
        status: 201,
        body: "{}".into(),
        created_at: now(),
        expires_at,
    }
}

#[test]
fn an_answer_is_remembered_in_the_commit_of_its_change_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, store) = writer(dir.path());
    let remember = |hash: &str| Remember::Answer {
        storage_key: b"k1/retry-1".to_vec(),
        answer: stored_answer(hash, now() + 60),
    };
    let (mut first, mut first_done) = issue(vec![SignedMark::new(sample_record(1))]);
    first.remember = Some(remember("h1"));
    // A second write under the same key in the same group (another process's, since handlers
    // run one request per key): refused, and its mark is not stored.
    let (mut second, mut second_done) = issue(vec![SignedMark::new(sample_record(2))]);
    second.remember = Some(remember("h2"));
    writer.commit(vec![first, second]);
    first_done.try_recv().unwrap().unwrap();
    assert_eq!(
        second_done.try_recv().unwrap().unwrap_err().code(),
        "idempotency_key_in_flight"
    );
    let stored: StoredAnswer = serde_json::from_slice(
        &store
            .get(Table::Idempotency, b"k1/retry-1")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored.request_hash, "h1");
    let marks = store.scan(Table::Mark).unwrap();
    assert_eq!(marks.len(), 1, "the refused write left its mark behind");
    assert_eq!(verify_chain(store.as_ref()).unwrap().0, 1);
    assert_eq!(writer.counters.stored.next_index.get(&1), Some(&2));
}

#[test]
fn expired_answers_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, store) = writer(dir.path());
    let mut batch = WriteBatch::default();
    for (key, expires_at) in [("a", 10), ("b", 20), ("c", now() + 60)] {
        batch.put(
            Table::Idempotency,
            key.as_bytes(),
            serde_json::to_vec(&stored_answer("h", expires_at)).unwrap(),
        );
    }
    store.apply(batch).unwrap();
    let sweep = |writer: &mut Writer, limit| {
        let (reply, mut rx) = oneshot::channel();
        writer.commit(vec![plain(Command::SweepIdempotency {
            now: now(),
            limit,
            reply,
        })]);
        rx.try_recv().unwrap().unwrap()
    };
    assert_eq!(sweep(&mut writer, 1), 1);
    assert_eq!(sweep(&mut writer, 10), 1);
    assert_eq!(sweep(&mut writer, 10), 0);
    let left: Vec<Vec<u8>> = store
        .scan(Table::Idempotency)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(left, [b"c".to_vec()]);
}

#[test]
fn a_record_that_does_not_decode_stops_the_start_naming_its_table_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, store) = writer(dir.path());
    let mut record = sample_record(3);
    record.status = MarkStatus::Suspended;
    let (command, _done) = issue(vec![SignedMark::new(record.clone())]);
    writer.commit(vec![command]);
    drop(writer);
    // The status name changed to one this version does not know (same length, CBOR intact).
    let stored = store
        .get(Table::Mark, record.mark_id.as_str().as_bytes())
        .unwrap()
        .unwrap();
    let at = stored.windows(9).position(|w| w == b"suspended").unwrap();
    let mut damaged = stored.clone();
    damaged[at..at + 9].copy_from_slice(b"withdrawn");
    let mut batch = WriteBatch::default();
    batch.put(Table::Mark, record.mark_id.as_str().as_bytes(), damaged);
    store.apply(batch).unwrap();
    let error = Writer::open(store.clone(), Arc::new(Shared::default()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with(&format!(
            "storage: table Mark, key {}: stored value does not decode: ",
            record.mark_id
        )),
        "{error}"
    );
    assert!(error.contains("unknown variant `withdrawn`"), "{error}");
    // An API key record with a role nobody knows.
    let mut batch = WriteBatch::default();
    batch.put(Table::Mark, record.mark_id.as_str().as_bytes(), stored);
    batch.put(Table::ApiKey, b"ab12", br#"{"role":"root"}"#.to_vec());
    store.apply(batch).unwrap();
    let error = Writer::open(store, Arc::new(Shared::default()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with("storage: table ApiKey, key ab12: stored value does not decode"),
        "{error}"
    );
}

#[test]
fn a_status_past_the_capacity_is_refused_by_the_writer_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let mut writer = Writer::open(store.clone(), Arc::new(Shared::new(4)))
        .unwrap()
        .0;
    let (command, mut done) = issue(vec![
        SignedMark::new(sample_record(3)),
        SignedMark::new(sample_record(4)),
    ]);
    writer.commit(vec![command]);
    assert_eq!(
        done.try_recv().unwrap().unwrap_err().code(),
        "status_list_full"
    );
    assert!(store.scan(Table::Mark).unwrap().is_empty());
    assert_eq!(verify_chain(store.as_ref()).unwrap().0, 0);
}

#[test]
fn a_mark_of_a_key_retired_since_it_was_signed_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, store) = writer(dir.path());
    let mut key = writer.shared.key(&[1, 2, 3, 4]).unwrap();
    key.retired_at = Some(1);
    writer.shared.put_key(key);
    let (command, mut rx) = issue(vec![SignedMark::new(sample_record(0))]);
    writer.commit(vec![command]);
    let error = ApiError::from(rx.try_recv().unwrap().unwrap_err());
    assert_eq!(
        (error.code, error.message.as_str()),
        ("key_retired", "key 01020304 is retired")
    );
    assert!(store.scan(Table::Mark).unwrap().is_empty());
    assert_eq!(verify_chain(store.as_ref()).unwrap().0, 0);
}

/// A status change of mark `record` by the admin.
fn set_status(record: &MarkRecord, change: StatusChange) -> Write {
    let (reply, _) = oneshot::channel();
    plain(Command::SetStatus {
        mark_id: record.mark_id.clone(),
        change,
        reason: "test".into(),
        actor: "admin".into(),
        reply,
    })
}

fn save_snapshot() -> (Write, oneshot::Receiver<Result<usize, WriteError>>) {
    let (reply, rx) = oneshot::channel();
    (plain(Command::SaveSnapshot { reply }), rx)
}

#[test]
fn a_start_loads_the_saved_snapshot_and_replays_the_changes_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, store) = writer(dir.path());
    let marks: Vec<MarkRecord> = (0..6).map(sample_record).collect();
    let (command, _issued) = issue(marks.iter().cloned().map(SignedMark::new).collect());
    writer.commit(vec![command, set_status(&marks[1], StatusChange::Revoke)]);
    // Saved at the start of its group: the revocation of mark 4 in the same group comes after.
    let (snapshot, mut saved) = save_snapshot();
    writer.commit(vec![snapshot, set_status(&marks[4], StatusChange::Suspend)]);
    assert_eq!(saved.try_recv().unwrap().unwrap(), 1);
    // Saved again at the next group (after the suspension), then not again: nothing changed.
    let (again, mut resaved) = save_snapshot();
    writer.commit(vec![again]);
    assert_eq!(resaved.try_recv().unwrap().unwrap(), 1);
    let (again, mut nothing) = save_snapshot();
    writer.commit(vec![again]);
    assert_eq!(nothing.try_recv().unwrap().unwrap(), 0, "nothing changed");
    writer.commit(vec![set_status(&marks[2], StatusChange::Suspend)]);
    let issued_later = sample_record(9);
    let (command, _issued) = issue(vec![SignedMark::new(issued_later)]);
    writer.commit(vec![command]);
    let snapshots = store.status_snapshots().unwrap();
    assert_eq!(snapshots.len(), 1);
    assert_eq!((snapshots[0].audit_entries, snapshots[0].len), (3, 6));
    drop(writer);

    let shared = Arc::new(Shared::default());
    let (_, loaded) = Writer::open(store.clone(), shared.clone()).unwrap();
    assert_eq!(loaded, Loaded::Snapshot { at: 3, replayed: 2 });
    let list = shared.list(1).unwrap();
    let statuses: Vec<MarkStatus> = (0..6).map(|i| list.get(i)).collect();
    use MarkStatus::{Revoked, Suspended, Valid};
    assert_eq!(
        statuses,
        [Valid, Revoked, Suspended, Valid, Suspended, Valid]
    );
    assert_eq!(
        list.len(),
        10,
        "the mark issued after the snapshot is counted"
    );

    // Without the snapshot, every mark is read, with the same result.
    let mut batch = WriteBatch::default();
    batch.delete(Table::StatusSnapshot, &1u32.to_be_bytes());
    store.apply(batch).unwrap();
    let scanned = Arc::new(Shared::default());
    let (_, loaded) = Writer::open(store, scanned.clone()).unwrap();
    assert_eq!(loaded, Loaded::Scan);
    let list = scanned.list(1).unwrap();
    assert_eq!((0..6).map(|i| list.get(i)).collect::<Vec<_>>(), statuses);
    assert_eq!(list.len(), 10);
}
