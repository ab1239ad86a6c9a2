//! A unit of work on PostgreSQL: its writes are kept in order in memory (savepoints and
//! roll-backs are truncations, reads see the unit's own writes first) and sent at commit,
//! pipelined on one connection in one transaction. The transaction starts at the unit's first
//! use of the database, with the head row locked (`spec/storage.md` 4.3), so the writers of
//! every instance on the database take turns.

use std::time::Instant;

use tokio_postgres::types::{Json, ToSql};
use trustmark_domain::{IssuerKey, MarkId};

use super::rows::{self, int, int_opt};
use super::{pg_error, PgStore, MARK_COLUMNS};
use crate::service::audit::AuditEntry;
use crate::service::idempotency::StoredAnswer;
use crate::service::keys::{ApiKeyRecord, KeyHolder};
use crate::service::records::{AssessmentRecord, Certifier, MarkRecord, SignedMark};
use crate::service::repository::{CommitTimes, Counters, Savepoint, StatusSnapshot, UnitOfWork};
use crate::service::store::StoreError;

/// One write, as the unit keeps it until the commit.
enum Write {
    Certifier(Certifier),
    ApiKey(String, ApiKeyRecord),
    Assessment(Box<AssessmentRecord>),
    /// A mark issued in this unit (inserted: a second mark with its id is an error).
    NewMark(Box<MarkRecord>),
    /// A changed mark.
    Mark(Box<MarkRecord>),
    IssuerKey(Box<IssuerKey>),
    Audit(Box<AuditEntry>),
    Answer(Vec<u8>, StoredAnswer),
    ForgetAnswer(Vec<u8>),
    TrustList(Vec<u8>),
    Counters(Counters),
    Snapshot(StatusSnapshot),
}

/// A statement's parameters, owned until the commit's statements are sent.
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

const UPSERT_CERTIFIER: &str = "INSERT INTO certifiers (id, name, assurance, created_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, \
     assurance = EXCLUDED.assurance, created_at = EXCLUDED.created_at";
const UPSERT_API_KEY: &str = "INSERT INTO api_keys (hash, certifier_id, created_at, \
     expires_at, revoked_at, revocation_reason) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (hash) DO UPDATE SET certifier_id = EXCLUDED.certifier_id, \
     created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, \
     revoked_at = EXCLUDED.revoked_at, revocation_reason = EXCLUDED.revocation_reason";
const UPSERT_ASSESSMENT: &str = "INSERT INTO assessments (id, certifier_id, framework, \
     target_class, decision, responses, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (id) DO UPDATE SET certifier_id = EXCLUDED.certifier_id, \
     framework = EXCLUDED.framework, target_class = EXCLUDED.target_class, \
     decision = EXCLUDED.decision, responses = EXCLUDED.responses, \
     created_at = EXCLUDED.created_at";
/// Every mark issued in a unit, in one statement (one row per array element).
const INSERT_MARKS: &str = "INSERT INTO marks (id, certifier_id, issuer, status_list, \
     status_index, status, status_reason, assessment_digests, token, vendor, model, kid, \
     issued_at, expires_at) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], \
     $4::int8[], $5::int8[], $6::int2[], $7::text[], $8::bytea[], $9::bytea[], $10::text[], \
     $11::text[], $12::text[], $13::int8[], $14::int8[])";
/// Every audit entry of a unit, in one statement.
const INSERT_AUDIT_ENTRIES: &str = "INSERT INTO audit_log (seq, time, actor, action, subject, \
     details, prev_hash, hash, version) SELECT * FROM UNNEST($1::int8[], $2::int8[], \
     $3::text[], $4::text[], $5::text[], $6::json[], $7::text[], $8::text[], $9::int2[])";
