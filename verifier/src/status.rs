//! Status lists: verifying an issuer's signed Token Status List (CWT form), and reading a mark's
//! entry in it. See `spec/status-list.md`.

use alloc::string::String;

use trustmark_format::status_list::{CompressedStatusList, StatusList, MAX_LIST_BYTES};
use trustmark_format::{
    FormatError, Status, StatusListClaims, StatusListToken, TrustedIssuer, UnixTime,
};

use crate::trust::candidates;
use crate::verify::find_signer;
use crate::{Policy, TrustAnchor, TrustStore, TrustedSchemes, VerifyError};

/// How the verified list's entries are held.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entries {
    /// As received: each lookup streams the zlib data up to the entry (small heap, time
    /// proportional to the index).
    Compressed(CompressedStatusList),
    /// Inflated once (heap: the whole list; constant-time lookups).
    Expanded(StatusList),
}

/// A status list token that passed every check of [`verify_status_list`]. Only that function
/// constructs one, so a mark checked against a `VerifiedStatusList` was checked against a list
/// signed by a trusted issuer key.
///
/// It holds the list compressed (about 15 KB for 2^20 marks with 1% revoked) and reads an entry
/// by inflating up to it through a 32 KiB window; [`Self::expand`] trades memory for speed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStatusList {
    uri: String,
    issued_at: UnixTime,
    expires_at: Option<UnixTime>,
    ttl: Option<u64>,
    bits: u8,
    entries: Entries,
    len: usize,
    max_bytes: usize,
    issuer: TrustedIssuer,
}

/// Verifies a signed status list token against the trusted schemes (one [`TrustStore`] or
/// several, [`crate::TrustStores`]) and policy at `now`, with the default budget of
/// [`MAX_LIST_BYTES`] bytes of uncompressed list.
pub fn verify_status_list<T: TrustedSchemes + ?Sized>(
    token: &[u8],
    trust: &T,
    policy: &Policy,
    now: UnixTime,
) -> Result<VerifiedStatusList, VerifyError> {
    verify_status_list_with_budget(token, trust, policy, now, MAX_LIST_BYTES)
}

/// Verifies a signed status list token, refusing a list that inflates to more than `max_bytes`
/// (a constrained gateway passes less than the default [`MAX_LIST_BYTES`]).
///
/// Checks, in order: the token profile (tag 18, protected `alg`, `kid`, `typ` =
/// `application/statuslist+cwt`, nothing unprotected); a trusted key with its kid and algorithm
/// whose signature verifies over the received bytes (the same kid-candidate and ES256 low-s rules
/// as marks); the claims; `sub` equal to the signer's `status_list_uri` when its trust-list entry
/// has one; `iat` inside the key's validity; the trust list current; `iat <= now`, `now < exp`
/// and the policy's `max_status_age`; and the whole zlib stream (well-formed, checksum, at most
/// `max_bytes`). The first failure is returned. With several schemes, the signer's key is looked
/// up in all of them as a mark's is, and the trust list checked for currency is its scheme's.
pub fn verify_status_list_with_budget<T: TrustedSchemes + ?Sized>(
    token: &[u8],
    trust: &T,
    policy: &Policy,
    now: UnixTime,
    max_bytes: usize,
) -> Result<VerifiedStatusList, VerifyError> {
    let sign1 = StatusListToken::parse_signed(token)?;
    let (scheme, issuer) = find_signer(&sign1, trust.schemes()).map_err(|e| match e {
        VerifyError::BadSignature => VerifyError::StatusListSignature,
        other => other,
    })?;
    let claims = StatusListClaims::from_cbor(sign1.payload())?;
    if let Some(expected) = &issuer.status_list_uri {
        if *expected != claims.uri {
            return Err(VerifyError::StatusListUriMismatch {
                expected: expected.clone(),
                found: claims.uri,
            });
        }
    }
    let iat = claims.issued_at;
    if iat < issuer.not_before || iat > issuer.not_after {
        return Err(VerifyError::StatusListOutsideKeyValidity {
            iat,
            not_before: issuer.not_before,
            not_after: issuer.not_after,
        });
    }
    scheme.check_current(now)?;
    check_fresh(claims.issued_at, claims.expires_at, policy, now)?;
    // Last, as the costliest check: inflate the whole stream once (nothing kept).
    let len = claims.list.check(max_bytes)?;
    Ok(VerifiedStatusList {
        uri: claims.uri,
        issued_at: claims.issued_at,
        expires_at: claims.expires_at,
        ttl: claims.ttl,
        bits: claims.list.bits(),
        len,
        max_bytes,
        entries: Entries::Compressed(claims.list),
        issuer: issuer.clone(),
    })
}

