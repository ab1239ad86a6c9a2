//! The trust list: a root-signed COSE_Sign1 whose payload lists the issuer keys a verifier
//! trusts, with everything needed to check a mark without parsing X.509 (so a `no_std` gateway
//! checks one root signature and nothing else).
//!
//! Payload (deterministic CBOR map, see `spec/pki.md`):
//!
//! ```text
//! trust-list = { 1: 1, 2: sequence, 3: issued_at, 4: expires_at, 5: [* issuer] }
//! issuer = { 1: kid, 2: alg, 3: public_key, 4: not_before, 5: not_after, 6: name,
//!            7: scope, ? 8: status_list_uri }
//! scope = { 1: [+ [framework, max_class]], 2: [+ assurance] }
//! ```

use alloc::{string::String, vec, vec::Vec};

use ciborium::Value;

use crate::cbor::Reader;
use crate::claims::MAX_CLASS;
use crate::value::{self, int_value, uint_value};
use crate::{cose, Algorithm, Assurance, FormatError, FrameworkId, ParsedSign1, UnixTime};

/// Largest signed trust list accepted. 1,000 issuers at about 200 bytes each.
pub const MAX_TRUST_LIST_LEN: usize = 256 * 1024;
/// Most issuer entries in one trust list (bounds the work of one verification).
pub const MAX_ISSUERS: usize = 1000;
/// Longest issuer display name.
pub const MAX_ISSUER_NAME_LEN: usize = 128;
/// Longest status-list URI.
pub const MAX_URI_LEN: usize = 512;
/// Format version written in key 1.
pub const FORMAT_VERSION: u64 = 1;

/// The class ceiling an issuer is accredited for under one framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameworkScope {
    /// The framework.
    pub framework: FrameworkId,
    /// Highest class the issuer may award.
    pub max_class: u8,
}

/// What an issuer is accredited to certify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerScope {
    /// Frameworks and class ceilings.
    pub frameworks: Vec<FrameworkScope>,
    /// The assurance levels the issuer may sign (a test lab: third-party; a manufacturer
    /// self-certifying: self).
    pub assurances: Vec<Assurance>,
}

impl IssuerScope {
    /// Checks the limits: 1 to 16 frameworks with classes up to [`MAX_CLASS`], and 1 or 2
    /// distinct assurance levels.
    pub fn validate(&self) -> Result<(), FormatError> {
        let invalid = |reason| {
            Err(FormatError::ClaimValue {
                name: "scope",
                reason,
            })
        };
        if self.frameworks.is_empty() || self.frameworks.len() > MAX_SCOPE_FRAMEWORKS {
            return invalid("must name 1 to 16 frameworks");
        }
        if self.frameworks.iter().any(|f| f.max_class > MAX_CLASS) {
            return invalid("class ceiling out of range");
        }
        match self.assurances.as_slice() {
            [_] => Ok(()),
            [a, b] if a != b => Ok(()),
            _ => invalid("must name one or two distinct assurance levels"),
        }
    }

    /// Whether a mark claiming `class` under `framework` with `assurance` is inside this scope.
    pub fn allows(&self, framework: FrameworkId, class: u8, assurance: Assurance) -> bool {
        self.assurances.contains(&assurance)
            && self
                .frameworks
                .iter()
                .any(|s| s.framework == framework && class <= s.max_class)
    }
}

/// One trusted issuer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// Key identifier, as in the marks' protected header.
    pub kid: Vec<u8>,
    /// The key's algorithm.
    pub alg: Algorithm,
    /// Raw public key (32-byte Ed25519, or 65-byte uncompressed P-256 point).
    pub public_key: Vec<u8>,
    /// Start of the key's validity (its certificate's notBefore).
    pub not_before: UnixTime,
    /// End of the key's validity (its certificate's notAfter).
    pub not_after: UnixTime,
    /// Display name of the certifier.
    pub name: String,
    /// Accreditation scope.
    pub scope: IssuerScope,
    /// Where this issuer's status lists are published, if anywhere.
    pub status_list_uri: Option<String>,
}

/// The payload of a trust list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustList {
    /// Monotonic sequence number; a verifier never replaces a list with a lower one.
    pub sequence: u64,
    /// When the list was signed.
    pub issued_at: UnixTime,
    /// When the list stops being valid; verifiers must fetch a new one by then.
    pub expires_at: UnixTime,
    /// The trusted issuer keys.
    pub issuers: Vec<TrustedIssuer>,
}

impl TrustList {
    /// Encodes the payload as deterministic CBOR.
    pub fn to_cbor(&self) -> Result<Vec<u8>, FormatError> {
        self.validate()?;
        let issuers = self.issuers.iter().map(issuer_value).collect();
        value::encode(&Value::Map(vec![
            (int_value(1), uint_value(FORMAT_VERSION)),
            (int_value(2), uint_value(self.sequence)),
            (int_value(3), uint_value(self.issued_at.0)),
            (int_value(4), uint_value(self.expires_at.0)),
            (int_value(5), Value::Array(issuers)),
        ]))
    }

