//! Each command's writes, audit entries and effects.

use super::super::keys::{key_id, ApiKeyRecord, KeyHolder, KeyState};
use super::super::records::{AssessmentRecord, Certifier, MarkRecord, SignedMark};
use super::super::repository::UnitOfWork;
use super::super::state::StatusListFull;
use super::{Command, Effect, NewKey, Pending, WriteError, Writer};
use crate::{MarkStatus, StatusChange};

/// Most marks one `marks.issued` audit entry lists. Keeps entries (about 200 bytes per mark)
/// and the store's nodes of them well under sled's blob threshold, while a batch of 1,000
/// marks costs 32 audit entries instead of 1,000.
const AUDIT_MARKS_PER_ENTRY: usize = 32;

impl Writer {
    /// Computes a command's writes into `unit` and its effects; the answer waits for the flush.
    pub(super) fn change(
        &mut self,
        command: Command,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Pending {
        match command {
            Command::Issue {
                certifier_id,
                marks,
                reply,
            } => Pending::Unit(reply, self.store_marks(&certifier_id, marks, unit, effects)),
            Command::SetStatus {
                mark_id,
                change,
                reason,
                actor,
                reply,
            } => {
                let result = self.set_status(&mark_id, change, &reason, &actor, unit, effects);
                Pending::Mark(reply, Box::new(result))
            }
            Command::CreateCertifier {
                certifier,
                key,
                reply,
            } => Pending::Unit(reply, self.create_certifier(&certifier, key, unit, effects)),
            Command::CreateApiKey { key, actor, reply } => {
                Pending::Unit(reply, self.create_api_key(key, &actor, unit, effects))
            }
            Command::RevokeApiKey {
                key_hash,
                revoked,
                actor,
                reply,
            } => Pending::Unit(
                reply,
                self.revoke_api_key(&key_hash, revoked, &actor, unit, effects),
            ),
            Command::SaveAssessment { record, reply } => {
                Pending::Unit(reply, self.save_assessment(&record, unit, effects))
            }
            Command::Follow { reply } => Pending::Flag(reply, self.follow()),
            Command::SaveSnapshot { reply } => {
                Pending::Count(reply, self.save_snapshot(unit, effects))
            }
            Command::SweepIdempotency { now, limit, reply } => {
                Pending::Count(reply, self.sweep_idempotency(now, limit, unit))
            }
            Command::SaveIssuerKey {
                key,
                action,
                actor,
                reply,
            } => Pending::Unit(
                reply,
                self.save_issuer_key(key, action, &actor, unit, effects),
            ),
            Command::ApplyTrustList {
                in_force,
                actor,
                reply,
            } => Pending::Changes(
                reply,
                self.apply_trust_list(in_force, &actor, unit, effects),
            ),
        }
    }

    fn create_certifier(
        &mut self,
        certifier: &Certifier,
        key: NewKey,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<(), WriteError> {
        unit.put_certifier(certifier)?;
        let details = serde_json::json!({
            "name": certifier.name, "assurance": certifier.assurance,
            "key_id": key_id(&key.hash),
        });
        self.audit(
            unit,
            "admin",
            "certifier.created",
            certifier.id.as_str(),
            details,
        )?;
        self.put_key(key, unit, effects)
    }

    fn create_api_key(
        &mut self,
        key: NewKey,
        actor: &str,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<(), WriteError> {
        let (role, certifier_id) = match &key.record.holder {
            KeyHolder::Admin => ("admin", None),
            KeyHolder::Certifier(id) => ("certifier", Some(id.clone())),
        };
        let details = serde_json::json!({
            "role": role, "certifier_id": certifier_id, "expires_at": key.record.expires_at,
        });
        self.audit(unit, actor, "api_key.created", key_id(&key.hash), details)?;
        self.put_key(key, unit, effects)
    }

    fn put_key(
        &mut self,
        key: NewKey,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<(), WriteError> {
        unit.put_api_key(&key.hash, &key.record)?;
        effects.push(Effect::ApiKey(key.hash, key.record));
        Ok(())
    }

    /// The API keys as they will be after this group's earlier commands.
    fn keys_after(&self, effects: &[Effect]) -> std::collections::HashMap<String, ApiKeyRecord> {
        let mut keys = self
            .shared
            .api_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for effect in effects {
            if let Effect::ApiKey(hash, record) = effect {
                keys.insert(hash.clone(), record.clone());
            }
        }
        keys
    }

    /// Revokes a key, unless it is revoked already or it is the last active admin key (which
    /// would lock the scheme operator out).
    fn revoke_api_key(
        &mut self,
        key_hash: &str,
        revoked: ApiKeyRecord,
        actor: &str,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<(), WriteError> {
        let keys = self.keys_after(effects);
        let current = keys.get(key_hash).ok_or(WriteError::NotFound("API key"))?;
        let at = revoked.revoked_at.unwrap_or_else(super::now);
        if current.revoked_at.is_some() {
            return Err(WriteError::ApiKeyAlreadyRevoked);
        }
        let other_active_admin = keys.iter().any(|(hash, k)| {
            hash != key_hash && k.holder == KeyHolder::Admin && k.state(at) == KeyState::Active
        });
        if current.holder == KeyHolder::Admin && !other_active_admin {
            return Err(WriteError::LastAdminKey);
        }
        let details = serde_json::json!({"reason": revoked.revocation_reason});
        self.audit(unit, actor, "api_key.revoked", key_id(key_hash), details)?;
        self.put_key(
            NewKey {
                hash: key_hash.to_owned(),
                record: revoked,
            },
            unit,
            effects,
        )
    }

    fn save_assessment(
        &mut self,
        record: &AssessmentRecord,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<(), WriteError> {
        unit.put_assessment(record)?;
        let details = serde_json::json!({
            "framework": record.framework,
            "target_class": record.target_class,
            "achieved_class": record.decision.achieved_class,
            "digest": record.decision.digest,
        });
        let actor = format!("certifier:{}", record.certifier_id);
        self.audit(
            unit,
            &actor,
            "assessment.created",
            record.id.as_str(),
            details,
        )?;
        effects.push(Effect::Assessment);
        Ok(())
    }

    /// Stores signed marks with one audit entry per command: `mark.issued` for one mark,
    /// `marks.issued` listing up to [`AUDIT_MARKS_PER_ENTRY`] marks for a batch.
    fn store_marks(
        &mut self,
        certifier_id: &trustmark_domain::CertifierId,
        marks: Vec<SignedMark>,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<(), WriteError> {
        let capacity = self.shared.list_capacity;
        if let Some(past) = marks.iter().find(|m| m.record.status_index >= capacity) {
            // Handlers take indexes below the capacity; this is the last line of defence.
            tracing::error!(
                list = past.record.status_list,
                index = past.record.status_index,
                "a mark past the status list's capacity"
            );
            return Err(StatusListFull { capacity }.into());
        }
        if let Some(orphan) = marks
            .iter()
            .find(|m| self.shared.list(m.record.status_list).is_none())
        {
            return Err(WriteError::internal(format!(
                "a mark in status list {}, which no key has",
                orphan.record.status_list
            )));
        }
        let mut kids: Vec<trustmark_domain::Kid> = marks
            .iter()
            .filter_map(|m| trustmark_domain::Kid::from_hex(&m.record.kid))
            .collect();
        kids.sort_unstable();
        kids.dedup();
        self.check_signing_keys(kids, effects)?;
        let issued = |record: &MarkRecord| {
            serde_json::json!({
                "kid": record.kid,
                "status_list": record.status_list,
                "status_index": record.status_index,
                "assessments": record.claims.iter().map(|c| serde_json::json!({"framework": c.framework, "digest": c.assessment_digest})).collect::<Vec<_>>(),
            })
        };
        let actor = format!("certifier:{certifier_id}");
        if let [one] = marks.as_slice() {
            let details = issued(&one.record);
            self.audit(
                unit,
                &actor,
                "mark.issued",
                one.record.mark_id.as_str(),
                details,
            )?;
        } else {
            for (n, chunk) in marks.chunks(AUDIT_MARKS_PER_ENTRY).enumerate() {
                let listed = chunk
                    .iter()
                    .map(|m| {
                        let mut entry = issued(&m.record);
                        entry["mark_id"] = m.record.mark_id.as_str().into();
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
                self.audit(unit, &actor, "marks.issued", &subject, details)?;
            }
        }
        let count = marks.len();
        for mark in marks {
            let (list, index) = (mark.record.status_list, mark.record.status_index);
            unit.put_mark(mark)?;
            let next = self.counters.stored.next_index.entry(list).or_default();
            *next = (*next).max(index.saturating_add(1));
            effects.push(Effect::Status(list, index, MarkStatus::Valid));
        }
        effects.push(Effect::Issued(count));
        Ok(())
    }

    fn set_status(
        &mut self,
        mark_id: &trustmark_domain::MarkId,
        change: StatusChange,
        reason: &str,
        actor: &str,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<MarkRecord, WriteError> {
        // A mark issued or changed earlier in this group is read from the unit.
        let mut record = unit.mark(mark_id)?.ok_or(WriteError::NotFound("mark"))?;
        let old = record.status;
        record.status = old.apply(change)?;
        record.status_reason = Some(reason.to_owned());
        unit.put_mark_record(&record)?;
        let details = serde_json::json!({"from": old, "to": record.status, "reason": reason});
        self.audit(
            unit,
            actor,
            change.audit_action(),
            mark_id.as_str(),
            details,
        )?;
        effects.push(Effect::Status(
            record.status_list,
            record.status_index,
            record.status,
        ));
        effects.push(Effect::StatusChanged(record.status_list));
        Ok(record)
    }

    /// Deletes idempotency records that expired by `now`, at most `limit`.
    fn sweep_idempotency(
        &mut self,
        now: u64,
        limit: usize,
        unit: &mut dyn UnitOfWork,
    ) -> Result<usize, WriteError> {
        let expired = self.store.expired_answers(now, limit)?;
        for key in &expired {
            unit.delete_idempotent_answer(key);
        }
        Ok(expired.len())
    }
}
