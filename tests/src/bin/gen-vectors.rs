//! Generates `spec/vectors/` from fixed seeds and a fixed clock, so every run writes the same
//! bytes. CI regenerates into a temporary directory and diffs against the committed files.
//!
//! Usage: `cargo run -p trustmark-e2e --bin gen-vectors -- [OUT_DIR]` (default: spec/vectors).

#![deny(clippy::print_stdout)] // stdout goes through `print_line`, which survives a closed pipe

use std::path::PathBuf;

use anyhow::{Context, Result};
use ciborium::Value;
use coset::{iana, CborSerializable, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use trustmark_e2e::*;
use trustmark_format::{
    cose, Algorithm, Assurance, Day, Firmware, FrameworkClaim, FrameworkId, FrameworkScope,
    IssuerScope, MarkClaims, Status, StatusList, StatusListToken, TrustList, TrustedIssuer,
    UnixTime,
};
use trustmark_keys::{KeyError, Signer, SoftwareKey};
use trustmark_verifier::{
    verify_status_list, verify_with_status, Policy, SignatureVerifier, TrustAnchor, TrustStore,
    VerifyError, RING, RUST_CRYPTO,
};

const DAY: u64 = 86_400;

/// The entries of a CBOR map, to edit into malformed documents.
type MapEntries = Vec<(Value, Value)>;

struct Keys {
    root: SoftwareKey,
    issuer: SoftwareKey,
    stranger: SoftwareKey,
    es256: Es256Key,
}

/// An ES256 key with deterministic (RFC 6979) signatures, so the vectors are reproducible.
struct Es256Key {
    key: p256::ecdsa::SigningKey,
    public_key: Vec<u8>,
    kid: Vec<u8>,
}

impl Es256Key {
    fn new(scalar: &[u8; 32]) -> Result<Self> {
        let key = p256::ecdsa::SigningKey::from_slice(scalar)?;
        let public_key = key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let kid = trustmark_keys::kid_for(Algorithm::Es256, &public_key);
        Ok(Self {
            key,
            public_key,
            kid,
        })
    }

    /// The low-s signature of `message`; `high_s` returns its malleable twin `(r, n - s)`.
    fn signature(&self, message: &[u8], high_s: bool) -> Result<Vec<u8>, KeyError> {
        use p256::ecdsa::signature::Signer as _;
        let signature: p256::ecdsa::Signature = self.key.sign(message);
        let signature = signature.normalize_s().unwrap_or(signature);
        let (r, s) = signature.split_scalars();
        let s = if high_s { -*s } else { *s };
        let twin = p256::ecdsa::Signature::from_scalars(r, s)
            .map_err(|_| KeyError::Crypto("ECDSA scalars"))?;
        Ok(twin.to_bytes().to_vec())
    }

    /// Signs `payload` into a mark; `high_s` gives the malleable twin of the signature.
    fn sign_mark(&self, payload: Vec<u8>, high_s: bool) -> Result<Vec<u8>> {
        Ok(cose::build_sign1::<KeyError>(
            Algorithm::Es256,
            &self.kid,
            payload,
            |tbs| self.signature(tbs, high_s),
        )?)
    }
}

impl Signer for Es256Key {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Es256
    }

    fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    fn kid(&self) -> &[u8] {
        &self.kid
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signature(message, false)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn anchor(keys: &Keys) -> AnchorVector {
    AnchorVector {
        alg: "EdDSA".into(),
        public_key: hex_of(keys.root.public_key()),
    }
}

/// The trusted issuer: accredited for IoTSF up to class 3 and ETSI EN 303 645, both assurance
/// levels; its key is valid from 30 days before the vector time for three years.
fn issuer_entry(keys: &Keys) -> TrustedIssuer {
    TrustedIssuer {
        kid: keys.issuer.kid().to_vec(),
        alg: Algorithm::EdDsa,
        public_key: keys.issuer.public_key().to_vec(),
        not_before: UnixTime(VECTOR_TIME - 30 * DAY),
        not_after: UnixTime(VECTOR_TIME + 3 * 365 * DAY),
        name: "Vector Test Lab".into(),
        scope: IssuerScope {
            frameworks: vec![
                FrameworkScope {
                    framework: FrameworkId::IOTSF_ICAF,
                    max_class: 3,
                },
                FrameworkScope {
                    framework: FrameworkId::ETSI_EN_303_645,
                    max_class: 1,
                },
            ],
            assurances: vec![Assurance::SelfAssessment, Assurance::ThirdParty],
        },
        status_list_uri: Some(STATUS_LIST_URI.into()),
    }
}

fn trust_list_payload(keys: &Keys) -> TrustList {
    let es256 = TrustedIssuer {
        kid: keys.es256.kid.clone(),
        alg: Algorithm::Es256,
        public_key: keys.es256.public_key.clone(),
        name: "Vector ES256 Lab".into(),
        ..issuer_entry(keys)
    };
    TrustList {
        sequence: 1,
        issued_at: UnixTime(VECTOR_TIME - DAY),
        expires_at: UnixTime(VECTOR_TIME + 90 * DAY),
        issuers: vec![issuer_entry(keys), es256],
    }
}

/// `list` signed by the vector root.
fn signed_by_root(keys: &Keys, list: &TrustList) -> Result<Vec<u8>> {
    sign_with(&keys.root, Algorithm::EdDsa, list.to_cbor()?)
}

fn sign_with(key: &SoftwareKey, header_alg: Algorithm, payload: Vec<u8>) -> Result<Vec<u8>> {
    sign_as(key, header_alg, key.kid(), payload)
}

/// A COSE_Sign1 of `payload` signed by `key` under the header `alg` and `kid`, which need not be
/// the key's own.
fn sign_as(key: &dyn Signer, alg: Algorithm, kid: &[u8], payload: Vec<u8>) -> Result<Vec<u8>> {
    Ok(cose::build_sign1::<KeyError>(alg, kid, payload, |tbs| {
        key.sign(tbs)
    })?)
}

fn typical_claims() -> MarkClaims {
    MarkClaims {
        vendor: "Acme Devices Ltd".into(),
        model: "SmartHub Pro 200".into(),
        hw_version: "1.2.0".into(),
        firmware: Firmware {
            version: "4.1.7".into(),
            sha256: [0x9f; 32],
        },
        frameworks: vec![FrameworkClaim {
            framework: FrameworkId::IOTSF_ICAF,
            version: "3.0".into(),
            class: 2,
            assurance: Assurance::ThirdParty,
        }],
        issued_at: UnixTime(VECTOR_TIME - 3600),
        expires_at: UnixTime(VECTOR_TIME - 3600 + 365 * DAY),
        support_until: Day(22_279),
        status_index: 1_048_575,
    }
}

fn mark(keys: &Keys, claims: &MarkClaims) -> Result<Vec<u8>> {
    sign_with(&keys.issuer, Algorithm::EdDsa, claims.to_cbor()?)
}

fn encode(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out)?;
    Ok(out)
}

/// The typical claims as a CBOR value, to edit into malformed payloads.
fn typical_payload_entries() -> Result<Vec<(Value, Value)>> {
    let bytes = typical_claims().to_cbor()?;
    match ciborium::from_reader::<Value, _>(bytes.as_slice())? {
        Value::Map(entries) => Ok(entries),
        _ => anyhow::bail!("claims are not a map"),
    }
}

/// Signs a COSE_Sign1 built with coset from explicit headers (for header-profile cases).
fn sign_headers(
    key: &SoftwareKey,
    protected: coset::Header,
    unprotected: coset::Header,
    tagged: bool,
) -> Result<Vec<u8>> {
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(typical_claims().to_cbor()?)
        .try_create_signature(&[], |tbs| key.sign(tbs))?
        .build();
    let bytes = if tagged {
        sign1.to_tagged_vec()
    } else {
        sign1.to_vec()
    };
    bytes.map_err(|e| anyhow::anyhow!("coset: {e:?}"))
}

fn case(name: &str, description: &str, token: &[u8], expect: Expect) -> MarkCase {
    MarkCase {
        name: name.into(),
        description: description.into(),
        token: hex_of(token),
        policy: PolicyVector::default(),
        time: None,
        expect,
        signer: None,
    }
}

fn error(code: &str) -> Expect {
    Expect::Error(code.into())
}

fn with_claims(keys: &Keys, edit: impl FnOnce(&mut MarkClaims)) -> Result<Vec<u8>> {
    let mut claims = typical_claims();
    edit(&mut claims);
    mark(keys, &claims)
}

fn with_payload(keys: &Keys, edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Result<Vec<u8>> {
    let mut entries = typical_payload_entries()?;
    edit(&mut entries);
    sign_with(
        &keys.issuer,
        Algorithm::EdDsa,
        encode(&Value::Map(entries))?,
    )
}

fn mark_cases(keys: &Keys) -> Result<Vec<MarkCase>> {
    let typical = mark(keys, &typical_claims())?;
    let ed = || {
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(keys.issuer.kid().to_vec())
    };
    let mut cases = vec![case(
        "valid-typical",
        "A typical mark: 16-character vendor and model, 5-character versions, one IoTSF claim, the largest index of a 2^20 status list.",
        &typical,
        Expect::Valid,
    )];
    let mut with_policy = case(
        "valid-with-policy",
        "The typical mark against a gateway policy it meets: firmware digest, IoTSF class 2 third-party, support period running.",
        &typical,
        Expect::Valid,
    );
    with_policy.policy = PolicyVector {
        firmware_sha256: Some(hex_of(&[0x9f; 32])),
        frameworks: vec![FrameworkRequirementVector {
            framework: "iotsf-icaf".into(),
            min_class: 2,
            min_assurance: Some("third-party".into()),
        }],
        require_support: true,
    };
    cases.push(with_policy);
    cases.push(case(
        "valid-es256",
        "The typical claims signed with ES256 (low s) by the trusted ES256 issuer.",
        &keys.es256.sign_mark(typical_claims().to_cbor()?, false)?,
        Expect::Valid,
    ));
    cases.push(case(
        "es256-high-s",
        "The ES256 mark's malleable twin (r, n - s): valid ECDSA, but not the canonical low-s form.",
        &keys.es256.sign_mark(typical_claims().to_cbor()?, true)?,
        error("non_canonical_signature"),
    ));
    cases.push(case(
        "valid-two-frameworks",
        "IoTSF class 3 and ETSI EN 303 645 claimed side by side.",
        &with_claims(keys, |c| {
            c.frameworks[0].class = 3;
            c.frameworks.push(FrameworkClaim {
                framework: FrameworkId::ETSI_EN_303_645,
                version: "2.1.1".into(),
                class: 1,
                assurance: Assurance::ThirdParty,
            });
        })?,
        Expect::Valid,
    ));

    // Signature and key.
    let mut bad_sig = typical.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 0x01;
    cases.push(case(
        "bad-signature",
        "Last signature byte flipped.",
        &bad_sig,
        error("bad_signature"),
    ));
    let mut tampered = typical.clone();
    let vendor_at = tampered
        .windows(16)
        .position(|w| w == b"Acme Devices Ltd")
        .context("vendor not found")?;
    tampered[vendor_at] = b'X';
    cases.push(case(
        "tampered-vendor",
        "Vendor changed from 'Acme...' to 'Xcme...' after signing.",
        &tampered,
        error("bad_signature"),
    ));
    cases.push(case(
        "unknown-kid",
        "Signed by a key that the trust list does not name (unknown issuer, or one removed from the list).",
        &sign_with(&keys.stranger, Algorithm::EdDsa, typical_claims().to_cbor()?)?,
        error("unknown_kid"),
    ));
    cases.push(case(
        "wrong-alg",
        "Ed25519 signature by the trusted key, but the protected header says ES256 (-7).",
        &sign_with(&keys.issuer, Algorithm::Es256, typical_claims().to_cbor()?)?,
        error("algorithm_mismatch"),
    ));
    cases.push(case(
        "unsupported-alg",
        "Protected header alg ES384 (-35), which the profile does not allow.",
        &sign_headers(
            &keys.issuer,
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::ES384)
                .key_id(keys.issuer.kid().to_vec())
                .build(),
            coset::Header::default(),
            true,
        )?,
        error("unsupported_algorithm"),
    ));
    cases.push(case(
        "alg-in-unprotected-header",
        "alg moved to the unprotected header (where it could be changed without breaking the signature).",
        &sign_headers(
            &keys.issuer,
            HeaderBuilder::new().key_id(keys.issuer.kid().to_vec()).build(),
            HeaderBuilder::new().algorithm(iana::Algorithm::EdDSA).build(),
            true,
        )?,
        error("unprotected_header_not_empty"),
    ));
    cases.push(case(
        "kid-in-unprotected-header",
        "kid in the unprotected header as well as the protected one.",
        &sign_headers(
            &keys.issuer,
            ed().build(),
            HeaderBuilder::new()
                .key_id(keys.issuer.kid().to_vec())
                .build(),
            true,
        )?,
        error("unprotected_header_not_empty"),
    ));
    cases.push(case(
        "extra-protected-header",
        "Protected header carries content type (3) besides alg and kid.",
        &sign_headers(
            &keys.issuer,
            ed().content_format(iana::CoapContentFormat::Cbor).build(),
            coset::Header::default(),
            true,
        )?,
        error("unexpected_header_parameter"),
    ));
    cases.push(case(
        "crit-header",
        "Protected header carries crit (2) naming an unknown header.",
        &sign_headers(
            &keys.issuer,
            ed().add_critical(iana::HeaderParameter::CounterSignature)
                .build(),
            coset::Header::default(),
            true,
        )?,
        error("unexpected_header_parameter"),
    ));
    cases.push(case(
        "missing-kid",
        "Protected header with alg only.",
        &sign_headers(
            &keys.issuer,
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .build(),
            coset::Header::default(),
            true,
        )?,
        error("missing_kid"),
    ));
    cases.push(case(
        "missing-alg",
        "Protected header with kid only.",
        &sign_headers(
            &keys.issuer,
            HeaderBuilder::new()
                .key_id(keys.issuer.kid().to_vec())
                .build(),
            coset::Header::default(),
            true,
        )?,
        error("missing_algorithm"),
    ));

    // Time and scope.
    cases.push(case(
        "expired",
        "exp equal to the verification time (a mark is valid strictly before exp).",
        &with_claims(keys, |c| c.expires_at = UnixTime(VECTOR_TIME))?,
        error("expired"),
    ));
    let mut early = case(
        "not-yet-valid",
        "Verified one second before iat.",
        &typical,
        error("not_yet_valid"),
    );
    early.time = Some(VECTOR_TIME - 3601);
    cases.push(early);
    cases.push(case(
        "issued-before-key-validity",
        "iat one day before the issuer key's validity starts.",
        &with_claims(keys, |c| c.issued_at = UnixTime(VECTOR_TIME - 31 * DAY))?,
        error("issued_outside_key_validity"),
    ));
    cases.push(case(
        "class-outside-scope",
        "IoTSF class 4 from an issuer accredited up to class 3.",
        &with_claims(keys, |c| c.frameworks[0].class = 4)?,
        error("outside_scope"),
    ));
    cases.push(case(
        "framework-outside-scope",
        "A UK PSTI claim from an issuer not accredited for PSTI.",
        &with_claims(keys, |c| {
            c.frameworks[0] = FrameworkClaim {
                framework: FrameworkId::UK_PSTI,
                version: "2023".into(),
                class: 1,
                assurance: Assurance::ThirdParty,
            }
        })?,
        error("outside_scope"),
    ));

    // Policy.
    let policy_case =
        |name: &str, description: &str, token: &[u8], policy: PolicyVector, code: &str| {
            let mut c = case(name, description, token, error(code));
            c.policy = policy;
            c
        };
    cases.push(policy_case(
        "policy-firmware-mismatch",
        "The device's measured firmware digest differs.",
        &typical,
        PolicyVector {
            firmware_sha256: Some(hex_of(&[0x00; 32])),
            ..PolicyVector::default()
        },
        "firmware_mismatch",
    ));
    let require = |framework: &str, min_class: u8, min_assurance: Option<&str>| PolicyVector {
        frameworks: vec![FrameworkRequirementVector {
            framework: framework.into(),
            min_class,
            min_assurance: min_assurance.map(Into::into),
        }],
        ..PolicyVector::default()
    };
    cases.push(policy_case(
        "policy-class-too-low",
        "IoTSF class 2 where 3 is required.",
        &typical,
        require("iotsf-icaf", 3, None),
        "class_too_low",
    ));
    cases.push(policy_case(
        "policy-framework-missing",
        "An ETSI EN 303 645 claim is required.",
        &typical,
        require("etsi-en-303-645", 1, None),
        "framework_missing",
    ));
    cases.push(policy_case(
        "policy-self-assessed",
        "Self-assessed mark where third-party assurance is required.",
        &with_claims(keys, |c| {
            c.frameworks[0].assurance = Assurance::SelfAssessment
        })?,
        require("iotsf-icaf", 0, Some("third-party")),
        "assurance_too_low",
    ));
    cases.push(policy_case(
        "policy-support-ended",
        "Support period ended the day before the verification time.",
        &with_claims(keys, |c| {
            c.support_until = Day((VECTOR_TIME / DAY) as u32 - 1)
        })?,
        PolicyVector {
            require_support: true,
            ..PolicyVector::default()
        },
        "support_ended",
    ));

    // Encoding of the outer message.
    let mut trailing = typical.clone();
    trailing.push(0x00);
    cases.push(case(
        "trailing-bytes",
        "A 0x00 byte after the COSE_Sign1.",
        &trailing,
        error("trailing_bytes"),
    ));
    let mut indefinite = typical.clone();
    indefinite[1] = 0x9f; // array(4) -> indefinite-length array
    indefinite.push(0xff);
    cases.push(case(
        "indefinite-length-array",
        "The COSE array re-encoded with indefinite length (9f ... ff).",
        &indefinite,
        error("indefinite_length"),
    ));
    cases.push(case(
        "truncated",
        "The last 10 bytes cut off.",
        &typical[..typical.len() - 10],
        error("truncated"),
    ));
    cases.push(case("empty", "No bytes at all.", &[], error("truncated")));
    let mut oversize = typical.clone();
    oversize.resize(1025, 0);
    cases.push(case(
        "oversize",
        "1025 bytes, one over the limit.",
        &oversize,
        error("too_large"),
    ));
    let mut mac0 = typical.clone();
    mac0[0] = 0xd1;
    cases.push(case(
        "wrong-tag",
        "Tag 17 (COSE_Mac0) instead of 18.",
        &mac0,
        error("wrong_tag"),
    ));
    cases.push(case(
        "untagged",
        "The COSE_Sign1 array without its tag.",
        &typical[1..],
        error("wrong_tag"),
    ));
    cases.push(case(
        "sign1-three-elements",
        "A tagged array of three elements.",
        &encode(&Value::Tag(
            18,
            Box::new(Value::Array(vec![
                Value::Bytes(vec![0xa0]),
                Value::Map(vec![]),
                Value::Null,
            ])),
        ))?,
        error("structure"),
    ));
    let mut nil_payload = Vec::new();
    nil_payload.extend_from_slice(&typical[..2]);
    let protected_len = usize::from(typical[2] & 0x1f) + 1;
    nil_payload.extend_from_slice(&typical[2..2 + protected_len]);
    nil_payload.extend_from_slice(&[0xa0, 0xf6]);
    nil_payload.extend_from_slice(&typical[typical.len() - 66..]);
    cases.push(case(
        "detached-payload",
        "Payload nil (detached content is not allowed).",
        &nil_payload,
        error("structure"),
    ));
    let mut short_sig = typical[..typical.len() - 66].to_vec();
    short_sig.push(0x58);
    short_sig.push(63);
    short_sig.extend_from_slice(&typical[typical.len() - 63..]);
    cases.push(case(
        "short-signature",
        "A 63-byte signature.",
        &short_sig,
        error("structure"),
    ));
    cases.push(case(
        "float",
        "A half-precision float instead of a message.",
        &[0xf9, 0x3c, 0x00],
        error("unsupported_cbor_item"),
    ));

    // Encoding of the payload (validly signed, so only the payload rules can reject them).
    cases.push(case(
        "payload-duplicate-key",
        "The payload has iat (6) twice.",
        &with_payload(keys, |e| {
            let iat = e[1].clone();
            e.insert(2, iat);
        })?,
        error("duplicate_map_key"),
    ));
    cases.push(case(
        "payload-unsorted-keys",
        "The payload has vendor (-1) before exp (4).",
        &with_payload(keys, |e| e.swap(0, 2))?,
        error("unsorted_map_keys"),
    ));
    let mut non_minimal = typical_claims().to_cbor()?;
    let at = non_minimal
        .windows(2)
        .position(|w| w == [0x06, 0x1a])
        .context("iat not found")?;
    non_minimal.splice(at + 1..at + 2, [0x1b, 0, 0, 0, 0]);
    cases.push(case(
        "payload-non-minimal-integer",
        "iat written as an 8-byte integer although it fits in 4.",
        &sign_with(&keys.issuer, Algorithm::EdDsa, non_minimal)?,
        error("non_minimal_encoding"),
    ));
    cases.push(case(
        "payload-unknown-claim",
        "An extra claim -100.",
        &with_payload(keys, |e| {
            e.push((Value::Integer((-100).into()), Value::Integer(1.into())))
        })?,
        error("unknown_claim"),
    ));
    cases.push(case(
        "payload-missing-claim",
        "The status index (-7) left out.",
        &with_payload(keys, |e| {
            e.pop();
        })?,
        error("missing_claim"),
    ));
    cases.push(case(
        "payload-short-digest",
        "Firmware digest of 31 bytes.",
        &with_payload(keys, |e| {
            e[5].1 = Value::Array(vec![
                Value::Text("4.1.7".into()),
                Value::Bytes(vec![0x9f; 31]),
            ])
        })?,
        error("claim_value"),
    ));
    cases.push(case(
        "payload-vendor-wrong-type",
        "Vendor as a byte string.",
        &with_payload(keys, |e| {
            e[2].1 = Value::Bytes(b"Acme Devices Ltd".to_vec())
        })?,
        error("claim_type"),
    ));
    cases.push(case(
        "payload-exp-before-iat",
        "exp earlier than iat.",
        &with_payload(keys, |e| {
            e[0].1 = Value::Integer((VECTOR_TIME - 7200).into())
        })?,
        error("claim_value"),
    ));
    cases.push(case(
        "payload-not-a-map",
        "The payload is an array.",
        &sign_with(
            &keys.issuer,
            Algorithm::EdDsa,
            encode(&Value::Array(vec![]))?,
        )?,
        error("claim_type"),
    ));
    let mut bad_utf8 = typical_claims().to_cbor()?;
    let at = bad_utf8
        .windows(16)
        .position(|w| w == b"Acme Devices Ltd")
        .context("vendor")?;
    bad_utf8[at] = 0xff;
    cases.push(case(
        "payload-invalid-utf8",
        "Vendor text with an invalid UTF-8 byte.",
        &sign_with(&keys.issuer, Algorithm::EdDsa, bad_utf8)?,
        error("invalid_utf8"),
    ));
    cases.push(case(
        "payload-framework-order",
        "Two framework claims in descending framework order.",
        &with_payload(keys, |e| {
            e[6].1 = Value::Array(vec![
                Value::Array(vec![2.into(), "2.1.1".into(), 1.into(), 2.into()]),
                Value::Array(vec![1.into(), "3.0".into(), 2.into(), 2.into()]),
            ])
        })?,
        error("claim_value"),
    ));
    Ok(cases)
}

fn trust_list_cases(keys: &Keys) -> Result<Vec<TrustListCase>> {
    let sign = |key: &SoftwareKey, payload: Vec<u8>| sign_with(key, Algorithm::EdDsa, payload);
    let valid = sign(&keys.root, trust_list_payload(keys).to_cbor()?)?;
    let tl = |name: &str, description: &str, bytes: &[u8], time: Option<u64>, expect: Expect| {
        TrustListCase {
            name: name.into(),
            description: description.into(),
            trust_list: hex_of(bytes),
            time,
            expect,
        }
    };
    let mut trailing = valid.clone();
    trailing.push(0);
    let payload_value = |edit: &dyn Fn(&mut MapEntries)| -> Result<Vec<u8>> {
        let bytes = trust_list_payload(keys).to_cbor()?;
        let Value::Map(mut entries) = ciborium::from_reader::<Value, _>(bytes.as_slice())? else {
            anyhow::bail!("not a map")
        };
        edit(&mut entries);
        sign(&keys.root, encode(&Value::Map(entries))?)
    };
    let issuer_field = |key: i64, value: Value| {
        move |entries: &mut Vec<(Value, Value)>| {
            if let Value::Array(issuers) = &mut entries[4].1 {
                if let Some(Value::Map(fields)) = issuers.first_mut() {
                    match fields
                        .iter_mut()
                        .find(|(k, _)| *k == Value::Integer(key.into()))
                    {
                        Some(field) => field.1 = value.clone(),
                        None => fields.push((Value::Integer(key.into()), value.clone())),
                    }
                }
            }
        }
    };
    Ok(vec![
        tl(
            "valid",
            "The trust list of marks.json.",
            &valid,
            None,
            Expect::Valid,
        ),
        tl(
            "signed-by-stranger",
            "Signed by a key other than the root.",
            &sign(&keys.stranger, trust_list_payload(keys).to_cbor()?)?,
            None,
            error("trust_list_signature"),
        ),
        tl(
            "expired",
            "Verified at its expiry time.",
            &valid,
            Some(VECTOR_TIME + 90 * DAY),
            error("trust_list_expired"),
        ),
        tl(
            "not-yet-valid",
            "Verified before it was issued.",
            &valid,
            Some(VECTOR_TIME - DAY - 1),
            error("trust_list_not_yet_valid"),
        ),
        tl(
            "trailing-bytes",
            "A 0x00 byte after the COSE_Sign1.",
            &trailing,
            None,
            error("trailing_bytes"),
        ),
        tl(
            "header-says-es256",
            "Root Ed25519 signature with the header claiming ES256.",
            &sign_with(
                &keys.root,
                Algorithm::Es256,
                trust_list_payload(keys).to_cbor()?,
            )?,
            None,
            error("trust_list_signature"),
        ),
        tl(
            "short-public-key",
            "An issuer's Ed25519 key of 31 bytes.",
            &payload_value(&issuer_field(3, Value::Bytes(vec![7; 31])))?,
            None,
            error("claim_value"),
        ),
        tl(
            "unknown-issuer-field",
            "An issuer entry with an unknown field 99.",
            &payload_value(&issuer_field(99, Value::Integer(1.into())))?,
            None,
            error("unknown_claim"),
        ),
        tl(
            "unknown-alg",
            "An issuer key with alg ES384 (-35).",
            &payload_value(&issuer_field(2, Value::Integer((-35).into())))?,
            None,
            error("unsupported_algorithm"),
        ),
        tl(
            "version-2",
            "Format version 2.",
            &payload_value(&|e| e[0].1 = Value::Integer(2.into()))?,
            None,
            error("claim_value"),
        ),
        tl(
            "missing-issuers",
            "No issuers field.",
            &payload_value(&|e| {
                e.pop();
            })?,
            None,
            error("missing_claim"),
        ),
    ])
}

/// Two Ed25519 seeds (`twin_seed`) whose keys have the same kid: the first collision found by
/// deriving the kid of `twin_seed(n)` for n = 0, 1, 2, ... (a 4-byte kid collides after about
/// 2^16 keys). Lab A and Lab D of `multi-key.json` are these keys.
const KID_TWINS: [u32; 2] = [90_091, 104_827];
/// Seed of Lab C of `multi-key.json` (Ed25519).
const LAB_C_SEED: [u8; 32] = [0x05; 32];
/// Seed of the key removed from the `multi-key.json` list (Ed25519).
const REMOVED_SEED: [u8; 32] = [0x06; 32];
/// Scalar of Lab B of `multi-key.json` (ES256).
const LAB_B_SCALAR: [u8; 32] = [0x07; 32];
/// Scalar of Lab W of `multi-key.json` (ES256), the withdrawn key.
const LAB_W_SCALAR: [u8; 32] = [0x08; 32];
/// `issued_at` of the `multi-key.json` list, and so the end of Lab W's withdrawn validity.
const MULTI_KEY_LIST_ISSUED_AT: u64 = VECTOR_TIME - DAY;

/// Seed `n` of the kid-twin search: 28 bytes 0x0a, then `n` big-endian.
fn twin_seed(n: u32) -> [u8; 32] {
    let mut seed = [0x0a; 32];
    seed[28..].copy_from_slice(&n.to_be_bytes());
    seed
}

/// An issuer key of `multi-key.json` with its trust-list entry.
struct Lab {
    key: Box<dyn Signer>,
    entry: TrustedIssuer,
}

impl Lab {
    /// Listed from 30 days before the vector time until `not_after`, accredited for
    /// `frameworks` (each with its highest class) at `assurances`.
    fn new(
        name: &str,
        key: Box<dyn Signer>,
        frameworks: &[(FrameworkId, u8)],
        assurances: &[Assurance],
        not_after: u64,
    ) -> Self {
        let entry = TrustedIssuer {
            kid: key.kid().to_vec(),
            alg: key.algorithm(),
            public_key: key.public_key().to_vec(),
            not_before: UnixTime(VECTOR_TIME - 30 * DAY),
            not_after: UnixTime(not_after),
            name: name.into(),
            scope: IssuerScope {
                frameworks: frameworks
                    .iter()
                    .map(|&(framework, max_class)| FrameworkScope {
                        framework,
                        max_class,
                    })
                    .collect(),
                assurances: assurances.to_vec(),
            },
            status_list_uri: None,
        };
        Self { key, entry }
    }

    /// A mark of `claims` signed by this key under its own kid.
    fn mark(&self, claims: &MarkClaims) -> Result<Vec<u8>> {
        self.mark_as(self.key.kid(), claims)
    }

    /// A mark of `claims` signed by this key (and with its alg) under the header `kid`.
    fn mark_as(&self, kid: &[u8], claims: &MarkClaims) -> Result<Vec<u8>> {
        let key = self.key.as_ref();
        sign_as(key, key.algorithm(), kid, claims.to_cbor()?)
    }

    fn signer(&self) -> SignerVector {
        SignerVector {
            kid: hex_of(&self.entry.kid),
            name: self.entry.name.clone(),
        }
    }
}

/// The keys of `multi-key.json`: five listed (in list order A, B, C, W, D) and one removed.
struct MultiKeyLabs {
    /// Ed25519, iotsf-icaf up to class 3, both assurances; shares its kid with `d`.
    a: Lab,
    /// ES256, etsi-en-303-645 up to class 1, third-party only.
    b: Lab,
    /// Ed25519, uk-psti up to class 1, self-assessment only.
    c: Lab,
    /// ES256, iotsf-icaf up to class 2, third-party only; withdrawn for the future.
    w: Lab,
    /// Ed25519, uk-psti up to class 1, both assurances; listed after `a`, with the same kid.
    d: Lab,
    /// Ed25519, in no entry of the list (a removed key).
    removed: Lab,
}

impl MultiKeyLabs {
    fn new() -> Result<Self> {
        use Assurance::{SelfAssessment, ThirdParty};
        let ed25519 = |seed: &[u8; 32]| -> Result<Box<dyn Signer>> {
            Ok(Box::new(SoftwareKey::ed25519_from_seed(seed)?))
        };
        let es256 =
            |scalar: &[u8; 32]| -> Result<Box<dyn Signer>> { Ok(Box::new(Es256Key::new(scalar)?)) };
        let listed_until = VECTOR_TIME + 3 * 365 * DAY;
        let labs = Self {
            a: Lab::new(
                "Vector Lab A",
                ed25519(&twin_seed(KID_TWINS[0]))?,
                &[(FrameworkId::IOTSF_ICAF, 3)],
                &[SelfAssessment, ThirdParty],
                listed_until,
            ),
            b: Lab::new(
                "Vector Lab B",
                es256(&LAB_B_SCALAR)?,
                &[(FrameworkId::ETSI_EN_303_645, 1)],
                &[ThirdParty],
                listed_until,
            ),
            c: Lab::new(
                "Vector Lab C",
                ed25519(&LAB_C_SEED)?,
                &[(FrameworkId::UK_PSTI, 1)],
                &[SelfAssessment],
                listed_until,
            ),
            // Withdrawn as `trustmark-scheme trust-list --withdraw` does: the validity ends at
            // the issued_at of the list that withdraws it (`spec/pki.md` 6.4).
            w: Lab::new(
                "Vector Lab W",
                es256(&LAB_W_SCALAR)?,
                &[(FrameworkId::IOTSF_ICAF, 2)],
                &[ThirdParty],
                MULTI_KEY_LIST_ISSUED_AT,
            ),
            d: Lab::new(
                "Vector Lab D",
                ed25519(&twin_seed(KID_TWINS[1]))?,
                &[(FrameworkId::UK_PSTI, 1)],
                &[SelfAssessment, ThirdParty],
                listed_until,
            ),
            removed: Lab::new(
                "Vector Lab R",
                ed25519(&REMOVED_SEED)?,
                &[(FrameworkId::IOTSF_ICAF, 3)],
                &[ThirdParty],
                listed_until,
            ),
        };
        anyhow::ensure!(
            labs.a.entry.kid == labs.d.entry.kid,
            "the kid twins do not share a kid"
        );
        Ok(labs)
    }

    /// The list: sequence 2, current from a day before the vector time for 90 days.
    fn trust_list(&self) -> TrustList {
        TrustList {
            sequence: 2,
            issued_at: UnixTime(MULTI_KEY_LIST_ISSUED_AT),
            expires_at: UnixTime(VECTOR_TIME + 90 * DAY),
            issuers: [&self.a, &self.b, &self.c, &self.w, &self.d]
                .map(|lab| lab.entry.clone())
                .into(),
        }
    }
}

/// The typical claims with a single class 1 claim of `framework` instead.
fn claiming(framework: FrameworkId, version: &str, assurance: Assurance) -> MarkClaims {
    MarkClaims {
        frameworks: vec![FrameworkClaim {
            framework,
            version: version.into(),
            class: 1,
            assurance,
        }],
        ..typical_claims()
    }
}

fn multi_key_cases(labs: &MultiKeyLabs) -> Result<Vec<MarkCase>> {
    let MultiKeyLabs {
        a,
        b,
        c,
        w,
        d,
        removed,
    } = labs;
    // The typical claims (iotsf-icaf class 2, third-party) are in the scope of A and W only.
    let iotsf = typical_claims();
    let etsi = |assurance| claiming(FrameworkId::ETSI_EN_303_645, "2.1.1", assurance);
    let psti = |assurance| claiming(FrameworkId::UK_PSTI, "2023", assurance);
    let valid = |name: &str, description: &str, lab: &Lab, token: Vec<u8>| MarkCase {
        signer: Some(lab.signer()),
        ..case(name, description, &token, Expect::Valid)
    };
    let withdrawn_at = w.entry.not_after.0;
    let issued_by_w = |iat: u64| {
        w.mark(&MarkClaims {
            issued_at: UnixTime(iat),
            ..typical_claims()
        })
    };
    let twin_kid = hex_of(&a.entry.kid);
    Ok(vec![
        valid(
            "valid-a",
            &format!("Lab A (Ed25519) signs the typical claims (iotsf-icaf class 2, third-party), inside its scope. Its kid {twin_kid} is also Lab D's: A is listed first, so its key verifies at the first try."),
            a,
            a.mark(&iotsf)?,
        ),
        valid(
            "valid-b",
            "Lab B (ES256) signs an etsi-en-303-645 class 1 third-party claim, inside its scope.",
            b,
            b.mark(&etsi(Assurance::ThirdParty))?,
        ),
        valid(
            "valid-c",
            "Lab C (Ed25519) signs a uk-psti class 1 self-assessed claim, inside its scope.",
            c,
            c.mark(&psti(Assurance::SelfAssessment))?,
        ),
        valid(
            "valid-d-kid-twin",
            &format!("Lab D (Ed25519) signs a uk-psti class 1 third-party claim under its own kid {twin_kid}, which Lab A's key (listed before D's) derives too: A's key is tried first and fails, D's verifies, and D is the signer."),
            d,
            d.mark(&psti(Assurance::ThirdParty))?,
        ),
        case(
            "c-framework-outside-scope",
            "Lab C signs the claims of valid-a: iotsf-icaf, for which only A and W are accredited. The scope is that of the entry whose key verified.",
            &c.mark(&iotsf)?,
            error("outside_scope"),
        ),
        case(
            "d-framework-outside-scope",
            "Lab D signs the claims of valid-a under the kid it shares with A. D's key verifies, so D's scope applies (uk-psti only), not that of A, the first entry with the kid.",
            &d.mark(&iotsf)?,
            error("outside_scope"),
        ),
        case(
            "b-assurance-outside-scope",
            "Lab B signs the claim of valid-b self-assessed; B is accredited for third-party assessment only.",
            &b.mark(&etsi(Assurance::SelfAssessment))?,
            error("outside_scope"),
        ),
        valid(
            "valid-w-before-withdrawal",
            "Lab W (ES256), withdrawn: its entry ends (not_after) at the list's issued_at, a day before the vector time. A mark issued a day before that still verifies.",
            w,
            issued_by_w(withdrawn_at - DAY)?,
        ),
        valid(
            "valid-w-at-withdrawal",
            "Lab W's mark issued at its entry's not_after exactly: not_before <= iat <= not_after holds.",
            w,
            issued_by_w(withdrawn_at)?,
        ),
        case(
            "w-after-withdrawal",
            "Lab W's mark issued one second after its entry's not_after.",
            &issued_by_w(withdrawn_at + 1)?,
            error("issued_outside_key_validity"),
        ),
        case(
            "removed-key",
            "The typical claims signed by a key the list no longer holds (removed): inside the validity and scope it once had, yet unknown.",
            &removed.mark(&iotsf)?,
            error("unknown_kid"),
        ),
        case(
            "kid-a-signed-by-c",
            "The claims of valid-a with A's kid in the header (EdDSA), signed by Lab C's Ed25519 key: neither A's nor D's key verifies it.",
            &c.mark_as(&a.entry.kid, &iotsf)?,
            error("bad_signature"),
        ),
        case(
            "kid-b-signed-by-w",
            "The claims of valid-b with B's kid in the header (ES256), signed (low s) by Lab W's ES256 key.",
            &w.mark_as(&b.entry.kid, &etsi(Assurance::ThirdParty))?,
            error("bad_signature"),
        ),
        case(
            "kid-a-es256-signed-by-b",
            "The claims of valid-b with A's kid and ES256 in the header, signed by Lab B: both entries with that kid are EdDSA keys.",
            &b.mark_as(&a.entry.kid, &etsi(Assurance::ThirdParty))?,
            error("algorithm_mismatch"),
        ),
    ])
}

fn qr_cases(typical: &[u8]) -> Vec<QrTextCase> {
    let text = trustmark_format::qr_text::encode(typical);
    let url =
        trustmark_format::qr_text::mark_url(trustmark_format::qr_text::DEFAULT_BASE_URL, typical);
    let ok = |name: &str, description: &str, scanned: String| QrTextCase {
        name: name.into(),
        description: description.into(),
        text: scanned,
        bytes: Some(hex_of(typical)),
        expect: Expect::Valid,
    };
    let bad = |name: &str, description: &str, scanned: &str, code: &str| QrTextCase {
        name: name.into(),
        description: description.into(),
        text: scanned.into(),
        bytes: None,
        expect: error(code),
    };
    vec![
        ok(
            "url-as-printed",
            "The URL as printed in the QR code.",
            url.clone(),
        ),
        ok(
            "url-lower-case",
            "A scanner that lower-cases the URL.",
            url.to_lowercase(),
        ),
        ok(
            "url-percent-encoded",
            "Every digit percent-encoded.",
            format!(
                "https://verify.example.org/V/{}",
                text.bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect::<String>()
            ),
        ),
        ok(
            "url-with-query-and-fragment",
            "Tracking query and fragment appended.",
            format!("{url}?utm=box#top"),
        ),
        ok(
            "url-trailing-slash-and-space",
            "Trailing slash and newline.",
            format!("{url}/\n"),
        ),
        ok("bare-token-text", "The digits alone.", text.clone()),
        bad(
            "letter-in-digits",
            "A letter inside the token text.",
            &format!("{}A{}", &text[..5], &text[6..]),
            "invalid_character",
        ),
        bad(
            "wrong-length",
            "One digit missing.",
            &text[..text.len() - 1],
            "invalid_text_length",
        ),
        bad(
            "group-overflow",
            "A 17-digit group above 2^56.",
            "99999999999999999",
            "digit_group_overflow",
        ),
        bad(
            "other-path",
            "A URL without the /V/ segment.",
            "https://verify.example.org/about",
            "not_a_mark_url",
        ),
        bad("empty", "Nothing scanned.", "", "not_a_mark_url"),
        bad(
            "percent-non-digit",
            "A percent escape of a letter.",
            "https://verify.example.org/V/%41",
            "invalid_character",
        ),
    ]
}

/// zlib (RFC 1950) at level 9 with a 4 KiB window (`windowBits` 12), from zlib-rs: the same
/// bytes on every machine for the pinned version.
fn zlib_level9_window12(raw: &[u8]) -> Result<Vec<u8>> {
    let config = zlib_rs::DeflateConfig {
        level: 9,
        window_bits: 12,
        ..zlib_rs::DeflateConfig::default()
    };
    let mut out = vec![0; zlib_rs::compress_bound(raw.len())];
    let (written, code) = zlib_rs::compress_slice(&mut out, raw, config);
    anyhow::ensure!(code == zlib_rs::ReturnCode::Ok, "zlib-rs: {code:?}");
    let len = written.len();
    out.truncate(len);
    Ok(out)
}

/// `files/status-list.cwt`: the vector issuer's status list, signed with its Ed25519 key:
/// 2^20 entries at 2 bits, all VALID (the typical mark's index among them) except
/// `REVOKED_STATUS_INDEX` (INVALID) and `SUSPENDED_STATUS_INDEX`.
fn status_list_token(keys: &Keys) -> Result<Vec<u8>> {
    let mut list = StatusList::new(2, STATUS_LIST_ENTRIES)?;
    list.set(REVOKED_STATUS_INDEX as usize, Status::Invalid.value())?;
    list.set(SUSPENDED_STATUS_INDEX as usize, Status::Suspended.value())?;
    let compressed = zlib_level9_window12(list.as_bytes())?;
    let token = StatusListToken {
        uri: STATUS_LIST_URI.into(),
        issued_at: UnixTime(STATUS_LIST_ISSUED_AT),
        expires_at: Some(UnixTime(STATUS_LIST_EXPIRES_AT)),
        ttl: Some(STATUS_LIST_TTL),
        list,
    };
    // `sign` compresses through an infallible closure: hand it the stream made above.
    Ok(token.sign::<KeyError>(
        Algorithm::EdDsa,
        keys.issuer.kid(),
        |_| compressed,
        |tbs| keys.issuer.sign(tbs),
    )?)
}

/// The raw fixtures must give the gateway decision the no_std proof expects, with each crypto
/// backend: the typical mark valid under the status list, the revoked mark revoked.
fn check_status_fixtures(
    trust_list: &[u8],
    anchor_key: &[u8],
    status_list: &[u8],
    typical: &[u8],
    revoked: &[u8],
) -> Result<()> {
    let now = UnixTime(VECTOR_TIME);
    let anchor = TrustAnchor {
        alg: Algorithm::EdDsa,
        public_key: anchor_key.to_vec(),
    };
    let policy = Policy {
        require_status: true,
        ..Policy::default()
    };
    let backends: [&dyn SignatureVerifier; 2] = [&RING, &RUST_CRYPTO];
    for crypto in backends {
        let trust = TrustStore::from_signed(trust_list, &anchor, now, crypto)?;
        let list = verify_status_list(status_list, &trust, &policy, now)?;
        anyhow::ensure!(list.len() == STATUS_LIST_ENTRIES, "status list length");
        verify_with_status(typical, &trust, Some(&list), &policy, now)?;
        let refused = verify_with_status(revoked, &trust, Some(&list), &policy, now);
        anyhow::ensure!(
            refused
                == Err(VerifyError::Revoked {
                    index: REVOKED_STATUS_INDEX,
                    status: Status::Invalid.value(),
                }),
            "the revoked mark gave {refused:?}"
        );
        anyhow::ensure!(
            list.status(SUSPENDED_STATUS_INDEX) == Ok(Status::Suspended),
            "suspended entry"
        );
    }
    Ok(())
}

fn write_json(dir: &std::path::Path, name: &str, value: &impl serde::Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))
}

fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(vectors_dir);
    std::fs::create_dir_all(out.join("files"))?;
    let keys = Keys {
        root: SoftwareKey::ed25519_from_seed(&ROOT_SEED)?,
        issuer: SoftwareKey::ed25519_from_seed(&ISSUER_SEED)?,
        stranger: SoftwareKey::ed25519_from_seed(&STRANGER_SEED)?,
        es256: Es256Key::new(&ES256_ISSUER_SCALAR)?,
    };
    let trust_list = signed_by_root(&keys, &trust_list_payload(&keys))?;
    let typical = mark(&keys, &typical_claims())?;
    let revoked = with_claims(&keys, |c| c.status_index = REVOKED_STATUS_INDEX)?;
    let status_list = status_list_token(&keys)?;
    check_status_fixtures(
        &trust_list,
        keys.root.public_key(),
        &status_list,
        &typical,
        &revoked,
    )?;
    write_json(&out, "marks.json", &MarkVectors {
        description: "Marks checked against trust_list at time; each case names the exact error code (VerifyError::code) or valid.".into(),
        time: VECTOR_TIME,
        anchor: anchor(&keys),
        trust_list: hex_of(&trust_list),
        cases: mark_cases(&keys)?,
    })?;
    let labs = MultiKeyLabs::new()?;
    write_json(&out, "multi-key.json", &MarkVectors {
        description: "Marks of several issuer keys (Ed25519 and ES256, each with its own scope and validity, two sharing a kid) and of a removed key, checked against one trust list at time; a valid case names the entry (kid and name) whose key verified it.".into(),
        time: VECTOR_TIME,
        anchor: anchor(&keys),
        trust_list: hex_of(&signed_by_root(&keys, &labs.trust_list())?),
        cases: multi_key_cases(&labs)?,
    })?;
    write_json(
        &out,
        "trust-lists.json",
        &TrustListVectors {
            description: "Signed trust lists checked against anchor at time.".into(),
            time: VECTOR_TIME,
            anchor: anchor(&keys),
            cases: trust_list_cases(&keys)?,
        },
    )?;
    write_json(
        &out,
        "qr-text.json",
        &QrTextVectors {
            description: "Scanned text and the token bytes it decodes to, or the error code."
                .into(),
            cases: qr_cases(&typical),
        },
    )?;
    // Raw files for consumers without a JSON parser (the no_std proof binary, fuzz seeds).
    std::fs::write(out.join("files/typical-mark.cbor"), &typical)?;
    std::fs::write(out.join("files/trust-list.cbor"), &trust_list)?;
    std::fs::write(out.join("files/status-list.cwt"), &status_list)?;
    std::fs::write(out.join("files/revoked-mark.cbor"), &revoked)?;
    std::fs::write(out.join("files/root-ed25519.pub"), keys.root.public_key())?;
    std::fs::write(out.join("files/time.txt"), format!("{VECTOR_TIME}\n"))?;
    trustmark_verifier::stdout::print_line(format_args!("wrote vectors to {}", out.display()))
        .context("cannot write to stdout")?;
    Ok(())
}
