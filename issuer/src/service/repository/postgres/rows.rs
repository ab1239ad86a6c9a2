//! Rows to records and back. Every value read is checked and fails closed: a row that does not
//! make a record is an error naming its table, key and column, never a default.

use tokio_postgres::types::{FromSql, Json};
use tokio_postgres::Row;
use trustmark_domain::key_ring::KeyAlgorithm;
use trustmark_domain::{AssessmentId, CertifierId, IssuerKey, Kid};

use super::pg_error;
use crate::service::audit::AuditEntry;
use crate::service::idempotency::StoredAnswer;
use crate::service::keys::{ApiKeyRecord, KeyHolder};
use crate::service::records::{AssessmentRecord, Certifier, MarkRecord};
use crate::service::repository::{AuditHead, Counters, StatusSnapshot};
use crate::service::store::StoreError;
use crate::MarkStatus;

/// A stored value that does not make a record.
pub(super) fn corrupt(
    table: &str,
    key: &str,
    column: &str,
    reason: impl std::fmt::Display,
) -> StoreError {
    StoreError::new(format!(
        "table {table}, key {key:?}, column {column}: stored value does not decode: {reason}"
    ))
}

/// Column `column` of `row` (of `key` in `table`).
pub(super) fn column<'a, T: FromSql<'a>>(
    row: &'a Row,
    table: &str,
    key: &str,
    column: &str,
) -> Result<T, StoreError> {
    row.try_get(column)
        .map_err(|e| corrupt(table, key, column, e))
}

/// A stored `bigint` as the unsigned number it stands for.
pub(super) fn unsigned<T: TryFrom<i64>>(
    value: i64,
    table: &str,
    key: &str,
    name: &str,
) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| corrupt(table, key, name, format!("{value} is out of range")))
}

/// A stored optional `bigint` as the unsigned number it stands for.
fn unsigned_opt(
    value: Option<i64>,
    table: &str,
    key: &str,
    name: &str,
) -> Result<Option<u64>, StoreError> {
    value.map(|v| unsigned(v, table, key, name)).transpose()
}

/// `value` as a `bigint`, refused past its range (nothing is written that would not read back).
pub(super) fn int(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::new(format!("{what} {value} is too large to store")))
}

/// [`int`] of an optional value.
pub(super) fn int_opt(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| int(v, what)).transpose()
}

/// The status a stored status value stands for.
pub(super) fn status(value: i16, id: &str) -> Result<MarkStatus, StoreError> {
    MarkStatus::ALL
        .into_iter()
        .find(|s| i16::from(s.list_value()) == value)
        .ok_or_else(|| corrupt("marks", id, "status", format!("no status {value}")))
}

/// The stored value of `status` (its status list value).
pub(super) fn status_value(status: MarkStatus) -> i16 {
    i16::from(status.list_value())
}

/// The head row is missing.
pub(super) fn no_head() -> StoreError {
    StoreError::new(
        "the registry_head row is missing: this database was not made by the service's migrations",
    )
}

fn certifier_id(text: &str, table: &str, key: &str, name: &str) -> Result<CertifierId, StoreError> {
    CertifierId::parse(text).map_err(|e| corrupt(table, key, name, e))
}

/// A `certifiers` row.
pub(super) fn certifier(row: &Row) -> Result<Certifier, StoreError> {
    let id: &str = column(row, "certifiers", "", "id")?;
    let created_at: i64 = column(row, "certifiers", id, "created_at")?;
    Ok(Certifier {
        id: certifier_id(id, "certifiers", id, "id")?,
        name: column(row, "certifiers", id, "name")?,
        assurance: column(row, "certifiers", id, "assurance")?,
        created_at: unsigned(created_at, "certifiers", id, "created_at")?,
    })
}

/// An `assessments` row.
pub(super) fn assessment(row: &Row) -> Result<AssessmentRecord, StoreError> {
    const T: &str = "assessments";
    let id: &str = column(row, T, "", "id")?;
    let certifier: &str = column(row, T, id, "certifier_id")?;
    let target_class: i16 = column(row, T, id, "target_class")?;
    let created_at: i64 = column(row, T, id, "created_at")?;
    let Json(decision) = column(row, T, id, "decision")?;
    let Json(responses) = column(row, T, id, "responses")?;
    Ok(AssessmentRecord {
        id: AssessmentId::parse(id).map_err(|e| corrupt(T, id, "id", e))?,
        certifier_id: certifier_id(certifier, T, id, "certifier_id")?,
        framework: column(row, T, id, "framework")?,
        target_class: unsigned(target_class.into(), T, id, "target_class")?,
        decision,
        responses,
        created_at: unsigned(created_at, T, id, "created_at")?,
    })
}