    /// Decodes and validates a payload.
    pub fn from_cbor(payload: &[u8]) -> Result<Self, FormatError> {
        let mut version = None;
        let mut sequence = None;
        let mut issued_at = None;
        let mut expires_at = None;
        let mut issuers = None;
        value::read_document("trust_list", payload, |key, r| {
            match key {
                1 => version = Some(value::uint("version", r)?),
                2 => sequence = Some(value::uint("sequence", r)?),
                3 => issued_at = Some(UnixTime(value::uint("issued_at", r)?)),
                4 => expires_at = Some(UnixTime(value::uint("expires_at", r)?)),
                5 => issuers = Some(decode_issuers(r)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        if value::required("version", version)? != FORMAT_VERSION {
            return Err(FormatError::ClaimValue {
                name: "version",
                reason: "unsupported trust-list format version",
            });
        }
        let list = Self {
            sequence: value::required("sequence", sequence)?,
            issued_at: value::required("issued_at", issued_at)?,
            expires_at: value::required("expires_at", expires_at)?,
            issuers: value::required("issuers", issuers)?,
        };
        list.validate()?;
        Ok(list)
    }

    fn validate(&self) -> Result<(), FormatError> {
        if self.issuers.len() > MAX_ISSUERS {
            return Err(FormatError::ClaimValue {
                name: "issuers",
                reason: "too many issuers",
            });
        }
        if self.expires_at <= self.issued_at {
            return Err(FormatError::ClaimValue {
                name: "expires_at",
                reason: "must be after issued_at",
            });
        }
        for issuer in &self.issuers {
            if issuer.public_key.len() != issuer.alg.public_key_len() {
                return Err(FormatError::ClaimValue {
                    name: "public_key",
                    reason: "wrong length for the algorithm",
                });
            }
            if issuer.kid.is_empty() || issuer.kid.len() > 32 {
                return Err(FormatError::ClaimValue {
                    name: "kid",
                    reason: "must be 1 to 32 bytes",
                });
            }
            if issuer.not_after <= issuer.not_before {
                return Err(FormatError::ClaimValue {
                    name: "not_after",
                    reason: "must be after not_before",
                });
            }
            value::check_text("name", &issuer.name, MAX_ISSUER_NAME_LEN)?;
            if let Some(uri) = &issuer.status_list_uri {
                value::check_text("status_list_uri", uri, MAX_URI_LEN)?;
            }
            issuer.scope.validate()?;
        }
        Ok(())
    }

    /// The issuer entries whose kid is `kid` (usually one; kids are short hashes and may
    /// collide, so a verifier tries each).
    pub fn issuers_with_kid<'a, 'k>(
        &'a self,
        kid: &'k [u8],
    ) -> impl Iterator<Item = &'a TrustedIssuer> + use<'a, 'k> {
        self.issuers.iter().filter(move |i| i.kid == kid)
    }

    /// Signs the payload into a tagged COSE_Sign1 with the root key.
    pub fn sign<E: From<FormatError>>(
        &self,
        alg: Algorithm,
        root_kid: &[u8],
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E> {
        cose::build_sign1(alg, root_kid, self.to_cbor()?, sign)
    }

    /// Parses a signed trust list's COSE structure, without verifying it.
    pub fn parse_signed(bytes: &[u8]) -> Result<ParsedSign1<'_>, FormatError> {
        ParsedSign1::parse(bytes, MAX_TRUST_LIST_LEN)
    }
}

fn issuer_value(issuer: &TrustedIssuer) -> Value {
    let frameworks = issuer
        .scope
        .frameworks
        .iter()
        .map(|s| {
            Value::Array(vec![
                uint_value(u64::from(s.framework.0)),
                uint_value(u64::from(s.max_class)),
            ])
        })
        .collect();
    let assurances = issuer
        .scope
        .assurances
        .iter()
        .map(|a| uint_value(a.cbor_value()))
        .collect();
    let mut map = vec![
        (int_value(1), Value::Bytes(issuer.kid.clone())),
        (int_value(2), int_value(issuer.alg.cose_value())),
        (int_value(3), Value::Bytes(issuer.public_key.clone())),
        (int_value(4), uint_value(issuer.not_before.0)),
        (int_value(5), uint_value(issuer.not_after.0)),
        (int_value(6), Value::Text(issuer.name.clone())),
        (
            int_value(7),
            Value::Map(vec![
                (int_value(1), Value::Array(frameworks)),
                (int_value(2), Value::Array(assurances)),
            ]),
        ),
    ];
    if let Some(uri) = &issuer.status_list_uri {
        map.push((int_value(8), Value::Text(uri.clone())));
    }
    Value::Map(map)
}

fn decode_issuers(r: &mut Reader<'_>) -> Result<Vec<TrustedIssuer>, FormatError> {
    let count = r.array().ok_or(FormatError::ClaimType {
        name: "issuers",
        expected: "an array",
    })?;
    let count = usize::try_from(count)
        .ok()
        .filter(|n| *n <= MAX_ISSUERS)
        .ok_or(FormatError::ClaimValue {
            name: "issuers",
            reason: "too many issuers",
        })?;
    (0..count).map(|_| decode_issuer(r)).collect()
}

fn decode_issuer(r: &mut Reader<'_>) -> Result<TrustedIssuer, FormatError> {
    let mut kid = None;
    let mut alg = None;
    let mut public_key = None;
    let mut not_before = None;
    let mut not_after = None;
    let mut name = None;
    let mut scope = None;
    let mut status_list_uri = None;
    value::read_map("issuer", r, |key, r| {
        match key {
            1 => kid = Some(value::bytes("kid", r)?.to_vec()),
            2 => {
                let cose = value::int("alg", r)?;
                alg = Some(
                    Algorithm::from_cose_value(cose)
                        .ok_or(FormatError::UnsupportedAlgorithm { alg: cose })?,
                );
            }
            3 => public_key = Some(value::bytes("public_key", r)?.to_vec()),
            4 => not_before = Some(UnixTime(value::uint("not_before", r)?)),
            5 => not_after = Some(UnixTime(value::uint("not_after", r)?)),
            6 => name = Some(value::text("name", r, MAX_ISSUER_NAME_LEN)?),
            7 => scope = Some(decode_scope(r)?),
            8 => status_list_uri = Some(value::text("status_list_uri", r, MAX_URI_LEN)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(TrustedIssuer {
        kid: value::required("kid", kid)?,
        alg: value::required("alg", alg)?,
        public_key: value::required("public_key", public_key)?,
        not_before: value::required("not_before", not_before)?,
        not_after: value::required("not_after", not_after)?,
        name: value::required("name", name)?,
        scope: value::required("scope", scope)?,
        status_list_uri,
    })
}

/// Most framework entries in one scope.
const MAX_SCOPE_FRAMEWORKS: usize = 16;

fn decode_scope(r: &mut Reader<'_>) -> Result<IssuerScope, FormatError> {
    let mut frameworks = None;
    let mut assurances = None;
    value::read_map("scope", r, |key, r| {
        match key {
            1 => {
                let count = value::array("scope", r, MAX_SCOPE_FRAMEWORKS)?;
                let mut list = Vec::with_capacity(count);
                for _ in 0..count {
                    value::tuple("scope", r, 2)?;
                    list.push(FrameworkScope {
                        framework: FrameworkId(value::small_uint("scope", r)?),
                        max_class: value::small_uint("scope", r)?,
                    });
                }
                frameworks = Some(list);
            }
            2 => {
                let count = value::array("scope", r, 2)?;
                let mut list = Vec::with_capacity(count);
                for _ in 0..count {
                    list.push(Assurance::from_cbor_value(value::uint("scope", r)?).ok_or(
                        FormatError::ClaimValue {
                            name: "scope",
                            reason: "unknown assurance value",
                        },
                    )?);
                }
                assurances = Some(list);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(IssuerScope {
        frameworks: value::required("scope.frameworks", frameworks)?,
        assurances: value::required("scope.assurances", assurances)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    fn issuer() -> impl Strategy<Value = TrustedIssuer> {
        (
            proptest::collection::vec(any::<u8>(), 1..=32),
            any::<bool>(),
            any::<[u8; 32]>(),
            (0u64..1 << 40, 1u64..1 << 40),
            "[a-zA-Z ]{1,40}",
            proptest::collection::vec((1u16..10, 0u8..16), 1..4),
            proptest::option::of("https://[a-z]{1,20}\\.example/[0-9]{1,3}"),
        )
            .prop_map(|(kid, es, key, (nb, len), name, frameworks, uri)| {
                let alg = if es {
                    Algorithm::Es256
                } else {
                    Algorithm::EdDsa
                };
                let mut public_key = key.to_vec();
                public_key.resize(alg.public_key_len(), 4);
                TrustedIssuer {
                    kid,
                    alg,
                    public_key,
                    not_before: UnixTime(nb),
                    not_after: UnixTime(nb + len),
                    name,
                    scope: IssuerScope {
                        frameworks: frameworks
                            .into_iter()
                            .map(|(f, c)| FrameworkScope {
                                framework: FrameworkId(f),
                                max_class: c,
                            })
                            .collect(),
                        assurances: vec![Assurance::ThirdParty],
                    },
                    status_list_uri: uri,
                }
            })
    }

    proptest! {
        #[test]
        fn trust_list_round_trip(issuers in proptest::collection::vec(issuer(), 0..5), seq in any::<u64>(), at in 0u64..1 << 40) {
            let list = TrustList { sequence: seq, issued_at: UnixTime(at), expires_at: UnixTime(at + 1), issuers };
            let bytes = list.to_cbor().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(TrustList::from_cbor(&bytes), Ok(list));
        }
    }
}