/// A changed mark, as one row of [`MarkColumns`].
const UPSERT_MARK: &str = "INSERT INTO marks (id, certifier_id, issuer, status_list, \
     status_index, status, status_reason, assessment_digests, token, vendor, model, kid, \
     issued_at, expires_at) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], \
     $4::int8[], $5::int8[], $6::int2[], $7::text[], $8::bytea[], $9::bytea[], $10::text[], \
     $11::text[], $12::text[], $13::int8[], $14::int8[]) \
     ON CONFLICT (id) DO UPDATE SET certifier_id = EXCLUDED.certifier_id, \
     issuer = EXCLUDED.issuer, status_list = EXCLUDED.status_list, \
     status_index = EXCLUDED.status_index, status = EXCLUDED.status, \
     status_reason = EXCLUDED.status_reason, assessment_digests = EXCLUDED.assessment_digests, \
     token = EXCLUDED.token, vendor = EXCLUDED.vendor, model = EXCLUDED.model, \
     kid = EXCLUDED.kid, issued_at = EXCLUDED.issued_at, expires_at = EXCLUDED.expires_at";
const UPSERT_ISSUER_KEY: &str = "INSERT INTO issuer_keys (kid, certifier_id, alg, public_key, \
     status_list, created_at, certificate, activated_at, activated_by, retired_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (kid) DO UPDATE SET \
     certifier_id = EXCLUDED.certifier_id, alg = EXCLUDED.alg, public_key = EXCLUDED.public_key, \
     status_list = EXCLUDED.status_list, created_at = EXCLUDED.created_at, \
     certificate = EXCLUDED.certificate, activated_at = EXCLUDED.activated_at, \
     activated_by = EXCLUDED.activated_by, retired_at = EXCLUDED.retired_at";
const UPSERT_ANSWER: &str = "INSERT INTO idempotent_answers (key, request_hash, status, body, \
     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO UPDATE SET \
     request_hash = EXCLUDED.request_hash, status = EXCLUDED.status, body = EXCLUDED.body, \
     created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at";
const DELETE_ANSWER: &str = "DELETE FROM idempotent_answers WHERE key = $1";
const PUT_TRUST_LIST: &str = "UPDATE registry_head SET trust_list = $1";
const PUT_HEAD: &str =
    "UPDATE registry_head SET next_status_list = $1, audit_entries = $2, audit_hash = $3";
/// Never lowers a list's high-water mark: another instance's lease may be above this writer's.
const PUT_NEXT_INDEX: &str = "INSERT INTO status_lists (number, next_index) VALUES ($1, $2) \
     ON CONFLICT (number) DO UPDATE \
     SET next_index = GREATEST(status_lists.next_index, EXCLUDED.next_index)";

const PUT_SNAPSHOT: &str = "INSERT INTO status_snapshots (number, audit_entries, len, bits) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (number) DO UPDATE SET \
     audit_entries = EXCLUDED.audit_entries, len = EXCLUDED.len, bits = EXCLUDED.bits";

/// The columns of the marks issued in a unit, for [`INSERT_MARKS`].
#[derive(Default)]
struct MarkColumns {
    id: Vec<String>,
    certifier_id: Vec<String>,
    issuer: Vec<String>,
    status_list: Vec<i64>,
    status_index: Vec<i64>,
    status: Vec<i16>,
    status_reason: Vec<Option<String>>,
    assessment_digests: Vec<Vec<u8>>,
    token: Vec<Vec<u8>>,
    vendor: Vec<String>,
    model: Vec<String>,
    kid: Vec<String>,
    issued_at: Vec<i64>,
    expires_at: Vec<i64>,
}

impl MarkColumns {
    fn push(&mut self, m: &MarkRecord) -> Result<(), StoreError> {
        let bad = |e: crate::service::records::RecordError| {
            StoreError::new(format!("encoding mark {}: {e}", m.mark_id))
        };
        self.id.push(m.mark_id.as_str().to_owned());
        self.certifier_id.push(m.certifier_id.as_str().to_owned());
        self.issuer.push(m.issuer.clone());
        self.status_list.push(i64::from(m.status_list));
        self.status_index.push(i64::from(m.status_index));
        self.status.push(rows::status_value(m.status));
        self.status_reason.push(m.status_reason.clone());
        self.assessment_digests
            .push(m.assessment_digests().map_err(bad)?.concat());
        self.token.push(m.token_bytes().map_err(bad)?);
        self.vendor.push(m.vendor.clone());
        self.model.push(m.model.clone());
        self.kid.push(m.kid.clone());
        self.issued_at.push(int(m.issued_at, "issued_at")?);
        self.expires_at.push(int(m.expires_at, "expires_at")?);
        Ok(())
    }

