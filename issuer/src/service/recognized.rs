//! Mutual recognition (`spec/pki.md` 11.6): the verification page and `POST /v1/verify` verify
//! marks of other schemes too, each against the trust list of its own root. The service holds
//! the configured schemes' roots, reads their trust lists from files (refusing a list that does
//! not verify under its root or is older than the held one), and verifies against all schemes
//! at once with the verifier's [`TrustStores`], its own scheme first.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use trustmark_format::{TrustList, UnixTime};
use trustmark_keys::RootCertificate;
use trustmark_verifier::{SignatureVerifier, TrustAnchor, TrustStore, TrustStores};

use super::config::RecognizedScheme;
use super::state::Shared;

/// One recognised scheme: its root and the list held for it.
#[derive(Debug)]
pub struct Recognized {
    /// The root's common name (shown with the issuer's name).
    pub name: String,
    /// Its trust anchor.
    pub anchor: TrustAnchor,
    /// Where its trust list is read from.
    pub trust_list: PathBuf,
    /// The held list (signed bytes, accepted), if one was read.
    held: RwLock<Option<Vec<u8>>>,
}

/// The recognised schemes and the stores verification uses.
pub struct Recognition {
    schemes: Vec<Recognized>,
    /// Bumped whenever a recognised scheme's list changes.
    version: AtomicU64,
    /// The stores last built, with what they were built from: the own list's sequence and
    /// `version`.
    built: RwLock<Option<Built>>,
}

struct Built {
    own: Option<u64>,
    version: u64,
    stores: Arc<TrustStores<'static>>,
}

impl std::fmt::Debug for Recognition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognition")
            .field("schemes", &self.schemes)
            .finish_non_exhaustive()
    }
}

/// The payload of a signed list that was verified before.
fn list_of(bytes: &[u8]) -> Option<TrustList> {
    let signed = TrustList::parse_signed(bytes).ok()?;
    TrustList::from_cbor(signed.payload()).ok()
}

/// The issued-at time of a signed list (to hold an expired list: verification then fails with
/// `trust_list_expired` for that scheme only).
fn issued_at(bytes: &[u8]) -> Option<UnixTime> {
    list_of(bytes).map(|l| l.issued_at)
}

impl Recognition {
    /// The schemes of `config`, whose roots must differ from `own` and from each other.
    pub fn open(config: &[RecognizedScheme], own: &TrustAnchor) -> anyhow::Result<Self> {
        let mut schemes: Vec<Recognized> = Vec::with_capacity(config.len());
        for scheme in config {
            let pem = std::fs::read_to_string(&scheme.root_certificate).with_context(|| {
                format!(
                    "scheme.recognized root_certificate {}",
                    scheme.root_certificate.display()
                )
            })?;
            let root = RootCertificate::from_pem(&pem)
                .with_context(|| scheme.root_certificate.display().to_string())?;
            let anchor = TrustAnchor {
                alg: root.alg,
                public_key: root.public_key.clone(),
            };
            if anchor.public_key == own.public_key
                || schemes
                    .iter()
                    .any(|s| s.anchor.public_key == anchor.public_key)
            {
                anyhow::bail!(
                    "scheme.recognized {}: this root is configured already",
                    scheme.root_certificate.display()
                );
            }
            schemes.push(Recognized {
                name: root.common_name,
                anchor,
                trust_list: scheme.trust_list.clone(),
                held: RwLock::default(),
            });
        }
        Ok(Self {
            schemes,
            version: AtomicU64::default(),
            built: RwLock::default(),
        })
    }

    /// The recognised schemes.
    pub fn schemes(&self) -> &[Recognized] {
        &self.schemes
    }

    /// The name of the recognised scheme of `anchor`.
    pub fn name_of(&self, anchor: &TrustAnchor) -> Option<&str> {
        self.schemes
            .iter()
            .find(|s| s.anchor == *anchor)
            .map(|s| s.name.as_str())
    }

    /// Holds `bytes` (read from scheme `index`'s file) as its list if it is new: it must verify
    /// under the scheme's root and be current at `now`, and have a higher sequence than the held
    /// one. `Ok(false)`: that list is held already.
    pub fn refresh(
        &self,
        index: usize,
        bytes: Vec<u8>,
        now: UnixTime,
        crypto: &'static dyn SignatureVerifier,
    ) -> Result<bool, trustmark_verifier::VerifyError> {
        let scheme = &self.schemes[index];
        let mut held = scheme.held.write().unwrap_or_else(|e| e.into_inner());
        if held.as_deref() == Some(bytes.as_slice()) {
            return Ok(false);
        }
        let offered = TrustStore::from_signed(&bytes, &scheme.anchor, now, crypto)?
            .list()
            .sequence;
        // The held list was verified when it was accepted: only its sequence is read again.
        if let Some(current) = held.as_deref().and_then(list_of).map(|l| l.sequence) {
            if offered <= current {
                return Err(trustmark_verifier::VerifyError::TrustListRollback {
                    current,
                    offered,
                });
            }
        }
        *held = Some(bytes);
        self.version.fetch_add(1, Ordering::Release);
        Ok(true)
    }

    /// The stores to verify with: the own scheme's list in force, then each recognised list
    /// held. Rebuilt (one root signature check per scheme) only when a list changed.
    pub fn stores(
        &self,
        shared: &Shared,
        own_anchor: &TrustAnchor,
        crypto: &'static dyn SignatureVerifier,
    ) -> Arc<TrustStores<'static>> {
        let own = shared.in_force();
        let own_sequence = own.as_ref().map(|t| t.accepted.list.sequence);
        let version = self.version.load(Ordering::Acquire);
        if let Some(built) = self
            .built
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if built.own == own_sequence && built.version == version {
                return built.stores.clone();
            }
        }
        let mut stores = TrustStores::new(crypto);
        let mut add = |bytes: &[u8], anchor: &TrustAnchor| {
            // Held lists verified when they were accepted; added at their own issue time so
            // an expired one stays (and fails as expired) until a newer one arrives.
            let at = issued_at(bytes).unwrap_or(UnixTime(0));
            if let Err(e) = stores.add(bytes, anchor, at) {
                tracing::error!("a held trust list no longer verifies: {e}");
            }
        };
        if let Some(own) = &own {
            add(&own.accepted.bytes, own_anchor);
        }
        for scheme in &self.schemes {
            if let Some(bytes) = scheme
                .held
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .as_deref()
            {
                add(bytes, &scheme.anchor);
            }
        }
        let stores = Arc::new(stores);
        *self.built.write().unwrap_or_else(|e| e.into_inner()) = Some(Built {
            own: own_sequence,
            version,
            stores: stores.clone(),
        });
        stores
    }
}
