//! Verifying one mark.

use alloc::vec::Vec;

use trustmark_format::{ecdsa, mark, Algorithm, MarkClaims, Status, TrustedIssuer, UnixTime};

use crate::trust::candidates;
use crate::{Policy, TrustAnchor, TrustStore, TrustedSchemes, VerifiedStatusList, VerifyError};

/// A mark that passed every check. Only [`verify`] constructs one, so code that holds a
/// `VerifiedMark` cannot have skipped a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMark {
    claims: MarkClaims,
    issuer: TrustedIssuer,
    anchor: TrustAnchor,
    status_as_of: Option<UnixTime>,
}

impl VerifiedMark {
    /// The signed claims.
    pub fn claims(&self) -> &MarkClaims {
        &self.claims
    }

    /// The trusted issuer whose key signed the mark.
    pub fn issuer(&self) -> &TrustedIssuer {
        &self.issuer
    }

    /// The kid that signed the mark.
    pub fn kid(&self) -> &[u8] {
        &self.issuer.kid
    }

    /// The scheme that verified the mark: the trust anchor of the trust list that lists its
    /// signing key. With several schemes held ([`crate::TrustStores`]), the one whose key it was.
    pub fn anchor(&self) -> &TrustAnchor {
        &self.anchor
    }

    /// When the status list that found the mark valid was issued: the mark's revocation
    /// status is known as of this time. `None` when it was verified without a status list.
    pub fn status_as_of(&self) -> Option<UnixTime> {
        self.status_as_of
    }
}

/// Verifies `token` (the COSE bytes of a mark) against the trusted schemes and policy at time
/// `now`, without a status list: [`verify_with_status`] with `None` (so a policy that sets
/// `require_status` refuses every mark here).
///
/// `trust` is one scheme's [`TrustStore`] or several schemes' [`crate::TrustStores`]. Checks, in
/// order: the profile structure; a trusted key with the mark's kid and algorithm (looked up in
/// every held scheme, at most [`crate::MAX_KEYS_PER_KID`] keys in all); the signature over the
/// received bytes; the claims; `iat` inside the key's validity and not after `now`; `now` before
/// `exp`; the trust list of the signer's scheme still current; every framework claim inside the
/// issuer's scope; the policy. The first failure is returned.
pub fn verify<T: TrustedSchemes + ?Sized>(
    token: &[u8],
    trust: &T,
    policy: &Policy,
    now: UnixTime,
) -> Result<VerifiedMark, VerifyError> {
    verify_with_status(token, trust, None, policy, now)
}

/// Verifies `token` as [`verify`] does and then, after every one of its checks, the mark's
/// revocation status in `status` (a list from [`crate::verify_status_list`]).
///
/// With a list: it must be the mark issuer's (`status_list_issuer_mismatch`), still current at
/// `now` under the policy (`status_list_not_yet_valid`, `status_list_expired`,
/// `status_list_stale`), and hold the mark's status index (`status_index_out_of_range`); the
/// entry must be VALID: SUSPENDED fails with `suspended`, anything else with `revoked`. Without
/// one, a policy with `require_status` fails with `status_missing`. With several schemes, the
/// list's signer must be listed in the mark's own scheme.
pub fn verify_with_status<T: TrustedSchemes + ?Sized>(
    token: &[u8],
    trust: &T,
    status: Option<&VerifiedStatusList>,
    policy: &Policy,
    now: UnixTime,
) -> Result<VerifiedMark, VerifyError> {
    let schemes = trust.schemes();
    let Authentic {
        scheme,
        issuer,
        claims,
    } = authenticate_in(token, schemes)?;
    let iat = claims.issued_at;
    if iat < issuer.not_before || iat > issuer.not_after {
        return Err(VerifyError::IssuedOutsideKeyValidity {
            iat,
            not_before: issuer.not_before,
            not_after: issuer.not_after,
        });
    }
    if iat > now {
        return Err(VerifyError::NotYetValid { iat, now });
    }
    if now >= claims.expires_at {
        return Err(VerifyError::Expired {
            exp: claims.expires_at,
            now,
        });
    }
    scheme.check_current(now)?;
    for claim in &claims.frameworks {
        if !issuer
            .scope
            .allows(claim.framework, claim.class, claim.assurance)
        {
            return Err(VerifyError::OutsideScope {
                framework: claim.framework,
                class: claim.class,
                assurance: claim.assurance,
            });
        }
    }
    policy.check(&claims, now)?;
    let status_as_of = match status {
        None if policy.require_status => return Err(VerifyError::StatusMissing),
        None => None,
        Some(list) => {
            list.check_applies(issuer, scheme.anchor(), schemes)?;
            list.check_current(policy, now)?;
            let index = claims.status_index;
            match list.status(index)? {
                Status::Valid => Some(list.issued_at()),
                Status::Suspended => return Err(VerifyError::Suspended { index }),
                other => {
                    return Err(VerifyError::Revoked {
                        index,
                        status: other.value(),
                    })
                }
            }
        }
    };
    Ok(VerifiedMark {
        claims,
        issuer: issuer.clone(),
        anchor: scheme.anchor().clone(),
        status_as_of,
    })
}