    fn params(self) -> Params {
        vec![
            Box::new(self.id),
            Box::new(self.certifier_id),
            Box::new(self.issuer),
            Box::new(self.status_list),
            Box::new(self.status_index),
            Box::new(self.status),
            Box::new(self.status_reason),
            Box::new(self.assessment_digests),
            Box::new(self.token),
            Box::new(self.vendor),
            Box::new(self.model),
            Box::new(self.kid),
            Box::new(self.issued_at),
            Box::new(self.expires_at),
        ]
    }
}

/// The columns of the audit entries of a unit, for [`INSERT_AUDIT_ENTRIES`].
#[derive(Default)]
struct AuditColumns {
    seq: Vec<i64>,
    time: Vec<i64>,
    actor: Vec<String>,
    action: Vec<String>,
    subject: Vec<String>,
    details: Vec<serde_json::Value>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
    version: Vec<i16>,
}

impl AuditColumns {
    fn push(&mut self, e: &AuditEntry) -> Result<(), StoreError> {
        self.seq.push(int(e.seq, "audit seq")?);
        self.time.push(int(e.time, "audit time")?);
        self.actor.push(e.actor.clone());
        self.action.push(e.action.clone());
        self.subject.push(e.subject.clone());
        self.details.push(e.details.clone());
        self.prev_hash.push(e.prev_hash.clone());
        self.hash.push(e.hash.clone());
        self.version.push(i16::from(e.version));
        Ok(())
    }

    fn params(self) -> Params {
        vec![
            Box::new(self.seq),
            Box::new(self.time),
            Box::new(self.actor),
            Box::new(self.action),
            Box::new(self.subject),
            Box::new(self.details),
            Box::new(self.prev_hash),
            Box::new(self.hash),
            Box::new(self.version),
        ]
    }
}