/// `iat <= now`, `now < exp` and the policy's maximum age.
fn check_fresh(
    issued_at: UnixTime,
    expires_at: Option<UnixTime>,
    policy: &Policy,
    now: UnixTime,
) -> Result<(), VerifyError> {
    if now < issued_at {
        return Err(VerifyError::StatusListNotYetValid { issued_at, now });
    }
    if let Some(expires_at) = expires_at {
        if now >= expires_at {
            return Err(VerifyError::StatusListExpired { expires_at, now });
        }
    }
    if let Some(max_age) = policy.max_status_age {
        if now.0 - issued_at.0 > max_age {
            return Err(VerifyError::StatusListStale {
                issued_at,
                max_age,
                now,
            });
        }
    }
    Ok(())
}

impl VerifiedStatusList {
    /// The URI the list is published at (its `sub`).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// When the list was signed (`iat`).
    pub fn issued_at(&self) -> UnixTime {
        self.issued_at
    }

    /// When the list expires (`exp`), if it does.
    pub fn expires_at(&self) -> Option<UnixTime> {
        self.expires_at
    }

    /// The `ttl` claim: seconds the issuer says the list may be cached before a fresh one is
    /// fetched. Advice for a cache (see [`Self::refresh_due`]), not a validity limit: validity
    /// is `exp` and the policy's `max_status_age`.
    pub fn ttl(&self) -> Option<u64> {
        self.ttl
    }

    /// Whether a cache should fetch a fresh list at `now`: the `ttl` has run out since `iat`.
    /// Always false without a `ttl`.
    pub fn refresh_due(&self, now: UnixTime) -> bool {
        self.ttl
            .is_some_and(|ttl| now.0 >= self.issued_at.0.saturating_add(ttl))
    }

    /// Bits per entry.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The trusted issuer whose key signed the list.
    pub fn issuer(&self) -> &TrustedIssuer {
        &self.issuer
    }

    /// Whether the list may still be used at `now` under `policy`: issued at or before `now`,
    /// not expired, and no older than `policy.max_status_age`. [`crate::verify_with_status`]
    /// checks this again at its own `now`, so a cached list goes stale on its own.
    pub fn check_current(&self, policy: &Policy, now: UnixTime) -> Result<(), VerifyError> {
        check_fresh(self.issued_at, self.expires_at, policy, now)
    }

    /// The status at `index`.
    pub fn status(&self, index: u32) -> Result<Status, VerifyError> {
        let out_of_range = VerifyError::StatusIndexOutOfRange {
            index,
            len: self.len,
        };
        let i = usize::try_from(index)
            .ok()
            .filter(|i| *i < self.len)
            .ok_or(out_of_range.clone())?;
        let value = match &self.entries {
            Entries::Compressed(compressed) => {
                compressed.get(i, self.max_bytes).map_err(|e| match e {
                    FormatError::StatusIndexOutOfRange { .. } => out_of_range,
                    other => VerifyError::Format(other),
                })?
            }
            Entries::Expanded(list) => list.get(i).ok_or(out_of_range)?,
        };
        Ok(Status::from_value(value))
    }

    /// Inflates the list once and keeps it, so that lookups take constant time: for a server
    /// or a gateway checking many marks against one list. Costs the uncompressed size in heap
    /// (256 KiB for 2^20 entries at 2 bits). Does nothing if already expanded.
    pub fn expand(&mut self) -> Result<(), VerifyError> {
        if let Entries::Compressed(compressed) = &self.entries {
            self.entries = Entries::Expanded(compressed.inflate(self.max_bytes)?);
        }
        Ok(())
    }

    /// Whether this list speaks for marks signed by `mark_issuer`, listed in the scheme of
    /// `mark_scheme` among `schemes`:
    ///
    /// - if the mark issuer's trust-list entry has a `status_list_uri`, the list's `sub` is that
    ///   URI and the list's signer is listed with that same URI (a certifier may sign its list
    ///   with another of its keys, as after a key rollover);
    /// - otherwise the list is signed by the mark's own key.
    ///
    /// Either way the list's signer must still be listed in the mark's scheme (a list verified
    /// under an older trust list must not outlive its signer's removal, and a key that another
    /// scheme's root vouches for does not speak for this scheme's marks).
    pub(crate) fn check_applies(
        &self,
        mark_issuer: &TrustedIssuer,
        mark_scheme: &TrustAnchor,
        schemes: &[TrustStore<'_>],
    ) -> Result<(), VerifyError> {
        let signer = &self.issuer;
        let bound = match &mark_issuer.status_list_uri {
            Some(uri) => self.uri == *uri && signer.status_list_uri.as_deref() == Some(uri),
            None => signer.alg == mark_issuer.alg && signer.public_key == mark_issuer.public_key,
        };
        let still_trusted = candidates(schemes, &signer.kid).any(|(scheme, i)| {
            scheme.anchor() == mark_scheme
                && i.alg == signer.alg
                && i.public_key == signer.public_key
                && i.status_list_uri == signer.status_list_uri
        });
        if bound && still_trusted {
            Ok(())
        } else {
            Err(VerifyError::StatusListIssuerMismatch)
        }
    }
}