/// A mark whose signature verifies under a key of a held scheme, and nothing more: its time,
/// scope, policy and status are not checked. For showing what a mark that failed those checks
/// says (an expired mark's product, say); never for accepting it.
#[derive(Debug)]
pub struct Authentic<'t, 'c> {
    scheme: &'t TrustStore<'c>,
    issuer: &'t TrustedIssuer,
    claims: MarkClaims,
}

impl Authentic<'_, '_> {
    /// The claims as signed.
    pub fn claims(&self) -> &MarkClaims {
        &self.claims
    }

    /// The claims, owned.
    pub fn into_claims(self) -> MarkClaims {
        self.claims
    }

    /// The trust-list entry of the key that signed it.
    pub fn issuer(&self) -> &TrustedIssuer {
        self.issuer
    }

    /// The anchor of the scheme that lists that key.
    pub fn anchor(&self) -> &TrustAnchor {
        self.scheme.anchor()
    }
}

/// Checks only that `token` is a mark signed by a key of one of `trust`'s schemes (the first
/// steps of [`verify`]: parsing, key lookup by kid, signature, claims decoding), with the same
/// errors. See [`Authentic`] for what it does not check.
pub fn authenticate<'t, T: TrustedSchemes + ?Sized>(
    token: &[u8],
    trust: &'t T,
) -> Result<Authentic<'t, 't>, VerifyError> {
    authenticate_in(token, trust.schemes())
}

fn authenticate_in<'t, 'c>(
    token: &[u8],
    schemes: &'t [TrustStore<'c>],
) -> Result<Authentic<'t, 'c>, VerifyError> {
    let sign1 = mark::parse(token)?;
    let (scheme, issuer) = find_signer(&sign1, schemes)?;
    let claims = MarkClaims::from_cbor(sign1.payload())?;
    Ok(Authentic {
        scheme,
        issuer,
        claims,
    })
}

/// The trusted key whose signature verifies, trying each key that shares the kid in every held
/// scheme (for marks and status lists alike), with the scheme that lists it.
pub(crate) fn find_signer<'t, 'c>(
    sign1: &trustmark_format::ParsedSign1<'_>,
    schemes: &'t [TrustStore<'c>],
) -> Result<(&'t TrustStore<'c>, &'t TrustedIssuer), VerifyError> {
    let kid = sign1.kid();
    let alg = sign1.algorithm();
    let mut mismatch = None;
    let mut tbs: Option<Vec<u8>> = None;
    let mut any = false;
    for (scheme, issuer) in candidates(schemes, kid) {
        any = true;
        if issuer.alg != alg {
            mismatch = Some(issuer.alg);
            continue;
        }
        if alg == Algorithm::Es256 && !ecdsa::is_low_s(sign1.signature()) {
            return Err(VerifyError::NonCanonicalSignature);
        }
        let message = tbs.get_or_insert_with(|| sign1.to_be_signed());
        if scheme
            .crypto()
            .verify(alg, &issuer.public_key, message, sign1.signature())
        {
            return Ok((scheme, issuer));
        }
        mismatch = None;
    }
    match (any, mismatch) {
        (false, _) => Err(VerifyError::UnknownKid { kid: kid.to_vec() }),
        (true, Some(key)) if tbs.is_none() => {
            Err(VerifyError::AlgorithmMismatch { header: alg, key })
        }
        _ => Err(VerifyError::BadSignature),
    }
}