/// The statements of a unit's writes, in order, except that every new mark and every audit
/// entry go in one statement each, at the place of the first (they are inserts of rows no
/// other write of the unit touches before them).
fn unit_statements(writes: &[Write]) -> Result<Vec<(&'static str, Params)>, StoreError> {
    let mut all: Vec<(&'static str, Params)> = Vec::new();
    // Where each batched statement goes, and its rows.
    let mut marks: Option<(usize, MarkColumns)> = None;
    let mut audit: Option<(usize, AuditColumns)> = None;
    for write in writes {
        match write {
            Write::NewMark(m) => {
                let (_, columns) = marks.get_or_insert_with(|| {
                    all.push((INSERT_MARKS, Vec::new()));
                    (all.len() - 1, MarkColumns::default())
                });
                columns.push(m)?;
            }
            Write::Audit(e) => {
                let (_, columns) = audit.get_or_insert_with(|| {
                    all.push((INSERT_AUDIT_ENTRIES, Vec::new()));
                    (all.len() - 1, AuditColumns::default())
                });
                columns.push(e)?;
            }
            other => all.extend(statements(other)?),
        }
    }
    for (at, params) in [
        marks.map(|(at, columns)| (at, columns.params())),
        audit.map(|(at, columns)| (at, columns.params())),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(statement) = all.get_mut(at) {
            statement.1 = params;
        }
    }
    Ok(all)
}

/// The statements and parameters of one write.
fn statements(write: &Write) -> Result<Vec<(&'static str, Params)>, StoreError> {
    Ok(match write {
        Write::Certifier(c) => vec![(
            UPSERT_CERTIFIER,
            vec![
                Box::new(c.id.as_str().to_owned()),
                Box::new(c.name.clone()),
                Box::new(c.assurance.clone()),
                Box::new(int(c.created_at, "created_at")?),
            ],
        )],
        Write::ApiKey(hash, k) => {
            let certifier = match &k.holder {
                KeyHolder::Admin => None,
                KeyHolder::Certifier(id) => Some(id.as_str().to_owned()),
            };
            vec![(
                UPSERT_API_KEY,
                vec![
                    Box::new(hash.clone()),
                    Box::new(certifier),
                    Box::new(int_opt(k.created_at, "created_at")?),
                    Box::new(int_opt(k.expires_at, "expires_at")?),
                    Box::new(int_opt(k.revoked_at, "revoked_at")?),
                    Box::new(k.revocation_reason.clone()),
                ],
            )]
        }
        Write::Assessment(a) => vec![(
            UPSERT_ASSESSMENT,
            vec![
                Box::new(a.id.as_str().to_owned()),
                Box::new(a.certifier_id.as_str().to_owned()),
                Box::new(a.framework.clone()),
                Box::new(i16::from(a.target_class)),
                Box::new(Json(a.decision.clone())),
                Box::new(Json(a.responses.clone())),
                Box::new(int(a.created_at, "created_at")?),
            ],
        )],
        Write::NewMark(m) => {
            let mut columns = MarkColumns::default();
            columns.push(m)?;
            vec![(INSERT_MARKS, columns.params())]
        }
        Write::Mark(m) => {
            let mut columns = MarkColumns::default();
            columns.push(m)?;
            vec![(UPSERT_MARK, columns.params())]
        }
        Write::IssuerKey(k) => vec![(
            UPSERT_ISSUER_KEY,
            vec![
                Box::new(k.kid.to_string()),
                Box::new(k.certifier_id.as_str().to_owned()),
                Box::new(rows::alg_name(k.alg)),
                Box::new(k.public_key.clone()),
                Box::new(i64::from(k.status_list)),
                Box::new(int(k.created_at, "created_at")?),
                Box::new(k.certificate.clone()),
                Box::new(int_opt(k.activated_at, "activated_at")?),
                Box::new(int_opt(k.activated_by, "activated_by")?),
                Box::new(int_opt(k.retired_at, "retired_at")?),
            ],
        )],
        Write::Audit(e) => {
            let mut columns = AuditColumns::default();
            columns.push(e)?;
            vec![(INSERT_AUDIT_ENTRIES, columns.params())]
        }
        Write::Answer(key, a) => vec![(
            UPSERT_ANSWER,
            vec![
                Box::new(key.clone()),
                Box::new(a.request_hash.clone()),
                Box::new(
                    i16::try_from(a.status)
                        .map_err(|_| StoreError::new(format!("answer status {}", a.status)))?,
                ),
                Box::new(a.body.clone()),
                Box::new(int(a.created_at, "created_at")?),
                Box::new(int(a.expires_at, "expires_at")?),
            ],
        )],
        Write::ForgetAnswer(key) => vec![(DELETE_ANSWER, vec![Box::new(key.clone())])],
        Write::TrustList(signed) => vec![(PUT_TRUST_LIST, vec![Box::new(signed.clone())])],
        Write::Snapshot(snapshot) => vec![(
            PUT_SNAPSHOT,
            vec![
                Box::new(i64::from(snapshot.list)),
                Box::new(int(snapshot.audit_entries, "audit position")?),
                Box::new(i64::from(snapshot.len)),
                Box::new(snapshot.bits.clone()),
            ],
        )],
        Write::Counters(c) => {
            let mut all: Vec<(&'static str, Params)> = vec![(
                PUT_HEAD,
                vec![
                    Box::new(i64::from(c.next_status_list)),
                    Box::new(int(c.audit.entries, "audit entries")?),
                    Box::new(c.audit.hash.clone()),
                ],
            )];
            for (list, next) in &c.next_index {
                all.push((
                    PUT_NEXT_INDEX,
                    vec![Box::new(i64::from(*list)), Box::new(i64::from(*next))],
                ));
            }
            all
        }
    })
}