/// A `marks` row (the columns of [`super::MARK_COLUMNS`]): the record is rebuilt from the
/// token and what the registry stored beside it, and the copies of the token's claims kept for
/// search must agree with it.
pub(super) fn mark(row: &Row) -> Result<MarkRecord, StoreError> {
    const T: &str = "marks";
    let id: &str = column(row, T, "", "id")?;
    let certifier: &str = column(row, T, id, "certifier_id")?;
    let list: i64 = column(row, T, id, "status_list")?;
    let index: i64 = column(row, T, id, "status_index")?;
    let value: i16 = column(row, T, id, "status")?;
    let digests: &[u8] = column(row, T, id, "assessment_digests")?;
    let digests: Vec<&[u8]> = digests.chunks(32).collect();
    let token: Vec<u8> = column(row, T, id, "token")?;
    let record = MarkRecord::from_stored(
        &token,
        &certifier_id(certifier, T, id, "certifier_id")?,
        column(row, T, id, "issuer")?,
        (
            unsigned(list, T, id, "status_list")?,
            unsigned(index, T, id, "status_index")?,
        ),
        (status(value, id)?, column(row, T, id, "status_reason")?),
        &digests,
    )
    .map_err(|e| corrupt(T, id, "token", e))?;
    let issued_at: i64 = column(row, T, id, "issued_at")?;
    let expires_at: i64 = column(row, T, id, "expires_at")?;
    let copies = [
        ("id", record.mark_id.as_str() == id),
        (
            "vendor",
            column::<&str>(row, T, id, "vendor")? == record.vendor,
        ),
        (
            "model",
            column::<&str>(row, T, id, "model")? == record.model,
        ),
        ("kid", column::<&str>(row, T, id, "kid")? == record.kid),
        (
            "issued_at",
            int(record.issued_at, "issued_at")? == issued_at,
        ),
        (
            "expires_at",
            int(record.expires_at, "expires_at")? == expires_at,
        ),
    ];
    if let Some((name, _)) = copies.iter().find(|(_, agrees)| !agrees) {
        return Err(corrupt(T, id, name, "it disagrees with the token"));
    }
    Ok(record)
}

/// An `idempotent_answers` row.
pub(super) fn answer(row: &Row) -> Result<StoredAnswer, StoreError> {
    const T: &str = "idempotent_answers";
    let key: &[u8] = column(row, T, "", "key")?;
    let key = crate::service::store::printable_key(key);
    let status: i16 = column(row, T, &key, "status")?;
    let created_at: i64 = column(row, T, &key, "created_at")?;
    let expires_at: i64 = column(row, T, &key, "expires_at")?;
    Ok(StoredAnswer {
        request_hash: column(row, T, &key, "request_hash")?,
        status: unsigned(status.into(), T, &key, "status")?,
        body: column(row, T, &key, "body")?,
        created_at: unsigned(created_at, T, &key, "created_at")?,
        expires_at: unsigned(expires_at, T, &key, "expires_at")?,
    })
}

/// An `api_keys` row: the key's hash and its record.
pub(super) fn api_key(row: &Row) -> Result<(String, ApiKeyRecord), StoreError> {
    const T: &str = "api_keys";
    let hash: String = column(row, T, "", "hash")?;
    let holder = match column::<Option<&str>>(row, T, &hash, "certifier_id")? {
        Some(id) => KeyHolder::Certifier(certifier_id(id, T, &hash, "certifier_id")?),
        None => KeyHolder::Admin,
    };
    let record = ApiKeyRecord {
        holder,
        created_at: unsigned_opt(column(row, T, &hash, "created_at")?, T, &hash, "created_at")?,
        expires_at: unsigned_opt(column(row, T, &hash, "expires_at")?, T, &hash, "expires_at")?,
        revoked_at: unsigned_opt(column(row, T, &hash, "revoked_at")?, T, &hash, "revoked_at")?,
        revocation_reason: column(row, T, &hash, "revocation_reason")?,
    };
    Ok((hash, record))
}

/// The stored name of `alg`.
pub(super) fn alg_name(alg: KeyAlgorithm) -> &'static str {
    match alg {
        KeyAlgorithm::Ed25519 => "ed25519",
        KeyAlgorithm::Es256 => "es256",
    }
}

