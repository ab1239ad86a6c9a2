//! Following the other instances on a shared store (`spec/storage.md` 11.5). Every change any
//! instance commits appends to the one audit chain, so each instance reads the entries past
//! the last it saw, about once a second, and brings what it keeps in memory up to date: the
//! status bits of marks whose status changed, the length of each status list, issuer keys, API
//! keys and the trust list in force. Its own changes come back too; applying them again
//! changes nothing, since the writer applies them after its own (see [`start`]).

use std::time::Duration;

use trustmark_domain::MarkId;

use super::repository::Repository;
use super::state::Shared;
use super::store::StoreError;
use super::writer::{Command, Write};
use super::AppState;

/// How often an instance reads the others' changes: a revocation made through one instance is
/// in the others' status lists within this (plus their cache, `status_list_ttl_seconds / 2`).
pub(super) const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Most entries read at once.
const BATCH: usize = 1000;

/// What a run of audit entries changed.
#[derive(Debug, Default)]
struct Changed {
    /// Marks whose status changed.
    marks: Vec<MarkId>,
    /// Marks were issued (status lists may be longer).
    issued: bool,
    /// Issuer keys were made, certified, activated or retired.
    keys: bool,
    /// API keys (or certifiers, which come with one) were made or revoked.
    api_keys: bool,
    /// A trust list was put in force.
    trust_list: bool,
}

impl Changed {
    fn note(&mut self, action: &str, subject: &str) {
        match action {
            "mark.revoked" | "mark.suspended" | "mark.reinstated" => match MarkId::parse(subject) {
                Ok(id) => self.marks.push(id),
                Err(e) => tracing::error!("audit entry {action} of {subject:?}: {e}"),
            },
            "mark.issued" | "marks.issued" => self.issued = true,
            "issuer_key.created" | "issuer_key.certified" => self.keys = true,
            "trust_list.applied" => {
                self.keys = true;
                self.trust_list = true;
            }
            "api_key.created" | "api_key.revoked" | "certifier.created" => self.api_keys = true,
            _ => {}
        }
    }
}

/// Starts following the store's audit chain, if other instances may write the store; else
/// does nothing. Every [`FOLLOW_EVERY`] it asks the writer to apply the entries it has not seen
/// ([`Command::Follow`]): the writer reads and applies them between its commit groups, so what
/// it reads is never older than what its own groups already put in memory, and a change read
/// from the store can never overwrite a newer one. A trust list another instance put in force
/// is verified here (it needs the scheme root) and taken if its sequence is newer.
pub(super) fn start(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    if !state.store.is_shared() {
        return None;
    }
    let state = state.clone();
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(FOLLOW_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let (reply, done) = tokio::sync::oneshot::channel();
            let write = Write {
                command: Command::Follow { reply },
                remember: None,
            };
            if state.writer.send(write).await.is_err() {
                return;
            }
            match done.await {
                Ok(Ok(true)) => {
                    if let Err(e) = take_stored_trust_list(&state) {
                        tracing::warn!("following the other instances' trust list: {e}");
                    }
                }
                Ok(Ok(false)) => {}
                // Tried again at the next tick (the store may be restarting).
                Ok(Err(e)) => tracing::warn!("following the other instances: {e}"),
                Err(_) => return,
            }
        }
    }))
}

/// Puts the stored trust list in force if its sequence is newer than the one in force.
fn take_stored_trust_list(state: &AppState) -> Result<(), StoreError> {
    let Some(bytes) = state.registry(|r| r.trust_list())? else {
        return Ok(());
    };
    let in_force = state
        .scheme
        .restore(bytes, state.crypto)
        .map_err(|e| StoreError::new(format!("the stored trust list: {e}")))?;
    let shared = &state.shared;
    let newer = shared
        .in_force()
        .is_none_or(|now| now.accepted.list.sequence < in_force.accepted.list.sequence);
    if newer {
        *shared.trust.write().unwrap_or_else(|e| e.into_inner()) = Some(in_force);
    }
    Ok(())
}

/// Reads the audit entries from `next` on, in batches, and hands what each batch changed to
/// `apply`; returns the position after the last entry read.
fn read_changes(
    store: &dyn Repository,
    mut next: u64,
    mut apply: impl FnMut(&Changed) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    loop {
        let entries = store.audit_entries_from(next, BATCH)?;
        let Some(last) = entries.last() else {
            return Ok(next);
        };
        let mut changed = Changed::default();
        for entry in &entries {
            changed.note(&entry.action, &entry.subject);
        }
        let after = last.seq + 1;
        apply(&changed)?;
        next = after;
        if entries.len() < BATCH {
            return Ok(next);
        }
    }
}

/// Brings the status bits of `shared` up to date with the status changes and issuance recorded
/// in the audit chain from position `from` on (the start-up after loading a snapshot taken at
/// `from`); returns the position after the last entry.
pub(super) fn replay_statuses(
    store: &dyn Repository,
    shared: &Shared,
    from: u64,
) -> Result<u64, StoreError> {
    read_changes(store, from, |changed| {
        apply_statuses(store, shared, changed)
    })
}

/// Applies every change recorded in the audit chain from position `from` on to `shared`
/// (called by the writer, between its commit groups); returns the position after the last
/// entry, and whether a trust list was put in force meanwhile.
pub(super) fn apply_changes(
    store: &dyn Repository,
    shared: &Shared,
    from: u64,
) -> Result<(u64, bool), StoreError> {
    let mut trust_list = false;
    let next = read_changes(store, from, |changed| {
        if changed.keys {
            shared.load_issuer_keys(store)?;
        }
        if changed.api_keys {
            shared.load_api_keys(store)?;
        }
        trust_list |= changed.trust_list;
        apply_statuses(store, shared, changed)
    })?;
    Ok((next, trust_list))
}

/// The status bits and list lengths `changed` names, read from the store.
fn apply_statuses(
    store: &dyn Repository,
    shared: &Shared,
    changed: &Changed,
) -> Result<(), StoreError> {
    for id in &changed.marks {
        let Some(mark) = store.mark(id)? else {
            continue;
        };
        if let Some(list) = shared.list(mark.status_list) {
            let set = list
                .bits
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .set(mark.status_index, mark.status);
            if let Err(e) = set {
                tracing::error!("mark {id}: {e}");
            }
            list.version
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }
    if changed.issued {
        for (number, next) in store.counters()?.next_index {
            let Some(list) = shared.list(number) else {
                continue;
            };
            let mut bits = list.bits.write().unwrap_or_else(|e| e.into_inner());
            let before = bits.len();
            if let Err(e) = bits.extend_to(next) {
                tracing::error!("status list {number}: {e}");
            }
            if bits.len() != before {
                list.version
                    .fetch_add(1, std::sync::atomic::Ordering::Release);
            }
        }
    }
    Ok(())
}