/// A unit of work on a [`PgStore`].
pub(super) struct PgUnit<'a> {
    store: &'a PgStore,
    writes: Vec<Write>,
    /// A connection in this unit's transaction, with the head row locked, once it used the
    /// database; and the counters stored when it locked them.
    open: Option<(deadpool_postgres::Object, Counters)>,
}

impl<'a> PgUnit<'a> {
    pub(super) fn new(store: &'a PgStore) -> Self {
        Self {
            store,
            writes: Vec::new(),
            open: None,
        }
    }

    /// Starts the transaction and locks the head, unless done already.
    async fn open(&mut self) -> Result<&mut (deadpool_postgres::Object, Counters), StoreError> {
        if self.open.is_none() {
            let client = self.store.client().await?;
            // Pipelined: one round trip (the BEGIN is sent first).
            let (begun, counters) =
                tokio::join!(client.batch_execute("BEGIN"), rows::counters(&client, true));
            // Held from here until the transaction ends (rolled back if this fails: see Drop).
            self.open = Some((client, Counters::default()));
            begun.map_err(pg_error("starting a transaction"))?;
            let counters = counters?;
            if let Some((_, locked)) = &mut self.open {
                *locked = counters;
            }
        }
        self.open
            .as_mut()
            .ok_or_else(|| StoreError::new("no transaction"))
    }

    /// One row of `sql` read in this unit's transaction.
    fn query_opt(
        &mut self,
        context: &str,
        sql: &str,
        param: &(dyn ToSql + Sync),
    ) -> Result<Option<tokio_postgres::Row>, StoreError> {
        let store = self.store;
        store.block_on(async {
            let (client, _) = self.open().await?;
            let statement = client
                .prepare_cached(sql)
                .await
                .map_err(pg_error(context))?;
            client
                .query_opt(&statement, &[param])
                .await
                .map_err(pg_error(context))
        })
    }

    /// Sends every write, pipelined, then commits.
    async fn send(&mut self, writes: &[Write]) -> Result<CommitTimes, StoreError> {
        let started = Instant::now();
        let all = unit_statements(writes)?;
        let client: &deadpool_postgres::Object = &self.open().await?.0;
        let mut prepared = std::collections::HashMap::new();
        for (sql, _) in &all {
            if !prepared.contains_key(sql) {
                let statement = client
                    .prepare_cached(sql)
                    .await
                    .map_err(pg_error("preparing a write"))?;
                prepared.insert(*sql, statement);
            }
        }
        let mut sent = Vec::with_capacity(all.len());
        for (sql, params) in &all {
            let statement = prepared
                .get(sql)
                .ok_or_else(|| StoreError::new("a write without its statement"))?;
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            sent.push(async move { client.execute(statement, &refs).await });
        }
        futures_util::future::try_join_all(sent)
            .await
            .map_err(pg_error("writing"))?;
        let apply = started.elapsed();
        client
            .batch_execute("COMMIT")
            .await
            .map_err(pg_error("committing"))?;
        Ok(CommitTimes {
            apply,
            flush: started.elapsed().saturating_sub(apply),
        })
    }

    /// The last write of this unit that `pick` recognises, newest first.
    fn last_write<T>(&self, pick: impl Fn(&Write) -> Option<T>) -> Option<T> {
        self.writes.iter().rev().find_map(pick)
    }
}

impl Drop for PgUnit<'_> {
    fn drop(&mut self) {
        // Not committed: roll back before the connection goes back to the pool, or close it.
        if let Some((client, _)) = self.open.take() {
            let rolled_back = self.store.block_on(client.batch_execute("ROLLBACK"));
            if rolled_back.is_err() {
                drop(deadpool_postgres::Object::take(client));
            }
        }
    }
}