/// An `issuer_keys` row.
pub(super) fn issuer_key(row: &Row) -> Result<IssuerKey, StoreError> {
    const T: &str = "issuer_keys";
    let kid: &str = column(row, T, "", "kid")?;
    let alg: &str = column(row, T, kid, "alg")?;
    let alg = [KeyAlgorithm::Ed25519, KeyAlgorithm::Es256]
        .into_iter()
        .find(|a| alg_name(*a) == alg)
        .ok_or_else(|| corrupt(T, kid, "alg", format!("no algorithm {alg:?}")))?;
    let list: i64 = column(row, T, kid, "status_list")?;
    let created_at: i64 = column(row, T, kid, "created_at")?;
    Ok(IssuerKey {
        kid: Kid::from_hex(kid).ok_or_else(|| corrupt(T, kid, "kid", "not hex"))?,
        certifier_id: certifier_id(column(row, T, kid, "certifier_id")?, T, kid, "certifier_id")?,
        alg,
        public_key: column(row, T, kid, "public_key")?,
        status_list: unsigned(list, T, kid, "status_list")?,
        created_at: unsigned(created_at, T, kid, "created_at")?,
        certificate: column(row, T, kid, "certificate")?,
        activated_at: unsigned_opt(column(row, T, kid, "activated_at")?, T, kid, "activated_at")?,
        activated_by: unsigned_opt(column(row, T, kid, "activated_by")?, T, kid, "activated_by")?,
        retired_at: unsigned_opt(column(row, T, kid, "retired_at")?, T, kid, "retired_at")?,
    })
}

/// An `audit_log` row.
pub(super) fn audit_entry(row: &Row) -> Result<AuditEntry, StoreError> {
    const T: &str = "audit_log";
    let seq: i64 = column(row, T, "", "seq")?;
    let key = seq.to_string();
    let time: i64 = column(row, T, &key, "time")?;
    let version: i16 = column(row, T, &key, "version")?;
    Ok(AuditEntry {
        seq: unsigned(seq, T, &key, "seq")?,
        time: unsigned(time, T, &key, "time")?,
        actor: column(row, T, &key, "actor")?,
        action: column(row, T, &key, "action")?,
        subject: column(row, T, &key, "subject")?,
        details: column(row, T, &key, "details")?,
        prev_hash: column(row, T, &key, "prev_hash")?,
        hash: column(row, T, &key, "hash")?,
        version: unsigned(version.into(), T, &key, "version")?,
    })
}

/// The stored counters; with `lock`, the head row is locked until the transaction ends (the
/// caller's client must be in one).
pub(super) async fn counters(
    client: &deadpool_postgres::Object,
    lock: bool,
) -> Result<Counters, StoreError> {
    let head_sql = if lock {
        "SELECT next_status_list, audit_entries, audit_hash FROM registry_head FOR UPDATE"
    } else {
        "SELECT next_status_list, audit_entries, audit_hash FROM registry_head"
    };
    let context = "reading the registry's counters";
    let head = client
        .prepare_cached(head_sql)
        .await
        .map_err(pg_error(context))?;
    let lists = client
        .prepare_cached("SELECT number, next_index FROM status_lists ORDER BY number")
        .await
        .map_err(pg_error(context))?;
    // Pipelined: one round trip.
    let (head, lists) = tokio::join!(client.query_opt(&head, &[]), client.query(&lists, &[]));
    let head = head.map_err(pg_error(context))?.ok_or_else(no_head)?;
    let lists = lists.map_err(pg_error(context))?;
    const H: &str = "registry_head";
    let next_status_list: i64 = column(&head, H, "", "next_status_list")?;
    let entries: i64 = column(&head, H, "", "audit_entries")?;
    let mut counters = Counters {
        next_status_list: unsigned(next_status_list, H, "", "next_status_list")?,
        audit: AuditHead {
            entries: unsigned(entries, H, "", "audit_entries")?,
            hash: column(&head, H, "", "audit_hash")?,
        },
        ..Counters::default()
    };
    for row in lists {
        let number: i64 = column(&row, "status_lists", "", "number")?;
        let key = number.to_string();
        let next: i64 = column(&row, "status_lists", &key, "next_index")?;
        counters.next_index.insert(
            unsigned(number, "status_lists", &key, "number")?,
            unsigned(next, "status_lists", &key, "next_index")?,
        );
    }
    Ok(counters)
}

/// A `status_snapshots` row.
pub(super) fn status_snapshot(row: &Row) -> Result<StatusSnapshot, StoreError> {
    const T: &str = "status_snapshots";
    let number: i64 = column(row, T, "", "number")?;
    let key = number.to_string();
    let entries: i64 = column(row, T, &key, "audit_entries")?;
    let len: i64 = column(row, T, &key, "len")?;
    let snapshot = StatusSnapshot {
        list: unsigned(number, T, &key, "number")?,
        audit_entries: unsigned(entries, T, &key, "audit_entries")?,
        len: unsigned(len, T, &key, "len")?,
        bits: column(row, T, &key, "bits")?,
    };
    if snapshot.bits.len() != snapshot.len.div_ceil(4) as usize {
        return Err(corrupt(
            T,
            &key,
            "bits",
            "its entries do not match its length",
        ));
    }
    Ok(snapshot)
}
