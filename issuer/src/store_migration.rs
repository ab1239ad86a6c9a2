//! `trustmark-issuer migrate --from DIR --to URL`: moves a registry from the embedded sled store
//! of a stopped service into an empty PostgreSQL database (`spec/storage.md` 11.7).
//!
//! The source's audit chain is verified first; the target must be empty; records are copied in
//! units of 2,000 (certifiers, API keys and issuer keys before what refers to them, the
//! counters and the trust list last); then the target's chain is verified and must end at the
//! same head, and its counters and number of marks must equal the source's.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::service::audit;
use crate::service::repository::postgres::PgStore;
use crate::service::repository::{Repository, UnitOfWork};
use crate::service::store::{SledStore, StoreError};

/// Records copied per unit of work (one transaction each).
const CHUNK: usize = 2000;

/// What a migration copied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Certifiers.
    pub certifiers: usize,
    /// API keys.
    pub api_keys: usize,
    /// Issuer keys.
    pub issuer_keys: usize,
    /// Assessments.
    pub assessments: usize,
    /// Marks.
    pub marks: usize,
    /// Audit entries.
    pub audit_entries: u64,
    /// Idempotent answers.
    pub answers: usize,
}

/// Copies records into `target` in units of [`CHUNK`] writes.
struct Copier<'a> {
    target: &'a dyn Repository,
    unit: Option<Box<dyn UnitOfWork + 'a>>,
    in_unit: usize,
}

impl<'a> Copier<'a> {
    fn new(target: &'a dyn Repository) -> Self {
        Self {
            target,
            unit: None,
            in_unit: 0,
        }
    }

    /// Adds one write; commits the unit when it is full.
    fn write(
        &mut self,
        write: impl FnOnce(&mut dyn UnitOfWork) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let target = self.target;
        let unit = self.unit.get_or_insert_with(|| target.begin());
        write(unit.as_mut())?;
        self.in_unit += 1;
        if self.in_unit >= CHUNK {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits what is written so far.
    fn commit(&mut self) -> Result<(), StoreError> {
        self.in_unit = 0;
        match self.unit.take() {
            Some(unit) if !unit.is_empty() => unit.commit().map(drop),
            _ => Ok(()),
        }
    }
}

/// Whether `store` holds nothing: no certifier, key, mark, assessment, audit entry or trust
/// list, and its counters at their start.
fn is_empty(store: &dyn Repository) -> Result<bool, StoreError> {
    let mut any = false;
    store.for_each_api_key(&mut |_, _| {
        any = true;
        Ok(())
    })?;
    store.for_each_mark_status(&mut |_, _| {
        any = true;
        Ok(())
    })?;
    store.for_each_assessment(&mut |_| {
        any = true;
        Ok(())
    })?;
    Ok(!any
        && store.certifiers()?.is_empty()
        && store.issuer_keys()?.is_empty()
        && store.audit_entries_from(0, 1)?.is_empty()
        && store.trust_list()?.is_none()
        && store.counters()? == Default::default())
}

/// Copies every record of `source` into `target`, which must be empty.
pub fn copy(source: &dyn Repository, target: &dyn Repository) -> Result<Copied> {
    let (entries, head) = audit::verify_chain(source).context("the source's audit chain")?;
    if !is_empty(target)? {
        bail!("the target database is not empty: migrate only into a new, empty database");
    }
    let mut copied = Copied::default();
    let mut copier = Copier::new(target);
    for certifier in source.certifiers()? {
        copier.write(|unit| unit.put_certifier(&certifier))?;
        copied.certifiers += 1;
    }
    source.for_each_api_key(&mut |hash, record| {
        copied.api_keys += 1;
        copier.write(|unit| unit.put_api_key(&hash, &record))
    })?;
    for key in source.issuer_keys()? {
        copier.write(|unit| unit.put_issuer_key(&key))?;
        copied.issuer_keys += 1;
    }
    source.for_each_assessment(&mut |record| {
        copied.assessments += 1;
        copier.write(|unit| unit.put_assessment(&record))
    })?;
    source.for_each_mark(&mut |record| {
        copied.marks += 1;
        copier.write(|unit| unit.put_mark_record(&record))
    })?;
    source.for_each_audit_entry(&mut |position, entry| {
        let entry = entry
            .ok_or_else(|| StoreError::new(format!("audit entry {position} does not decode")))?;
        copied.audit_entries += 1;
        copier.write(|unit| unit.append_audit_entry(&entry))
    })?;
    source.for_each_idempotent_answer(&mut |key, answer| {
        copied.answers += 1;
        copier.write(|unit| unit.put_idempotent_answer(&key, &answer))
    })?;
    let counters = source.counters()?;
    let trust_list = source.trust_list()?;
    copier.write(|unit| {
        if let Some(list) = &trust_list {
            unit.put_trust_list(list);
        }
        unit.put_counters(&counters)
    })?;
    copier.commit()?;

    let (target_entries, target_head) =
        audit::verify_chain(target).context("the target's audit chain after the copy")?;
    if (target_entries, &target_head) != (entries, &head) {
        bail!(
            "the target's audit chain ends at entry {target_entries} ({target_head}), the source's at {entries} ({head})"
        );
    }
    if target.counters()? != counters {
        bail!("the target's counters differ from the source's after the copy");
    }
    let mut marks = 0;
    target.for_each_mark_status(&mut |_, _| {
        marks += 1;
        Ok(())
    })?;
    if marks != copied.marks {
        bail!(
            "the target holds {marks} marks, the source {}",
            copied.marks
        );
    }
    Ok(copied)
}

/// Copies the sled store of the stopped service in `data_dir` into the empty PostgreSQL
/// database at `url`.
pub fn migrate(data_dir: &Path, url: &str) -> Result<Copied> {
    let db = data_dir.join("db");
    if !db.is_dir() {
        bail!(
            "{} holds no store (no {})",
            data_dir.display(),
            db.display()
        );
    }
    let source = SledStore::open(&db)
        .with_context(|| format!("opening {} (is the service on it stopped?)", db.display()))?;
    let target = PgStore::connect(url, 4)?;
    copy(&source, &target)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

    use super::*;
    use crate::service::repository::postgres::testing;

    #[test]
    fn an_empty_store_copies_to_an_empty_database_and_a_full_target_is_refused() {
        let Some(url) = testing::fresh() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        assert_eq!(migrate(dir.path(), &url).unwrap(), Copied::default());
        testing::execute(&url, "UPDATE registry_head SET trust_list = '\\x00'");
        assert_eq!(
            migrate(dir.path(), &url).unwrap_err().to_string(),
            "the target database is not empty: migrate only into a new, empty database"
        );
        let nowhere = tempfile::tempdir().unwrap();
        let db = nowhere.path().join("db");
        assert_eq!(
            migrate(nowhere.path(), &url).unwrap_err().to_string(),
            format!(
                "{} holds no store (no {})",
                nowhere.path().display(),
                db.display()
            )
        );
    }
}