impl UnitOfWork for PgUnit<'_> {
    fn lock_head(&mut self) -> Result<Option<Counters>, StoreError> {
        let store = self.store;
        store.block_on(async { Ok(Some(self.open().await?.1.clone())) })
    }

    fn put_certifier(&mut self, certifier: &Certifier) -> Result<(), StoreError> {
        self.writes.push(Write::Certifier(certifier.clone()));
        Ok(())
    }

    fn put_api_key(&mut self, hash: &str, record: &ApiKeyRecord) -> Result<(), StoreError> {
        self.writes
            .push(Write::ApiKey(hash.to_owned(), record.clone()));
        Ok(())
    }

    fn put_assessment(&mut self, record: &AssessmentRecord) -> Result<(), StoreError> {
        self.writes
            .push(Write::Assessment(Box::new(record.clone())));
        Ok(())
    }

    fn put_mark(&mut self, mark: SignedMark) -> Result<(), StoreError> {
        self.writes.push(Write::NewMark(Box::new(mark.record)));
        Ok(())
    }

    fn put_mark_record(&mut self, record: &MarkRecord) -> Result<(), StoreError> {
        self.writes.push(Write::Mark(Box::new(record.clone())));
        Ok(())
    }

    fn mark(&mut self, id: &MarkId) -> Result<Option<MarkRecord>, StoreError> {
        let written = self.last_write(|w| match w {
            Write::NewMark(m) | Write::Mark(m) if m.mark_id == *id => Some((**m).clone()),
            _ => None,
        });
        if written.is_some() {
            return Ok(written);
        }
        let sql = format!("SELECT {MARK_COLUMNS} FROM marks WHERE id = $1");
        self.query_opt("reading a mark", &sql, &id.as_str())?
            .map(|row| rows::mark(&row))
            .transpose()
    }

    fn put_issuer_key(&mut self, key: &IssuerKey) -> Result<(), StoreError> {
        self.writes.push(Write::IssuerKey(Box::new(key.clone())));
        Ok(())
    }

    fn append_audit_entry(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.writes.push(Write::Audit(Box::new(entry.clone())));
        Ok(())
    }

    fn idempotent_answer(&mut self, key: &[u8]) -> Result<Option<StoredAnswer>, StoreError> {
        let written = self.last_write(|w| match w {
            Write::Answer(k, a) if k == key => Some(Some(a.clone())),
            Write::ForgetAnswer(k) if k == key => Some(None),
            _ => None,
        });
        if let Some(answer) = written {
            return Ok(answer);
        }
        self.query_opt(
            "reading an idempotent answer",
            "SELECT key, request_hash, status, body, created_at, expires_at \
             FROM idempotent_answers WHERE key = $1",
            &key,
        )?
        .map(|row| rows::answer(&row))
        .transpose()
    }

    fn put_idempotent_answer(
        &mut self,
        key: &[u8],
        answer: &StoredAnswer,
    ) -> Result<(), StoreError> {
        self.writes
            .push(Write::Answer(key.to_vec(), answer.clone()));
        Ok(())
    }

    fn delete_idempotent_answer(&mut self, key: &[u8]) {
        self.writes.push(Write::ForgetAnswer(key.to_vec()));
    }

    fn put_trust_list(&mut self, signed: &[u8]) {
        self.writes.push(Write::TrustList(signed.to_vec()));
    }

    fn put_status_snapshot(&mut self, snapshot: &StatusSnapshot) -> Result<(), StoreError> {
        self.writes.push(Write::Snapshot(snapshot.clone()));
        Ok(())
    }

    fn put_counters(&mut self, counters: &Counters) -> Result<(), StoreError> {
        self.writes.push(Write::Counters(counters.clone()));
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    fn savepoint(&self) -> Savepoint {
        Savepoint(self.writes.len())
    }

    fn rollback(&mut self, savepoint: Savepoint) {
        self.writes.truncate(savepoint.0);
    }

    fn commit(mut self: Box<Self>) -> Result<CommitTimes, StoreError> {
        let writes = std::mem::take(&mut self.writes);
        let store = self.store;
        let times = store.block_on(self.send(&writes))?;
        // Committed: the connection goes back to the pool as it is.
        self.open = None;
        Ok(times)
    }
}
