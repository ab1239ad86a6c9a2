//! The store conformance suite: what every implementation of the repositories must do
//! (`spec/storage.md` 2.2). A store runs it through [`run`] with a way to make a fresh, empty
//! registry that can be opened again; sled runs it below, the PostgreSQL store must too.
//!
//! Failing closed on stored bytes that do not decode is each implementation's own test (how a
//! value gets damaged depends on how it is stored).
//!
//! A store may enforce the registry's references (PostgreSQL's foreign keys do): the suite
//! stores every record's certifier and issuer key ([`parents`]) before it commits the record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use trustmark_domain::{AssessmentId, CertifierId, IssuerKey, MarkId};

use super::{AuditHead, Counters, Repository, StatusSlot, StatusSnapshot, UnitOfWork};
use crate::service::audit::{AuditEntry, GENESIS};
use crate::service::idempotency::StoredAnswer;
use crate::service::keys::{ApiKeyRecord, KeyHolder};
use crate::service::records::{
    sample_assessment, sample_certifier, sample_record, Certifier, SignedMark,
};
use crate::service::store::StoreError;
use crate::MarkStatus;

/// One empty registry under test.
pub(in crate::service) trait Backend {
    /// Opens the registry; opened again, it holds what was committed before.
    fn open(&self) -> Box<dyn Repository>;
}

/// One check of the suite.
type Check = fn(&dyn Backend);

/// Runs every check, each on a fresh registry from `fresh`.
pub(in crate::service) fn run(fresh: &dyn Fn() -> Box<dyn Backend>) {
    let checks: [(&str, Check); 7] = [
        ("an empty registry", an_empty_registry_reads_as_empty),
        (
            "a committed unit",
            a_committed_unit_is_durable_and_reads_back,
        ),
        ("an uncommitted unit", an_uncommitted_unit_writes_nothing),
        ("read your writes", a_unit_reads_its_own_writes),
        (
            "savepoints",
            a_rollback_undoes_only_what_followed_its_savepoint,
        ),
        ("scans", scans_visit_in_order_and_stop_at_the_first_error),
        (
            "expired answers",
            expired_answers_are_listed_up_to_the_limit,
        ),
    ];
    for (name, check) in checks {
        let backend = fresh();
        eprintln!("store conformance: {name}");
        check(backend.as_ref());
    }
}

/// Certifier `n` (its id 16 bytes of `n`).
fn certifier(n: u8) -> Certifier {
    Certifier {
        id: CertifierId::from_bytes([n; 16]),
        name: format!("Lab {n}"),
        assurance: "third-party".into(),
        created_at: 1_795_300_000,
    }
}

/// The certifier of the sample records ([`sample_certifier`]).
fn sample_lab() -> Certifier {
    Certifier {
        id: sample_certifier(),
        name: "Lab".into(),
        assurance: "third-party".into(),
        created_at: 1_795_300_000,
    }
}

/// Stores what the sample records refer to: their certifier, and their issuer key (kid
/// 01020304, status list 1).
fn parents(unit: &mut dyn UnitOfWork) {
    unit.put_certifier(&sample_lab()).unwrap();
    unit.put_issuer_key(&issuer_key(1, 1)).unwrap();
}

fn issuer_key(kid: u8, list: u32) -> IssuerKey {
    IssuerKey::pending(
        &sample_certifier(),
        trustmark_format::Algorithm::EdDsa,
        &[kid; 32],
        &[kid, 2, 3, 4],
        list,
        1_795_300_000,
    )
    .unwrap()
}

fn answer(expires_at: u64) -> StoredAnswer {
    StoredAnswer {
        request_hash: "h".into(),
        status: 201,
        body: "{}".into(),
        created_at: 1,
        expires_at,
    }
}

/// A snapshot of list 1: 5 entries, the fourth revoked, complete up to audit entry 2.
fn snapshot() -> StatusSnapshot {
    StatusSnapshot {
        list: 1,
        audit_entries: 2,
        len: 5,
        bits: vec![0b0100_0000, 0],
    }
}

fn audit_chain(n: u64) -> Vec<AuditEntry> {
    let mut entries: Vec<AuditEntry> = Vec::new();
    for seq in 0..n {
        let prev = entries.last().map_or(GENESIS, |e| e.hash.as_str());
        let details = serde_json::json!({ "n": seq });
        entries.push(AuditEntry::new(seq, 1, "admin", "mark.revoked", "m", details, prev).unwrap());
    }
    entries
}

