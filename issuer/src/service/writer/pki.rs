//! The PKI's writes: issuer keys (made, certified) and the trust list put in force, with the
//! key changes it brings (`spec/pki.md` section 11).

use std::sync::Arc;

use trustmark_domain::{DomainError, IssuerKey, KeyChange};
use trustmark_format::TrustList;

use super::super::repository::UnitOfWork;
use super::super::state::InForce;
use super::{Effect, KeyAction, WriteError, Writer};

/// The sequence number of a stored trust list (its signature was checked when it was put in
/// force; the service checks it again at start).
pub(super) fn stored_sequence(bytes: &[u8]) -> Result<u64, String> {
    let signed = TrustList::parse_signed(bytes).map_err(|e| e.to_string())?;
    let list = TrustList::from_cbor(signed.payload()).map_err(|e| e.to_string())?;
    Ok(list.sequence)
}

impl Writer {
    /// The issuer keys as they will be after this group's earlier commands.
    fn issuer_keys_after(&self, effects: &[Effect]) -> Vec<IssuerKey> {
        let mut keys = self.shared.all_keys();
        for effect in effects {
            if let Effect::IssuerKey(key) = effect {
                match keys.iter_mut().find(|k| k.kid == key.kid) {
                    Some(old) => *old = key.clone(),
                    None => keys.push(key.clone()),
                }
            }
        }
        keys
    }

    /// Refuses marks signed by a key retired after their handler authorised them (a trust list
    /// that dropped the key was put in force meanwhile, in an earlier commit or earlier in this
    /// group): such a mark would be stored as valid while every verifier refuses it.
    pub(super) fn check_signing_keys(
        &self,
        kids: impl IntoIterator<Item = trustmark_domain::Kid>,
        effects: &[Effect],
    ) -> Result<(), WriteError> {
        for kid in kids {
            // Whether the key is retired, as this group's earlier commands leave it (no record
            // is copied: this runs for every mark).
            let pending = effects.iter().rev().find_map(|e| match e {
                Effect::IssuerKey(key) if key.kid == kid => Some(key.retired_at.is_some()),
                _ => None,
            });
            let retired = pending.or_else(|| {
                self.shared
                    .with_key(kid.as_bytes(), |key| key.map(|k| k.retired_at.is_some()))
            });
            match retired {
                Some(false) => {}
                Some(true) => {
                    return Err(DomainError::KeyRetired {
                        kid: kid.to_string(),
                    }
                    .into())
                }
                None => return Err(WriteError::internal(format!("a mark of no key {kid}"))),
            }
        }
        Ok(())
    }

    pub(super) fn save_issuer_key(
        &mut self,
        key: Box<IssuerKey>,
        action: KeyAction,
        actor: &str,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<(), WriteError> {
        let kid = key.kid.to_string();
        let keys = self.issuer_keys_after(effects);
        let existing = keys.iter().find(|k| k.kid == key.kid);
        let details = match action {
            KeyAction::Created => {
                if existing.is_some() {
                    return Err(WriteError::internal(format!(
                        "issuer key {kid} exists already"
                    )));
                }
                if let Some(other) = keys.iter().find(|k| k.status_list == key.status_list) {
                    return Err(WriteError::internal(format!(
                        "status list {} belongs to key {} already",
                        key.status_list, other.kid
                    )));
                }
                let stored = &mut self.counters.stored;
                stored.next_status_list = stored.next_status_list.max(key.status_list + 1);
                stored.next_index.entry(key.status_list).or_insert(0);
                serde_json::json!({
                    "certifier_id": key.certifier_id, "alg": key.alg, "status_list": key.status_list,
                })
            }
            KeyAction::Certified => {
                let existing = existing.ok_or(WriteError::NotFound("issuer key"))?;
                if existing.retired_at.is_some() {
                    return Err(DomainError::KeyRetired { kid }.into());
                }
                let pem = key.certificate.as_deref().unwrap_or_default();
                let digest = ring::digest::digest(&ring::digest::SHA256, pem.as_bytes());
                serde_json::json!({
                    "certifier_id": key.certifier_id,
                    "certificate_sha256": hex::encode(digest.as_ref()),
                })
            }
        };
        let audit_action = match action {
            KeyAction::Created => "issuer_key.created",
            KeyAction::Certified => "issuer_key.certified",
        };
        unit.put_issuer_key(&key)?;
        self.audit(unit, actor, audit_action, &kid, details)?;
        effects.push(Effect::IssuerKey(*key));
        Ok(())
    }

    /// Puts `in_force` in force: refuses a sequence not above the stored one's (the check that
    /// counts: the writer is the one place lists are applied, so two uploads racing cannot both
    /// pass it), stores the list, activates and retires keys, and audits it.
    pub(super) fn apply_trust_list(
        &mut self,
        in_force: Arc<InForce>,
        actor: &str,
        unit: &mut dyn UnitOfWork,
        effects: &mut Vec<Effect>,
    ) -> Result<Vec<KeyChange>, WriteError> {
        let list = &in_force.accepted.list;
        if let Some(current) = self.counters.trust_sequence {
            if list.sequence <= current {
                return Err(DomainError::TrustListRollback {
                    current,
                    offered: list.sequence,
                }
                .into());
            }
        }
        let at = super::now();
        let keys = self.issuer_keys_after(effects);
        let changes = in_force.accepted.key_changes(&keys);
        for change in &changes {
            let Some(mut key) = keys.iter().find(|k| k.kid == *change.kid()).cloned() else {
                continue;
            };
            change.apply(&mut key, at, list.sequence);
            unit.put_issuer_key(&key)?;
            effects.push(Effect::IssuerKey(key));
        }
        unit.put_trust_list(&in_force.accepted.bytes);
        self.counters.trust_sequence = Some(list.sequence);
        let (activated, retired) = KeyChange::split(&changes);
        let details = serde_json::json!({
            "issued_at": list.issued_at.0,
            "expires_at": list.expires_at.0,
            "issuers": list.issuers.len(),
            "activated": activated,
            "retired": retired,
        });
        let subject = format!("sequence {}", list.sequence);
        self.audit(unit, actor, "trust_list.applied", &subject, details)?;
        effects.push(Effect::TrustList(in_force));
        Ok(changes)
    }
}