fn an_empty_registry_reads_as_empty(backend: &dyn Backend) {
    let repo = backend.open();
    assert_eq!(repo.counters().unwrap(), Counters::default());
    assert_eq!(repo.counters().unwrap().audit.hash, GENESIS);
    let nobody = MarkId::from_bytes([0; 16]);
    assert_eq!(repo.certifier(&certifier(1).id).unwrap(), None);
    assert_eq!(repo.certifiers().unwrap(), []);
    assert_eq!(
        repo.assessment(&AssessmentId::from_bytes([1; 16])).unwrap(),
        None
    );
    assert_eq!(repo.mark(&nobody).unwrap(), None);
    assert_eq!(repo.mark_issuer(&nobody).unwrap(), None);
    assert_eq!(repo.idempotent_answer(b"k/1").unwrap(), None);
    assert_eq!(repo.trust_list().unwrap(), None);
    assert_eq!(repo.issuer_keys().unwrap(), []);
    assert_eq!(repo.status_snapshots().unwrap(), []);
    assert_eq!(
        repo.expired_answers(u64::MAX, 10).unwrap(),
        Vec::<Vec<u8>>::new()
    );
    let mut visited = 0;
    repo.for_each_api_key(&mut |_, _| {
        visited += 1;
        Ok(())
    })
    .unwrap();
    repo.for_each_mark_status(&mut |_, _| {
        visited += 1;
        Ok(())
    })
    .unwrap();
    repo.for_each_audit_entry(&mut |_, _| {
        visited += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(visited, 0);
}

fn a_committed_unit_is_durable_and_reads_back(backend: &dyn Backend) {
    let mark = sample_record(3);
    let assessment = sample_assessment(1);
    let api_key = ApiKeyRecord::new(
        KeyHolder::Certifier(sample_certifier()),
        1_795_300_000,
        None,
    );
    let key = issuer_key(1, 1);
    let chain = audit_chain(2);
    let counters = Counters {
        next_index: [(1, 4), (2, 0)].into(),
        next_status_list: 3,
        audit: AuditHead {
            entries: 2,
            hash: chain[1].hash.clone(),
        },
    };
    {
        let repo = backend.open();
        let mut unit = repo.begin();
        assert!(unit.is_empty());
        unit.put_certifier(&sample_lab()).unwrap();
        unit.put_certifier(&certifier(1)).unwrap();
        unit.put_api_key("ab12", &api_key).unwrap();
        unit.put_assessment(&assessment).unwrap();
        unit.put_mark(SignedMark::new(mark.clone())).unwrap();
        unit.put_issuer_key(&key).unwrap();
        for entry in &chain {
            unit.append_audit_entry(entry).unwrap();
        }
        unit.put_idempotent_answer(b"ab12/retry-1", &answer(99))
            .unwrap();
        unit.put_trust_list(b"signed list");
        unit.put_status_snapshot(&snapshot()).unwrap();
        unit.put_counters(&counters).unwrap();
        assert!(!unit.is_empty());
        unit.commit().unwrap();
    }
    // Opened again: everything committed is there.
    let repo = backend.open();
    assert_eq!(
        repo.certifier(&certifier(1).id).unwrap(),
        Some(certifier(1))
    );
    assert_eq!(repo.certifiers().unwrap(), [certifier(1), sample_lab()]);
    assert_eq!(repo.assessment(&assessment.id).unwrap(), Some(assessment));
    assert_eq!(repo.mark(&mark.mark_id).unwrap(), Some(mark.clone()));
    assert_eq!(
        repo.mark_issuer(&mark.mark_id).unwrap().as_deref(),
        Some("Lab")
    );
    assert_eq!(repo.issuer_keys().unwrap(), [key]);
    assert_eq!(
        repo.idempotent_answer(b"ab12/retry-1").unwrap(),
        Some(answer(99))
    );
    assert_eq!(
        repo.trust_list().unwrap().as_deref(),
        Some(&b"signed list"[..])
    );
    assert_eq!(repo.counters().unwrap(), counters);
    assert_eq!(repo.status_snapshots().unwrap(), [snapshot()]);
    let mut keys = Vec::new();
    repo.for_each_api_key(&mut |hash, record| {
        keys.push((hash, record));
        Ok(())
    })
    .unwrap();
    assert_eq!(keys, [("ab12".to_owned(), api_key)]);
    let mut statuses = Vec::new();
    repo.for_each_mark_status(&mut |id, slot| {
        statuses.push((id.to_owned(), slot));
        Ok(())
    })
    .unwrap();
    let slot = StatusSlot {
        list: 1,
        index: 3,
        status: MarkStatus::Valid,
    };
    assert_eq!(statuses, [(mark.mark_id.to_string(), slot)]);
    let mut entries = Vec::new();
    repo.for_each_audit_entry(&mut |position, entry| {
        entries.push((position, entry));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        entries,
        [(0, Some(chain[0].clone())), (1, Some(chain[1].clone()))]
    );
    // A later unit replaces a record and the counters.
    let mut revoked = mark;
    revoked.status = MarkStatus::Revoked;
    let mut later = counters;
    later.next_index.insert(1, 9);
    let mut unit = repo.begin();
    unit.put_mark_record(&revoked).unwrap();
    unit.put_counters(&later).unwrap();
    unit.commit().unwrap();
    assert_eq!(repo.mark(&revoked.mark_id).unwrap(), Some(revoked));
    assert_eq!(repo.counters().unwrap(), later);
}

fn an_uncommitted_unit_writes_nothing(backend: &dyn Backend) {
    let repo = backend.open();
    let mark = sample_record(1);
    {
        let mut unit = repo.begin();
        unit.put_certifier(&certifier(1)).unwrap();
        unit.put_mark(SignedMark::new(mark.clone())).unwrap();
        unit.put_trust_list(b"list");
        // Not seen outside the unit before its commit.
        assert_eq!(repo.mark(&mark.mark_id).unwrap(), None);
        assert_eq!(repo.certifier(&certifier(1).id).unwrap(), None);
        // Dropped without a commit.
    }
    assert_eq!(repo.mark(&mark.mark_id).unwrap(), None);
    assert_eq!(repo.certifiers().unwrap(), []);
    assert_eq!(repo.trust_list().unwrap(), None);
    drop(repo);
    let repo = backend.open();
    assert_eq!(repo.mark(&mark.mark_id).unwrap(), None);
}

fn a_unit_reads_its_own_writes(backend: &dyn Backend) {
    let repo = backend.open();
    let committed = sample_record(1);
    let mut unit = repo.begin();
    parents(unit.as_mut());
    unit.put_mark(SignedMark::new(committed.clone())).unwrap();
    unit.put_idempotent_answer(b"k/old", &answer(5)).unwrap();
    unit.commit().unwrap();

    let fresh = sample_record(2);
    let mut unit = repo.begin();
    // What the store holds, through the unit.
    assert_eq!(
        unit.mark(&committed.mark_id).unwrap(),
        Some(committed.clone())
    );
    assert_eq!(unit.idempotent_answer(b"k/old").unwrap(), Some(answer(5)));
    // What the unit wrote.
    assert_eq!(unit.mark(&fresh.mark_id).unwrap(), None);
    unit.put_mark(SignedMark::new(fresh.clone())).unwrap();
    assert_eq!(unit.mark(&fresh.mark_id).unwrap(), Some(fresh.clone()));
    let mut revoked = fresh.clone();
    revoked.status = MarkStatus::Revoked;
    revoked.status_reason = Some("key compromise".into());
    unit.put_mark_record(&revoked).unwrap();
    assert_eq!(unit.mark(&fresh.mark_id).unwrap(), Some(revoked.clone()));
    unit.put_idempotent_answer(b"k/new", &answer(7)).unwrap();
    assert_eq!(unit.idempotent_answer(b"k/new").unwrap(), Some(answer(7)));
    unit.delete_idempotent_answer(b"k/old");
    assert_eq!(unit.idempotent_answer(b"k/old").unwrap(), None);
    unit.commit().unwrap();
    assert_eq!(repo.mark(&fresh.mark_id).unwrap(), Some(revoked));
    assert_eq!(repo.idempotent_answer(b"k/old").unwrap(), None);
    assert_eq!(repo.idempotent_answer(b"k/new").unwrap(), Some(answer(7)));
}

fn a_rollback_undoes_only_what_followed_its_savepoint(backend: &dyn Backend) {
    let repo = backend.open();
    let kept = sample_record(1);
    let dropped = sample_record(2);
    let mut unit = repo.begin();
    parents(unit.as_mut());
    unit.put_mark(SignedMark::new(kept.clone())).unwrap();
    let savepoint = unit.savepoint();
    unit.put_mark(SignedMark::new(dropped.clone())).unwrap();
    let mut changed = kept.clone();
    changed.status = MarkStatus::Suspended;
    unit.put_mark_record(&changed).unwrap();
    unit.put_certifier(&certifier(9)).unwrap();
    unit.rollback(savepoint);
    assert_eq!(unit.mark(&kept.mark_id).unwrap(), Some(kept.clone()));
    assert_eq!(unit.mark(&dropped.mark_id).unwrap(), None);
    // Rolling back to the start leaves the unit empty; a second savepoint after writes
    // made after a rollback works the same.
    let empty = repo.begin();
    assert!(empty.is_empty());
    drop(empty);
    let again = unit.savepoint();
    unit.put_certifier(&certifier(2)).unwrap();
    unit.rollback(again);
    unit.commit().unwrap();
    assert_eq!(repo.mark(&kept.mark_id).unwrap(), Some(kept));
    assert_eq!(repo.mark(&dropped.mark_id).unwrap(), None);
    assert_eq!(repo.certifiers().unwrap(), [sample_lab()]);
}

fn scans_visit_in_order_and_stop_at_the_first_error(backend: &dyn Backend) {
    let repo = backend.open();
    let mut unit = repo.begin();
    for hash in ["cc", "aa", "bb"] {
        let record = ApiKeyRecord::new(KeyHolder::Admin, 1, None);
        unit.put_api_key(hash, &record).unwrap();
    }
    parents(unit.as_mut());
    for (kid, list) in [(9, 2), (3, 3)] {
        unit.put_issuer_key(&issuer_key(kid, list)).unwrap();
    }
    for n in [2, 1] {
        unit.put_certifier(&certifier(n)).unwrap();
    }
    let chain = audit_chain(3);
    for entry in &chain {
        unit.append_audit_entry(entry).unwrap();
    }
    for index in 0..3 {
        unit.put_mark(SignedMark::new(sample_record(index)))
            .unwrap();
    }
    unit.put_assessment(&sample_assessment(4)).unwrap();
    unit.put_idempotent_answer(b"k/1", &answer(5)).unwrap();
    unit.commit().unwrap();
    // The full scans (a copy of the registry) give back every record.
    let mut marks = Vec::new();
    repo.for_each_mark(&mut |mark| {
        marks.push(mark);
        Ok(())
    })
    .unwrap();
    marks.sort_by_key(|m| m.status_index);
    assert_eq!(marks, (0..3).map(sample_record).collect::<Vec<_>>());
    let mut assessments = Vec::new();
    repo.for_each_assessment(&mut |record| {
        assessments.push(record);
        Ok(())
    })
    .unwrap();
    assert_eq!(assessments, [sample_assessment(4)]);
    let mut answers = Vec::new();
    repo.for_each_idempotent_answer(&mut |key, stored| {
        answers.push((key, stored));
        Ok(())
    })
    .unwrap();
    assert_eq!(answers, [(b"k/1".to_vec(), answer(5))]);
    let mut hashes = Vec::new();
    repo.for_each_api_key(&mut |hash, _| {
        hashes.push(hash);
        Ok(())
    })
    .unwrap();
    assert_eq!(hashes, ["aa", "bb", "cc"]);
    let kids: Vec<String> = repo
        .issuer_keys()
        .unwrap()
        .iter()
        .map(|k| k.kid.to_string())
        .collect();
    assert_eq!(kids, ["01020304", "03020304", "09020304"]);
    let ids: Vec<CertifierId> = repo
        .certifiers()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [certifier(1).id, certifier(2).id, sample_certifier()]);
    let mut positions = Vec::new();
    repo.for_each_audit_entry(&mut |position, _| {
        positions.push(position);
        Ok(())
    })
    .unwrap();
    assert_eq!(positions, [0, 1, 2]);
    assert_eq!(repo.audit_entries_from(1, 1).unwrap(), [chain[1].clone()]);
    assert_eq!(repo.audit_entries_from(1, 9).unwrap(), chain[1..]);
    assert_eq!(repo.audit_entries_from(3, 9).unwrap(), []);
    let mut indexes = Vec::new();
    repo.for_each_mark_status(&mut |_, slot| {
        indexes.push(slot.index);
        Ok(())
    })
    .unwrap();
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1, 2]);
    // A visitor's error stops the walk and comes back as it was.
    let mut seen = 0;
    let error = repo
        .for_each_mark_status(&mut |_, _| {
            seen += 1;
            Err(StoreError::new("stop"))
        })
        .unwrap_err();
    assert_eq!((error.to_string().as_str(), seen), ("storage: stop", 1));
    let mut seen = 0;
    let error = repo
        .for_each_audit_entry(&mut |_, _| {
            seen += 1;
            Err(StoreError::new("stop"))
        })
        .unwrap_err();
    assert_eq!((error.to_string().as_str(), seen), ("storage: stop", 1));
}

fn expired_answers_are_listed_up_to_the_limit(backend: &dyn Backend) {
    let repo = backend.open();
    let mut unit = repo.begin();
    for (key, expires_at) in [("k/a", 10), ("k/b", 20), ("k/c", 30)] {
        unit.put_idempotent_answer(key.as_bytes(), &answer(expires_at))
            .unwrap();
    }
    unit.commit().unwrap();
    assert_eq!(repo.expired_answers(20, 10).unwrap().len(), 2);
    assert_eq!(repo.expired_answers(20, 1).unwrap().len(), 1);
    assert_eq!(repo.expired_answers(20, 0).unwrap().len(), 0);
    assert_eq!(repo.expired_answers(9, 10).unwrap().len(), 0);
    let mut all = repo.expired_answers(30, 10).unwrap();
    all.sort();
    assert_eq!(all, [b"k/a".to_vec(), b"k/b".to_vec(), b"k/c".to_vec()]);
}
